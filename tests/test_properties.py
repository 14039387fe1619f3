"""Property-based tests: over shapes, label sets and group layouts, ``fit``
either succeeds exactly when the data hold the episodes the task model needs,
and then predicts the right shape, labels and finite numbers, or it raises a
ValueError or TypeError with a message. Nothing hangs."""

import contextlib
import signal
from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sklearn_meta import (
    MAML,
    FineTuneClassifier,
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaClassifier,
    MetaRegressor,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
    ReptileRegressor,
)

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, meta_batch_size=2, n_eval_episodes=4, device="cpu")
CLASSIFIERS = [
    partial(MAMLClassifier, **FAST, inner_steps=1),
    partial(ReptileClassifier, **FAST, inner_steps=1),
    partial(ProtoNetClassifier, **FAST),
    partial(MetaRidgeClassifier, **FAST),
    partial(FineTuneClassifier, **FAST, inner_steps=2),
    partial(MetaClassifier, MAML(inner_steps=1, adapt_layers="head"), **FAST),
]
REGRESSORS = [
    partial(MAMLRegressor, **FAST),
    partial(ReptileRegressor, **FAST, inner_steps=1),
    partial(MetaRidgeRegressor, **FAST),
    partial(FineTuneRegressor, **FAST, inner_steps=2),
    partial(MetaRegressor, "fomaml", **FAST),
]
LABELS = {  # class code -> label
    "ints": lambda codes: codes,
    "negative ints": lambda codes: -3 * codes - 1,
    "non-contiguous ints": lambda codes: codes**2 * 7 + 100,
    "strings": lambda codes: np.array([f"class {c}" for c in codes]),
    "integral floats": lambda codes: 2.0 * codes - 1.0,
}
GROUPS = {  # group code -> group label
    "ints": lambda codes: codes,
    "strings": lambda codes: np.array([f"g{c}" for c in codes]),
}
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging (where the platform has SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def timeout(signum, frame):
        raise TimeoutError(f"the call ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def classification_problems(draw):
    n_shots, n_queries = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    needed = n_shots + n_queries
    counts = draw(st.lists(st.integers(needed, needed + 3), min_size=2, max_size=6))
    flaw = draw(st.sampled_from([None, None, None, "one class", "one class short"]))
    if flaw == "one class":
        counts = counts[:1]
    elif flaw == "one class short":
        counts[-1] -= 1
    return dict(
        counts=counts,
        n_features=draw(st.integers(1, 4)),
        labels=draw(st.sampled_from(sorted(LABELS))),
        groups=draw(st.sampled_from(["none", *sorted(GROUPS)])),
        # groups of whole classes (alphabets of characters) or of random samples
        group_of=draw(st.sampled_from(["class", "class", "sample"])),
        n_groups=draw(st.integers(1, 2)),
        params=dict(
            n_way=draw(st.integers(2, 3)),
            n_shots=n_shots,
            n_queries=n_queries,
            random_state=draw(st.integers(0, 3)),
        ),
        make=draw(st.sampled_from(CLASSIFIERS)),
        seed=draw(st.integers(0, 2**16)),
    )


@st.composite
def regression_problems(draw):
    n_shots, n_queries = draw(st.integers(1, 3)), draw(st.integers(2, 3))
    needed = n_shots + n_queries  # samples per task, give or take one
    return dict(
        sizes=draw(st.lists(st.integers(needed - 1, needed + 2), min_size=1, max_size=4)),
        n_features=draw(st.integers(1, 4)),
        groups=draw(st.sampled_from(["none", *sorted(GROUPS)])),
        params=dict(n_shots=n_shots, n_queries=n_queries, random_state=draw(st.integers(0, 3))),
        make=draw(st.sampled_from(REGRESSORS)),
        seed=draw(st.integers(0, 2**16)),
    )


def _classification_data(problem):
    rng = np.random.default_rng(problem["seed"])
    codes = rng.permutation(np.repeat(np.arange(len(problem["counts"])), problem["counts"]))
    X = rng.normal(size=(len(codes), problem["n_features"])) + codes[:, None]
    if problem["group_of"] == "class":
        group_codes = codes % problem["n_groups"]
    else:
        group_codes = rng.integers(problem["n_groups"], size=len(codes))
    groups = None
    if problem["groups"] != "none":
        groups = GROUPS[problem["groups"]](group_codes)
    else:
        group_codes = np.zeros_like(codes)
    return X, LABELS[problem["labels"]](codes), groups, codes, group_codes


def _classification_is_valid(estimator, codes, group_codes) -> bool:
    """What the task model needs: two classes; unless the classes are pooled
    (fine-tuning), every (group, class) n_shots + n_queries samples and every
    group n_way classes."""
    params = estimator.get_params()
    if len(np.unique(codes)) < 2:
        return False
    if isinstance(estimator, FineTuneClassifier):
        return True
    units, sizes = np.unique(np.c_[group_codes, codes], axis=0, return_counts=True)
    classes_per_group = np.bincount(units[:, 0])
    return bool(
        sizes.min() >= params["n_shots"] + params["n_queries"]
        and classes_per_group[classes_per_group > 0].min() >= params["n_way"]
    )


def _fails_with_a_message(call) -> bool:
    """Run ``call``: True when it raised a ValueError or TypeError with a message."""
    try:
        call()
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return True
    return False


@PROPERTY_SETTINGS
@given(problem=classification_problems())
def test_classifiers_fit_valid_tasks_and_reject_the_others(problem):
    estimator = problem["make"](**problem["params"])
    X, y, groups, codes, group_codes = _classification_data(problem)
    valid = _classification_is_valid(estimator, codes, group_codes)
    event(f"valid: {valid}")
    with time_limit(60):
        failed = _fails_with_a_message(lambda: estimator.fit(X, y, groups))
        assert failed != valid, f"valid={valid}, but fit {'failed' if failed else 'succeeded'}"
        if failed:
            return
        np.testing.assert_array_equal(estimator.classes_, np.unique(y))
        predicted = estimator.predict(X[:5])
        assert predicted.shape == (len(X[:5]),) and np.isin(predicted, y).all()
        assert predicted.dtype == np.asarray(y).dtype
        proba = estimator.predict_proba(X)
        assert proba.shape == (len(X), len(np.unique(y))) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        scored = []
        if not _fails_with_a_message(lambda: scored.append(estimator.score(X, y, groups))):
            assert 0.0 <= scored[0] <= 1.0
        elif not isinstance(estimator, FineTuneClassifier):
            pytest.fail("score failed on the data fit accepted")
        rows = np.isin(codes, [codes[0], codes[codes != codes[0]][0]])  # two classes
        adapted = estimator.adapt(X[rows], y[rows])
        assert np.isin(adapted.predict(X), y[rows]).all()


# One task (no groups, or one group) is among the valid problems drawn.
@pytest.mark.filterwarnings("ignore::sklearn_meta.exceptions.SingleTaskWarning")
@PROPERTY_SETTINGS
@given(problem=regression_problems())
def test_regressors_fit_valid_tasks_and_reject_the_others(problem):
    estimator = problem["make"](**problem["params"])
    rng = np.random.default_rng(problem["seed"])
    task_codes = np.repeat(np.arange(len(problem["sizes"])), problem["sizes"])
    X = rng.uniform(-3, 3, size=(len(task_codes), problem["n_features"]))
    y = np.sin(X.sum(axis=1) + task_codes) + 0.1 * rng.normal(size=len(X))
    groups = None if problem["groups"] == "none" else GROUPS[problem["groups"]](task_codes)
    sizes = [len(X)] if groups is None else problem["sizes"]
    valid = min(sizes) >= problem["params"]["n_shots"] + problem["params"]["n_queries"]
    event(f"valid: {valid}")
    with time_limit(60):
        failed = _fails_with_a_message(lambda: estimator.fit(X, y, groups))
        assert failed != valid, f"valid={valid}, but fit {'failed' if failed else 'succeeded'}"
        if failed:
            return
        predicted = estimator.predict(X[:7])
        assert predicted.shape == (len(X[:7]),) and np.isfinite(predicted).all()
        assert np.isfinite(estimator.score(X, y, groups))
        adapted = estimator.adapt(X[:3], y[:3])
        assert np.isfinite(adapted.predict(X)).all()
