"""MetaClassifier and MetaRegressor: the estimator shell with the learning
algorithm as a component (``sklearn_meta/_estimators.py``)."""

import copy
import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from torch import nn

from sklearn_meta import (
    MAML,
    FineTune,
    FineTuneClassifier,
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaAlgorithm,
    MetaClassifier,
    MetaRegressor,
    MetaRidge,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    ProtoNet,
    ProtoNetClassifier,
    Reptile,
    ReptileClassifier,
    ReptileRegressor,
    load,
)
from sklearn_meta._core._learner import Learner
from sklearn_meta._params import SHELL, Param
from sklearn_meta.exceptions import SingleTaskWarning

FAST = dict(max_iter=10, n_eval_episodes=10, device="cpu", random_state=0)
SMALL = dict(hidden_layer_sizes=(16,), n_shots=2, n_queries=3, meta_batch_size=4, **FAST)

PRESETS = [
    MAMLClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
    ReptileRegressor,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    FineTuneClassifier,
    FineTuneRegressor,
]


@pytest.fixture(scope="module")
def digits():
    """sklearn's digits, scaled to [0, 1]: ten classes of about 180 samples."""
    X, y = load_digits(return_X_y=True)
    return X / 16, y


# Component parameters a preset leaves out: regression has only a linear head.
OMITTED = {FineTuneRegressor: {"head"}}


def _defaults(cls) -> dict:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
    }


def _kind(preset) -> str:
    return "classification" if issubclass(preset, MetaClassifier) else "regression"


# -- user-defined algorithms ------------------------------------------------------
class NearestCentroidLearner(Learner):
    """Class means of a meta-learned embedding; logits are minus the squared distances."""

    def __init__(self, embedding: nn.Module):
        super().__init__()
        self.embedding = embedding

    @property
    def backbone(self) -> nn.Module:
        return self.embedding

    def adapt(self, x, y, n_outputs, loop):
        members = (y[:, None] == torch.arange(n_outputs, device=y.device)).to(x.dtype)
        return {"centroids": members.mT @ self.embedding(x) / members.sum(0).clamp(min=1)[:, None]}

    def predict_with(self, state, x):
        return -torch.cdist(self.embedding(x), state["centroids"]).square() * self.scale

    def materialize(self, state):
        return AdaptedCentroids(self, state)


class AdaptedCentroids(nn.Module):
    """A frozen copy of the learner with one task's centroids."""

    def __init__(self, learner, state):
        super().__init__()
        self.learner = copy.deepcopy(learner).requires_grad_(False)
        self.register_buffer("centroids", state["centroids"].detach().clone())

    def forward(self, x):
        return self.learner.predict_with({"centroids": self.centroids}, x)


def _positive(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")


class NearestCentroid(MetaAlgorithm):
    """Nearest class mean on the backbone's embedding (no shortcut: none is registered)."""

    task_kinds = ("classification",)
    recommended = {"classification": {"meta_batch_size": 2}}
    _parameters = {"scale": Param("float", "Multiplies the logits.", _positive)}

    def __init__(self, scale=1.0):
        self.scale = scale

    def build_learner(self, model, kind, n_classes):
        learner = NearestCentroidLearner(model.backbone)
        learner.scale = self.scale
        return learner


class FirstOrderMAML(MAML):
    """MAML with other defaults: two first-order steps of size 0.2."""

    def __init__(
        self,
        inner_steps=2,
        inner_lr=0.2,
        *,
        first_order=True,
        inner_update="sgd",
        adapt_layers="all",
        activation_checkpointing=False,
        eval_inner_steps=None,
    ):
        super().__init__(
            inner_steps,
            inner_lr,
            first_order=first_order,
            inner_update=inner_update,
            adapt_layers=adapt_layers,
            activation_checkpointing=activation_checkpointing,
            eval_inner_steps=eval_inner_steps,
        )


# -- the algorithm as a component -------------------------------------------------
def test_grid_search_over_algorithms(digits):
    X, y = digits
    candidates = [MAML(inner_steps=1), ProtoNet()]
    search = GridSearchCV(
        MetaClassifier(n_way=3, n_shots=5, n_queries=5, **FAST),
        {"algorithm": candidates},
        cv=GroupKFold(3),  # groups=y: each fold scores classes its training never saw
        error_score="raise",
    ).fit(X, y, groups=y)
    params = search.cv_results_["params"]
    assert [type(p["algorithm"]) for p in params] == [MAML, ProtoNet]
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()
    # 3-way (chance 1/3): prototypes need no steps, MAML's one step moves only the
    # head (its rows all start equal); several seeds put ProtoNet ahead by 0.25+.
    assert scores[1] > 0.6 and scores[1] > scores[0]
    assert search.best_params_["algorithm"] is candidates[1]
    best = search.best_estimator_
    assert type(best.algorithm) is type(search.best_params_["algorithm"])
    assert best.algorithm is not search.best_params_["algorithm"]  # cloned, not shared
    assert best.algorithm.get_params() == search.best_params_["algorithm"].get_params()
    assert candidates[0].get_params() == MAML(inner_steps=1).get_params()  # left as given
    np.testing.assert_array_equal(best.classes_, np.arange(10))
    assert best.predict(X[:5]).shape == (5,)
    assert best.learner_.backbone[0].out_features == 64  # ProtoNet's recommended width


def test_grid_search_picks_the_algorithm_that_adapts_without_steps(blobs_classes):
    X, y = blobs_classes
    # No gradient steps to adapt with: MAML's shared head row and fine-tuning's
    # zero head tie every new class, while prototypes need no steps.
    algorithms = [MAML(inner_steps=0), ProtoNet(), FineTune(inner_steps=0)]
    search = GridSearchCV(
        MetaClassifier(n_way=3, **FAST),
        {"algorithm": algorithms},
        cv=GroupKFold(3),
        error_score="raise",
    ).fit(X, y, groups=y)
    maml, protonet, finetune = search.cv_results_["mean_test_score"]
    assert protonet > 0.9  # 3-way: chance is 1/3
    assert maml == pytest.approx(1 / 3) and finetune == pytest.approx(1 / 3)
    assert type(search.best_estimator_.algorithm) is ProtoNet


def test_grid_search_over_a_parameter_of_the_algorithm(digits):
    X, y = digits
    estimator = MetaClassifier(MAML(inner_steps=1), n_way=3, **SMALL)
    search = GridSearchCV(
        estimator, {"algorithm__inner_lr": [0.01, 0.5]}, cv=GroupKFold(3), error_score="raise"
    ).fit(X, y, groups=y)
    assert search.cv_results_["param_algorithm__inner_lr"].tolist() == [0.01, 0.5]
    small, large = search.cv_results_["mean_test_score"]
    assert small != large  # the step size reached the inner loop
    best = search.best_estimator_
    assert best.algorithm.inner_lr == search.best_params_["algorithm__inner_lr"]
    assert best.get_params()["algorithm__inner_steps"] == 1
    assert estimator.algorithm.inner_lr is None  # the searched estimator is untouched


def test_algorithm_parameters_belong_to_the_algorithm():
    with pytest.raises(TypeError, match="inner_steps"):
        MetaClassifier("maml", inner_steps=3)
    with pytest.raises(TypeError, match="distance"):
        MetaClassifier(ProtoNet(), distance="cosine")
    with pytest.raises(TypeError, match="alpha"):
        MetaRegressor(MetaRidge(), alpha=0.5)
    with pytest.raises(ValueError, match="Invalid parameter 'inner_steps'"):
        MetaClassifier(MAML()).set_params(inner_steps=3)
    with pytest.raises(ValueError, match="Invalid parameter 'distance'"):
        MetaClassifier(MAML()).set_params(algorithm__distance="cosine")
    clf = MetaClassifier(MAML()).set_params(algorithm__inner_lr=0.1, n_way=3)
    assert clf.algorithm.inner_lr == 0.1 and clf.n_way == 3
    assert clf.get_params()["algorithm__inner_lr"] == 0.1


def test_parameters_of_an_algorithm_given_by_name(sinusoid):
    clf = MetaClassifier().set_params(algorithm__inner_lr=0.1)
    assert isinstance(clf.algorithm, MAML) and clf.algorithm.inner_lr == 0.1
    reg = MetaRegressor("fomaml").set_params(algorithm__inner_steps=3)
    assert reg.algorithm.get_params() == MAML(first_order=True, inner_steps=3).get_params()
    with pytest.raises(ValueError, match="Invalid parameter 'inner_lr'"):
        MetaClassifier("protonet").set_params(algorithm__inner_lr=0.1)
    with pytest.raises(ValueError, match="Invalid parameter 'algorithm'"):
        MAMLClassifier().set_params(algorithm__inner_lr=0.1)
    X, y, groups = sinusoid
    search = GridSearchCV(
        MetaRegressor(max_iter=2, n_eval_episodes=4, device="cpu", random_state=0),
        {"algorithm__inner_lr": [0.01, 0.02]},
        cv=GroupKFold(2),
        error_score="raise",
    ).fit(X, y, groups=groups)
    assert search.best_estimator_.algorithm.inner_lr in (0.01, 0.02)


def test_algorithm_by_name_is_its_preset(blobs_classes):
    X, y = blobs_classes
    by_name = MetaClassifier("protonet", n_way=3, **FAST).fit(X, y)
    preset = ProtoNetClassifier(n_way=3, **FAST).fit(X, y)
    # The algorithm's recommended settings stand in for None.
    assert by_name._setting("hidden_layer_sizes") == (64, 64) == preset.hidden_layer_sizes
    assert by_name._setting("meta_batch_size") == 4 == preset.meta_batch_size
    np.testing.assert_array_equal(by_name.predict_proba(X), preset.predict_proba(X))
    assert by_name.loss_curve_ == preset.loss_curve_


def test_regressor_by_name_is_its_preset(sinusoid):
    X, y, groups = sinusoid
    by_name = MetaRegressor("reptile", **FAST).fit(X, y, groups)
    preset = ReptileRegressor(**FAST).fit(X, y, groups)
    assert by_name._setting("meta_lr") == 0.003 == preset.meta_lr  # Reptile's recommendation
    assert MetaRegressor("maml")._setting("meta_lr") == 0.001
    np.testing.assert_array_equal(by_name.predict(X), preset.predict(X))
    assert by_name.score(X, y, groups) == preset.score(X, y, groups)


def test_set_shell_parameters_override_the_recommendation():
    clf = MetaClassifier(ProtoNet(), hidden_layer_sizes=(8,), meta_batch_size=2)
    assert clf._setting("hidden_layer_sizes") == (8,) and clf._setting("meta_batch_size") == 2
    assert MetaClassifier(MAML())._setting("meta_batch_size") == 16
    assert MetaRegressor(MAML())._setting("meta_batch_size") == 25


@pytest.mark.parametrize("preset", PRESETS, ids=lambda cls: cls.__name__)
def test_preset_defaults_are_what_the_component_resolves_to(preset):
    kind = _kind(preset)
    component = preset._preset
    defaults = _defaults(preset)
    for name, default in _defaults(component).items():
        if name in OMITTED.get(preset, ()):
            assert name not in defaults
            continue
        expected = default
        if default is None and name in component._parameters:
            expected = component._parameters[name].resolve(default, kind)
        assert defaults[name] == expected, name
    shell = MetaClassifier if kind == "classification" else MetaRegressor
    estimator = shell(component())
    shell_names = set(_defaults(shell)) - {"algorithm"}
    assert shell_names <= defaults.keys()
    for name in shell_names:
        assert defaults[name] == estimator._setting(name), name
    # The preset has the component's parameters and the shell's, nothing else.
    component_names = _defaults(component).keys() - OMITTED.get(preset, set())
    assert defaults.keys() == shell_names | component_names


@pytest.mark.parametrize("preset", PRESETS, ids=lambda cls: cls.__name__)
def test_preset_builds_its_component_from_its_parameters(preset):
    component = preset._preset
    estimator = preset()
    assert type(estimator._algorithm()) is component
    for name, value in estimator._algorithm().get_params().items():
        if name in OMITTED.get(preset, ()):
            assert value == _defaults(component)[name], name  # the component's default
        else:
            assert value == getattr(estimator, name), name


def test_unknown_algorithm_names_are_listed(sinusoid):
    X, y, groups = sinusoid
    with pytest.raises(ValueError, match="algorithm must be one of") as error:
        MetaClassifier("knn").fit(np.ones((4, 2)), [0, 0, 1, 1])
    for name in ("'maml'", "'fomaml'", "'protonet'", "'ridge'", "'finetune'", "'reptile'"):
        assert name in str(error.value)
    with pytest.raises(ValueError, match="algorithm must be one of") as error:
        MetaRegressor("protonet", **FAST).fit(X, y, groups)
    listed = str(error.value).split(" or a MetaAlgorithm")[0]
    assert "'maml'" in listed and "'protonet'" not in listed  # for classification only


def test_an_algorithm_must_be_a_meta_algorithm(blobs_classes):
    X, y = blobs_classes
    for algorithm in (LogisticRegression(), None):
        clf = MetaClassifier(algorithm, n_way=3, **FAST)
        with pytest.raises(TypeError, match="algorithm must be a name or a MetaAlgorithm"):
            clf.fit(X, y)
        assert not hasattr(clf, "learner_")
    with pytest.raises(TypeError, match=r"an instance: MAML\(\), not the class"):
        MetaClassifier(MAML, n_way=3, **FAST).fit(X, y)


def test_a_classification_algorithm_is_refused_for_regression(sinusoid):
    X, y, groups = sinusoid
    reg = MetaRegressor(ProtoNet(), **FAST)
    with pytest.raises(ValueError, match="ProtoNet is for classification only, not regression"):
        reg.fit(X, y, groups)
    with pytest.raises(NotFittedError):
        reg.predict(X)
    with pytest.raises(ValueError, match="head='cosine' is for classification"):
        MetaRegressor(FineTune(head="cosine"), **FAST).fit(X, y, groups)


def test_bad_algorithm_parameters_are_named_at_fit(blobs_classes):
    X, y = blobs_classes
    for algorithm, error, message in [
        (MAML(inner_lr=-1.0), ValueError, "inner_lr must be a finite number > 0"),
        (MAML(inner_update="adam"), ValueError, "inner_update must be one of"),
        (ProtoNet(distance="manhattan"), ValueError, "distance must be one of"),
        (Reptile(inner_steps=0), ValueError, "inner_steps must be >= 1"),
        (MetaRidge(alpha=0), ValueError, "alpha must be a finite number > 0"),
        (NearestCentroid(scale=-1), ValueError, "scale must be > 0"),
    ]:
        with pytest.raises(error, match=message):
            MetaClassifier(algorithm, n_way=3, **FAST).fit(X, y)


def test_save_and_load_restore_the_component(blobs_classes, tmp_path):
    X, y = blobs_classes
    clf = MetaClassifier(MAML(inner_steps=2), n_way=3, **FAST).fit(X, y)
    clf.save(tmp_path / "clf.pt")
    loaded = load(tmp_path / "clf.pt")
    assert type(loaded) is MetaClassifier and type(loaded.algorithm) is MAML
    assert loaded.algorithm is not clf.algorithm
    assert loaded.algorithm.get_params() == clf.algorithm.get_params()
    assert loaded.get_params()["algorithm__inner_steps"] == 2
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    task = X[y < 2][::10], y[y < 2][::10]
    np.testing.assert_array_equal(
        loaded.adapt(*task, inner_steps=3).predict_proba(X),
        clf.adapt(*task, inner_steps=3).predict_proba(X),
    )


def test_save_and_load_keep_an_algorithm_name(sinusoid, tmp_path):
    X, y, groups = sinusoid
    reg = MetaRegressor("fomaml", **FAST).fit(X, y, groups)
    reg.save(tmp_path / "reg.pt")
    loaded = load(tmp_path / "reg.pt")
    assert loaded.algorithm == "fomaml"
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))


def test_a_user_defined_algorithm_works_like_a_built_in_one(digits, tmp_path):
    X, y = digits
    train, new = y < 6, y >= 6
    clf = MetaClassifier(NearestCentroid(), n_way=3, **SMALL)
    assert clf.get_params()["algorithm__scale"] == 1.0
    assert MetaClassifier(NearestCentroid())._setting("meta_batch_size") == 2
    clf.fit(X[train], y[train])
    np.testing.assert_array_equal(clf.classes_, np.arange(6))
    assert clf.n_iter_ == 10 and len(clf.loss_curve_) == 10
    assert (clf.predict(X[train]) == y[train]).mean() > 0.5  # 6 classes: chance is 1/6
    task = clf.adapt(X[new][::10], y[new][::10])
    np.testing.assert_array_equal(task.classes_, np.arange(6, 10))
    assert 0.5 < task.score(X[new], y[new]) <= 1.0
    with pytest.raises(ValueError, match="adapts without gradient steps"):
        clf.adapt(X[new][::10], y[new][::10], inner_steps=2)
    clf.save(tmp_path / "centroid.pt")  # found again by its qualified name
    np.testing.assert_array_equal(load(tmp_path / "centroid.pt").predict(X), clf.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X))

    search = GridSearchCV(
        MetaClassifier(NearestCentroid(), n_way=3, **SMALL),
        {"algorithm": [NearestCentroid(scale=0.5), FirstOrderMAML()], "n_shots": [2, 3]},
        cv=GroupKFold(2),
        error_score="raise",
    ).fit(X[train], y[train], groups=y[train])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert isinstance(search.best_estimator_.algorithm, (NearestCentroid, FirstOrderMAML))


def test_an_algorithm_subclass_with_other_defaults(blobs_classes):
    X, y = blobs_classes
    subclass = MetaClassifier(FirstOrderMAML(), n_way=3, **FAST).fit(X, y)
    assert subclass.get_params()["algorithm__first_order"] is True
    same = MAML(inner_steps=2, inner_lr=0.2, first_order=True)
    direct = MetaClassifier(same, n_way=3, **FAST).fit(X, y)
    np.testing.assert_array_equal(subclass.predict_proba(X), direct.predict_proba(X))
    assert clone(subclass).algorithm.get_params() == FirstOrderMAML().get_params()


# -- the estimator itself -----------------------------------------------------------
def test_the_estimator_holds_the_fitted_state(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier(ProtoNet(), n_way=3, **FAST).fit(X, y)
    assert not hasattr(clf, "estimator_")
    assert {"learner_", "classes_", "n_iter_", "n_features_in_"} <= vars(clf).keys()
    np.testing.assert_array_equal(clf.classes_, np.arange(12))
    assert clf.n_features_in_ == 6 and clf.n_iter_ == 10
    params = clf.get_params()
    assert params["algorithm__distance"] == "euclidean" and params["n_way"] == 3
    assert set(clf.get_params(deep=False)) <= set(SHELL)


def test_warm_start_partial_fit_adapt_and_pickle(sinusoid):
    X, y, groups = sinusoid
    reg = MetaRegressor("maml", warm_start=True, **FAST).fit(X, y, groups)
    learner = reg.learner_
    reg.fit(X, y, groups)
    assert reg.learner_ is learner and reg.n_iter_ == 20
    assert reg.adapt(X[:10], y[:10], inner_steps=2).predict(X[:5]).shape == (5,)
    reg.partial_fit(X, y, groups)
    assert reg.n_iter_ > 20
    loaded = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert MetaRegressor("maml", device="cpu").partial_fit(X, y, groups).n_iter_ >= 1


def test_inputs_are_checked_in_the_estimators_name(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(X, y)
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


def test_warnings_and_progress_name_the_estimator(sinusoid, capsys):
    X, y, _ = sinusoid
    with pytest.warns(SingleTaskWarning, match="^MetaRegressor is meta-trained on a single task"):
        MetaRegressor("ridge", **{**FAST, "max_iter": 2}, verbose=True).fit(X, y)
    assert "MetaRegressor: 100%" in capsys.readouterr().err
    with pytest.warns(SingleTaskWarning, match="^MetaRegressor is meta-trained"):
        MetaRegressor(MetaRidge(), **FAST).partial_fit(X, y)


def test_feature_names(blobs_classes, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = blobs_classes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
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


def test_a_failed_fit_leaves_the_estimator_as_it_was(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=3, **FAST).fit(X, y)
    learner, proba = clf.learner_, clf.predict_proba(X)
    with pytest.raises(ValueError, match="fewer than n_way=3"):
        clf.fit(X[y < 2, :4], y[y < 2])
    assert clf.learner_ is learner and clf.n_features_in_ == 6
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    fresh = MetaClassifier("protonet", n_way=3, **FAST)
    with pytest.raises(ValueError, match="fewer than n_way=3"):
        fresh.partial_fit(X[y < 2], y[y < 2], classes=np.arange(12))
    assert not hasattr(fresh, "n_features_in_")
