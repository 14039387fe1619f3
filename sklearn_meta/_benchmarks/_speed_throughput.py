"""Meta-training throughput and episode sampling of the speed benchmark:
every (order, path) from the same state on the same meta-batches."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._report import markdown_table
from ._speed_protocols import (
    ORDERS,
    PATHS,
    PROTOCOLS,
    TARGET_SPEEDUP,
    Prepared,
    SpeedSettings,
    synchronize,
    verdict,
)


@dataclass(frozen=True)
class Throughput:
    """Median seconds per outer step of each (order, path), and the largest
    relative difference between the paths' losses on the first step."""

    protocol: str
    meta_batch_size: int
    seconds: dict[tuple[str, str], float]
    path_difference: float

    def tasks_per_second(self, order: str, path: str) -> float:
        return self.meta_batch_size / self.seconds[order, path]

    def speedup(self, order: str) -> float:
        """Vectorized over loop."""
        return self.seconds[order, "loop"] / self.seconds[order, "vectorized"]


def throughput(prepared: Prepared, settings: SpeedSettings, protocol: str) -> Throughput:
    """Time every (order, path) from the same state on the same meta-batches,
    interleaved over ``settings.repeats`` rounds."""
    n_steps = settings.steps[protocol]
    rng = np.random.default_rng(0)
    batches = [prepared.batch(rng) for _ in range(settings.warmup + settings.repeats * n_steps)]
    steppers = {(o, p): prepared.stepper(o, p) for o in ORDERS for p in PATHS}
    first = {key: step(batches[0]) for key, step in steppers.items()}
    difference = max(
        abs(first[order, "loop"] - first[order, "vectorized"]) / abs(first[order, "vectorized"])
        for order in ORDERS
    )
    for step in steppers.values():
        for batch in batches[1 : settings.warmup]:
            step(batch)
    device = prepared.X.device
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in steppers}
    for round_ in range(settings.repeats):
        timed = batches[settings.warmup + round_ * n_steps :][:n_steps]
        for key, step in steppers.items():
            synchronize(device)
            start = time.perf_counter()
            for batch in timed:
                step(batch)  # ends in loss.item(): synchronized
            samples[key].append((time.perf_counter() - start) / n_steps)
    seconds = {key: float(np.median(times)) for key, times in samples.items()}
    return Throughput(protocol, prepared.meta_batch_size, seconds, difference)


def sampling_seconds(prepared: Prepared, draws: int) -> float:
    """Median seconds to draw and gather one meta-batch (``pool.sample`` and
    ``EpisodeBatch.gather``), as ``fit`` does before every step."""
    rng = np.random.default_rng(1)
    times = []
    for _ in range(draws):
        start = time.perf_counter()
        batch = prepared.batch(rng)
        synchronize(batch.x_support.device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def throughput_section(results: Sequence[Throughput]) -> str:
    """The throughput heading with the protocols measured, the table and its notes."""
    protocols = "\n".join(f"- {r.protocol}: {PROTOCOLS[r.protocol].description}." for r in results)
    return "\n\n".join(
        [
            "### Meta-training throughput\n\n" + protocols,
            throughput_table(results),
            throughput_notes(results),
        ]
    )


def throughput_table(results: Sequence[Throughput]) -> str:
    """One row per protocol and order: both paths and their ratio."""
    rows = []
    for result in results:
        for order in ORDERS:
            rows.append(
                [
                    result.protocol,
                    order,
                    _step_cell(result, order, "vectorized"),
                    _step_cell(result, order, "loop"),
                    f"{result.speedup(order):.1f}x",
                ]
            )
    header = ["protocol", "order", "vectorized ms/step (tasks/s)", "loop ms/step (tasks/s)"]
    return markdown_table([*header, "vectorized / loop"], rows)


def _step_cell(result: Throughput, order: str, path: str) -> str:
    ms = 1e3 * result.seconds[order, path]
    return f"{ms:.{1 if ms >= 10 else 2}f} ({result.tasks_per_second(order, path):,.0f})"


def throughput_notes(results: Sequence[Throughput]) -> str:
    lines = []
    for result in results:
        target = TARGET_SPEEDUP[result.protocol]
        speedup = result.speedup("second")
        first = result.seconds["second", "vectorized"] / result.seconds["first", "vectorized"]
        lines.append(
            f"- {result.protocol}: vectorized / loop {speedup:.1f}x in second order, target "
            f">= {target:g}x: **{verdict(speedup >= target)}**. First order is "
            f"{first:.2f}x the speed of second order (vectorized). The paths' first-step "
            f"losses differ by {result.path_difference:.1e} (relative)."
        )
    return "\n".join(lines)


def sampling_table(sampling: dict[str, float], results: Sequence[Throughput]) -> str:
    rows = []
    for result in results:
        fastest = min(result.seconds.values())
        share = sampling[result.protocol] / fastest
        rows.append(
            [
                result.protocol,
                str(result.meta_batch_size),
                f"{1e3 * sampling[result.protocol]:.3f}",
                f"{1e3 * fastest:.2f}",
                f"{100 * share:.1f}%",
            ]
        )
    header = ["protocol", "tasks", "sample + gather ms", "fastest step ms", "sampling / step"]
    return (
        markdown_table(header, rows)
        + "\n\n`pool.sample` draws the episodes' row indices, `EpisodeBatch.gather` indexes "
        "the tensors on the device; the fastest step is the fastest of the four "
        "configurations above."
    )
