"""Adapting to a support set larger than one chunk (all the training classes
after ``fit``) gives what adapting in one batch gives."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_meta import (
    MAMLClassifier,
    MatchingNetworks,
    MetaClassifier,
    ProtoNetClassifier,
    ReptileClassifier,
    SimpleShot,
)
from sklearn_meta._core import _learner

CLOSE = dict(rtol=1e-4, atol=1e-5)
SMALL = dict(n_way=3, n_shots=2, n_queries=3, max_iter=3, device="cpu", random_state=0)


def _data(n_classes=12, per_class=6, n_features=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, n_features))
    X = np.repeat(centers, per_class, axis=0) + 0.5 * rng.normal(
        size=(n_classes * per_class, n_features)
    )
    return X.astype(np.float32), np.repeat(np.arange(n_classes), per_class)


def _bn_mlp(n_features):
    # Two batch norms: the second one's statistics depend on the first one's.
    return nn.Sequential(
        nn.Linear(n_features, 12),
        nn.BatchNorm1d(12),
        nn.ReLU(),
        nn.Linear(12, 8),
        nn.BatchNorm1d(8),
        nn.Tanh(),
    )


def _one_batch_and_chunked(estimator, X, y, monkeypatch, rows=7):
    """The state adapted to ``(X, y)`` in one batch, and in chunks of ``rows`` rows."""
    n_outputs = len(np.unique(y))
    one_batch = estimator._adapted_state(X, y, n_outputs, None)
    with monkeypatch.context() as patch:
        patch.setattr(_learner, "SUPPORT_CHUNK_ROWS", rows)
        assert len(_learner.support_chunks(len(X))) > 1
        chunked = estimator._adapted_state(X, y, n_outputs, None)
    assert one_batch.keys() == chunked.keys()
    return one_batch, chunked


def _assert_states_close(one_batch, chunked):
    for name in one_batch:
        np.testing.assert_allclose(
            chunked[name].detach().numpy(), one_batch[name].detach().numpy(), **CLOSE
        )


def _assert_moved(estimator, state):
    """Adaptation moved the parameters (else equality would prove little)."""
    start = dict(estimator.learner_.model.named_parameters())
    assert any(not torch.equal(state[name], start[name].expand_as(state[name])) for name in start)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"inner_update": "meta-sgd"},
        {"inner_update": "lstm"},
        {"first_order": True, "eval_inner_steps": 2},
    ],
    ids=["maml", "meta-sgd", "lstm", "fomaml"],
)
def test_mlp_maml_chunked_equals_one_batch(params, monkeypatch):
    X, y = _data()
    clf = MAMLClassifier(hidden_layer_sizes=(16,), **params, **SMALL).fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch)
    _assert_moved(clf, one_batch)
    _assert_states_close(one_batch, chunked)


@pytest.mark.parametrize("adapt_layers", ["all", "head"])
def test_batch_norm_maml_chunked_equals_one_batch(adapt_layers, monkeypatch):
    """Chunks use the whole support set's batch statistics, and the gradient
    goes through them: the same steps as one batch, to rounding."""
    X, y = _data()
    clf = MAMLClassifier(module=_bn_mlp(X.shape[1]), adapt_layers=adapt_layers, **SMALL)
    clf.fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch)
    _assert_moved(clf, one_batch)
    _assert_states_close(one_batch, chunked)


def test_conv4_maml_chunked_equals_one_batch(monkeypatch):
    X, y = _data(n_classes=6, per_class=5, n_features=16)
    clf = MAMLClassifier(
        module="conv4", input_shape=(1, 4, 4), eval_inner_steps=2, **{**SMALL, "max_iter": 2}
    ).fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch, rows=11)
    _assert_moved(clf, one_batch)
    _assert_states_close(one_batch, chunked)


def test_reptile_chunked_equals_one_batch(monkeypatch):
    X, y = _data()
    clf = ReptileClassifier(hidden_layer_sizes=(16,), **SMALL).fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch)
    _assert_states_close(one_batch, chunked)


@pytest.mark.parametrize("module", ["mlp", "batch norm"])
def test_protonet_prototypes_chunked_equal_one_batch(module, monkeypatch):
    X, y = _data()
    network = _bn_mlp(X.shape[1]) if module == "batch norm" else None
    clf = ProtoNetClassifier(hidden_layer_sizes=(16,), module=network, **SMALL).fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch)
    _assert_states_close(one_batch, chunked)
    assert torch.equal(chunked["counts"], one_batch["counts"])


@pytest.mark.parametrize(
    "algorithm", [MatchingNetworks(), SimpleShot()], ids=["matching", "simpleshot"]
)
def test_embedding_learners_chunked_equal_one_batch(algorithm, monkeypatch):
    X, y = _data()
    clf = MetaClassifier(algorithm, module=_bn_mlp(X.shape[1]), **SMALL).fit(X, y)
    one_batch, chunked = _one_batch_and_chunked(clf, X, y, monkeypatch)
    _assert_states_close(one_batch, chunked)


def test_fit_support_set_uses_chunks(monkeypatch):
    """``fit`` prepares ``predict`` in chunks, with the predictions of one batch."""
    X, y = _data(n_classes=20, per_class=5)
    module = _bn_mlp(X.shape[1])  # each fit starts from a copy
    monkeypatch.setattr(_learner, "SUPPORT_CHUNK_ROWS", 1024)
    one_batch = MAMLClassifier(module=module, **SMALL).fit(X, y)
    monkeypatch.setattr(_learner, "SUPPORT_CHUNK_ROWS", 9)
    chunked = MAMLClassifier(module=module, **SMALL).fit(X, y)
    np.testing.assert_allclose(chunked.predict_proba(X), one_batch.predict_proba(X), **CLOSE)


@pytest.mark.parametrize("estimator", [MAMLClassifier, ProtoNetClassifier])
def test_predict_with_many_classes(estimator, monkeypatch):
    monkeypatch.setattr(_learner, "SUPPORT_CHUNK_ROWS", 64)
    X, y = _data(n_classes=300, per_class=4, n_features=8, seed=1)
    clf = estimator(hidden_layer_sizes=(16,), **{**SMALL, "n_shots": 1, "n_queries": 2})
    clf.fit(X, y)
    predicted = clf.predict(X)
    assert predicted.shape == y.shape
    assert np.isin(predicted, clf.classes_).all()
    assert clf.predict_proba(X[:5]).shape == (5, 300)
    assert (predicted == y).mean() > 1 / 300  # better than chance


def test_small_support_set_is_one_batch(monkeypatch):
    """A support set that fits in one chunk takes ``adapt`` itself."""
    X, y = _data()
    clf = MAMLClassifier(hidden_layer_sizes=(16,), **SMALL).fit(X, y)
    calls = []
    original = type(clf.learner_).adapt

    def adapt(self, *args):
        calls.append(len(args[0]))
        return original(self, *args)

    monkeypatch.setattr(type(clf.learner_), "adapt", adapt)
    clf.adapt(X[:20], y[:20])
    assert calls == [20]


def test_a_learner_without_its_own_chunking_adapts_in_one_batch(monkeypatch):
    """``Learner.adapt_in_chunks`` defaults to ``adapt`` on the whole support set."""
    monkeypatch.setattr(_learner, "SUPPORT_CHUNK_ROWS", 4)

    class Recording(_learner.Learner):
        def adapt(self, x, y, n_outputs, loop):
            return {"rows": torch.tensor(len(x))}

    state = Recording().adapt_in_chunks(torch.zeros(30, 2), torch.zeros(30), 2, loop=None)
    assert int(state["rows"]) == 30
