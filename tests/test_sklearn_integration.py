"""Meta-estimators inside scikit-learn's own Pipelines, searches and cross-validation."""

import pickle

import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLClassifier, MAMLRegressor

FAST = dict(max_iter=20, n_eval_episodes=10, device="cpu", random_state=0)


def test_routed_groups_in_cross_validate_and_grid_search(sinusoid):
    X, y, groups = sinusoid
    with config_context(enable_metadata_routing=True):
        maml = MAMLRegressor(**FAST).set_fit_request(groups=True).set_score_request(groups=True)
        pipeline = make_pipeline(StandardScaler(), maml)
        result = cross_validate(pipeline, X, y, cv=GroupKFold(3), params={"groups": groups})
        assert np.isfinite(result["test_score"]).all()

        search = GridSearchCV(
            pipeline, {"mamlregressor__inner_lr": [0.001, 0.01]}, cv=GroupKFold(3)
        ).fit(X, y, groups=groups)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
        assert search.best_params_["mamlregressor__inner_lr"] in (0.001, 0.01)


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
    X, y = (sinusoid[0], sinusoid[1]) if make is MAMLRegressor else blobs_classes
    estimator = make(**FAST, inner_steps=2).fit(X, y)
    cloned = clone(estimator)
    assert cloned.get_params() == estimator.get_params()
    assert not hasattr(cloned, "learner_")
    np.testing.assert_array_equal(cloned.fit(X, y).predict(X), estimator.predict(X))
    loaded = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.score(X, y) == estimator.score(X, y)
    assert estimator.set_params(inner_lr=0.5).get_params()["inner_lr"] == 0.5


def test_pickled_model_keeps_training_where_it_left_off(sinusoid):
    warm = dict(FAST, max_iter=5, warm_start=True)
    straight = MAMLRegressor(**warm).fit(*sinusoid).fit(*sinusoid)
    resumed = pickle.loads(pickle.dumps(MAMLRegressor(**warm).fit(*sinusoid))).fit(*sinusoid)
    np.testing.assert_allclose(resumed.predict(sinusoid[0]), straight.predict(sinusoid[0]))
