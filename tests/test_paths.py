"""The path of meta-training chosen by timing, and the threads estimators work in."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_meta import MAMLClassifier, MAMLRegressor, ProtoNetClassifier
from sklearn_meta._core._threads import torch_threads
from sklearn_meta._paths import (
    MIN_STEPS_TO_MEASURE,
    SLOWDOWN,
    STEPS_PER_CANDIDATE,
    WATCH_STEPS,
    ExecutionPath,
    PathTrial,
    thread_candidates,
)
from sklearn_meta.datasets import make_sinusoid_tasks

VMAP, VMAP_1, LOOP, LOOP_1 = (
    ExecutionPath(True, 2),
    ExecutionPath(True, 1),
    ExecutionPath(False, 2),
    ExecutionPath(False, 1),
)


@pytest.fixture(autouse=True)
def fits_time_their_paths(fits_keep_the_first_path, monkeypatch):
    monkeypatch.setattr("sklearn_meta._training.MIN_STEPS_TO_MEASURE", MIN_STEPS_TO_MEASURE)


@pytest.fixture(scope="module")
def sinusoid():
    return make_sinusoid_tasks(30, 20, random_state=0)


def run_trial(trial: PathTrial, seconds: dict) -> list[ExecutionPath]:
    """Steps on ``trial`` until it stops measuring; each path's step takes ``seconds[path]``."""
    taken = []
    while trial.measuring:
        taken.append(trial.path)
        trial.record(seconds[trial.path])
    return taken


def test_the_trial_keeps_the_fastest_path_and_drops_slow_ones_after_one_step():
    seconds = {VMAP: 0.2, VMAP_1: 0.01, LOOP: 0.05, LOOP_1: 0.011}
    trial = PathTrial([VMAP, VMAP_1, LOOP, LOOP_1])
    taken = run_trial(trial, seconds)
    # the first candidate has nothing to be compared with; LOOP is 5x the best
    assert taken.count(VMAP) == STEPS_PER_CANDIDATE and taken.count(LOOP) == 1
    assert taken.count(VMAP_1) == taken.count(LOOP_1) == STEPS_PER_CANDIDATE
    assert trial.best == trial.path == VMAP_1
    assert trial.summary() == {str(p): s for p, s in seconds.items()}


def test_the_first_step_of_a_candidate_only_warms_up():
    trial = PathTrial([VMAP, LOOP])
    for seconds in (0.5, 0.1, 0.1, 0.15, 0.12, 0.12):  # VMAP warms up slowly, then is faster
        trial.record(seconds)
    assert not trial.measuring and trial.best == VMAP


def test_a_chosen_path_that_slows_down_is_timed_again():
    trial = PathTrial([VMAP, VMAP_1])
    run_trial(trial, {VMAP: 0.1, VMAP_1: 0.2})
    for _ in range(WATCH_STEPS):  # noise below SLOWDOWN: kept
        trial.record(0.1 * SLOWDOWN * 0.9)
    assert not trial.measuring and trial.path == VMAP
    for _ in range(WATCH_STEPS):  # another process took a core
        trial.record(0.1 * SLOWDOWN * 1.1)
    assert trial.measuring and trial.path == VMAP
    assert trial.summary() == {str(VMAP): 0.1, str(VMAP_1): 0.2}  # until timed again
    run_trial(trial, {VMAP: 0.4, VMAP_1: 0.2})
    assert trial.best == VMAP_1 and trial.summary() == {str(VMAP): 0.4, str(VMAP_1): 0.2}


def test_a_trial_without_measuring_keeps_the_first_candidate():
    trial = PathTrial([LOOP, VMAP], measure=False)
    assert not trial.measuring and trial.path == LOOP
    for seconds in [1.0] + [10.0] * WATCH_STEPS:  # not watched either
        trial.record(seconds)
    assert trial.path == LOOP and not trial.measuring and trial.summary() == {}


def test_thread_candidates():
    with torch_threads(2):
        assert thread_candidates("auto", torch.device("cpu")) == [2, 1]
        assert thread_candidates("auto", torch.device("meta")) == [2]
        assert thread_candidates(3, torch.device("cpu")) == [3]
    with torch_threads(1):
        assert thread_candidates("auto", torch.device("cpu")) == [1]


class FakeClock:
    """``time.perf_counter`` for the fit loop: each call after an outer step
    reads as that step having taken ``seconds[path]``."""

    def __init__(self, seconds: dict):
        self.seconds, self.now, self.started = seconds, 0.0, False

    def perf_counter(self) -> float:
        if self.started:  # the step ends: the current path's time
            self.now += self.seconds[(torch.get_num_threads(), self.vectorize)]
        self.started = not self.started
        return self.now


def test_fit_chooses_the_path_the_clock_says_is_fastest(sinusoid, monkeypatch):
    import sklearn_meta._training as training

    clock = FakeClock({(2, True): 0.3, (1, True): 0.2, (2, False): 0.1, (1, False): 0.2})
    real_step = training.meta_step

    def step(episode_loss, batch, optimizer, vectorize, *args, **kwargs):
        clock.vectorize = vectorize
        return real_step(episode_loss, batch, optimizer, vectorize, *args, **kwargs)

    monkeypatch.setattr(training, "meta_step", step)
    monkeypatch.setattr(training, "time", clock)
    maml = MAMLRegressor(max_iter=MIN_STEPS_TO_MEASURE, device="cpu", random_state=0)
    with torch_threads(2):
        maml.fit(*sinusoid)
        assert torch.get_num_threads() == 2
    assert (maml.vectorized_, maml.n_threads_) == (False, 2)
    assert maml.path_timings_ == pytest.approx(
        {
            "vmap, 2 threads": 0.3,
            "vmap, 1 thread": 0.2,
            "task loop, 2 threads": 0.1,
            "task loop, 1 thread": 0.2,
        }
    )
    assert np.isfinite(maml.predict(sinusoid[0][:5])).all()


def test_short_fits_and_explicit_settings_time_nothing(sinusoid):
    with torch_threads(2):
        short = MAMLRegressor(max_iter=MIN_STEPS_TO_MEASURE - 1, device="cpu", random_state=0)
        short.fit(*sinusoid)
        fixed = MAMLRegressor(max_iter=60, vectorize=False, n_threads=1, device="cpu")
        fixed.fit(*sinusoid)
    assert (short.vectorized_, short.n_threads_, short.path_timings_) == (True, 2, {})
    assert (fixed.vectorized_, fixed.n_threads_, fixed.path_timings_) == (False, 1, {})


def test_a_measured_fit_records_a_consistent_choice(sinusoid):
    with torch_threads(2):
        maml = MAMLRegressor(max_iter=MIN_STEPS_TO_MEASURE, device="cpu", random_state=0)
        maml.fit(*sinusoid)
    timings = maml.path_timings_
    chosen = str(ExecutionPath(maml.vectorized_, maml.n_threads_))
    assert len(timings) == 4 and timings[chosen] == min(timings.values())
    continued = maml.set_params(warm_start=True, max_iter=MIN_STEPS_TO_MEASURE).fit(*sinusoid)
    assert continued.path_timings_ == timings  # a continued fit keeps its path
    assert str(ExecutionPath(continued.vectorized_, continued.n_threads_)) == chosen


class ThreadSpy(nn.Module):
    """A backbone that records torch's thread count at each forward pass."""

    def __init__(self, n_features: int, fail_after: int | None = None):
        super().__init__()
        self.linear = nn.Linear(n_features, 8)
        self.seen: list[int] = []
        self.fail_after = fail_after

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        if self.fail_after is not None and len(self.seen) > self.fail_after:
            raise RuntimeError("backbone failed")
        return torch.relu(self.linear(x))


def test_estimators_work_in_their_threads_and_give_the_callers_back(sinusoid):
    X, y, groups = sinusoid
    spy = ThreadSpy(1)
    maml = MAMLRegressor(module=spy, vectorize=False, n_threads=1, max_iter=3, device="cpu")
    with torch_threads(2):
        maml.fit(X, y, groups=groups)
        maml.predict(X[:5])
        maml.adapt(X[:5], y[:5]).predict(X[5:10])
        maml.score(X, y, groups=groups)
        assert torch.get_num_threads() == 2
    assert set(maml.learner_.model.backbone.seen) == {1}


def test_the_callers_threads_are_back_after_a_failed_fit(sinusoid):
    X, y, groups = sinusoid
    spy = ThreadSpy(1, fail_after=2)
    maml = MAMLRegressor(module=spy, vectorize=False, n_threads=1, max_iter=3, device="cpu")
    with torch_threads(2):
        with pytest.raises(RuntimeError, match="backbone failed"):
            maml.fit(X, y, groups=groups)
        assert torch.get_num_threads() == 2


@pytest.mark.parametrize("value", [0, -1, 1.5, "fast"])
def test_bad_n_threads_and_vectorize_are_refused(sinusoid, value):
    with pytest.raises((ValueError, TypeError), match='n_threads must be an int >= 1 or "auto"'):
        MAMLRegressor(n_threads=value, max_iter=2).fit(*sinusoid)
    if value != 0:
        with pytest.raises((ValueError, TypeError), match='vectorize must be a bool or "auto"'):
            MAMLRegressor(vectorize=value, max_iter=2).fit(*sinusoid)


def test_predict_refuses_n_threads_set_wrong_after_fit(sinusoid):
    clf = ProtoNetClassifier(n_way=2, n_shots=2, n_queries=2, max_iter=2, device="cpu")
    X = np.random.default_rng(0).normal(size=(40, 3))
    clf.fit(X, np.arange(40) % 4)
    with pytest.raises(ValueError, match="n_threads"):
        clf.set_params(n_threads=0).predict(X)


def test_a_classifier_measures_too():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 4)), np.arange(120) % 6
    with torch_threads(2):
        clf = MAMLClassifier(n_way=3, n_shots=1, n_queries=2, max_iter=MIN_STEPS_TO_MEASURE)
        clf.set_params(hidden_layer_sizes=(8,), device="cpu", random_state=0).fit(X, y)
    assert len(clf.path_timings_) == 4 and clf.n_threads_ in (1, 2)


def test_a_model_without_n_threads_continues_in_the_callers_threads(sinusoid):
    """Models saved before ``n_threads_`` existed have ``vectorized_`` only."""
    maml = MAMLRegressor(max_iter=3, device="cpu", random_state=0).fit(*sinusoid)
    del maml.n_threads_
    with torch_threads(2):
        maml.set_params(warm_start=True).fit(*sinusoid)
        assert torch.get_num_threads() == 2
    assert (maml.vectorized_, maml.n_threads_, maml.n_iter_) == (True, 2, 6)
