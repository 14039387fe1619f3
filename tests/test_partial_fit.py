"""Classifiers' partial_fit: classes streamed in over several calls."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_meta import (
    FineTuneClassifier,
    MAMLClassifier,
    MetaClassifier,
    MetaRidgeClassifier,
    ProtoNetClassifier,
    ReptileClassifier,
    load,
)

COMMON = dict(
    n_way=3,
    n_shots=2,
    n_queries=3,
    meta_batch_size=4,
    hidden_layer_sizes=(16,),
    n_eval_episodes=4,
    device="cpu",
    random_state=0,
)
# Enough adaptation steps for 12-way predict after a few outer steps.
CLASSIFIERS = [
    MAMLClassifier(eval_inner_steps=20, **COMMON),
    ReptileClassifier(eval_inner_steps=50, **COMMON),
    ProtoNetClassifier(**COMMON),
    MetaRidgeClassifier(**COMMON),
    FineTuneClassifier(**COMMON),
    MetaClassifier("protonet", **COMMON),
]
IDS = [type(c).__name__ for c in CLASSIFIERS[:-1]] + ["MetaClassifier"]
MEMORY = COMMON["n_shots"] + COMMON["n_queries"]  # samples per class kept for predict


def _stream(classifier, X, y, n_calls=3, **kwargs):
    """partial_fit on the classes in ``n_calls`` blocks, the first block first."""
    block = y * n_calls // 12
    for call in range(n_calls):
        classifier.partial_fit(X[block == call], y[block == call], **kwargs)
    return classifier


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_streamed_classes_are_all_predicted(classifier, blobs_classes):
    X, y = blobs_classes
    classifier = clone(classifier)
    for n_calls, seen in [(1, 4), (2, 8), (3, 12)]:
        block = y * 3 // 12
        classifier.partial_fit(X[block == n_calls - 1], y[block == n_calls - 1])
        np.testing.assert_array_equal(classifier.classes_, np.arange(seen))
        assert classifier.predict_proba(X).shape == (len(X), seen)
    predicted = classifier.predict(X)
    # A model that forgot the classes of the first calls would not predict them.
    assert (predicted == y).mean() > 0.8
    assert min((predicted[y == c] == c).mean() for c in range(12)) > 0.3


@pytest.mark.parametrize("classifier", CLASSIFIERS[:4], ids=IDS[:4])
def test_predict_adapts_to_a_bounded_memory_of_every_class(classifier, blobs_classes):
    X, y = blobs_classes
    classifier = _stream(clone(classifier), X, y)
    memory = classifier._support_memory
    np.testing.assert_array_equal(np.bincount(memory["labels"]), np.full(12, MEMORY))
    for label, row in zip(memory["labels"], memory["X"], strict=True):  # real samples
        assert (X[y == label].astype(np.float32) == row).all(axis=1).any()
    if isinstance(classifier, ProtoNetClassifier):
        counts = classifier.adapted_module_.counts.numpy()
        np.testing.assert_array_equal(counts, np.full(12, MEMORY))


def test_the_memory_samples_every_call_of_a_class(blobs_classes):
    """A class split over two calls: the memory draws from both."""
    X, y = blobs_classes
    first = np.arange(len(y)) % 30 < 15  # half of every class's samples
    drawn = []
    for seed in range(20):
        clf = ProtoNetClassifier(**{**COMMON, "random_state": seed})
        clf.partial_fit(X[first], y[first]).partial_fit(X[~first], y[~first])
        rows = clf._support_memory["X"][:, None, :] == X[None].astype(np.float32)
        drawn.append(first[rows.all(axis=2).argmax(axis=1)].mean())
    assert 0.3 < np.mean(drawn) < 0.7  # uniform over the samples: half from each call


def test_classes_declares_classes_and_a_later_call_adds_more(blobs_classes):
    X, y = blobs_classes
    clf = ProtoNetClassifier(**COMMON).partial_fit(X[y < 4], y[y < 4], classes=np.arange(8))
    np.testing.assert_array_equal(clf.classes_, np.arange(8))
    clf.partial_fit(X[y >= 8], y[y >= 8], classes=[20])
    np.testing.assert_array_equal(clf.classes_, [*range(12), 20])
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and (proba[:, 4:8] == 0).all() and (proba[:, -1] == 0).all()
    assert set(clf.predict(X)) == {*range(4), *range(8, 12)}  # declared without samples: never


def test_partial_fit_after_fit_keeps_the_fitted_classes(blobs_classes):
    X, y = blobs_classes
    clf = ProtoNetClassifier(max_iter=5, **COMMON).fit(X[y < 8], y[y < 8])
    clf.partial_fit(X[y >= 8], y[y >= 8])
    np.testing.assert_array_equal(clf.classes_, np.arange(12))
    assert (clf.predict(X) == y).mean() > 0.8


def test_class_weight_follows_the_new_classes(blobs_classes):
    X, y = blobs_classes
    keep = (y < 6) | (np.arange(len(y)) % 30 < 10)  # classes 6-11 rarer
    clf = _stream(MAMLClassifier(class_weight="balanced", **COMMON), X[keep], y[keep])
    np.testing.assert_array_equal(clf.classes_, np.arange(12))
    weights = {c: 1.0 for c in range(8)}
    clf = MAMLClassifier(class_weight=weights, **COMMON).partial_fit(X[y < 4], y[y < 4])
    clf.partial_fit(X[(y >= 4) & (y < 8)], y[(y >= 4) & (y < 8)])
    _fails_unchanged(clf, X, lambda: clf.partial_fit(X[y >= 8], y[y >= 8]), "not in class_weight")


def _snapshot(classifier, X):
    return (
        classifier.classes_.copy(),
        classifier.predict_proba(X),
        classifier.n_iter_,
        {k: v.clone() for k, v in classifier.learner_.state_dict().items()},
        {k: v.copy() for k, v in classifier._support_memory.items()},
        classifier._rng.bit_generator.state,
    )


def _fails_unchanged(classifier, X, call, match, error=ValueError):
    before = _snapshot(classifier, X)
    with pytest.raises(error, match=match):
        call()
    after = _snapshot(classifier, X)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2] == before[2] and after[5] == before[5]
    for name, value in before[3].items():
        torch.testing.assert_close(after[3][name], value, rtol=0, atol=0)
    for name, value in before[4].items():
        np.testing.assert_array_equal(after[4][name], value)


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=IDS)
def test_a_failed_call_leaves_the_model_unchanged(classifier, blobs_classes):
    X, y = blobs_classes
    classifier = clone(classifier)
    classifier.partial_fit(X[y < 4], y[y < 4]).partial_fit(X[y >= 8], y[y >= 8])
    new = (y >= 4) & (y < 8)
    X_new, y_new = X[new], y[new]
    _fails_unchanged(
        classifier, X, lambda: classifier.partial_fit(X_new[:, :3], y_new), "3 features"
    )
    _fails_unchanged(
        classifier, X, lambda: classifier.partial_fit(X_new, y_new.astype(str)), "another type",
        TypeError,
    )  # fmt: skip
    _fails_unchanged(
        classifier, X, lambda: classifier.partial_fit(X_new, y_new, classes=[[4], [5]]), "1-D"
    )
    weights = np.zeros(len(y_new))
    _fails_unchanged(
        classifier, X, lambda: classifier.partial_fit(X_new, y_new, sample_weight=weights),
        "sample_weight is zero",
    )  # fmt: skip


def test_a_first_call_needs_two_classes(blobs_classes):
    X, y = blobs_classes
    clf = ProtoNetClassifier(**COMMON)
    with pytest.raises(ValueError, match="y holds only one class, 0"):
        clf.partial_fit(X[y == 0], y[y == 0])
    with pytest.raises(ValueError, match="y with classes holds only one class, 0"):
        clf.partial_fit(X[y == 0], y[y == 0], classes=[0])
    assert not hasattr(clf, "classes_")


@pytest.mark.parametrize("classifier", [CLASSIFIERS[0], CLASSIFIERS[4]], ids=[IDS[0], IDS[4]])
def test_the_memory_is_saved_with_the_model(classifier, blobs_classes, tmp_path):
    X, y = blobs_classes
    classifier = clone(classifier).partial_fit(X[y < 6], y[y < 6])
    classifier.save(tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt")
    for model in (classifier, loaded):
        model.partial_fit(X[y >= 6], y[y >= 6])
    np.testing.assert_array_equal(loaded.classes_, np.arange(12))
    np.testing.assert_allclose(loaded.predict_proba(X), classifier.predict_proba(X), atol=1e-6)


def test_the_fine_tuning_head_keeps_its_rows_and_grows_new_ones(blobs_classes):
    X, y = blobs_classes
    clf = FineTuneClassifier(**{**COMMON, "meta_lr": 1e-9})  # the rows barely move
    rows = {}
    for block in ([0, 1, 2, 3], [8, 9, 10, 11], [4, 5, 6, 7]):  # the last ones in between
        clf.partial_fit(X[np.isin(y, block)], y[np.isin(y, block)])
        head = clf.learner_.model.head
        weight, bias = head.weight.detach().numpy(), head.bias.detach().numpy()
        assert weight.shape == (len(clf.classes_), 16) and bias.shape == (len(clf.classes_),)
        for label, row in rows.items():
            np.testing.assert_allclose(weight[clf.classes_ == label][0], row, atol=1e-6)
        assert np.abs(weight[np.isin(clf.classes_, block)]).sum(axis=1).min() > 0
        rows = dict(zip(clf.classes_, weight, strict=True))
