import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import ProtoNetClassifier, _protonet
from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, can_vectorize, map_episodes
from sklearn_meta._core._model import build_backbone
from sklearn_meta._core._tasks import CLASSIFICATION
from sklearn_meta._protonet import ProtoNetLearner

FAST = dict(max_iter=20, n_eval_episodes=20, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def noisy_blobs(blobs_classes):
    """The blobs with 20 loud noise features: the embedding must learn to ignore them."""
    X, y = blobs_classes
    noise = np.random.default_rng(1).normal(scale=5.0, size=(len(X), 20))
    return np.hstack([X, noise]), y


@pytest.fixture(scope="module")
def fitted(blobs_classes):
    X, y = blobs_classes
    return ProtoNetClassifier(n_way=3, **FAST).fit(X[y < 8], y[y < 8])


def _embedding(estimator, X):
    with torch.no_grad():
        return estimator.learner_.embedding(torch.tensor(X, dtype=torch.float32)).numpy()


# -- meta-learning does its job ---------------------------------------------------


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_learns_an_embedding_for_unseen_classes(noisy_blobs, distance):
    X, y = noisy_blobs
    train, new = y < 8, y >= 8
    common = dict(n_way=4, distance=distance, **{**FAST, "n_eval_episodes": 50})
    trained = ProtoNetClassifier(**{**common, "max_iter": 100}).fit(X[train], y[train])
    untrained = ProtoNetClassifier(**{**common, "max_iter": 1, "meta_lr": 1e-9})
    untrained.fit(X[train], y[train])
    assert np.mean(trained.loss_curve_[-20:]) < np.mean(trained.loss_curve_[:20])
    score = trained.score(X[new], y[new])
    assert score > 0.6  # 4-way: chance is 0.25
    assert score > untrained.score(X[new], y[new]) + 0.1
    assert (trained.predict(X[train]) == y[train]).mean() > 0.8


def test_cosine_learns_its_scale(blobs_classes):
    X, y = blobs_classes
    cosine = ProtoNetClassifier(n_way=3, distance="cosine", **FAST).fit(X, y)
    assert cosine.learner_.logits.log_scale.item() != pytest.approx(math.log(10.0))
    euclidean = ProtoNetClassifier(n_way=3, **FAST).fit(X, y)
    assert not hasattr(euclidean.learner_.logits, "log_scale")


# -- adaptation: prototypes, no gradient steps ------------------------------------


def test_adapt_builds_prototypes_without_gradient_steps(fitted, blobs_classes, monkeypatch):
    X, y = blobs_classes
    new = np.flatnonzero(y >= 8)
    support, query = new[::6], np.setdiff1d(new, new[::6])  # 5 shots of each new class
    before = [p.detach().clone() for p in fitted.learner_.parameters()]

    def no_gradients(*args, **kwargs):
        raise AssertionError("adapt took a gradient step")

    monkeypatch.setattr(torch.func, "grad", no_gradients)
    monkeypatch.setattr(torch.autograd, "grad", no_gradients)
    task = fitted.adapt(X[support], y[support])  # its speed is benchmarked, not tested
    assert (task.predict(X[query]) == y[query]).mean() > 0.8

    embedded = _embedding(fitted, X[support])
    means = [embedded[y[support] == c].mean(axis=0) for c in task.classes_]
    np.testing.assert_allclose(task.module_.prototypes.numpy(), means, rtol=1e-5, atol=1e-6)
    after = list(fitted.learner_.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    meta, adapted = fitted.learner_.embedding, task.module_.learner.embedding
    pairs = zip(meta.parameters(), adapted.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ValueError, match="adapts without gradient steps; inner_steps=25"):
        fitted.adapt(X[support], y[support], inner_steps=25)


def test_adapt_to_new_string_labels(fitted, blobs_classes):
    X, y = blobs_classes
    names = np.array(["ant", "bee", "cat", "dog"])
    new = y >= 8
    labels = names[y[new] - 8]
    task = fitted.adapt(X[new][::5], labels[::5])
    assert list(task.classes_) == list(names)
    assert (task.predict(X[new]) == labels).mean() > 0.8
    proba = task.predict_proba(X[new])
    assert proba.shape == (new.sum(), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_predict_uses_prototypes_of_all_training_samples(blobs_classes, monkeypatch):
    X, y = blobs_classes
    monkeypatch.setattr(_protonet, "_EMBED_BATCH", 7)  # embed in chunks of at most 7 rows
    clf = ProtoNetClassifier(n_way=3, **FAST).fit(X, y)
    embedded = _embedding(clf, X)
    means = [embedded[y == c].mean(axis=0) for c in clf.classes_]
    prototypes = clf.adapted_module_.prototypes.numpy()
    np.testing.assert_allclose(prototypes, means, rtol=1e-4, atol=1e-5)
    assert (clf.predict(X) == y).mean() > 0.9


def test_partial_fit_never_predicts_classes_without_samples(blobs_classes):
    X, y = blobs_classes
    first = y < 6
    clf = ProtoNetClassifier(n_way=3, **FAST)
    clf.partial_fit(X[first], y[first], classes=np.arange(12))
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and (proba[:, 6:] == 0).all()
    clf.partial_fit(X[~first], y[~first])
    assert set(clf.predict(X)) == set(range(12))  # the support memory keeps classes 0-5


# -- the learner --------------------------------------------------------------------


def _episode_loss(learner, n_outputs):
    loop = InnerLoop(CLASSIFICATION, steps=0, lr=0.0)

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, n_outputs, loop)

    return loss


def _episode_losses_and_gradients(learner, batch, vectorize, n_outputs):
    learner.zero_grad()
    losses = map_episodes(_episode_loss(learner, n_outputs), batch, vectorize)
    losses.mean().backward()
    return losses.detach(), [p.grad.clone() for p in learner.parameters()]


@pytest.mark.parametrize(
    "distance, module", [("euclidean", None), ("cosine", None), ("euclidean", "conv4")]
)
def test_vmap_and_loop_give_the_same_losses_and_gradients(distance, module):
    torch.manual_seed(0)
    backbone = build_backbone(module, 64, (16, 16), "relu", input_shape=(1, 8, 8))
    learner = ProtoNetLearner(backbone, distance)
    g = torch.Generator().manual_seed(1)
    batch = EpisodeBatch(
        torch.randn(4, 6, 64, generator=g),
        torch.arange(3).repeat(4, 2),
        torch.randn(4, 9, 64, generator=g),
        torch.arange(3).repeat(4, 3),
    )
    assert can_vectorize(_episode_loss(learner, 3), batch)
    vectorized = _episode_losses_and_gradients(learner, batch, True, 3)
    looped = _episode_losses_and_gradients(learner, batch, False, 3)
    torch.testing.assert_close(vectorized[0], looped[0], rtol=1e-4, atol=1e-6)
    for a, b in zip(vectorized[1], looped[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_euclidean_logits_are_negative_squared_distances():
    g = torch.Generator().manual_seed(0)
    embedded, prototypes = torch.randn(5, 4, generator=g), torch.randn(3, 4, generator=g)
    logits = _protonet.NegativeSquaredEuclidean()(embedded, prototypes)
    torch.testing.assert_close(logits, -torch.cdist(embedded, prototypes).square())


# -- scikit-learn behaviour ---------------------------------------------------------


def test_no_inner_loop_parameters():
    params = ProtoNetClassifier().get_params()
    assert not {"inner_steps", "inner_lr", "first_order", "eval_inner_steps"} & set(params)
    assert params["distance"] == "euclidean"


def test_bad_distance_is_named(blobs_classes):
    with pytest.raises(ValueError, match="distance must be one of"):
        ProtoNetClassifier(distance="manhattan", **FAST).fit(*blobs_classes)


def test_pickle_keeps_predictions_scores_and_adaptation(fitted, blobs_classes):
    X, y = blobs_classes
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.score(X[y >= 8], y[y >= 8]) == fitted.score(X[y >= 8], y[y >= 8])
    np.testing.assert_array_equal(
        loaded.adapt(X[::4], y[::4]).predict(X), fitted.adapt(X[::4], y[::4]).predict(X)
    )
    task = fitted.adapt(X[::4], y[::4])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(task)).predict(X), task.predict(X))


def test_grid_search_over_distance_is_class_disjoint(blobs_classes):
    X, y = blobs_classes
    # Each sample at its own scale, over three decades: only the direction tells
    # the classes apart, and the cosine distance is the one that ignores length.
    X = X * 10 ** np.random.default_rng(0).uniform(-1, 2, size=(len(X), 1))
    search = GridSearchCV(
        ProtoNetClassifier(n_way=3, **FAST),
        {"distance": ["euclidean", "cosine"]},
        cv=GroupKFold(3),
        error_score="raise",
    ).fit(X, y, groups=y)
    euclidean, cosine = search.cv_results_["mean_test_score"]
    assert cosine > 0.9 and euclidean < cosine - 0.2  # 3-way chance is 1/3
    assert search.best_params_ == {"distance": "cosine"}
