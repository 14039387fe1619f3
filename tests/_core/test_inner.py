import pytest
import torch
from torch import nn

from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, map_episodes
from sklearn_meta._core._model import MetaModel, build_backbone
from sklearn_meta._core._tasks import CLASSIFICATION
from sklearn_meta._maml import MAMLLearner


def _learner(layer: nn.Module, inner_update: str) -> MAMLLearner:
    torch.manual_seed(0)
    backbone = build_backbone(nn.Sequential(nn.Linear(5, 8), layer, nn.Tanh()), 5, (), "tanh")
    return MAMLLearner(MetaModel(backbone, 5), 0.4, inner_update)


def _batch(dtype=torch.float32) -> EpisodeBatch:
    g = torch.Generator().manual_seed(0)
    return EpisodeBatch(
        torch.randn(3, 6, 5, generator=g, dtype=dtype),
        torch.arange(3).repeat(3, 2),
        torch.randn(3, 9, 5, generator=g, dtype=dtype),
        torch.arange(3).repeat(3, 3),
    )


def _meta_gradient(learner, batch, loop, vectorize, autocast=None):
    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, 3, loop)

    torch.manual_seed(1)  # the dropout masks
    with torch.autocast("cpu", dtype=autocast, enabled=autocast is not None):
        total = map_episodes(loss, batch, vectorize).float().sum()
    return torch.autograd.grad(total, list(learner.parameters()))


@pytest.mark.parametrize("vectorize", [True, False], ids=["vmap", "loop"])
@pytest.mark.parametrize("first_order", [False, True], ids=["second", "first"])
@pytest.mark.parametrize("inner_update", ["sgd", "meta-sgd"])
@pytest.mark.parametrize("layer", [nn.BatchNorm1d(8), nn.Dropout(0.3)], ids=["norm", "dropout"])
def test_recomputed_inner_steps_give_the_same_meta_gradient(
    layer, inner_update, first_order, vectorize
):
    """Including Meta-SGD's learned rates and the same dropout masks in the replay."""
    learner = _learner(layer, inner_update).double()
    loops = [
        InnerLoop(CLASSIFICATION, steps=3, lr=0.4, first_order=first_order, recompute=recompute)
        for recompute in (False, True)
    ]
    batch = _batch(torch.float64)
    stored, recomputed = (_meta_gradient(learner, batch, loop, vectorize) for loop in loops)
    for a, b in zip(stored, recomputed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert any(g.abs().sum() > 0 for g in recomputed[-2:])  # the head is reached


class _DtypeRecorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen: list[torch.dtype] = []

    def forward(self, x):
        self.seen.append(x.dtype)
        return x


@pytest.mark.parametrize("vectorize", [True, False], ids=["vmap", "loop"])
def test_recomputed_steps_replay_the_autocast_of_the_forward_pass(vectorize):
    recorder = _DtypeRecorder()
    learner = _learner(recorder, "sgd")
    learner.model.backbone[1] = recorder  # the learner holds a copy
    loop = InnerLoop(CLASSIFICATION, 2, 0.4, recompute=True)
    _meta_gradient(learner, _batch(), loop, vectorize, autocast=torch.bfloat16)
    # Two inner steps, the query's forward pass, then the two steps replayed
    # by the backward pass. (Under vmap, a linear layer with per-episode
    # weights and bias adds the bias in float32 after autocast's matmul, so
    # the query's pass sees float32 there.)
    assert len(recorder.seen) == 5 * (1 if vectorize else 3)  # a pass per episode in the loop
    assert recorder.seen[-2:] == [torch.bfloat16] * 2


def test_recompute_keeps_no_graph_inside_the_steps():
    learner = _learner(nn.Identity(), "sgd")
    x, y = _batch().x_support[0], _batch().y_support[0]
    params = learner.adapt(x, y, 3, InnerLoop(CLASSIFICATION, 2, 0.4, recompute=True))
    assert {type(p.grad_fn).__name__ for p in params.values()} == {"_RecomputedBackward"}
