"""Meta-training throughput of ``MAMLRegressor.fit`` on the sinusoid protocol:
the vectorized (``vmap``) path against the task loop, from the same state."""

from __future__ import annotations

import copy
import time

import numpy as np

from .._demo import make_estimators
from .._maml import MAMLRegressor
from ..datasets import make_sinusoid_tasks
from ._sinusoid import SAMPLES_PER_TRAIN_TASK

TARGET_SPEEDUP = 5.0  # vectorized over loop
META_BATCH_SIZE = 25  # as in make_estimators
STEPS_PER_FIT = {"vectorized": 100, "loop": 10}  # about half a second each


def throughput_tasks(random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """200 training tasks: enough to draw episodes from as in the full run."""
    return make_sinusoid_tasks(200, SAMPLES_PER_TRAIN_TASK, random_state=random_state)


def path_estimators(device: str, data: tuple) -> dict[str, MAMLRegressor]:
    """A MAML estimator after one step, and a copy of it that takes the task loop.

    With ``warm_start`` later fits keep ``vectorized_``, so both go on from
    the same parameters, optimizer state and stream of episodes.
    """
    vectorized = make_estimators(1, device, 0, verbose=False)["MAML"]
    vectorized.set_params(warm_start=True).fit(*data)
    if not vectorized.vectorized_:
        raise RuntimeError("MAMLRegressor did not take the vectorized path.")
    loop = copy.deepcopy(vectorized)
    loop.vectorized_ = False
    return {"vectorized": vectorized, "loop": loop}


def check_paths_agree(estimators: dict[str, MAMLRegressor], data: tuple, n_steps: int) -> None:
    """Both paths take ``n_steps`` identical steps: their losses must match."""
    for estimator in estimators.values():
        estimator.set_params(max_iter=n_steps).fit(*data)
    vectorized, loop = (np.array(e.loss_curve_[-n_steps:]) for e in estimators.values())
    np.testing.assert_allclose(vectorized, loop, rtol=1e-3)


def throughput(
    device: str, random_state: int, rounds: int, steps_per_fit: dict[str, int] | None = None
) -> dict[str, float]:
    """Median seconds per outer step of ``fit`` on each path, interleaved over ``rounds``."""
    steps_per_fit = STEPS_PER_FIT if steps_per_fit is None else steps_per_fit
    data = throughput_tasks(random_state)
    estimators = path_estimators(device, data)
    check_paths_agree(estimators, data, n_steps=5)  # and warm up
    samples: dict[str, list[float]] = {path: [] for path in estimators}
    for _ in range(rounds):
        for path, estimator in estimators.items():
            estimator.set_params(max_iter=steps_per_fit[path])
            start = time.perf_counter()
            estimator.fit(*data)  # every step ends in loss.item(): synchronized
            samples[path].append((time.perf_counter() - start) / steps_per_fit[path])
    return {path: float(np.median(times)) for path, times in samples.items()}


def format_throughput(seconds: dict[str, float]) -> str:
    """Milliseconds per step and tasks per second of each path, and their ratio."""
    lines = [f"{'path':<12}{'ms/step':>10}{'tasks/s':>10}"]
    for path, value in seconds.items():
        lines.append(f"{path:<12}{1e3 * value:>10.2f}{META_BATCH_SIZE / value:>10.0f}")
    ratio = seconds["loop"] / seconds["vectorized"]
    verdict = "meets" if ratio >= TARGET_SPEEDUP else "FALLS SHORT of"
    lines.append(f"vectorized / loop: {ratio:.1f}x ({verdict} the {TARGET_SPEEDUP:.0f}x target)")
    return "\n".join(lines)
