import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, GroupKFold

import sklearn_meta
from sklearn_meta import MetaClassifier, MetaRegressor, SimpleShot
from sklearn_meta._core._learner import AdaptedState
from sklearn_meta._simpleshot import SimpleShotLearner

FAST = dict(n_way=3, max_iter=60, n_eval_episodes=10, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits():
    """Digits scaled to [0, 1]: classes 0-5 train, 6-9 are new."""
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(digits):
    """SimpleShot with each feature transform, fitted on classes 0-5 with the same seed."""
    X, y = digits
    train = y < 6
    return {
        ft: MetaClassifier(SimpleShot(feature_transform=ft), **FAST).fit(X[train], y[train])
        for ft in ("CL2N", "UN")
    }


def _new_task(digits, n_shots=5, seed=0):
    """A support set of ``n_shots`` samples of each new class (6-9), and the rest as queries."""
    X, y = digits
    new = np.flatnonzero(y >= 6)
    rng = np.random.default_rng(seed)
    support = np.concatenate(
        [rng.choice(new[y[new] == c], n_shots, replace=False) for c in range(6, 10)]
    )
    query = np.setdiff1d(new, support)
    return X[support], y[support], X[query], y[query]


def _features(learner, X, feature_transform):
    """Transformed backbone features of ``X`` in float64, computed apart from the learner."""
    backbone = copy.deepcopy(learner.backbone).double()
    with torch.no_grad():
        features = backbone(torch.as_tensor(X, dtype=torch.float64))
        if feature_transform == "CL2N":
            features = features - learner.feature_mean.double()
        if feature_transform in ("CL2N", "L2N"):
            features = features / features.norm(dim=1, keepdim=True)
    return features.numpy()


# -- it learns ---------------------------------------------------------------


def test_pretrains_with_a_head_per_training_class(fitted, digits):
    X, y = digits
    train = y < 6
    est = fitted["CL2N"]
    assert isinstance(est.learner_, SimpleShotLearner)
    assert est.learner_.model.head.out_features == 6
    assert np.mean(est.loss_curve_[-5:]) < 0.8 * est.loss_curve_[0]
    assert isinstance(est.adapted_module_, AdaptedState)
    assert isinstance(est.adapted_module_.learner, SimpleShotLearner)
    assert (est.predict(X[train]) == y[train]).mean() > 0.7  # 6 classes: chance is 1/6


def test_adapts_to_new_classes_and_beats_chance(fitted, digits):
    X_support, y_support, X_query, y_query = _new_task(digits)
    task = fitted["CL2N"].adapt(X_support, y_support)
    assert task.classes_.tolist() == [6, 7, 8, 9]
    assert (task.predict(X_query) == y_query).mean() > 0.45  # 4-way: chance is 0.25
    X, y = digits
    assert fitted["CL2N"].score(X[y >= 6], y[y >= 6]) > 0.5  # 3-way episodes: chance 1/3


def test_the_shortcut_is_the_default_component(fitted, digits):
    X, y = digits
    train = y < 6
    by_name = MetaClassifier("simpleshot", **FAST).fit(X[train], y[train])
    assert isinstance(by_name.learner_, SimpleShotLearner)
    assert by_name.learner_.feature_transform == "CL2N"
    np.testing.assert_allclose(
        by_name.predict_proba(X[~train]), fitted["CL2N"].predict_proba(X[~train]), atol=1e-10
    )


# -- the nearest-centroid rule -----------------------------------------------


@pytest.mark.parametrize("feature_transform", ["CL2N", "UN"])
def test_adapted_task_is_the_nearest_centroid_of_transformed_features(
    fitted, digits, feature_transform
):
    X_support, y_support, X_query, _ = _new_task(digits)
    est = fitted[feature_transform]
    task = est.adapt(X_support, y_support)
    support = _features(est.learner_, X_support, feature_transform)
    centroids = np.stack([support[y_support == c].mean(0) for c in range(6, 10)])
    query = _features(est.learner_, X_query, feature_transform)
    logits = -((query[:, None, :] - centroids[None]) ** 2).sum(-1)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(task.predict_proba(X_query), expected, atol=1e-6)
    if feature_transform == "CL2N":  # means of unit vectors
        assert (np.linalg.norm(centroids, axis=1) <= 1 + 1e-9).all()


def test_feature_transforms_differ(fitted, digits):
    X_support, y_support, X_query, _ = _new_task(digits)
    cl2n, un = fitted["CL2N"], fitted["UN"]
    # Same seed, same pretraining: only the transform differs.
    for a, b in zip(cl2n.learner_.parameters(), un.learner_.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    cl2n_proba = cl2n.adapt(X_support, y_support).predict_proba(X_query)
    un_proba = un.adapt(X_support, y_support).predict_proba(X_query)
    assert np.abs(cl2n_proba - un_proba).max() > 1e-2
    cl2n_centroids = cl2n.adapted_module_.centroids
    un_centroids = un.adapted_module_.centroids
    assert torch.linalg.vector_norm(cl2n_centroids, dim=1).max() <= 1 + 1e-5
    assert not torch.allclose(cl2n_centroids, un_centroids, atol=1e-3)


def test_feature_mean_is_the_mean_training_feature(fitted, digits):
    X, y = digits
    train = y < 6
    learner = fitted["CL2N"].learner_
    with torch.no_grad():
        expected = learner.backbone(torch.as_tensor(X[train])).mean(0)
    torch.testing.assert_close(learner.feature_mean, expected, atol=1e-5, rtol=1e-5)
    assert expected.abs().max() > 1e-3
    assert "feature_mean" in learner.state_dict()


def test_after_partial_fit_the_feature_mean_covers_every_class_seen(digits):
    X, y = digits
    est = MetaClassifier(SimpleShot(), **{**FAST, "max_iter": 5})
    first, second = y < 3, (y >= 3) & (y < 6)
    est.partial_fit(X[first], y[first]).partial_fit(X[second], y[second])
    memory = est._support_memory["X"]
    assert set(est._support_memory["labels"].tolist()) == set(range(6))
    with torch.no_grad():
        expected = est.learner_.backbone(torch.as_tensor(memory)).mean(0)
        latest_only = est.learner_.backbone(torch.as_tensor(X[second])).mean(0)
    torch.testing.assert_close(est.learner_.feature_mean, expected, atol=1e-5, rtol=1e-5)
    assert (est.learner_.feature_mean - latest_only).abs().max() > 1e-3


def test_a_class_without_support_samples_is_never_predicted(digits):
    X, y = digits
    part = y < 3
    est = MetaClassifier(SimpleShot(), **{**FAST, "max_iter": 5})
    est.partial_fit(X[part], y[part], classes=[0, 1, 2, 3])
    proba = est.predict_proba(X[part])
    assert proba.shape == (part.sum(), 4)
    assert (proba[:, 3] == 0).all()
    # A later call with class 3 grows the head by a row, as the fine-tuning baseline's.
    more = (y >= 2) & (y < 4)
    est.partial_fit(X[more], y[more])
    assert est.learner_.model.head.out_features == 4
    assert set(est.predict(X[y < 4])) == {0, 1, 2, 3}


# -- parameters ---------------------------------------------------------------


def test_a_bad_feature_transform_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="feature_transform"):
        MetaClassifier(SimpleShot(feature_transform="L1N"), **FAST).fit(X[y < 6], y[y < 6])


def test_adapting_takes_no_gradient_steps(fitted, digits):
    X_support, y_support, _, _ = _new_task(digits)
    with pytest.raises(ValueError, match="inner_steps"):
        fitted["CL2N"].adapt(X_support, y_support, inner_steps=3)


def test_regression_is_refused(sinusoid):
    X, y, groups = sinusoid
    with pytest.raises(ValueError, match="classification only"):
        MetaRegressor(SimpleShot(), max_iter=2, device="cpu", random_state=0).fit(X, y, groups)


def test_grid_search_over_the_feature_transform(digits):
    X, y = digits
    keep = np.flatnonzero(np.isin(y, range(8)))[::2]
    search = GridSearchCV(
        MetaClassifier(SimpleShot(), **{**FAST, "max_iter": 10}),
        {"algorithm__feature_transform": ["CL2N", "L2N"]},
        cv=GroupKFold(n_splits=2),
    )
    search.fit(X[keep], y[keep], groups=y[keep])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["algorithm__feature_transform"] in ("CL2N", "L2N")


# -- persistence ----------------------------------------------------------------


def test_save_and_load_give_the_same_predictions(fitted, digits, tmp_path):
    X, y = digits
    est = fitted["CL2N"]
    path = tmp_path / "simpleshot.pt"
    est.save(path)
    loaded = sklearn_meta.load(path)
    assert isinstance(loaded.algorithm, SimpleShot)
    assert loaded.algorithm.feature_transform == "CL2N"
    torch.testing.assert_close(loaded.learner_.feature_mean, est.learner_.feature_mean)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    X_support, y_support, X_query, _ = _new_task(digits)
    np.testing.assert_array_equal(
        loaded.adapt(X_support, y_support).predict_proba(X_query),
        est.adapt(X_support, y_support).predict_proba(X_query),
    )
