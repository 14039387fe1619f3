"""The few-shot sine regression demo behind ``sklearn-meta demo``.

MAML (Finn et al. 2017) and a non-meta baseline, one network trained on the
pooled tasks (``inner_steps=0``), get the same training budget on sine tasks.
Both are then fine-tuned on ``K`` examples of unseen sines with a few plain
gradient steps and scored on the whole input range.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._presets._maml import MAMLRegressor
from .datasets import make_sinusoid_tasks

#: Seed of the unseen evaluation tasks: the same for every ``random_state``.
TEST_SEED = 2017
#: Where every task's MSE is measured: evenly spaced over the input range.
QUERY_X = np.linspace(-5.0, 5.0, 100).reshape(-1, 1)
QUERY_DESCRIPTION = f"{len(QUERY_X)} evenly spaced query points x in [-5, 5] per task"

Errors = dict[tuple[str, int, int], np.ndarray]


@dataclass(frozen=True)
class SineTask:
    """An unseen task ``y = amplitude * sin(x - phase)`` and its support inputs.

    Parameters
    ----------
    amplitude : float
        Amplitude of the sine.
    phase : float
        Phase of the sine.
    x_support : ndarray of shape (n_support, 1)
        Inputs of the examples to adapt on; ``K`` shots use the first ``K``.
    """

    amplitude: float
    phase: float
    x_support: np.ndarray

    def target(self, x: np.ndarray) -> np.ndarray:
        """The task's function at ``x`` of shape (n, 1), as shape (n,)."""
        return self.amplitude * np.sin(x[:, 0] - self.phase)


def sample_test_tasks(n_tasks: int, n_support: int, seed: int = TEST_SEED) -> list[SineTask]:
    """Unseen tasks from the distribution of :func:`~sklearn_meta.datasets.make_sinusoid_tasks`.

    Amplitudes are uniform in [0.1, 5], phases in [0, π], support inputs in [-5, 5].

    Parameters
    ----------
    n_tasks : int
        Number of tasks.
    n_support : int
        Support inputs drawn per task (the largest ``K`` evaluated).
    seed : int, default=TEST_SEED
        Seed of the draw.

    Returns
    -------
    tasks : list of SineTask
        The tasks.
    """
    rng = np.random.default_rng(seed)
    amplitudes = rng.uniform(0.1, 5.0, size=n_tasks)
    phases = rng.uniform(0.0, np.pi, size=n_tasks)
    x_support = rng.uniform(-5.0, 5.0, size=(n_tasks, n_support, 1))
    return [SineTask(*task) for task in zip(amplitudes, phases, x_support, strict=True)]


def make_estimators(
    max_iter: int, device: str, random_state: int, verbose: bool = True
) -> dict[str, MAMLRegressor]:
    """MAML and the pooled baseline with the paper's settings and the same budget.

    A 1-40-40-1 ReLU network, 10 support and 10 query points per task, one
    inner step of size 0.01, 25 tasks per meta-batch, Adam at 0.001.

    Parameters
    ----------
    max_iter : int
        Outer steps (meta-batches) of each.
    device : str
        Torch device.
    random_state : int
        Seed of the initialization and the episodes.
    verbose : bool, default=True
        Show progress bars.

    Returns
    -------
    estimators : dict of str to MAMLRegressor
        ``"MAML"`` and ``"baseline"``, unfitted.
    """
    settings = dict(
        hidden_layer_sizes=(40, 40),
        n_shots=10,
        n_queries=10,
        inner_lr=0.01,
        meta_lr=0.001,
        meta_batch_size=25,
        max_iter=max_iter,
        device=device,
        random_state=random_state,
        verbose=verbose,
    )
    return {
        "MAML": MAMLRegressor(inner_steps=1, **settings),
        "baseline": MAMLRegressor(inner_steps=0, **settings),
    }


def train(
    estimators: Mapping[str, MAMLRegressor],
    n_tasks: int,
    n_samples_per_task: int,
    random_state: int,
) -> dict[str, float]:
    """Fit every estimator on one pool of sine tasks.

    Parameters
    ----------
    estimators : dict of str to MAMLRegressor
        The estimators, fitted in place.
    n_tasks : int
        Training tasks in the pool.
    n_samples_per_task : int
        Samples of each training task.
    random_state : int
        Seed of the pool.

    Returns
    -------
    seconds : dict of str to float
        Wall time of each fit.
    """
    X, y, groups = make_sinusoid_tasks(n_tasks, n_samples_per_task, random_state=random_state)
    seconds = {}
    for name, estimator in estimators.items():
        print(f"Training {name} (inner_steps={estimator.inner_steps})", flush=True)
        start = time.perf_counter()
        estimator.fit(X, y, groups)
        seconds[name] = time.perf_counter() - start
    return seconds


def adapted_predictions(
    estimator: MAMLRegressor, task: SineTask, shots: int, steps: int, x: np.ndarray
) -> np.ndarray:
    """Predictions at ``x`` after ``steps`` gradient steps on the first ``shots`` examples."""
    support = task.x_support[:shots]
    return estimator.adapt(support, task.target(support), inner_steps=steps).predict(x)


def task_errors(
    estimator: MAMLRegressor, tasks: Sequence[SineTask], shots: int, steps: int
) -> np.ndarray:
    """The MSE on :data:`QUERY_X` of each task after adaptation, shape (n_tasks,)."""
    errors = []
    for task in tasks:
        predictions = adapted_predictions(estimator, task, shots, steps, QUERY_X)
        errors.append(np.mean((predictions - task.target(QUERY_X)) ** 2))
    return np.array(errors)


def evaluate(
    estimators: Mapping[str, MAMLRegressor],
    tasks: Sequence[SineTask],
    shots: Sequence[int],
    steps: Sequence[int],
) -> Errors:
    """Per-task MSE of every estimator for every number of shots and steps.

    Parameters
    ----------
    estimators : dict of str to MAMLRegressor
        Fitted estimators.
    tasks : list of SineTask
        Unseen tasks.
    shots : sequence of int
        Support sizes ``K``.
    steps : sequence of int
        Numbers of adaptation steps.

    Returns
    -------
    errors : dict of (name, K, steps) to ndarray of shape (n_tasks,)
        The MSE of each task.
    """
    return {
        (name, k, n): task_errors(estimator, tasks, k, n)
        for name, estimator in estimators.items()
        for k in shots
        for n in steps
    }


def steps_label(steps: int) -> str:
    """``"1 step"``, ``"10 steps"``."""
    return f"{steps} step" + "s" * (steps != 1)


def format_table(errors: Errors, steps: Sequence[int]) -> str:
    """Mean MSE over tasks: one row per estimator and ``K``, one column per step count."""
    header = f"{'model':<10}{'K':>4}" + "".join(f"{steps_label(n):>11}" for n in steps)
    rows = dict.fromkeys((name, k) for name, k, _ in errors)  # in evaluation order
    lines = [header]
    for name, k in rows:
        means = "".join(f"{errors[name, k, n].mean():>11.3f}" for n in steps)
        lines.append(f"{name:<10}{k:>4}{means}")
    return "\n".join(lines)


def plot_adapted_curves(
    estimators: Mapping[str, MAMLRegressor],
    tasks: Sequence[SineTask],
    shots: int,
    steps: int,
    path: Path,
) -> bool:
    """Save a figure of a few tasks: true sine, support points and each adapted estimator.

    Parameters
    ----------
    estimators : dict of str to MAMLRegressor
        Fitted estimators.
    tasks : list of SineTask
        The tasks to draw, one panel each.
    shots : int
        Support size ``K``.
    steps : int
        Adaptation steps.
    path : Path
        Where to write the image.

    Returns
    -------
    saved : bool
        False when matplotlib is not installed (nothing is written).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    figure = Figure(figsize=(4 * len(tasks), 3.6), layout="constrained")
    axes = figure.subplots(1, len(tasks), sharey=True, squeeze=False)[0]
    x = np.linspace(-5.0, 5.0, 200).reshape(-1, 1)
    for ax, task in zip(axes, tasks, strict=True):
        ax.plot(x[:, 0], task.target(x), color="black", label="true sine")
        for name, estimator in estimators.items():
            predictions = adapted_predictions(estimator, task, shots, steps, x)
            ax.plot(x[:, 0], predictions, "--", label=f"{name}, {steps} steps")
        support = task.x_support[:shots]
        ax.scatter(support[:, 0], task.target(support), color="red", zorder=3, label="support")
        ax.set_xlabel("x")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4)
    figure.suptitle(f"Adapted to K={shots} examples of unseen sines")
    figure.savefig(path, dpi=100)
    return True


def run_demo(
    *,
    max_iter: int,
    random_state: int,
    device: str,
    output: Path,
    n_train_tasks: int,
    n_test_tasks: int,
) -> None:
    """Train, evaluate, print the table and save the figure (see ``sklearn-meta demo -h``)."""
    estimators = make_estimators(max_iter, device, random_state)
    seconds = train(estimators, n_train_tasks, 50, random_state)
    device_used = estimators["MAML"].device_
    for name, value in seconds.items():
        print(f"{name}: {max_iter} steps in {value:.1f} s on {device_used}")
    steps, shots = (0, 1, 10), (5, 10)
    tasks = sample_test_tasks(n_test_tasks, max(shots))
    print(
        f"\nMean squared error on {n_test_tasks} unseen tasks after K-shot adaptation "
        f"(SGD, lr 0.01), {QUERY_DESCRIPTION}:"
    )
    print(format_table(evaluate(estimators, tasks, shots, steps), steps))
    if plot_adapted_curves(estimators, tasks[:3], 5, 10, output):
        print(f"\nSaved adapted curves (K=5, 10 steps) to {output}")
    else:
        print("\nmatplotlib is not installed: skipped the plot (pip install matplotlib).")
