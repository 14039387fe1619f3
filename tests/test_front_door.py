import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import (
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    MetaClassifier,
    MetaRegressor,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
)

FAST = dict(max_iter=10, n_eval_episodes=10, device="cpu", random_state=0)



@pytest.mark.parametrize(
    "algorithm, expected, fixed",
    [
        ("maml", MAMLClassifier, {"first_order": False, "inner_update": "sgd"}),
        ("fomaml", MAMLClassifier, {"first_order": True}),
        ("metasgd", MAMLClassifier, {"inner_update": "meta-sgd"}),
        ("anil", MAMLClassifier, {"adapt_layers": "head"}),
        ("lstm", MAMLClassifier, {"inner_update": "lstm"}),
        ("reptile", ReptileClassifier, {}),
        ("protonet", ProtoNetClassifier, {}),
        ("finetune", FineTuneClassifier, {}),
    ],
)
def test_algorithm_picks_the_learner(blobs_classes, algorithm, expected, fixed):
    X, y = blobs_classes
    clf = MetaClassifier(algorithm, n_way=3, inner_lr=0.05, distance="cosine", **FAST)
    clf.fit(X, y)
    learner = clf.estimator_
    assert type(learner) is expected
    assert fixed.items() <= learner.get_params().items()
    params = learner.get_params()
    assert params["n_way"] == 3 and params["max_iter"] == 10
    assert params.get("inner_lr", 0.05) == 0.05  # passed where it applies
    assert ("distance" in params) == (algorithm == "protonet")  # ignored elsewhere
    np.testing.assert_array_equal(clf.classes_, np.arange(12))
    assert clf.n_features_in_ == 6
    np.testing.assert_array_equal(clf.predict(X), learner.predict(X))
    np.testing.assert_array_equal(clf.predict_proba(X), learner.predict_proba(X))
    assert clf.score(X, y) == learner.score(X, y)


def test_none_means_the_learners_default(sinusoid):
    reg = MetaRegressor("ridge", **FAST).fit(*sinusoid)
    assert type(reg.estimator_) is MetaRidgeRegressor
    assert reg.estimator_.alpha == MetaRidgeRegressor().alpha
    assert reg.estimator_.n_shots == MetaRidgeRegressor().n_shots


def test_grid_search_over_algorithms_on_held_out_classes(blobs_classes):
    X, y = blobs_classes
    search = GridSearchCV(
        MetaClassifier(n_way=3, **FAST),
        {"algorithm": ["maml", "protonet", "finetune"]},
        cv=GroupKFold(3),
        error_score="raise",
    ).fit(X, y, groups=y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores > 1 / 3).all()
    assert search.best_params_["algorithm"] in ("maml", "protonet", "finetune")


def test_unknown_or_unsuitable_algorithm(sinusoid):
    with pytest.raises(ValueError, match="algorithm must be one of"):
        MetaClassifier("knn").fit(np.ones((4, 2)), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="algorithm must be one of"):
        MetaRegressor("protonet", **FAST).fit(*sinusoid)


def test_adapt_partial_fit_warm_start_and_pickle(sinusoid):
    X, y, groups = sinusoid
    reg = MetaRegressor("maml", warm_start=True, **FAST).fit(X, y, groups)
    learner = reg.estimator_
    reg.fit(X, y, groups)
    assert reg.estimator_ is learner and learner.n_iter_ == 20
    assert reg.adapt(X[:10], y[:10], inner_steps=2).predict(X[:5]).shape == (5,)
    reg.partial_fit(X, y, groups)
    assert learner.n_iter_ > 20
    loaded = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert MetaRegressor("maml").partial_fit(X, y, groups).estimator_.n_iter_ >= 1
    assert isinstance(MetaRegressor("anil", **FAST).fit(X, y).estimator_, MAMLRegressor)
