import pickle
import warnings

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
    load,
)
from sklearn_meta.exceptions import SingleTaskWarning

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
    # No gradient steps to adapt with (inner_steps=0, which "protonet" ignores):
    # MAML's shared head row and fine-tuning's zero head tie every new class,
    # while prototypes need no steps. The search must pick "protonet".
    search = GridSearchCV(
        MetaClassifier(n_way=3, inner_steps=0, **FAST),
        {"algorithm": ["maml", "protonet", "finetune"]},
        cv=GroupKFold(3),
        error_score="raise",
    ).fit(X, y, groups=y)
    maml, protonet, finetune = search.cv_results_["mean_test_score"]
    assert protonet > 0.9  # 3-way: chance is 1/3
    assert maml == pytest.approx(1 / 3) and finetune == pytest.approx(1 / 3)
    assert search.best_params_ == {"algorithm": "protonet"}


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
    assert isinstance(MetaRegressor("anil", **FAST).fit(X, y, groups).estimator_, MAMLRegressor)


def test_inputs_are_checked_in_the_front_doors_name(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(X, y)
    assert clf.n_features_in_ == 6 and "n_features_in_" in vars(clf)
    wrong = X[:, :4]
    message = "X has 4 features, but MetaClassifier is expecting 6 features"
    for call in (
        lambda: clf.predict(wrong),
        lambda: clf.predict_proba(wrong),
        lambda: clf.score(wrong, y),
        lambda: clf.adapt(wrong[::30], y[::30]),
        lambda: clf.adapt(X[::30], y[::30]).predict(wrong),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="MetaClassifier adapts without gradient steps"):
        clf.adapt(X[::30], y[::30], inner_steps=2)


def test_learner_warnings_and_progress_name_the_front_door(sinusoid, capsys):
    X, y, _ = sinusoid
    with pytest.warns(SingleTaskWarning, match="^MetaRegressor is meta-trained on a single task"):
        MetaRegressor("ridge", **{**FAST, "max_iter": 2}, verbose=True).fit(X, y)
    assert "MetaRegressor: 100%" in capsys.readouterr().err
    with pytest.warns(SingleTaskWarning, match="^MetaRegressor is meta-trained"):
        MetaRegressor("ridge", **FAST).partial_fit(X, y)


def test_feature_names_are_the_front_doors(blobs_classes, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = blobs_classes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert not hasattr(clf.estimator_, "feature_names_in_")  # the learner gets arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a frame with the names: no warning anywhere
        predicted = clf.predict(frame)
        task = clf.adapt(frame.iloc[::30], y[::30])
        task.predict(frame)
    np.testing.assert_array_equal(task.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="valid feature names, but MetaClassifier was fitted"):
        np.testing.assert_array_equal(clf.predict(X), predicted)
    clf.save(tmp_path / "clf.pt")
    np.testing.assert_array_equal(load(tmp_path / "clf.pt").feature_names_in_, frame.columns)


def test_a_failed_fit_leaves_the_front_door_as_it_was(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(X, y)
    learner = clf.estimator_
    with pytest.raises(ValueError, match="fewer than n_way=3"):
        clf.fit(X[y < 2, :4], y[y < 2])
    assert clf.estimator_ is learner and clf.n_features_in_ == 6
    fresh = MetaClassifier("protonet", n_way=3, **FAST)
    with pytest.raises(ValueError, match="fewer than n_way=3"):
        fresh.partial_fit(X[y < 2], y[y < 2], classes=np.arange(12))
    assert not hasattr(fresh, "n_features_in_")
