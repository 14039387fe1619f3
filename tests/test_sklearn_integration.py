"""Meta-estimators inside scikit-learn's own Pipelines, searches and cross-validation."""

import pickle

import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLClassifier, MAMLRegressor, ProtoNetClassifier

FAST = dict(max_iter=20, n_eval_episodes=10, device="cpu", random_state=0)


def test_routed_groups_in_cross_validate_and_grid_search(sinusoid):
    X, y, groups = sinusoid
    with config_context(enable_metadata_routing=True):
        maml = MAMLRegressor(**FAST).set_fit_request(groups=True).set_score_request(groups=True)
        pipeline = make_pipeline(StandardScaler(), maml)
        result = cross_validate(pipeline, X, y, cv=GroupKFold(3), params={"groups": groups})
        assert np.isfinite(result["test_score"]).all()

        # inner steps of 1.0 overshoot every task's fit: the search must pick 0.01
        search = GridSearchCV(
            pipeline, {"mamlregressor__inner_lr": [0.01, 1.0]}, cv=GroupKFold(3)
        ).fit(X, y, groups=groups)
        sensible, overshooting = search.cv_results_["mean_test_score"]
        assert np.isfinite(sensible) and overshooting < sensible - 1
        assert search.best_params_ == {"mamlregressor__inner_lr": 0.01}


def test_routing_reaches_fit_and_score(sinusoid, monkeypatch):
    X, y, groups = sinusoid
    seen = []
    for method in ("fit", "score"):
        original = getattr(MAMLRegressor, method)

        def spy(self, X, y, groups=None, _original=original, _method=method):
            seen.append((_method, None if groups is None else len(np.unique(groups))))
            return _original(self, X, y, groups)

        monkeypatch.setattr(MAMLRegressor, method, spy)
    with config_context(enable_metadata_routing=True):
        maml = MAMLRegressor(**FAST).set_fit_request(groups=True).set_score_request(groups=True)
        cross_validate(maml, X, y, cv=GroupKFold(3), params={"groups": groups})
    assert seen.count(("fit", 40)) == 3 and seen.count(("score", 20)) == 3


def test_grid_search_without_routing_is_class_disjoint(blobs_classes):
    X, y = blobs_classes
    cv = GroupKFold(3)
    for train, test in cv.split(X, y, groups=y):
        assert not set(y[train]) & set(y[test])
    search = GridSearchCV(
        MAMLClassifier(n_way=3, **FAST), {"inner_lr": [0.1, 0.4]}, cv=cv, error_score="raise"
    ).fit(X, y, groups=y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores > 1 / 3).all()  # 3-way chance is 1/3


@pytest.mark.parametrize("make", [MAMLRegressor, MAMLClassifier])
def test_clone_params_and_pickle_keep_predictions(make, sinusoid, blobs_classes):
    data = sinusoid if make is MAMLRegressor else blobs_classes
    X, y = data[:2]
    estimator = make(**FAST, inner_steps=2).fit(*data)
    cloned = clone(estimator)
    assert cloned.get_params() == estimator.get_params()
    assert not hasattr(cloned, "learner_")
    np.testing.assert_array_equal(cloned.fit(*data).predict(X), estimator.predict(X))
    loaded = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.score(X, y) == estimator.score(X, y)
    assert estimator.set_params(inner_lr=0.5).get_params()["inner_lr"] == 0.5


def test_pickled_model_keeps_training_where_it_left_off(sinusoid):
    warm = dict(FAST, max_iter=5, warm_start=True)
    straight = MAMLRegressor(**warm).fit(*sinusoid).fit(*sinusoid)
    resumed = pickle.loads(pickle.dumps(MAMLRegressor(**warm).fit(*sinusoid))).fit(*sinusoid)
    np.testing.assert_allclose(resumed.predict(sinusoid[0]), straight.predict(sinusoid[0]))


# -- class-disjoint folds and task groups at once -------------------------------------
def sites_of_classes():
    """9 classes recorded at each of 4 sites, 8 samples of each: ``X, y, sites``.

    An episode draws its classes from one site (a task); folds split by class.
    """
    rng = np.random.default_rng(0)
    y = np.tile(np.repeat(np.arange(9), 8), 4)
    sites = np.repeat(np.arange(4), 72)
    centers, offsets = rng.normal(scale=3.0, size=(9, 6)), rng.normal(scale=3.0, size=(4, 6))
    return centers[y] + offsets[sites] + rng.normal(size=(len(y), 6)), y, sites


def task_grouped_protonet():
    """A ProtoNetClassifier that takes its groups as ``task_groups`` in fit and score."""
    clf = ProtoNetClassifier(n_way=3, n_shots=2, n_queries=3, **FAST)
    return clf.set_fit_request(groups="task_groups").set_score_request(groups="task_groups")


@pytest.fixture
def groups_seen(monkeypatch):
    """The groups each call of ProtoNetClassifier's fit and score receives."""
    seen = []
    for method in ("fit", "score"):
        original = getattr(ProtoNetClassifier, method)

        def spy(self, X, y, groups=None, sample_weight=None, _original=original, _method=method):
            seen.append((_method, groups))
            return _original(self, X, y, groups, sample_weight=sample_weight)

        monkeypatch.setattr(ProtoNetClassifier, method, spy)
    return seen


def test_class_folds_and_task_groups_in_cross_validate_of_a_pipeline(groups_seen):
    X, y, sites = sites_of_classes()
    with config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), task_grouped_protonet())
        result = cross_validate(
            pipe,
            X,
            y,
            cv=GroupKFold(3),
            params={"groups": y, "task_groups": sites},  # the splitter's, the estimator's
            return_indices=True,
        )
        folds = list(zip(result["indices"]["train"], result["indices"]["test"], strict=True))
        routed = list(groups_seen)
        by_hand = [
            clone(pipe)
            .fit(X[train], y[train], task_groups=sites[train])
            .score(X[test], y[test], task_groups=sites[test])
            for train, test in folds
        ]
    for k, (train, test) in enumerate(folds):
        assert not set(y[train]) & set(y[test])  # unseen classes
        assert routed[2 * k][0] == "fit" and routed[2 * k + 1][0] == "score"
        np.testing.assert_array_equal(routed[2 * k][1], sites[train])
        np.testing.assert_array_equal(routed[2 * k + 1][1], sites[test])
    np.testing.assert_allclose(result["test_score"], by_hand, rtol=1e-6)
    assert (result["test_score"] > 1 / 3).all()  # 3-way chance is 1/3


def test_class_folds_and_task_groups_in_grid_search(groups_seen):
    X, y, sites = sites_of_classes()
    with config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(StandardScaler(), task_grouped_protonet()),
            {"protonetclassifier__distance": ["euclidean", "cosine"]},
            cv=GroupKFold(3),
            error_score="raise",
        ).fit(X, y, groups=y, task_groups=sites)
    assert (search.cv_results_["mean_test_score"] > 1 / 3).all()
    assert len(groups_seen) == 2 * 2 * 3 + 1  # fit and score per candidate and fold; refit
    for _method, groups in groups_seen:
        assert set(np.unique(groups)) == {0, 1, 2, 3}  # the sites, never the classes
    np.testing.assert_array_equal(groups_seen[-1][1], sites)  # the refit on all data


def test_class_labels_routed_as_task_groups_are_named_as_the_cause():
    X, y, _ = sites_of_classes()
    with config_context(enable_metadata_routing=True):
        clf = ProtoNetClassifier(n_way=3, n_shots=2, n_queries=3, **FAST)
        clf.set_fit_request(groups=True).set_score_request(groups=True)
        with pytest.raises(ValueError, match="class labels were probably passed as groups"):
            cross_validate(clf, X, y, cv=GroupKFold(3), params={"groups": y}, error_score="raise")
