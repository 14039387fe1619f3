"""The ``device="cuda"`` paths: skipped on machines without CUDA."""

import numpy as np
import pytest
import torch

from sklearn_meta import (
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    ReptileRegressor,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

FAST = dict(max_iter=20, n_eval_episodes=20, random_state=0)


@pytest.mark.parametrize("make", [MAMLRegressor, ReptileRegressor, MetaRidgeRegressor])
def test_regressors_train_and_adapt_on_the_gpu(make, sinusoid):
    X, y, groups = sinusoid
    gpu = make(device="cuda", **FAST).fit(X, y, groups)
    cpu = make(device="cpu", **FAST).fit(X, y, groups)
    assert gpu.device_.type == "cuda" and gpu.vectorized_
    assert next(gpu.learner_.parameters()).is_cuda
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-3, atol=1e-3)
    assert gpu.score(X, y, groups) == pytest.approx(cpu.score(X, y, groups), abs=1e-3)
    assert np.isfinite(gpu.adapt(X[:5], y[:5]).predict(X[5:20])).all()


@pytest.mark.parametrize("make", [MAMLClassifier, ProtoNetClassifier, FineTuneClassifier])
def test_classifiers_train_and_adapt_on_the_gpu(make, blobs_classes):
    X, y = blobs_classes
    clf = make(n_way=3, device="cuda", **FAST).fit(X, y)
    assert clf.device_.type == "cuda"
    assert set(clf.predict(X)) <= set(y)
    assert clf.score(X, y) > 0.5
    task = clf.adapt(X[::10], y[::10])
    assert set(task.predict(X)) <= set(y)


def test_conv4_meta_batches_run_vectorized_on_the_gpu():
    rng = np.random.default_rng(0)
    X = rng.random((200, 28 * 28), dtype=np.float32)
    y = np.repeat(np.arange(10), 20)
    clf = ProtoNetClassifier(
        module="conv4", input_shape=(1, 28, 28), n_way=5, n_shots=1, n_queries=5,
        max_iter=3, device="cuda", random_state=0,
    )  # fmt: skip
    clf.fit(X, y)
    assert clf.vectorized_ and clf.device_.type == "cuda"


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_on_the_gpu(precision, sinusoid):
    X, y, groups = sinusoid
    full = MAMLRegressor(device="cuda", **FAST).fit(X, y, groups)
    mixed = MAMLRegressor(device="cuda", precision=precision, **FAST).fit(X, y, groups)
    assert all(p.dtype == torch.float32 for p in mixed.learner_.parameters())
    assert mixed.score(X, y, groups) == pytest.approx(full.score(X, y, groups), abs=0.05)


def test_compile_and_chunks_on_the_gpu(sinusoid):
    X, y, groups = sinusoid
    settings = dict(device="cuda", max_iter=3, meta_batch_size=8, random_state=0)
    eager = MAMLRegressor(**settings).fit(X, y, groups)
    compiled = MAMLRegressor(compile=True, **settings).fit(X, y, groups)
    chunked = MAMLRegressor(task_chunk_size=3, **settings).fit(X, y, groups)
    for other in (compiled, chunked):
        np.testing.assert_allclose(other.loss_curve_, eager.loss_curve_, rtol=1e-3)


def test_recomputed_inner_steps_replay_dropout_on_the_gpu(sinusoid):
    """The CUDA generator's state is replayed too: the same masks, the same model."""
    X, y, groups = sinusoid
    backbone = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Dropout(0.2), torch.nn.ReLU())
    fits = [
        MAMLRegressor(
            module=backbone, inner_steps=3, activation_checkpointing=on, device="cuda", **FAST
        ).fit(X, y, groups)
        for on in (False, True)
    ]
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-4)
    for a, b in zip(*(fit.learner_.parameters() for fit in fits), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-4)
