"""Meta-training time and score with mixed precision and torch.compile.

MAMLRegressor on sine tasks (the sinusoid protocol's network, 200 training
tasks), scored after 300 outer steps on 50 unseen tasks (pooled R²). Per
setting: a first 100-step fit (it pays for compiling, where there is any),
then fits of 100 and 300 steps; the time per step is the difference of the
last two over 200 steps, and the overhead is the first fit's time beyond
the second's. A fit of 10 steps first takes torch's one-off imports out of
every figure. Compiled code is cached on disk by torch, so a second run of
the script compiles faster than the first.

Usage: ``python benchmarks/precision_compile.py``
"""

from __future__ import annotations

import time

import torch

from sklearn_meta import MAMLRegressor
from sklearn_meta.datasets import make_sinusoid_tasks

SETTINGS = {
    "float32": {},
    "bfloat16": {"precision": "bfloat16"},
    "float16": {"precision": "float16"},
    "compile": {"compile": True},
}


def fit_seconds(settings: dict, max_iter: int, data) -> tuple[float, MAMLRegressor]:
    start = time.perf_counter()
    maml = MAMLRegressor(max_iter=max_iter, device="cpu", random_state=0, **settings)
    maml.fit(*data)
    return time.perf_counter() - start, maml


def main() -> None:
    torch.set_num_threads(1)
    train = make_sinusoid_tasks(200, 20, random_state=0)
    test = make_sinusoid_tasks(50, 20, random_state=1)
    fit_seconds({}, 10, train)
    print("| setting | first fit overhead (s) | ms per step | R² on unseen tasks, 300 steps |")
    print("|---|---|---|---|")
    for name, settings in SETTINGS.items():
        first, _ = fit_seconds(settings, 100, train)
        short, _ = fit_seconds(settings, 100, train)
        long, maml = fit_seconds(settings, 300, train)
        per_step = 1000 * (long - short) / 200
        row = f"| {name} | {first - short:.1f} | {per_step:.2f} | {maml.score(*test):.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
