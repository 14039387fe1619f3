"""Early stopping against fixed budgets on the offline class pools.

The study behind the defaults of ``validation_interval`` and
``n_iter_no_change``: each learner is trained for fixed numbers of outer
steps and, separately, with ``early_stopping=True`` under a few candidate
settings, and every fit is scored on the same test episodes of held-out
classes. A good default stops close to the best fixed budget's accuracy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._estimators import MetaClassifier
from .._presets._protonet import ProtoNetClassifier
from ._learners import (
    N_QUERIES,
    SHOTS,
    Column,
    FewShotData,
    Result,
    fit_and_score,
    summarize,
)
from ._offline_pools import offline_pools
from ._report import Progress, markdown_table, seconds_text

ALGORITHMS = ("protonet", "maml")
#: The cap of early stopping and the largest fixed budget: the learners' default ``max_iter``.
MAX_ITER = 1000
#: Fixed budgets, as fractions of ``max_iter``.
BUDGET_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 1.0)
#: Early-stopping settings, ``(validation_interval, n_iter_no_change)``; the
#: first is the former default (a validation after every step).
CANDIDATES = ((1, 10), (10, 5), (10, 10), (10, 20))


@dataclass(frozen=True)
class Stopped:
    """One early-stopped fit: its test result, the steps it ran and the step
    whose parameters it kept."""

    result: Result
    n_iter: int
    kept: int


@dataclass(frozen=True)
class Study:
    """One learner in one setting: its fixed budgets and early-stopped fits."""

    algorithm: str
    column: Column
    fixed: dict[int, Result]
    stopped: dict[tuple[int, int], Stopped]

    def best_fixed(self) -> tuple[int, Result]:
        """The budget with the highest mean accuracy, and its result."""
        return max(self.fixed.items(), key=lambda item: item[1].mean)

    def shortfall(self, result: Result) -> float:
        """Points (%) by which ``result`` is below the best fixed budget's accuracy."""
        return 100 * (self.best_fixed()[1].mean - result.mean)


def budgets(max_iter: int) -> list[int]:
    """The fixed budgets for a cap of ``max_iter`` steps."""
    return sorted({max(1, round(fraction * max_iter)) for fraction in BUDGET_FRACTIONS})


def kept_step(validation_scores: Sequence[float], interval: int, n_iter: int) -> int:
    """The step whose parameters early stopping kept: that of the first best
    validation (one every ``interval`` steps and one after the last step)."""
    steps = list(range(interval, n_iter + 1, interval))
    if n_iter % interval:
        steps.append(n_iter)
    return steps[int(np.argmax(validation_scores))]


def _fit_and_score(
    params: dict, data: FewShotData, column: Column, label: str, n_episodes: int
) -> tuple[MetaClassifier, Result]:
    """Fit one ``MetaClassifier`` and score it on the test episodes."""
    _, n_way, k = column
    learner = MetaClassifier(n_way=n_way, n_shots=k, n_queries=N_QUERIES, **params)
    scores, seconds = fit_and_score(
        learner, data, n_way, k, N_QUERIES, n_episodes, params["random_state"]
    )
    device = str(learner.device_)
    return learner, summarize(label, column, scores, seconds, device)


def study_learner(
    algorithm: str,
    data: FewShotData,
    column: Column,
    *,
    max_iter: int,
    candidates: Sequence[tuple[int, int]],
    n_episodes: int,
    device: str,
    random_state: int,
    progress: Progress,
) -> Study:
    """Fit ``algorithm`` for each fixed budget and each early-stopping setting."""
    common = {
        "algorithm": algorithm,
        "device": device,
        "random_state": random_state,
        "verbose": sys.stderr.isatty(),
    }
    name = f"{column[0]} {column[1]}-way {column[2]}-shot {algorithm}"
    fixed = {}
    for budget in budgets(max_iter):
        _, fixed[budget] = _fit_and_score(
            {**common, "max_iter": budget}, data, column, algorithm, n_episodes
        )
        progress(f"{name}, {budget} steps: {fixed[budget].cell()} %")
    stopped = {}
    for interval, patience in candidates:
        params = {
            **common,
            "max_iter": max_iter,
            "early_stopping": True,
            "validation_interval": interval,
            "n_iter_no_change": patience,
        }
        learner, result = _fit_and_score(params, data, column, algorithm, n_episodes)
        kept = kept_step(learner.validation_scores_, interval, learner.n_iter_)
        stopped[interval, patience] = Stopped(result, learner.n_iter_, kept)
        progress(
            f"{name}, early stopping every {interval} steps, patience {patience}: "
            f"{result.cell()} % (ran {learner.n_iter_} steps, kept {kept}, "
            f"{result.fit_seconds:.1f} s)"
        )
    return Study(algorithm, column, fixed, stopped)


def fixed_table(studies: Sequence[Study]) -> str:
    """Accuracy after each fixed budget; each row's best in bold."""
    steps = list(studies[0].fixed)
    rows = []
    for study in studies:
        best = study.best_fixed()[0]
        cells = [study.fixed[b].cell() for b in steps]
        cells = [f"**{c}**" if b == best else c for b, c in zip(steps, cells, strict=True)]
        rows.append([_setting(study), study.algorithm, *cells])
    return markdown_table(["setting", "learner", *(f"{b} steps" for b in steps)], rows)


def stopping_table(studies: Sequence[Study]) -> str:
    """Each early-stopping setting beside the best fixed budget."""
    settings = list(studies[0].stopped)
    rows = []
    for study in studies:
        budget, best = study.best_fixed()
        cells = []
        for setting in settings:
            run = study.stopped[setting]
            cells.append(
                f"{100 * run.result.mean:.1f} ({-study.shortfall(run.result):+.1f}) · "
                f"{run.n_iter}/{run.kept}"
            )
        best_cell = f"{best.cell()} ({budget} steps)"
        rows.append([_setting(study), study.algorithm, best_cell, *cells])
    header = ["setting", "learner", "best fixed budget", *map(_setting_name, settings)]
    return markdown_table(header, rows)


def summary_table(studies: Sequence[Study], max_iter: int) -> str:
    """Per early-stopping setting: the worst and mean shortfall and the fit time,
    beside the fixed ``max_iter`` budget's."""
    trainings = {f"fixed {max_iter} steps": [study.fixed[max_iter] for study in studies]}
    for setting in studies[0].stopped:
        trainings[_setting_name(setting)] = [study.stopped[setting].result for study in studies]
    rows = []
    for name, results in trainings.items():
        shortfalls = [
            study.shortfall(result) for study, result in zip(studies, results, strict=True)
        ]
        rows.append(
            [
                name,
                _points(max(shortfalls)),
                _points(float(np.mean(shortfalls))),
                seconds_text(sum(result.fit_seconds for result in results)),
            ]
        )
    header = ["training", "worst shortfall", "mean shortfall", "fit time, all settings"]
    return markdown_table(header, rows)


def _setting(study: Study) -> str:
    pool, n_way, k = study.column
    return f"{pool} {n_way}-way {k}-shot"


def _setting_name(setting: tuple[int, int]) -> str:
    interval, patience = setting
    default = " (default)" if setting == default_setting() else ""
    return f"every {interval}, patience {patience}{default}"


def default_setting() -> tuple[int, int]:
    """The learners' defaults, ``(validation_interval, n_iter_no_change)``."""
    params = ProtoNetClassifier().get_params()  # every learner has the same ones
    return params["validation_interval"], params["n_iter_no_change"]


def _points(value: float) -> str:
    return f"{value:.1f} points"


def run_early_stopping(
    *,
    algorithms: Sequence[str] = ALGORITHMS,
    shots: Sequence[int] = SHOTS,
    max_iter: int = MAX_ITER,
    candidates: Sequence[tuple[int, int]] = CANDIDATES,
    n_episodes: int = 600,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Early stopping against fixed budgets on the offline pools, as a markdown section.

    Parameters
    ----------
    algorithms : sequence of str, default=("protonet", "maml")
        Learners (``MetaClassifier``'s ``algorithm``).
    shots : sequence of int, default=(1, 5)
        Shot counts; one training and one test per value.
    max_iter : int, default=1000
        The cap of early stopping and the largest fixed budget; the others
        are 10%, 20%, 30% and 50% of it.
    candidates : sequence of (int, int), default=CANDIDATES
        Early-stopping settings, ``(validation_interval, n_iter_no_change)``.
    n_episodes : int, default=600
        Test episodes per fit.
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the synthetic pool, the training and the test episodes.
    progress : callable
        Receives one line per fit.

    Returns
    -------
    section : str
        Protocol, the three tables and how to read them.
    """
    studies = [
        study_learner(
            algorithm,
            data,
            (pool, n_way, k),
            max_iter=max_iter,
            candidates=candidates,
            n_episodes=n_episodes,
            device=device,
            random_state=random_state,
            progress=progress,
        )
        for pool, (data, n_way) in offline_pools(random_state).items()
        for k in shots
        for algorithm in algorithms
    ]
    return "\n\n".join(
        [
            "## Early stopping against fixed budgets (offline pools)",
            "The pools and test episodes of the classification table. Each learner is "
            f"`MetaClassifier(algorithm, n_way=N, n_shots=K, n_queries={N_QUERIES}, "
            f"random_state={random_state})` with its own defaults otherwise, trained "
            f"for each fixed budget (`max_iter`) on all training classes, and with "
            f"`early_stopping=True, max_iter={max_iter}` and each setting of "
            "`validation_interval` and `n_iter_no_change`, which holds out "
            "`validation_fraction=0.1` of the training classes (at least two) and "
            f"keeps the parameters of the best validation. Accuracy (%) on {n_episodes} "
            "test episodes of the unseen classes: mean ± 95% CI.",
            "### Fixed budgets",
            fixed_table(studies),
            "### Early stopping",
            "Each cell: accuracy (difference from the best fixed budget, points) · steps "
            "run / step whose parameters were kept.",
            stopping_table(studies),
            "### Summary over all settings",
            summary_table(studies, max_iter),
        ]
    )
