"""Meta-train learners and score them on N-way K-shot episodes of held-out
classes: the evaluation shared by the offline pools, Omniglot and the
early-stopping study."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._estimators import MetaClassifier
from ..model_selection import evaluate_few_shot
from ..model_selection._evaluation import confidence_interval
from ._report import Progress, mean_ci

BASELINE = "finetune"
SHOTS = (1, 5)
N_QUERIES = 15
MAX_ITER = 500

#: A column of a table: (pool, n_way, n_shots).
Column = tuple[str, int, int]


@dataclass(frozen=True)
class FewShotData:
    """Meta-training data and held-out data whose classes are all new."""

    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray | None


@dataclass(frozen=True)
class Result:
    """One learner's accuracy in one setting: mean and 95% CI (fractions) over
    the test episodes whose adaptation did not diverge."""

    algorithm: str
    column: Column
    mean: float
    ci95: float
    n_diverged: int
    n_episodes: int
    fit_seconds: float
    device: str = "cpu"

    def cell(self) -> str:
        """``"51.5 ± 0.9"`` in percent, noting diverged episodes."""
        if self.n_diverged == self.n_episodes:
            return f"all {self.n_episodes} episodes diverged"
        text = mean_ci(self.mean, self.ci95, scale=100, digits=1)
        if self.n_diverged:
            text += f" ({self.n_diverged} of {self.n_episodes} diverged)"
        return text


def with_baseline(algorithms: Sequence[str]) -> list[str]:
    """``algorithms`` without repeats, the fine-tuning baseline last (always there)."""
    chosen = [a for a in dict.fromkeys(algorithms) if a != BASELINE]
    return [*chosen, BASELINE]


def evaluate_learners(
    algorithms: Sequence[str],
    data: FewShotData,
    *,
    pool: str,
    n_way: int,
    shots: Sequence[int] = SHOTS,
    n_queries: int = N_QUERIES,
    train_way: int | None = None,
    max_iter: int = MAX_ITER,
    n_episodes: int = 600,
    device: str = "auto",
    random_state: int = 0,
    params: Mapping | None = None,
    progress: Progress,
) -> list[Result]:
    """Meta-train each learner at each shot count and test it on new classes.

    Each learner is ``MetaClassifier(algorithm, n_way=train_way, n_shots=K,
    n_queries=n_queries, max_iter=max_iter, random_state=random_state,
    **params)`` with its own defaults otherwise, trained at the shot count it
    is tested at, then scored by :func:`~sklearn_meta.model_selection.evaluate_few_shot`
    on ``n_episodes`` ``n_way``-way episodes of the test classes with
    ``n_queries`` queries per class: the same episodes for every learner.

    Parameters
    ----------
    algorithms : sequence of str
        Learners (``MetaClassifier``'s ``algorithm``).
    data : FewShotData
        Training and held-out classes.
    pool : str
        Name of the data, for the columns and the progress lines.
    n_way : int
        Classes per test episode.
    shots : sequence of int, default=(1, 5)
        Support samples per class; one training and one test per value.
    n_queries : int, default=15
        Query samples per class, in training and in test.
    train_way : int, default=None
        Classes per training episode; None: ``n_way``.
    max_iter : int, default=500
        Outer steps of every learner.
    n_episodes : int, default=600
        Test episodes per setting.
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the training and of the test episodes.
    params : mapping, default=None
        More ``MetaClassifier`` parameters (e.g. the backbone).
    progress : callable
        Receives one line per learner and shot count.

    Returns
    -------
    results : list of Result
        One per learner and shot count, in that order.
    """
    results = []
    for algorithm in algorithms:
        for k in shots:
            learner = MetaClassifier(
                algorithm,
                n_way=n_way if train_way is None else train_way,
                n_shots=k,
                n_queries=n_queries,
                max_iter=max_iter,
                device=device,
                random_state=random_state,
                verbose=sys.stderr.isatty(),
                **(params or {}),
            )
            scores, seconds = fit_and_score(
                learner, data, n_way, k, n_queries, n_episodes, random_state
            )
            device_used = str(learner.device_)
            result = summarize(algorithm, (pool, n_way, k), scores, seconds, device_used)
            results.append(result)
            progress(
                f"{pool} {n_way}-way {k}-shot {algorithm}: {result.cell()} % "
                f"(fit {seconds:.1f} s on {device_used})"
            )
    return results


def fit_and_score(
    learner,
    data: FewShotData,
    n_way: int,
    n_shots: int,
    n_queries: int,
    n_episodes: int,
    random_state: int,
) -> tuple[np.ndarray, float]:
    """Fit ``learner`` on the training pool, then its accuracy on each test
    episode (``episode_accuracies``); and the seconds the fit took."""
    start = time.perf_counter()
    learner.fit(data.X_train, data.y_train, data.groups_train)
    seconds = time.perf_counter() - start
    scores = episode_accuracies(
        learner,
        data,
        n_way=n_way,
        n_shots=n_shots,
        n_queries=n_queries,
        n_episodes=n_episodes,
        random_state=random_state,
    )
    return scores, seconds


def episode_accuracies(
    learner,
    data: FewShotData,
    *,
    n_way: int,
    n_shots: int,
    n_queries: int,
    n_episodes: int,
    random_state: int,
) -> np.ndarray:
    """A fitted learner's accuracy on each of ``n_episodes`` test episodes
    (NaN where adaptation diverged), drawn from ``random_state`` alone."""
    with warnings.catch_warnings():  # diverged episodes are counted instead
        warnings.filterwarnings("ignore", "Adaptation diverged", RuntimeWarning)
        return evaluate_few_shot(
            learner,
            data.X_test,
            data.y_test,
            data.groups_test,
            n_shots=n_shots,
            n_queries=n_queries,
            n_episodes=n_episodes,
            n_way=n_way,
            random_state=random_state,
        ).scores[0]


def summarize(
    algorithm: str, column: Column, scores: np.ndarray, seconds: float, device: str = "cpu"
) -> Result:
    """The mean and 95% CI of the finite episode scores, and how many were not."""
    finite = scores[np.isfinite(scores)]
    mean = float(finite.mean()) if len(finite) else float("nan")
    ci = float(confidence_interval(finite)[0]) if len(finite) else float("nan")
    n_diverged = len(scores) - len(finite)
    return Result(algorithm, column, mean, ci, n_diverged, len(scores), seconds, device)
