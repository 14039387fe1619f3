"""N-way K-shot classification on held-out classes, every learner beside the baseline.

Two class pools the package builds offline:

- ``digits``: scikit-learn's bundled 8x8 digits (scaled to [0, 1]); learners
  meta-train on digits 0-5 and are tested 4-way on the unseen digits 6-9.
- ``synthetic``: ``make_few_shot_classification`` with 200 classes of 30
  samples (20 features from a shared hidden map of a 5-D latent space);
  learners meta-train on 150 classes and are tested 5-way on the other 50.

Each learner is trained at the shot count it is tested at (K = 1 and 5), with
15 queries per class, for the same number of outer steps. The test draws
``--episodes`` episodes (the same ones for every learner: ``random_state``)
and reports the mean accuracy with a 95% confidence interval,
1.96 · std / sqrt(episodes).

Usage: ``python benchmarks/few_shot_classification.py [--max-iter 300] [--episodes 600]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits

from sklearn_meta import MetaClassifier
from sklearn_meta.datasets import make_few_shot_classification, tasks_from_labeled

ALGORITHMS = (
    "maml", "fomaml", "metasgd", "anil", "lstm", "reptile", "protonet", "ridge", "finetune"
)  # fmt: skip
SHOTS = (1, 5)


def class_pools(random_state: int) -> dict[str, tuple[np.ndarray, ...]]:
    """(X_train, y_train, X_test, y_test, n_way) for each pool."""
    X, y = load_digits(return_X_y=True)
    # The last classes in sorted order are held out: digits 6-9, synthetic classes 150-199.
    X_train, X_test, y_train, y_test = tasks_from_labeled(X / 16.0, y, test_size=4, shuffle=False)
    digits = (X_train, y_train, X_test, y_test, 4)
    X, y = make_few_shot_classification(200, 30, random_state=random_state)
    X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=50, shuffle=False)
    synthetic = (X_train, y_train, X_test, y_test, 5)
    return {"digits": digits, "synthetic": synthetic}


def evaluate(learner: MetaClassifier, X, y, n_episodes: int) -> tuple[float, float]:
    """Mean accuracy and 95% CI half-width over ``n_episodes`` test episodes."""
    learner.estimator_.set_params(n_eval_episodes=n_episodes)
    parts = learner.estimator_._score_parts(X, y)  # per-episode (accuracy, 1)
    accuracy = parts[:, 0] / parts[:, 1]
    return accuracy.mean(), 1.96 * accuracy.std(ddof=1) / np.sqrt(len(accuracy))


def run(max_iter: int, n_episodes: int, random_state: int) -> list[dict]:
    rows = []
    for pool, (X_train, y_train, X_test, y_test, n_way) in class_pools(random_state).items():
        for algorithm in ALGORITHMS:
            for shots in SHOTS:
                learner = MetaClassifier(
                    algorithm,
                    n_way=n_way,
                    n_shots=shots,
                    n_queries=15,
                    max_iter=max_iter,
                    device="cpu",
                    random_state=random_state,
                )
                start = time.perf_counter()
                learner.fit(X_train, y_train)
                seconds = time.perf_counter() - start
                mean, ci = evaluate(learner, X_test, y_test, n_episodes)
                rows.append(
                    dict(pool=pool, n_way=n_way, shots=shots, algorithm=algorithm,
                         accuracy=mean, ci=ci, fit_seconds=seconds)
                )  # fmt: skip
                print(
                    f"{pool:9s} {n_way}-way {shots}-shot {algorithm:9s} "
                    f"{100 * mean:5.1f} ± {100 * ci:4.1f} %  (fit {seconds:5.1f} s)",
                    flush=True,
                )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """One row per learner, one column per pool and shot count."""
    columns = sorted({(r["pool"], r["n_way"], r["shots"]) for r in rows})
    header = "| learner | " + " | ".join(f"{p} {w}-way {k}-shot" for p, w, k in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for algorithm in ALGORITHMS:
        cells = []
        for pool, _, shots in columns:
            (r,) = [r for r in rows if (r["pool"], r["shots"], r["algorithm"]) ==
                    (pool, shots, algorithm)]  # fmt: skip
            cells.append(f"{100 * r['accuracy']:.1f} ± {100 * r['ci']:.1f}")
        lines.append(f"| {algorithm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=300, help="outer steps per learner")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{datetime.date.today()}  {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__} ({args.threads} thread), "
        f"scikit-learn {sklearn.__version__}"
    )
    rows = run(args.max_iter, args.episodes, args.random_state)
    print()
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
