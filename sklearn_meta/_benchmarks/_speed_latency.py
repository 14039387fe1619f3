"""Adaptation latency of the speed benchmark: ``adapt(...).predict(...)``
on one new task."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from .._demo import QUERY_X, make_estimators, sample_test_tasks
from .._evaluation import EpisodicEvaluator
from .._presets._maml import MAMLClassifier
from .._presets._protonet import ProtoNetClassifier
from ..datasets import make_few_shot_classification, make_sinusoid_tasks
from ._report import markdown_table
from ._speed_protocols import TARGET_LATENCY_MS, verdict


@dataclass(frozen=True)
class Latency:
    """Seconds of each ``adapt(...).predict(...)`` call on one new task."""

    estimator: str
    task: str
    inner_steps: int | None
    seconds: np.ndarray


def _new_classes_task(random_state: int):
    """Training data of 40 classes and a 5-way 5-shot task of 5 new classes
    (15 queries each): 20 synthetic features."""
    X, y = make_few_shot_classification(45, 20, random_state=random_state)
    train = y < 40
    new = np.flatnonzero(~train)
    support = np.concatenate([new[y[new] == c][:5] for c in range(40, 45)])
    query = np.setdiff1d(new, support)
    return (X[train], y[train]), (X[support], y[support]), X[query]


def adaptation_latency(calls: int, device: str, random_state: int) -> list[Latency]:
    """``calls`` timings of adapt + predict on one new 5-shot task, for
    MAMLRegressor (sinusoid), MAMLClassifier and ProtoNetClassifier (5-way),
    taking turns call by call."""
    X, y, groups = make_sinusoid_tasks(200, 20, random_state=random_state)
    regressor = make_estimators(20, device, random_state, verbose=False)["MAML"]
    regressor.fit(X, y, groups)
    sine = sample_test_tasks(1, 5)[0]
    cases = [
        (
            regressor,
            f"sinusoid, 5 shots, predict {len(QUERY_X)} points",
            (sine.x_support, sine.target(sine.x_support)),
            QUERY_X,
        )
    ]
    train, support, query = _new_classes_task(random_state)
    for make in (MAMLClassifier, ProtoNetClassifier):
        classifier = make(n_way=5, n_shots=5, max_iter=20, device=device, random_state=0)
        classifier.fit(*train)
        task = f"5-way 5-shot (20 features), predict {len(query)} queries"
        cases.append((classifier, task, support, query))
    calls_of = [
        partial(_adapt_and_predict, estimator, support, X_query)
        for estimator, _, support, X_query in cases
    ]
    times = np.zeros((calls, len(cases)))
    for round_ in range(-min(calls, 20), calls):  # warm-up rounds first
        for case, call in enumerate(calls_of):  # in turn: all see the same conditions
            start = time.perf_counter()
            call()
            if round_ >= 0:
                times[round_, case] = time.perf_counter() - start
    return [
        Latency(
            type(estimator).__name__,
            task,
            EpisodicEvaluator(estimator).adaptation_steps()
            if _has_inner_steps(estimator)
            else None,
            times[:, case],
        )
        for case, (estimator, task, _, _) in enumerate(cases)
    ]


def _adapt_and_predict(estimator, support, X_query) -> None:
    estimator.adapt(*support).predict(X_query)


def _has_inner_steps(estimator) -> bool:
    return "inner_steps" in estimator.get_params(deep=False)


def latency_table(latencies: Sequence[Latency]) -> str:
    rows = [
        [
            latency.estimator,
            latency.task,
            "-" if latency.inner_steps is None else str(latency.inner_steps),
            f"{1e3 * np.median(latency.seconds):.2f}",
            f"{1e3 * np.percentile(latency.seconds, 90):.2f}",
        ]
        for latency in latencies
    ]
    table = markdown_table(
        ["estimator", "task", "inner steps", "median ms", "90th percentile ms"], rows
    )
    regressor = 1e3 * np.median(latencies[0].seconds)
    return (
        f"{table}\n\nMedians over {len(latencies[0].seconds)} calls. Target: a 5-shot MLP "
        f"task (MAMLRegressor) in <= {TARGET_LATENCY_MS:g} ms: "
        f"**{verdict(regressor <= TARGET_LATENCY_MS)}** ({regressor:.2f} ms)."
    )
