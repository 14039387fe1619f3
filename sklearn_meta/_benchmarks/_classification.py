"""N-way K-shot classification on held-out classes, every learner beside the
fine-tuning baseline: the markdown tables shared by the offline pools and
Omniglot, and the offline pools' section. The learners' evaluation is in
:mod:`._learners`; the pools and the baseline without meta-learning are in
:mod:`._offline_pools`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._learners import (
    BASELINE,
    MAX_ITER,
    N_QUERIES,
    SHOTS,
    Column,
    Result,
    evaluate_learners,
    with_baseline,
)
from ._offline_pools import SUPPORT_SET, evaluate_support_set, offline_pools
from ._report import Progress, markdown_table, seconds_text

#: Every learner, in the order of the tables.
# The learners of the recorded table, in its order.
ALGORITHMS = (
    "maml", "fomaml", "metasgd", "anil", "lstm", "reptile", "protonet", "ridge",
    "simpleshot", "matching", "finetune",
)  # fmt: skip


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
