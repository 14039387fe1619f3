import pytest
import torch
from torch import nn

from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, map_episodes
from sklearn_meta._core._model import MetaModel, build_backbone
from sklearn_meta._core._norms import BatchNorm, InstanceNorm, LayerNorm, split_affine_norms
from sklearn_meta._core._tasks import CLASSIFICATION
from sklearn_meta._maml import MAMLLearner


class _Channels(nn.Module):
    """(n, 8) rows as (n, 2, 4): two channels for instance norm."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        return self.norm(x.unflatten(1, (2, 4))).flatten(1)


NORMS = {
    "batch": lambda: nn.BatchNorm1d(8),
    "layer": lambda: nn.LayerNorm(8),
    "layer-no-bias": lambda: nn.LayerNorm(8, bias=False),
    "instance": lambda: _Channels(nn.InstanceNorm1d(2, affine=True)),
}


def _backbone(norm: nn.Module, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 8), norm, nn.Tanh())
    with torch.no_grad():  # affine parameters away from their initial ones and zeros
        for p in module.parameters():
            p.add_(0.5 * torch.rand_like(p))
    return module.to(dtype)


@pytest.mark.parametrize("name", NORMS)
def test_replacements_compute_the_same_outputs_under_the_same_names(name):
    original = _backbone(NORMS[name]())
    torch.func.replace_all_batch_norm_modules_(original)  # batch statistics, as replaced
    replaced = build_backbone(original, 5, (), "tanh")
    x = torch.randn(7, 5, dtype=torch.float64)
    torch.testing.assert_close(replaced(x), original(x), rtol=0, atol=1e-12)
    assert replaced.state_dict().keys() == original.state_dict().keys()
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in replaced.modules())


@pytest.mark.parametrize("name", NORMS)
def test_vectorized_second_order_meta_gradient_equals_the_task_loop(name):
    """torch's batching rule alone is off by up to 1e-2 here (pytorch/functorch#534)."""
    model = MetaModel(build_backbone(_backbone(NORMS[name](), torch.float32), 5, (), "tanh"), 5)
    model = model.double()
    learner = MAMLLearner(model, 0.4, "sgd")
    g = torch.Generator().manual_seed(0)
    batch = EpisodeBatch(
        torch.randn(3, 6, 5, generator=g, dtype=torch.float64),
        torch.arange(3).repeat(3, 2),
        torch.randn(3, 9, 5, generator=g, dtype=torch.float64),
        torch.arange(3).repeat(3, 3),
    )
    loop = InnerLoop(CLASSIFICATION, steps=2, lr=0.4)

    def meta_gradient(vectorize):
        def loss(xs, ys, xq, yq):
            return learner.episode_loss(xs, ys, xq, yq, 3, loop)

        return torch.autograd.grad(
            map_episodes(loss, batch, vectorize).sum(), list(model.parameters())
        )

    for vectorized, looped in zip(meta_gradient(True), meta_gradient(False), strict=True):
        torch.testing.assert_close(vectorized, looped, rtol=1e-9, atol=1e-12)


def test_a_norm_given_alone_and_norms_without_affine_are_replaced():
    assert isinstance(split_affine_norms(nn.LayerNorm(4)), LayerNorm)
    plain = split_affine_norms(nn.Sequential(nn.BatchNorm2d(3, affine=False)))
    assert isinstance(plain[0], BatchNorm) and plain[0].weight is None
    x = torch.randn(4, 3, 5, 5)
    expected = nn.functional.batch_norm(x, None, None, training=True)
    torch.testing.assert_close(plain.eval()(x), expected)  # batch statistics in eval mode too
    one = split_affine_norms(nn.InstanceNorm2d(3, affine=True))
    assert isinstance(one, InstanceNorm)
    torch.testing.assert_close(one(x[0]), one(x[:1])[0])  # an unbatched instance
