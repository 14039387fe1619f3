"""Does ``compile=True`` make the vectorized Conv4 step beat the task loop on a CPU?

The Conv4 protocol of ``sklearn-meta benchmark speed`` (second order, one
inner step, 8 tasks of 5-way 1-shot with 5 queries per class, random 28x28
images): one copy of the fitted estimator steps with the vectorized meta-batch
compiled by ``torch.compile`` (as ``compile=True`` does in ``fit``), one with
the task loop, one with the eager vectorized meta-batch, all on the same
meta-batches. Prints the first compiled step's seconds (compiling included)
and the mean seconds of four steps after one warm-up step, one torch thread.

Usage: ``python benchmarks/conv4_compile.py``
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import torch

from sklearn_meta._benchmarks._speed import CONV4, Prepared
from sklearn_meta._core._meta import map_episodes


def main() -> None:
    torch.set_num_threads(1)
    prepared = Prepared.fit(CONV4.estimator("cpu", 0), *CONV4.data(100, 0))
    rng = np.random.default_rng(0)
    batches = [prepared.batch(rng) for _ in range(6)]
    vectorized = prepared.stepper("second", "vectorized")
    compiled = partial(vectorized, mapper=torch.compile(map_episodes))
    start = time.perf_counter()
    compiled(batches[0])
    print(f"first compiled step (compiling included): {time.perf_counter() - start:.1f} s")
    steppers = {
        "vectorized, compiled": compiled,
        "task loop": prepared.stepper("second", "loop"),
        "vectorized, eager": vectorized,
    }
    for name, step in steppers.items():
        step(batches[1])
        start = time.perf_counter()
        for batch in batches[2:]:
            step(batch)
        print(f"{name}: {(time.perf_counter() - start) / 4:.3f} s per step")


if __name__ == "__main__":
    main()
