import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import sklearn_meta
from sklearn_meta import MatchingNetworks, MetaClassifier, MetaRegressor
from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, can_vectorize, map_episodes
from sklearn_meta._core._model import build_backbone
from sklearn_meta._core._tasks import CLASSIFICATION
from sklearn_meta._matching import MatchingLearner, log_attention_vote

FAST = dict(n_way=5, max_iter=50, n_eval_episodes=20, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits():
    """Digits scaled to [0, 1]: classes 0-5 to meta-train on, 6-9 new."""
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def new_task(digits):
    """A 4-way 5-shot task of the new classes: support and query row indices."""
    _, y = digits
    rng = np.random.default_rng(0)
    new = np.flatnonzero(y >= 6)
    support = np.concatenate([rng.choice(new[y[new] == c], 5, replace=False) for c in range(6, 10)])
    return support, np.setdiff1d(new, support)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return MetaClassifier(MatchingNetworks(), **FAST).fit(X[y < 6], y[y < 6])


def _by_hand(estimator, X_support, y_support, X_query, classes, distance="cosine"):
    """p(c | x) = Σᵢ softmaxᵢ(similarity(x, xᵢ)) 1[yᵢ = c], in float64, from the fitted learner."""
    learner = copy.deepcopy(estimator.learner_).double()
    with torch.no_grad():
        support = learner.embedding(torch.tensor(X_support, dtype=torch.float64))
        query = learner.embedding(torch.tensor(X_query, dtype=torch.float64))
        if distance == "cosine":
            scale = learner.similarity.log_scale.exp()
            scores = scale * F.cosine_similarity(query[:, None], support[None], dim=-1)
        else:
            scores = -torch.cdist(query, support).square()
        one_hot = torch.tensor(y_support[:, None] == classes[None], dtype=torch.float64)
        return (scores.softmax(-1) @ one_hot).numpy()


# -- meta-learning does its job ---------------------------------------------------


def test_adapts_to_new_classes(fitted, digits, new_task):
    X, y = digits
    support, query = new_task
    task = fitted.adapt(X[support], y[support])
    assert sorted(task.classes_.tolist()) == [6, 7, 8, 9]
    assert (task.predict(X[query]) == y[query]).mean() > 0.55  # 4-way: chance is 0.25
    assert np.mean(fitted.loss_curve_[-10:]) < np.mean(fitted.loss_curve_[:10]) / 2
    assert (fitted.predict(X[y < 6]) == y[y < 6]).mean() > 0.9
    assert fitted.vectorized_


def test_the_shortcut_is_the_default_component(fitted, digits):
    X, y = digits
    by_name = MetaClassifier("matching", **FAST).fit(X[y < 6], y[y < 6])
    np.testing.assert_allclose(by_name.loss_curve_, fitted.loss_curve_, rtol=1e-5)
    assert fitted.get_params()["algorithm__distance"] == "cosine"
    assert by_name.learner_.embedding[0].out_features == 64  # the recommended embedding


def test_euclidean_distance(digits, new_task):
    X, y = digits
    support, query = new_task
    clf = MetaClassifier(MatchingNetworks(distance="euclidean"), **FAST)
    clf.fit(X[y < 6], y[y < 6])
    assert not hasattr(clf.learner_.similarity, "log_scale")
    task = clf.adapt(X[support], y[support])
    assert (task.predict(X[query]) == y[query]).mean() > 0.55
    proba = task.predict_proba(X[query[:7]])
    classes = task.classes_
    expected = _by_hand(clf, X[support], y[support], X[query[:7]], classes, "euclidean")
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-5)


# -- adaptation: attention over the support set, no gradient steps ----------------


def test_probabilities_are_the_attention_vote(fitted, digits):
    X, y = digits
    new = np.flatnonzero(y >= 7)
    support = np.concatenate([new[y[new] == c][:2] for c in (7, 8, 9)])  # 2 shots, 3 ways
    query = new[20:31]
    task = fitted.adapt(X[support], y[support])
    expected = _by_hand(fitted, X[support], y[support], X[query], task.classes_)
    proba = task.predict_proba(X[query])
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_inner_steps_do_not_apply(fitted, digits):
    X, y = digits
    with pytest.raises(ValueError, match="adapts without gradient steps; inner_steps=3"):
        fitted.adapt(X[y >= 6][:20], y[y >= 6][:20], inner_steps=3)


def test_vote_survives_underflow_and_absent_classes():
    # Class 2's attention is exp(-1000) of class 0's: zero in float32, yet its
    # log-probability is finite and right; class 3 has no support sample.
    scores = torch.tensor([[0.0, -200.0, -1000.0, -1.0]], requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0])
    one_hot = F.one_hot(labels, 4).float()
    log_vote = log_attention_vote(scores, labels, one_hot)
    top = float(np.log1p(np.exp(-1.0)))  # class 0 holds two samples
    expected = torch.tensor([[0.0, -200.0 - top, -1000.0 - top, -torch.inf]])
    torch.testing.assert_close(log_vote, expected, rtol=1e-5, atol=1e-4)
    loss = F.cross_entropy(log_vote, torch.tensor([2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    assert scores.grad[0, 2] < 0  # the true class's sample is pulled closer


def test_partial_fit_with_a_class_without_samples(digits):
    X, y = digits
    first = y < 6
    clf = MetaClassifier(MatchingNetworks(), **{**FAST, "n_way": 4, "max_iter": 1})
    clf.partial_fit(X[first], y[first], classes=np.arange(10))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 10)
    assert np.isfinite(proba).all() and (proba[:, 6:] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    clf.partial_fit(X[~first], y[~first])
    assert np.isfinite(clf.predict_proba(X)).all()
    assert set(clf.predict(X)) == set(range(10))  # the support memory keeps classes 0-5


# -- the learner --------------------------------------------------------------------


def _episode_loss(learner, n_outputs):
    loop = InnerLoop(CLASSIFICATION, steps=0, lr=0.0)

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, n_outputs, loop)

    return loss


def _losses_and_gradients(learner, batch, vectorize):
    learner.zero_grad()
    losses = map_episodes(_episode_loss(learner, 3), batch, vectorize)
    losses.mean().backward()
    return losses.detach(), [p.grad.clone() for p in learner.parameters()]


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_vmap_and_loop_give_the_same_losses_and_gradients(distance):
    torch.manual_seed(0)
    learner = MatchingLearner(build_backbone(None, 16, (8, 8), "relu"), distance)
    g = torch.Generator().manual_seed(1)
    batch = EpisodeBatch(
        torch.randn(4, 6, 16, generator=g),
        torch.arange(3).repeat(4, 2),
        torch.randn(4, 9, 16, generator=g),
        torch.arange(3).repeat(4, 3),
    )
    assert can_vectorize(_episode_loss(learner, 3), batch)
    vectorized = _losses_and_gradients(learner, batch, True)
    looped = _losses_and_gradients(learner, batch, False)
    torch.testing.assert_close(vectorized[0], looped[0], rtol=1e-4, atol=1e-6)
    for a, b in zip(vectorized[1], looped[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_vectorized_and_looped_training_agree(digits):
    X, y = digits
    common = {**FAST, "max_iter": 10}
    vectorized = MetaClassifier(MatchingNetworks(), **common).fit(X[y < 6], y[y < 6])
    looped = MetaClassifier(MatchingNetworks(), vectorize=False, **common)
    looped.fit(X[y < 6], y[y < 6])
    assert vectorized.vectorized_ and not looped.vectorized_
    np.testing.assert_allclose(vectorized.loss_curve_, looped.loss_curve_, rtol=1e-3, atol=1e-5)


# -- scikit-learn behaviour ---------------------------------------------------------


def test_bad_distance_is_named(digits):
    X, y = digits
    with pytest.raises(ValueError, match="distance"):
        MetaClassifier(MatchingNetworks(distance="manhattan"), **FAST).fit(X[y < 6], y[y < 6])


def test_classification_only(sinusoid):
    X, y, groups = sinusoid
    with pytest.raises(ValueError, match="classification only"):
        MetaRegressor(MatchingNetworks(), max_iter=2, device="cpu").fit(X, y, groups)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        MetaRegressor("matching", max_iter=2, device="cpu").fit(X, y, groups)


def test_save_and_load(digits, new_task, tmp_path):
    X, y = digits
    support, query = new_task
    clf = MetaClassifier(MatchingNetworks(distance="euclidean"), **{**FAST, "max_iter": 5})
    clf.fit(X[y < 6], y[y < 6])
    clf.save(tmp_path / "matching.pt")
    loaded = sklearn_meta.load(tmp_path / "matching.pt")
    assert isinstance(loaded.algorithm, MatchingNetworks)
    assert loaded.algorithm.distance == "euclidean"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.adapt(X[support], y[support]).predict_proba(X[query]),
        clf.adapt(X[support], y[support]).predict_proba(X[query]),
    )
