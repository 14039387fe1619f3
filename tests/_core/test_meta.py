import inspect

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_meta import MAMLRegressor
from sklearn_meta._core._inner import InnerLoop, gradient_steps
from sklearn_meta._core._meta import EpisodeBatch, can_vectorize, map_episodes, meta_step
from sklearn_meta._core._model import MetaModel, build_backbone, build_mlp
from sklearn_meta._core._tasks import CLASSIFICATION, REGRESSION
from sklearn_meta._maml import MAMLLearner


def _learner(inner_update="sgd", n_features=3, seed=0):
    torch.manual_seed(seed)
    return MAMLLearner(
        MetaModel(build_mlp(n_features, (16, 16), "tanh"), n_features), 0.1, inner_update
    )


def _regression_batch(n_episodes=6, n_features=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n_episodes, 5, n_features)
    return EpisodeBatch(
        torch.randn(shape, generator=g),
        torch.randn(shape[:2], generator=g),
        torch.randn(shape, generator=g),
        torch.randn(shape[:2], generator=g),
    )


def _meta_gradient(learner, batch, loop, vectorize, n_outputs=1):
    learner.zero_grad()

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, n_outputs, loop)

    map_episodes(loss, batch, vectorize).mean().backward()
    return [p.grad.clone() for p in learner.parameters()]


@pytest.mark.parametrize(
    "loop_kwargs, inner_update",
    [
        (dict(steps=2), "sgd"),
        (dict(steps=2, first_order=True), "sgd"),
        (dict(steps=1), "meta-sgd"),
        (dict(steps=3, head_only=True), "sgd"),
    ],
    ids=["maml", "fomaml", "metasgd", "anil"],
)
def test_vmap_and_loop_give_the_same_meta_gradients(loop_kwargs, inner_update):
    learner = _learner(inner_update)
    loop = InnerLoop(REGRESSION, lr=0.1, **loop_kwargs)
    batch = _regression_batch()
    vectorized = _meta_gradient(learner, batch, loop, vectorize=True)
    looped = _meta_gradient(learner, batch, loop, vectorize=False)
    for a, b in zip(vectorized, looped, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_vmap_and_loop_agree_for_classification():
    learner = _learner()
    g = torch.Generator().manual_seed(0)
    batch = EpisodeBatch(
        torch.randn(4, 6, 3, generator=g),
        torch.arange(3).repeat(4, 2),
        torch.randn(4, 9, 3, generator=g),
        torch.arange(3).repeat(4, 3),
    )
    loop = InnerLoop(CLASSIFICATION, steps=2, lr=0.5)
    vectorized = _meta_gradient(learner, batch, loop, True, n_outputs=3)
    looped = _meta_gradient(learner, batch, loop, False, n_outputs=3)
    for a, b in zip(vectorized, looped, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_second_order_terms_change_the_meta_gradient():
    learner = _learner()
    batch = _regression_batch()
    second = _meta_gradient(learner, batch, InnerLoop(REGRESSION, 2, 0.1), True)
    first = _meta_gradient(learner, batch, InnerLoop(REGRESSION, 2, 0.1, first_order=True), True)
    assert not all(torch.allclose(a, b) for a, b in zip(second, first, strict=True))


@pytest.mark.parametrize("plain_autograd", [False, True])
def test_gradient_steps_match_plain_sgd(plain_autograd):
    torch.manual_seed(0)
    w = torch.randn(3)
    x, y = torch.randn(8, 3), torch.randn(8)

    def loss_of(params):
        return ((x @ params["w"] - y) ** 2).mean()

    loop = InnerLoop(REGRESSION, steps=3, lr=0.05, plain_autograd=plain_autograd)
    with torch.no_grad():  # as in adapt
        adapted = gradient_steps(loss_of, {"w": w}, {"w": 0.05}, loop)
    expected = w.clone().requires_grad_(True)
    for _ in range(3):
        (grad,) = torch.autograd.grad(((x @ expected - y) ** 2).mean(), expected)
        expected = (expected - 0.05 * grad).detach().requires_grad_(True)
    torch.testing.assert_close(adapted["w"], expected.detach())


def test_head_only_adaptation_moves_only_the_head():
    learner = _learner()
    batch = _regression_batch(1)
    loop = InnerLoop(REGRESSION, steps=2, lr=0.1, head_only=True)
    with torch.no_grad():
        adapted = learner.adapt(batch.x_support[0], batch.y_support[0], 1, loop)
    for name, value in learner.model.named_parameters():
        moved = not torch.equal(adapted[name], value)
        assert moved == name.startswith("head."), name


def test_meta_step_refuses_a_non_finite_loss_and_keeps_parameters():
    learner = _learner()
    batch = _regression_batch()
    batch = EpisodeBatch(batch.x_support, batch.y_support, batch.x_query, batch.y_query * np.inf)
    before = [p.detach().clone() for p in learner.parameters()]
    optimizer = torch.optim.Adam(learner.parameters(), lr=0.1)
    loop = InnerLoop(REGRESSION, 1, 0.1)

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, 1, loop)

    with pytest.raises(FloatingPointError, match="last finite values"):
        meta_step(loss, batch, optimizer, vectorize=True)
    for a, b in zip(before, learner.parameters(), strict=True):
        assert torch.equal(a, b)


class DataDependent(nn.Module):
    """A backbone vmap cannot run: Python control flow on tensor values."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 8)

    def forward(self, x):
        h = self.linear(x)
        return torch.relu(h) if h.sum() > 0 else torch.tanh(h)


def test_modules_vmap_cannot_run_take_the_loop_path(sinusoid):
    X, y, groups = sinusoid
    fallback = MAMLRegressor(module=DataDependent, max_iter=3, device="cpu", random_state=0)
    fallback.fit(X, y, groups)
    assert fallback.vectorized_ is False
    assert np.isfinite(fallback.loss_curve_).all() and np.isfinite(fallback.score(X, y, groups))
    vectorized = MAMLRegressor(max_iter=3, device="cpu", random_state=0).fit(X, y, groups)
    assert vectorized.vectorized_ is True


def test_vectorize_false_takes_the_loop_path_to_the_same_model(sinusoid):
    X, y, groups = sinusoid
    fits = [
        MAMLRegressor(vectorize=vectorize, max_iter=5, device="cpu", random_state=0).fit(
            X, y, groups
        )
        for vectorize in (True, False)
    ]
    assert [fit.vectorized_ for fit in fits] == [True, False]
    for a, b in zip(*(fit.learner_.parameters() for fit in fits), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert fits[0].score(X, y, groups) == pytest.approx(fits[1].score(X, y, groups), rel=1e-4)


def test_can_vectorize_detects_the_problem():
    learner = MAMLLearner(MetaModel(DataDependent(3), 3), 0.1)
    loop = InnerLoop(REGRESSION, 1, 0.1)

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, 1, loop)

    assert not can_vectorize(loss, _regression_batch())


def test_conv4_batch_norm_gives_the_same_meta_gradients_on_both_paths():
    torch.manual_seed(0)
    backbone = build_backbone("conv4", 64, (), "relu", input_shape=(1, 8, 8))
    learner = MAMLLearner(MetaModel(backbone, 64), 0.4)
    g = torch.Generator().manual_seed(1)
    batch = EpisodeBatch(
        torch.randn(3, 4, 64, generator=g),
        torch.arange(2).repeat(3, 2),
        torch.randn(3, 6, 64, generator=g),
        torch.arange(2).repeat(3, 3),
    )
    loop = InnerLoop(CLASSIFICATION, steps=1, lr=0.4)
    vectorized = _meta_gradient(learner, batch, loop, True, n_outputs=2)
    looped = _meta_gradient(learner, batch, loop, False, n_outputs=2)
    for a, b in zip(vectorized, looped, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_lstm_update_starts_as_gradient_descent_and_agrees_across_paths():
    torch.manual_seed(0)
    sgd, lstm = _learner("sgd"), _learner("lstm")
    batch = _regression_batch()
    loop = InnerLoop(REGRESSION, steps=2, lr=0.1)
    x, y = batch.x_support[0], batch.y_support[0]
    with torch.no_grad():
        for name, value in sgd.adapt(x, y, 1, loop).items():
            torch.testing.assert_close(lstm.adapt(x, y, 1, loop)[name], value)
    torch.nn.init.normal_(lstm.update_rule.output.weight, std=0.1)  # a rule that has learned
    vectorized = _meta_gradient(lstm, batch, loop, vectorize=True)
    looped = _meta_gradient(lstm, batch, loop, vectorize=False)
    for a, b in zip(vectorized, looped, strict=True):  # log-scaled inputs: looser float32 match
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-4)
    assert lstm.update_rule.output.weight.grad.abs().sum() > 0  # the rule is meta-trained


@pytest.mark.parametrize("chunk_size", [1, 4, 6])
def test_a_meta_batch_in_chunks_takes_the_same_step(chunk_size):
    batch = _regression_batch(n_episodes=6)
    loop = InnerLoop(kind=REGRESSION, steps=2, lr=0.1)
    learners = [_learner(), _learner()]
    losses = []
    for learner, size in zip(learners, [None, chunk_size], strict=True):
        optimizer = torch.optim.SGD(learner.parameters(), lr=0.1)

        def loss(xs, ys, xq, yq, learner=learner):
            return learner.episode_loss(xs, ys, xq, yq, 1, loop)

        losses.append(meta_step(loss, batch, optimizer, vectorize=True, chunk_size=size))
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    for whole, chunked in zip(learners[0].parameters(), learners[1].parameters(), strict=True):
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-7)


def test_task_chunk_size_bounds_the_batch_not_the_result(sinusoid):
    X, y, groups = sinusoid
    settings = dict(max_iter=5, meta_batch_size=6, device="cpu", random_state=0)
    whole = MAMLRegressor(**settings).fit(X, y, groups)
    chunked = MAMLRegressor(task_chunk_size=4, **settings).fit(X, y, groups)
    np.testing.assert_allclose(chunked.predict(X), whole.predict(X), rtol=1e-4, atol=1e-6)
    assert chunked.score(X, y, groups) == pytest.approx(whole.score(X, y, groups), rel=1e-4)


def _recording(map_episodes, ran: list):
    """``map_episodes`` that also keeps, per call (one per outer step here), the
    inputs of each episode it maps: one row of support and query inputs each."""

    def recording_map_episodes(fn, batch, vectorize):
        rows = [batch.x_support.flatten(1), batch.x_query.flatten(1)]
        ran.append(torch.cat(rows, dim=1).detach().clone())
        return map_episodes(fn, batch, vectorize)

    return recording_map_episodes


# Each process records the episodes it maps in every outer step (through the
# mapper the estimator hands to meta_step), its loss curve and its parameters.
_DDP_SCRIPT = """
import sys
import numpy as np, torch, torch.distributed as dist
import sklearn_meta._training as training
from sklearn_meta import MAMLRegressor
RECORDING
EPISODES_RAN = []
training.map_episodes = _recording(training.map_episodes, EPISODES_RAN)
torch.set_num_threads(1)
dist.init_process_group("gloo")
data = np.load(sys.argv[1])
maml = MAMLRegressor(meta_batch_size=5, max_iter=6, device="cpu", random_state=0,
                     checkpoint_path=sys.argv[2])
maml.fit(data["X"], data["y"], data["groups"])
torch.save(
    {
        "parameters": torch.cat([p.detach().reshape(-1) for p in maml.learner_.parameters()]),
        "loss_curve": torch.tensor(maml.loss_curve_, dtype=torch.float64),
        "episodes": EPISODES_RAN,
    },
    f"{sys.argv[3]}-{dist.get_rank()}.pt",
)
dist.destroy_process_group()
""".replace("RECORDING", inspect.getsource(_recording))


def _episode_keys(rows: torch.Tensor) -> list[tuple]:
    """Episodes as hashable keys (their inputs, copied from X: no arithmetic)."""
    return [tuple(row) for row in rows.tolist()]


def test_two_processes_of_torchrun_train_as_one(sinusoid, tmp_path, monkeypatch):
    import subprocess
    import sys

    from sklearn_meta import load

    X, y, groups = sinusoid
    np.savez(tmp_path / "data.npz", X=X, y=y, groups=groups)
    (tmp_path / "ddp.py").write_text(_DDP_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(tmp_path / "ddp.py")]
    command += [str(tmp_path / p) for p in ("data.npz", "run.pt", "rank")]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    ranks = [torch.load(tmp_path / f"rank-{rank}.pt") for rank in (0, 1)]

    import sklearn_meta._training as training

    ran = []  # the same recording, in one process
    monkeypatch.setattr(training, "map_episodes", _recording(training.map_episodes, ran))
    single = MAMLRegressor(meta_batch_size=5, max_iter=6, device="cpu", random_state=0)
    single.fit(X, y, groups)
    monkeypatch.undo()
    assert len(ran) == 6 and all(len(batch) == 5 for batch in ran)

    # Every process takes its own share of each meta-batch: together each episode
    # once. (A process running the whole batch would double the loss and the
    # gradients, which Adam's steps hardly show.)
    for step, whole in enumerate(ran):
        shares = [_episode_keys(rank["episodes"][step]) for rank in ranks]
        assert sorted(len(share) for share in shares) == [2, 3], step
        assert set(shares[0]) | set(shares[1]) == set(_episode_keys(whole)), step
        assert len(set(_episode_keys(whole))) == 5
    for rank in ranks:
        assert len(rank["episodes"]) == 6
        # the mean loss of the whole meta-batch (its parts summed in another order)
        np.testing.assert_allclose(rank["loss_curve"], single.loss_curve_, rtol=1e-5)
        expected = torch.cat([p.detach().reshape(-1) for p in single.learner_.parameters()])
        np.testing.assert_allclose(rank["parameters"], expected, rtol=1e-4, atol=1e-6)
    assert load(tmp_path / "run.pt").n_iter_ == 6  # written once, by the first process


def test_lstm_correction_is_at_most_one_step_size_per_coordinate():
    from sklearn_meta._core._learned_update import LSTMUpdate

    torch.manual_seed(0)
    rule = LSTMUpdate()
    torch.nn.init.constant_(rule.output.bias, 50.0)  # a rule that wants huge steps
    params = {"w": torch.zeros(4, 3)}
    grads = {"w": torch.randn(4, 3)}
    updated, _ = rule(params, grads, rule.initial_state(params), lr=0.1)
    sgd_step = -0.1 * grads["w"]
    correction = updated["w"] - sgd_step
    assert correction.abs().max() <= 0.1 + 1e-6
    assert correction.abs().min() > 0.099  # saturated, not silenced
