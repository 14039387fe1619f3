"""Sinusoid regression with the MAML paper's protocol (Finn et al. 2017, section 5.1).

MAML and the pooled non-meta baseline (``inner_steps=0``) get the same
training budget (1-40-40-1 ReLU network, K=10 support and 10 query points,
one inner step of size 0.01, 25 tasks per meta-batch, Adam at 0.001, a fixed
pool of 20,000 training tasks of 50 points). Both are fine-tuned on K=5 and
K=10 examples of unseen sines with plain gradient steps of size 0.01 and
scored by the MSE on 100 evenly spaced points of [-5, 5].
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .._demo import QUERY_DESCRIPTION, Errors, evaluate, make_estimators, sample_test_tasks
from ..datasets import make_sinusoid_tasks
from ..model_selection._evaluation import confidence_interval
from ._report import Progress, markdown_table, mean_ci, seconds_text

SHOTS = (5, 10)
STEPS = (0, 1, 5, 10)
MAX_ITER = 70_000
N_TRAIN_TASKS = 20_000
SAMPLES_PER_TRAIN_TASK = 50
#: MSE at K=5 after 1, 5 and 10 steps (Finn et al. 2017, table 2).
PAPER = {
    ("MAML", 5, 1): 0.67,
    ("MAML", 5, 5): 0.38,
    ("MAML", 5, 10): 0.35,
    ("baseline", 5, 1): 2.41,
    ("baseline", 5, 5): 2.23,
    ("baseline", 5, 10): 2.19,
}


def run_sinusoid(
    *,
    max_iter: int = MAX_ITER,
    n_test_tasks: int = 600,
    n_train_tasks: int = N_TRAIN_TASKS,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Train MAML and the baseline, evaluate them on unseen tasks, and report.

    Parameters
    ----------
    max_iter : int, default=70000
        Outer steps (meta-batches of 25 tasks) of each model.
    n_test_tasks : int, default=600
        Unseen evaluation tasks (their seed is fixed: the same for every
        ``random_state``).
    n_train_tasks : int, default=20000
        Tasks in the training pool.
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the training pool and the training.
    progress : callable
        Receives one line at each stage.

    Returns
    -------
    section : str
        A markdown section: protocol, table of MSEs beside the paper's, fit times.
    """
    estimators = make_estimators(max_iter, device, random_state, verbose=sys.stderr.isatty())
    X, y, groups = make_sinusoid_tasks(
        n_train_tasks, SAMPLES_PER_TRAIN_TASK, random_state=random_state
    )
    seconds = {}
    for name, estimator in estimators.items():
        progress(
            f"sinusoid: fitting {name} ({max_iter} steps, inner_steps={estimator.inner_steps})"
        )
        start = time.perf_counter()
        estimator.fit(X, y, groups)
        seconds[name] = time.perf_counter() - start
    progress(f"sinusoid: evaluating on {n_test_tasks} unseen tasks")
    errors = evaluate(estimators, sample_test_tasks(n_test_tasks, max(SHOTS)), SHOTS, STEPS)
    device_used = estimators["MAML"].device_
    fits = ", ".join(
        f"{name} {seconds_text(value)} "
        f"({max_iter * estimators[name].meta_batch_size / value:,.0f} tasks/s)"
        for name, value in seconds.items()
    )
    return "\n\n".join(
        [
            "## Sinusoid regression (MAML protocol, Finn et al. 2017)",
            f"MAML and the pooled baseline (`inner_steps=0`), {max_iter} steps each on "
            f"{n_train_tasks} training tasks (seed {random_state}), fine-tuned with plain "
            f"gradient steps of size 0.01 on K examples of {n_test_tasks} unseen tasks; "
            f"MSE on {QUERY_DESCRIPTION}. Mean ± 95% CI over the tasks that did not "
            'diverge; "diverged" counts tasks whose adapted predictions were not finite; '
            '"paper" is Finn et al. (2017), table 2.',
            sinusoid_table(errors),
            f"Fit time on {device_used}: {fits}.",
        ]
    )


def sinusoid_table(errors: Errors) -> str:
    """One row per model, K and steps: mean ± CI, median, diverged tasks, the paper's MSE."""
    rows = []
    for (name, k, steps), values in errors.items():
        finite = values[np.isfinite(values)]
        if len(finite):
            measured = mean_ci(finite.mean(), confidence_interval(finite)[0])
            median = f"{np.median(finite):.3f}"
        else:
            measured = median = "-"
        paper = PAPER.get((name, k, steps))
        rows.append(
            [
                name,
                str(k),
                str(steps),
                measured,
                median,
                str(len(values) - len(finite)),
                "" if paper is None else f"{paper:.2f}",
            ]
        )
    header = ["model", "K", "steps", "MSE (mean ± 95% CI)", "median", "diverged", "paper"]
    return markdown_table(header, rows)
