"""Bad input to every public estimator: a ValueError or TypeError that names
the problem, and a fitted estimator that the failed call leaves as it was."""

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from torch import nn

from sklearn_meta import (
    FewShotAdapter,
    FineTuneClassifier,
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaClassifier,
    MetaRegressor,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    Reptile,
    ReptileClassifier,
    ReptileRegressor,
)

SMALL = dict(
    hidden_layer_sizes=(8,),
    n_shots=2,
    n_queries=2,
    max_iter=2,
    meta_batch_size=2,
    n_eval_episodes=4,
    device="cpu",
    random_state=0,
)
CLF = dict(SMALL, n_way=2)

ESTIMATORS = [
    MAMLRegressor(**SMALL),
    MAMLClassifier(**CLF, inner_steps=1),
    ReptileRegressor(**SMALL, inner_steps=1),
    ReptileClassifier(**CLF, inner_steps=1),
    ProtoNetClassifier(**CLF),
    MetaRidgeRegressor(**SMALL),
    MetaRidgeClassifier(**CLF),
    FineTuneRegressor(**SMALL, inner_steps=1),
    FineTuneClassifier(**CLF, inner_steps=1),
    MetaClassifier(Reptile(inner_steps=1), **CLF),  # an algorithm component
    MetaRegressor("maml", **SMALL),  # an algorithm by name
]


def _name(estimator) -> str:
    algorithm = estimator.get_params(deep=False).get("algorithm")
    if algorithm is not None and not isinstance(algorithm, str):
        algorithm = type(algorithm).__name__
    return type(estimator).__name__ + (f"-{algorithm}" if algorithm else "")


def _has_param(estimator, name: str) -> bool:
    """Whether the estimator or its algorithm has parameter ``name``."""
    return name in estimator.get_params(deep=False) or name in estimator._algorithm().get_params()


def _settable(estimator, name: str) -> str | None:
    """The key ``set_params`` sets parameter ``name`` by: its own, or its
    algorithm component's (None for an algorithm given by name)."""
    params = estimator.get_params()
    return next((key for key in (name, f"algorithm__{name}") if key in params), None)


# Tests that apply to some estimators only take those (a skip would say nothing).
CLASSIFIERS = [e for e in ESTIMATORS if is_classifier(e)]
REGRESSORS = [e for e in ESTIMATORS if not is_classifier(e)]
EPISODIC_CLASSIFIERS = [e for e in CLASSIFIERS if not e._algorithm().pretrains]


def _only(estimators):
    """Parametrize the ``fitted`` fixture with these estimators only."""
    return pytest.mark.parametrize("fitted", estimators, indirect=True, ids=_name)


# -- data ---------------------------------------------------------------------
_RNG = np.random.default_rng(0)
X_REG, Y_REG, G_REG = _RNG.normal(size=(40, 3)), _RNG.normal(size=40), np.repeat(np.arange(4), 10)
X_CLF, Y_CLF = _RNG.normal(size=(32, 3)), np.repeat(np.arange(4), 8)


def _data(estimator):
    """Good training data ``X, y, groups`` for the estimator's kind."""
    if is_classifier(estimator):
        return X_CLF.copy(), Y_CLF.copy(), None
    return X_REG.copy(), Y_REG.copy(), G_REG.copy()


def _support(estimator):
    """A good support set for ``adapt``: two classes, or one task's rows."""
    X, y, _ = _data(estimator)
    rows = [0, 1, 2, 8, 9, 10] if is_classifier(estimator) else slice(0, 6)
    return X[rows], y[rows]


# -- "unchanged" ----------------------------------------------------------------
def _frozen(value):
    """A deep, comparable copy of an estimator's state."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (nn.Module, torch.optim.Optimizer)):
        return _frozen(value.state_dict())
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, BaseEstimator) or type(value).__module__.startswith("sklearn_meta"):
        return [type(value), _frozen(vars(value))]  # estimators, adapted tasks
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_frozen(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _assert_same(before, after, where="estimator"):
    if isinstance(before, torch.Tensor):
        assert torch.equal(before, after) or torch.allclose(
            before, after, rtol=0, atol=0, equal_nan=True
        ), where
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(before, after, err_msg=where)
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), where
        for key in before:
            _assert_same(before[key], after[key], f"{where}.{key}")
    elif isinstance(before, list):
        assert len(before) == len(after), where
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(before, float) and np.isnan(before):
        assert isinstance(after, float) and np.isnan(after), where
    else:
        assert before == after, where


class Unchanged:
    """The state and the predictions of a fitted estimator (or adapter) now;
    ``check()`` asserts that they are still the same."""

    def __init__(self, estimator, X):
        self.estimator, self.X = estimator, X
        self.state = _frozen(vars(estimator))
        self.predictions = estimator.predict(X)

    def check(self):
        _assert_same(self.state, _frozen(vars(self.estimator)))
        np.testing.assert_array_equal(self.estimator.predict(self.X), self.predictions)


def _fails(call, error, match, estimator, X):
    """``call()`` raises ``error`` matching ``match`` and leaves ``estimator`` unchanged."""
    unchanged = Unchanged(estimator, X)
    with pytest.raises(error, match=match):
        call()
    unchanged.check()


@pytest.fixture(scope="module", params=ESTIMATORS, ids=_name)
def fitted(request):
    estimator = clone(request.param)
    return estimator.fit(*_data(estimator))


@pytest.fixture(scope="module")
def adapter(fitted):
    return fitted.adapt(*_support(fitted))


# -- bad arrays -----------------------------------------------------------------
def _with(array, row, value):
    array = np.array(array, dtype=float)
    array[row] = value
    return array


def _with_object(X):
    X = X.astype(object)
    X[0, 0] = {"not": "a number"}
    return X


def _strings(n_rows, n_columns=3):
    return np.array([["a", "b", "c"][:n_columns]] * n_rows, dtype=object)


_MISMATCH = r"inconsistent numbers of samples: \[\d+, \d+\]|X has \d+ samples but y has \d+"
# (name, edit of (X, y, groups), error, message)
XY_CASES = [
    ("nan-X", lambda X, y, g: (_with(X, (0, 0), np.nan), y, g), ValueError, "Input X contains NaN"),
    ("inf-X", lambda X, y, g: (_with(X, (1, 2), np.inf), y, g), ValueError, "X contains infinity"),
    ("nan-y", lambda X, y, g: (X, _with(y, 0, np.nan), g), ValueError, "Input y contains NaN"),
    ("inf-y", lambda X, y, g: (X, _with(y, 0, -np.inf), g), ValueError, "y contains infinity"),
    ("empty", lambda X, y, g: (X[:0], y[:0], None), ValueError, r"0 sample\(s\)"),
    ("1-D-X", lambda X, y, g: (X[:, 0], y, g), ValueError, "Expected 2D array, got 1D"),
    ("3-D-X", lambda X, y, g: (X[:, :, None], y, g), ValueError, "Found array with dim 3"),
    ("no-features", lambda X, y, g: (X[:, :0], y, g), ValueError, r"0 feature\(s\)"),
    ("sparse-X", lambda X, y, g: (sp.csr_matrix(X), y, g), TypeError, "dense data is required"),
    ("string-X", lambda X, y, g: (_strings(len(X)), y, g), ValueError, "X must be numeric"),
    ("object-X", lambda X, y, g: (_with_object(X), y, g), TypeError, "X must be numeric"),
    ("complex-X", lambda X, y, g: (X + 1j, y, g), ValueError, "Complex data not supported"),
    ("short-y", lambda X, y, g: (X, y[:-1], g), ValueError, _MISMATCH),
    ("2-D-y", lambda X, y, g: (X, np.c_[y, y], g), ValueError, "y should be a 1d array"),
]
GROUP_CASES = [
    ("short", lambda n: np.zeros(n - 1), "groups has 31 entries but X has 32 samples"),
    ("2-D", lambda n: np.zeros((n, 2)), r"groups must be 1-D, got an array of shape \(32, 2\)"),
    ("nan", lambda n: _with(np.zeros(n), 3, np.nan), "groups contains NaN"),
    ("mixed", lambda n: np.array([1, "a"] * (n // 2), dtype=object), "groups must be labels"),
]


def _bad_targets(estimator, n):
    """Targets that make no sense for the estimator's kind."""
    if is_classifier(estimator):
        return np.linspace(0.1, 0.9, n), "Unknown label type: continuous"
    return np.array(["a", "b"] * (n // 2)), "y must be numeric"


@pytest.mark.parametrize("name, edit, error, match", XY_CASES, ids=[c[0] for c in XY_CASES])
def test_fit_rejects_bad_arrays(fitted, name, edit, error, match):
    X, y, groups = edit(*_data(fitted))
    _fails(lambda: fitted.fit(X, y, groups), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize("name, edit, error, match", XY_CASES, ids=[c[0] for c in XY_CASES])
def test_score_rejects_bad_arrays(fitted, name, edit, error, match):
    X, y, groups = edit(*_data(fitted))
    _fails(lambda: fitted.score(X, y, groups), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize("name, edit, error, match", XY_CASES, ids=[c[0] for c in XY_CASES])
def test_adapt_rejects_bad_arrays(fitted, name, edit, error, match):
    X, y, _ = edit(*_support(fitted), None)
    _fails(lambda: fitted.adapt(X, y), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize("name, edit, error, match", XY_CASES, ids=[c[0] for c in XY_CASES])
def test_partial_fit_rejects_bad_arrays(fitted, name, edit, error, match):
    X, y, groups = edit(*_data(fitted))
    kwargs = {"classes": np.arange(4)} if is_classifier(fitted) else {}
    _fails(lambda: fitted.partial_fit(X, y, groups, **kwargs), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize("name, make, match", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
@pytest.mark.parametrize("method", ["fit", "score", "partial_fit"])
def test_bad_groups(fitted, method, name, make, match):
    X, y = X_CLF, (Y_CLF if is_classifier(fitted) else Y_REG[:32])
    kwargs = {"classes": np.arange(4)} if method == "partial_fit" and is_classifier(fitted) else {}
    call = getattr(fitted, method)
    error = TypeError if name == "mixed" else ValueError
    _fails(lambda: call(X, y, make(len(X)), **kwargs), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize("method", ["fit", "score", "adapt"])
def test_targets_that_make_no_sense_for_the_estimator(fitted, method):
    X, _ = _support(fitted) if method == "adapt" else _data(fitted)[:2]
    y, match = _bad_targets(fitted, len(X))
    _fails(lambda: getattr(fitted, method)(X, y), ValueError, match, fitted, X_CLF[:5])


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.ones(3), r"sample_weight has shape \(3,\); expected"),
        (-np.ones(40), "sample_weight has negative values"),
        (_with(np.ones(40), 0, np.nan), "Input sample_weight contains NaN"),
        (np.zeros(40), "sample_weight is zero for every sample"),
    ],
    ids=["short", "negative", "nan", "zero"],
)
@pytest.mark.parametrize("method", ["fit", "score"])
def test_bad_sample_weight(fitted, method, sample_weight, match):
    X, y, groups = _data(fitted)
    weights = sample_weight[: len(X)] if len(sample_weight) > 3 else sample_weight
    call = getattr(fitted, method)
    _fails(lambda: call(X, y, groups, sample_weight=weights), ValueError, match, fitted, X)


# -- tasks and classes too small ---------------------------------------------------
def test_tasks_or_classes_too_small_for_an_episode(fitted):
    X, y, _ = _data(fitted)
    if is_classifier(fitted):  # 3 samples of each class, n_shots + n_queries = 4
        rows = np.flatnonzero(np.arange(len(y)) % 8 < 3)
        X, y, groups = X[rows], y[rows], None
        match = r"Class 0 has 3 samples; each class needs at least n_shots \+ n_queries = 2 \+ 2"
    else:
        groups = np.arange(len(X)) // 3
        match = r"Task 0 has 3 samples; each task needs at least n_shots \+ n_queries = 2 \+ 2"
    _fails(lambda: fitted.score(X, y, groups), ValueError, match, fitted, X)
    if not fitted._algorithm().pretrains:  # pretraining pools the classes
        _fails(lambda: fitted.fit(X, y, groups), ValueError, match, fitted, X)


@_only(EPISODIC_CLASSIFIERS)  # n_way classes per training episode
def test_classifiers_need_n_way_classes(fitted):
    X, y = X_CLF, Y_CLF
    unchanged = Unchanged(fitted, X)
    fitted.set_params(n_way=5)
    try:
        with pytest.raises(ValueError, match="The data has 4 classes, fewer than n_way=5"):
            fitted.fit(X, y)
    finally:
        fitted.set_params(n_way=2)
    unchanged.check()
    with pytest.raises(ValueError, match="Group 'b' has 1 class, fewer than n_way=2"):
        clone(fitted).fit(X, y, groups=np.where(y == 3, "b", "a"))


@_only(CLASSIFIERS)
def test_classifiers_reject_a_single_class(fitted):
    X, y = X_CLF[:8], Y_CLF[:8]
    _fails(lambda: fitted.fit(X, y), ValueError, "y holds only one class, 0", fitted, X)
    _fails(lambda: fitted.adapt(X, y), ValueError, "y holds only one class, 0", fitted, X)


# -- hyper-parameters -----------------------------------------------------------
PARAM_CASES = [
    ({"meta_lr": 0.0}, ValueError, "meta_lr must be a finite number > 0, got 0.0"),
    ({"meta_lr": -0.1}, ValueError, "meta_lr must be a finite number > 0, got -0.1"),
    ({"meta_lr": float("nan")}, ValueError, "meta_lr must be a finite number > 0, got nan"),
    ({"meta_lr": "0.1"}, TypeError, "meta_lr must be a number, got '0.1'"),
    ({"inner_lr": 0}, ValueError, "inner_lr must be a finite number > 0, got 0"),
    ({"inner_lr": -1.0}, ValueError, "inner_lr must be a finite number > 0, got -1.0"),
    ({"alpha": 0.0}, ValueError, "alpha must be a finite number > 0, got 0.0"),
    ({"max_iter": 0}, ValueError, "max_iter must be >= 1, got 0"),
    ({"max_iter": 2.5}, TypeError, r"max_iter must be an int, got 2.5 \(float\)"),
    ({"inner_steps": -1}, ValueError, "inner_steps must be >= [01], got -1"),
    ({"inner_steps": True}, TypeError, r"inner_steps must be an int, got True \(bool\)"),
    ({"meta_batch_size": 0}, ValueError, "meta_batch_size must be >= 1, got 0"),
    ({"n_shots": 0}, ValueError, "n_shots must be >= 1, got 0"),
    ({"n_queries": 0}, ValueError, "n_queries must be >= [12], got 0"),
    ({"n_way": 1}, ValueError, "n_way must be >= 2, got 1"),
    ({"n_eval_episodes": 0}, ValueError, "n_eval_episodes must be >= 1, got 0"),
    ({"validation_interval": 0}, ValueError, "validation_interval must be >= 1, got 0"),
    ({"device": "tpu"}, ValueError, "device='tpu' is not a torch device"),
    ({"device": ["cpu"]}, ValueError, r"device=\['cpu'\] is not a torch device"),
    ({"device": "cuda:99"}, ValueError, "device='cuda:99' was requested but is not available"),
]


# Each estimator with each of its own hyper-parameters.
_ESTIMATOR_PARAM_CASES = [
    (estimator, *case)
    for estimator in ESTIMATORS
    for case in PARAM_CASES
    if _settable(estimator, next(iter(case[0])))  # the one parameter the case sets
]


@pytest.mark.parametrize(
    "fitted, params, error, match",
    _ESTIMATOR_PARAM_CASES,
    indirect=["fitted"],
    ids=[f"{_name(c[0])}-{c[1]!r}" for c in _ESTIMATOR_PARAM_CASES],
)
def test_bad_hyper_parameters(fitted, params, error, match):
    ((name, value),) = params.items()
    key = _settable(fitted, name)  # "algorithm__inner_lr" on a component
    X, y, groups = _data(fitted)
    unchanged = Unchanged(fitted, X)
    good = fitted.get_params()[key]
    fitted.set_params(**{key: value})
    try:
        with pytest.raises(error, match=match):
            fitted.fit(X, y, groups)
    finally:
        fitted.set_params(**{key: good})
    unchanged.check()
    with pytest.raises(error, match=match):  # the same from a fresh estimator
        clone(fitted).set_params(**{key: value}).fit(X, y, groups)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_absent_cuda_is_named():
    X, y, groups = _data(MAMLRegressor())
    with pytest.raises(ValueError, match="device='cuda' was requested but is not available here"):
        MAMLRegressor(**dict(SMALL, device="cuda")).fit(X, y, groups)


# -- predict ------------------------------------------------------------------
PREDICT_CASES = [
    ("nan", lambda X: _with(X, (2, 1), np.nan), ValueError, "Input X contains NaN"),
    ("inf", lambda X: _with(X, (2, 1), np.inf), ValueError, "X contains infinity"),
    ("features", lambda X: X[:, :2], ValueError, "X has 2 features, but .* is expecting 3"),
    ("1-D", lambda X: X[0], ValueError, "Expected 2D array, got 1D"),
    ("empty", lambda X: X[:0], ValueError, r"0 sample\(s\)"),
    ("sparse", sp.csr_matrix, TypeError, "dense data is required"),
    ("strings", lambda X: _strings(len(X)), ValueError, "X must be numeric"),
]


def _predict_methods(estimator):
    return ["predict", "predict_proba"] if is_classifier(estimator) else ["predict"]


@pytest.mark.parametrize(
    "name, edit, error, match", PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES]
)
def test_predict_rejects_bad_X(fitted, name, edit, error, match):
    X = edit(X_CLF[:6])
    for method in _predict_methods(fitted):
        _fails(lambda m=method: getattr(fitted, m)(X), error, match, fitted, X_CLF[:5])


@pytest.mark.parametrize(
    "name, edit, error, match", PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES]
)
def test_adapter_predict_rejects_bad_X(adapter, name, edit, error, match):
    X = edit(X_CLF[:6])
    for method in _predict_methods(adapter.estimator):
        _fails(lambda m=method: getattr(adapter, m)(X), error, match, adapter, X_CLF[:5])


@pytest.mark.parametrize("name, edit, error, match", XY_CASES, ids=[c[0] for c in XY_CASES])
def test_adapter_score_rejects_bad_arrays(adapter, name, edit, error, match):
    X, y, _ = edit(*_support(adapter.estimator), None)
    meta = Unchanged(adapter.estimator, X_CLF[:5])
    _fails(lambda: adapter.score(X, y), error, match, adapter, X_CLF[:5])
    meta.check()


def test_adapter_score_rejects_targets_of_the_wrong_kind(adapter):
    X, _ = _support(adapter.estimator)
    y, match = _bad_targets(adapter.estimator, len(X))
    _fails(lambda: adapter.score(X, y), ValueError, match, adapter, X)


# -- adapt ----------------------------------------------------------------------
def test_adapt_checks_inner_steps(fitted):
    X, y = _support(fitted)
    if not _has_param(fitted, "inner_steps"):
        _fails(
            lambda: fitted.adapt(X, y, inner_steps=3),
            ValueError,
            "adapts without gradient steps; inner_steps=3 does not apply",
            fitted,
            X,
        )
        return
    _fails(
        lambda: fitted.adapt(X, y, inner_steps=-1),
        ValueError,
        "inner_steps must be >= 0",
        fitted,
        X,
    )
    _fails(
        lambda: fitted.adapt(X, y, inner_steps=1.5),
        TypeError,
        "inner_steps must be an int",
        fitted,
        X,
    )


def test_failed_adapter_refit_leaves_the_adapter(adapter):
    X, y = _support(adapter.estimator)
    _fails(lambda: adapter.fit(X[:, :2], y), ValueError, "X has 2 features", adapter, X)
    _fails(lambda: adapter.fit(X, y[:-1]), ValueError, "X has 6 samples but y has 5", adapter, X)


def test_adapter_of_a_meta_classifier_adapts_like_its_adapt():
    meta = MetaClassifier("protonet", **CLF).fit(X_CLF, Y_CLF)
    X, y = X_CLF[[0, 1, 8, 9]], Y_CLF[[0, 1, 8, 9]]
    adapter = FewShotAdapter(meta).fit(X, y)
    np.testing.assert_array_equal(adapter.predict(X_CLF), meta.adapt(X, y).predict(X_CLF))


def test_adapter_needs_a_fitted_meta_estimator():
    with pytest.raises(NotFittedError, match="not fitted"):
        FewShotAdapter(MAMLRegressor()).fit(X_REG[:5], Y_REG[:5])
    with pytest.raises(TypeError, match="estimator must be a meta-estimator of sklearn_meta"):
        FewShotAdapter(LinearRegression().fit(X_REG, Y_REG)).fit(X_REG[:5], Y_REG[:5])


# -- partial_fit ----------------------------------------------------------------
@_only(CLASSIFIERS)
def test_partial_fit_rejects_bad_classes(fitted):
    for classes, match in [
        ([[0, 1], [2, 3]], "classes must be 1-D"),
        ([0, 1, 2, 3, np.nan], "Input classes contains NaN"),
    ]:
        fresh = clone(fitted)
        with pytest.raises(ValueError, match=match):
            fresh.partial_fit(X_CLF, Y_CLF, classes=classes)
        with pytest.raises(NotFittedError):  # the failed first call fitted nothing
            fresh.predict(X_CLF)
        call = partial(fitted.partial_fit, X_CLF, Y_CLF, classes=classes)
        _fails(call, ValueError, match, fitted, X_CLF)
    _fails(
        lambda: fitted.partial_fit(X_CLF, Y_CLF.astype(str)),
        TypeError,
        "of another type than the classes so far",
        fitted,
        X_CLF,
    )


def test_warm_start_fit_with_other_features_leaves_the_model(fitted):
    X, y, groups = _data(fitted)
    unchanged = Unchanged(fitted, X)
    fitted.set_params(warm_start=True)
    try:
        with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
            fitted.fit(X[:, :2], y, groups)
    finally:
        fitted.set_params(warm_start=False)
    unchanged.check()


def test_warm_start_failure_keeps_the_learners_parameters():
    X, y, groups = _data(MAMLRegressor())
    reg = MetaRegressor("maml", **SMALL, warm_start=True).fit(X, y, groups)
    learner = reg.learner_
    unchanged = Unchanged(reg, X)
    reg.set_params(n_shots=30)
    with pytest.raises(ValueError, match="each task needs at least n_shots"):
        reg.fit(X, y, groups)
    reg.set_params(n_shots=2)
    assert reg.learner_ is learner
    unchanged.check()


@_only(REGRESSORS)
def test_regressor_targets_of_any_scale_but_not_far_from_training(fitted):
    X, y, groups = _data(fitted)
    huge = y * 1e39  # finite as float64, infinite as float32
    match = "too far from the training targets"
    _fails(lambda: fitted.score(X, huge, groups), ValueError, match, fitted, X)
    _fails(lambda: fitted.adapt(X[:6], huge[:6]), ValueError, match, fitted, X)
    overflowing = y * 1e300  # its spread overflows float64
    _fails(lambda: fitted.fit(X, overflowing, groups), ValueError, "to standardize", fitted, X)
    predictions = clone(fitted).fit(X, huge, groups).predict(X)  # standardized: any scale
    assert np.isfinite(predictions).all() and np.abs(predictions).max() > 1e37


def test_numbers_in_object_arrays_are_numbers(fitted):
    X, y, groups = _data(fitted)
    as_objects = X.astype(object)
    np.testing.assert_array_equal(fitted.predict(as_objects), fitted.predict(X))
    assert fitted.score(as_objects, y, groups) == fitted.score(X, y, groups)


def test_unchanged_sees_a_change():
    """The check every test above relies on fails when a call does change the model."""
    estimator = MAMLClassifier(**CLF, inner_steps=1).fit(X_CLF, Y_CLF)
    unchanged = Unchanged(estimator, X_CLF)
    estimator.partial_fit(X_CLF, Y_CLF)
    with pytest.raises(AssertionError):
        unchanged.check()
