"""N-way K-shot classification on held-out classes, every learner beside the
fine-tuning baseline: the code shared by the offline pools and Omniglot. The
offline pools add the baseline without meta-learning, logistic regression
fitted on each support set alone."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits

from .._estimators import MetaClassifier
from .._support_set import SupportSetClassifier
from ..datasets import make_few_shot_classification, tasks_from_labeled
from ..model_selection import evaluate_few_shot
from ..model_selection._evaluation import confidence_interval
from ._report import Progress, markdown_table, mean_ci, seconds_text

#: Every learner, in the order of the tables.
# The learners of the recorded table, in its order.
ALGORITHMS = (
    "maml", "fomaml", "metasgd", "anil", "lstm", "reptile", "protonet", "ridge",
    "simpleshot", "matching", "finetune",
)  # fmt: skip
BASELINE = "finetune"
#: The row without meta-learning: SupportSetClassifier() on the raw features.
SUPPORT_SET = "logreg on the support set"
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
            start = time.perf_counter()
            learner.fit(data.X_train, data.y_train, data.groups_train)
            seconds = time.perf_counter() - start
            scores = episode_accuracies(
                learner,
                data,
                n_way=n_way,
                n_shots=k,
                n_queries=n_queries,
                n_episodes=n_episodes,
                random_state=random_state,
            )
            device_used = str(learner.device_)
            result = summarize(algorithm, (pool, n_way, k), scores, seconds, device_used)
            results.append(result)
            progress(
                f"{pool} {n_way}-way {k}-shot {algorithm}: {result.cell()} % "
                f"(fit {seconds:.1f} s on {device_used})"
            )
    return results


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


def evaluate_support_set(
    data: FewShotData,
    *,
    pool: str,
    n_way: int,
    shots: Sequence[int] = SHOTS,
    n_queries: int = N_QUERIES,
    n_episodes: int = 600,
    random_state: int = 0,
    progress: Progress,
) -> list[Result]:
    """The baseline without meta-learning on the learners' test episodes.

    ``SupportSetClassifier(n_way=n_way, n_shots=K, n_queries=n_queries,
    random_state=random_state)``: scikit-learn's ``LogisticRegression()``
    fitted on each test episode's support set alone, on the raw features,
    scored as :func:`evaluate_learners` scores the learners (the same
    episodes).

    Parameters
    ----------
    data : FewShotData
        Training and held-out classes (only the held-out ones matter).
    pool : str
        Name of the data, for the columns and the progress lines.
    n_way : int
        Classes per test episode.
    shots : sequence of int, default=(1, 5)
        Support samples per class.
    n_queries : int, default=15
        Query samples per class.
    n_episodes : int, default=600
        Test episodes per setting.
    random_state : int, default=0
        Seed of the test episodes.
    progress : callable
        Receives one line per shot count.

    Returns
    -------
    results : list of Result
        One per shot count, under the name ``SUPPORT_SET``.
    """
    results = []
    for k in shots:
        baseline = SupportSetClassifier(
            n_way=n_way, n_shots=k, n_queries=n_queries, random_state=random_state
        )
        start = time.perf_counter()
        baseline.fit(data.X_train, data.y_train, data.groups_train)
        seconds = time.perf_counter() - start
        scores = episode_accuracies(
            baseline,
            data,
            n_way=n_way,
            n_shots=k,
            n_queries=n_queries,
            n_episodes=n_episodes,
            random_state=random_state,
        )
        result = summarize(SUPPORT_SET, (pool, n_way, k), scores, seconds)
        results.append(result)
        progress(f"{pool} {n_way}-way {k}-shot {SUPPORT_SET}: {result.cell()} %")
    return results


def learner_table(
    results: Sequence[Result],
    references: Mapping[str, tuple[str, Mapping[Column, str]]] | None = None,
) -> str:
    """A markdown table: one row per learner, one column per (pool, way, shots).

    The best mean of each column is bold; the baselines' rows are marked. For a
    learner in ``references``, a row in italics follows with its published
    numbers: ``{algorithm: (source, {column: text})}``.
    """
    columns = list(dict.fromkeys(r.column for r in results))
    algorithms = list(dict.fromkeys(r.algorithm for r in results))
    by_key = {(r.algorithm, r.column): r for r in results}
    best = {column: _best_mean(by_key, algorithms, column) for column in columns}
    rows = []
    for algorithm in algorithms:
        name = _ROW_NAMES.get(algorithm, "{}").format(algorithm)
        cells = []
        for column in columns:
            result = by_key.get((algorithm, column))
            if result is None:
                cells.append("")
                continue
            cell = result.cell()
            if result.mean == best[column]:
                cell = f"**{cell}**"
            cells.append(cell)
        rows.append([name, *cells])
        if references and algorithm in references:
            source, published = references[algorithm]
            cells = [f"*{published[c]}*" if c in published else "" for c in columns]
            if any(cells):
                rows.append([f"*published: {source}*", *cells])
    header = ["learner", *(f"{p} {w}-way {k}-shot".lstrip() for p, w, k in columns)]
    return markdown_table(header, rows)


#: How the baselines' rows are named in the tables.
_ROW_NAMES = {
    BASELINE: "**{} (baseline)**",
    SUPPORT_SET: "**{} (no meta-learning)**",
}


def _best_mean(by_key: Mapping, algorithms: Sequence[str], column: Column) -> float | None:
    means = [by_key[a, column].mean for a in algorithms if (a, column) in by_key]
    means = [m for m in means if np.isfinite(m)]
    return max(means) if len(means) > 1 else None


def fit_times(results: Sequence[Result]) -> str:
    """``"Fit time (cpu), all settings: maml 12 s, protonet 2.1 s."``"""
    total: dict[str, float] = {}
    for r in results:
        total[r.algorithm] = total.get(r.algorithm, 0.0) + r.fit_seconds
    times = ", ".join(f"{a} {seconds_text(s)}" for a, s in total.items())
    devices = ", ".join(dict.fromkeys(r.device for r in results))
    return f"Fit time per learner ({devices}), all settings: {times}."


def offline_pools(random_state: int) -> dict[str, tuple[FewShotData, int]]:
    """The class pools built offline, and the way each is tested at.

    ``digits``: scikit-learn's 8x8 digits scaled to [0, 1], trained on digits
    0-5 and tested 4-way on 6-9. ``synthetic``:
    ``make_few_shot_classification(200, 30)``, trained on 150 classes and
    tested 5-way on the other 50.
    """
    X, y = load_digits(return_X_y=True)
    # The last classes in sorted order are held out: digits 6-9, synthetic classes 150-199.
    X_train, X_test, y_train, y_test = tasks_from_labeled(X / 16.0, y, test_size=4, shuffle=False)
    digits = FewShotData(X_train, y_train, None, X_test, y_test, None)
    X, y = make_few_shot_classification(200, 30, random_state=random_state)
    X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=50, shuffle=False)
    synthetic = FewShotData(X_train, y_train, None, X_test, y_test, None)
    return {"digits": (digits, 4), "synthetic": (synthetic, 5)}


def run_classification(
    *,
    algorithms: Sequence[str] = ALGORITHMS,
    shots: Sequence[int] = SHOTS,
    max_iter: int = MAX_ITER,
    n_episodes: int = 600,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Every learner and the baseline on the offline pools, as a markdown section.

    Parameters
    ----------
    algorithms : sequence of str, default=ALGORITHMS
        Learners; the fine-tuning baseline is always added.
    shots : sequence of int, default=(1, 5)
        Shot counts.
    max_iter : int, default=500
        Outer steps of every learner.
    n_episodes : int, default=600
        Test episodes per setting.
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the synthetic pool, the training and the test episodes.
    progress : callable
        Receives one line per learner and setting.

    Returns
    -------
    section : str
        Protocol, table and fit times.
    """
    algorithms = with_baseline(algorithms)
    results = []
    for pool, (data, n_way) in offline_pools(random_state).items():
        results += evaluate_learners(
            algorithms,
            data,
            pool=pool,
            n_way=n_way,
            shots=shots,
            max_iter=max_iter,
            n_episodes=n_episodes,
            device=device,
            random_state=random_state,
            progress=progress,
        )
        results += evaluate_support_set(
            data,
            pool=pool,
            n_way=n_way,
            shots=shots,
            n_episodes=n_episodes,
            random_state=random_state,
            progress=progress,
        )
    return "\n\n".join(
        [
            "## Few-shot classification on held-out classes (offline pools)",
            "Pools: **digits**, scikit-learn's 8x8 digits scaled to [0, 1], trained on "
            "digits 0-5, tested 4-way on the unseen digits 6-9; **synthetic**, "
            f"`make_few_shot_classification(200, 30, random_state={random_state})`, "
            "trained on 150 classes, tested 5-way on the other 50. Each learner is "
            f"`MetaClassifier(algorithm, n_way=N, n_shots=K, n_queries={N_QUERIES}, "
            f"max_iter={max_iter}, random_state={random_state})` with its own defaults "
            "otherwise (MLP backbone), trained at the shot count it is tested at. "
            f"Accuracy (%) on {n_episodes} test episodes with {N_QUERIES} queries per "
            "class, the same episodes for every learner: mean ± 95% CI "
            "(1.96 · std / √episodes). Chance is 25% (digits) and 20% (synthetic). "
            f"The last row learns nothing across tasks: `SupportSetClassifier(n_way=N, "
            f"n_shots=K, n_queries={N_QUERIES}, random_state={random_state})` fits "
            "scikit-learn's `LogisticRegression()` on each test episode's support set "
            "alone, on the raw features (the same episodes).",
            learner_table(results),
            fit_times(results),
        ]
    )
