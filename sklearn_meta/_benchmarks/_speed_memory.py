"""Peak memory of one outer step (the Conv4 protocol), each measured in a
fresh process: against ``inner_steps`` and with ``task_chunk_size``."""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .._core._meta import EpisodeBatch
from .._core._model import resolve_device
from ._report import markdown_table
from ._speed_protocols import CONV4, Prepared, SpeedSettings, _conv4_estimator

_MIB = 2**20


@dataclass(frozen=True)
class MemoryRun:
    """One outer step of the Conv4 protocol in a fresh process."""

    inner_steps: int
    first_order: bool
    meta_batch_size: int
    task_chunk_size: int | None = None
    activation_checkpointing: bool = False


def peak_memory(run: MemoryRun, device: str, random_state: int) -> tuple[float, bool, float]:
    """Peak memory (bytes) an outer step adds, measured in a fresh process,
    whether it is exact (False: an upper bound, see :func:`_memory_child`),
    and the step's seconds."""
    config = {**run.__dict__, "device": device, "random_state": random_state}
    config["threads"] = torch.get_num_threads()
    code = "from sklearn_meta._benchmarks._speed_memory import _memory_child; _memory_child()"
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
        # Large blocks straight from and back to the system, so that the
        # resident memory follows the live tensors.
        env={
            **os.environ,
            "OMP_NUM_THREADS": str(config["threads"]),
            "MALLOC_MMAP_THRESHOLD_": "65536",
        },
    )
    if result.returncode != 0:
        raise RuntimeError(f"The memory measurement failed:\n{result.stderr}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return measured["bytes"], measured["exact"], measured["seconds"]


def _memory_child() -> None:
    """In a fresh process: prepare with a one-episode, first-order step (so the
    optimizer state exists), then measure one step of the requested run.

    On a GPU: ``torch.cuda.max_memory_allocated`` less the memory allocated
    before the step. On a CPU: the peak resident memory of the step less the
    resident memory before it. Linux resets the peak (``/proc/self/clear_refs``)
    first; without that the figure is exact only if the step goes past the
    process's earlier peak, and an upper bound otherwise.
    """
    config = json.loads(sys.argv[1])
    torch.set_num_threads(config["threads"])
    device = resolve_device(config["device"])
    estimator = CONV4.estimator(str(device), config["random_state"])
    estimator.set_params(meta_batch_size=1, first_order=True)
    prepared = Prepared.fit(estimator, *CONV4.data(10, config["random_state"]))
    estimator.set_params(
        inner_steps=config["inner_steps"],
        first_order=config["first_order"],
        task_chunk_size=config["task_chunk_size"],
        activation_checkpointing=config["activation_checkpointing"],
    )
    batch = prepared.batch(np.random.default_rng(0), config["meta_batch_size"])
    step = prepared.stepper("first" if config["first_order"] else "second", "vectorized")
    gc.collect()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        seconds = _timed(step, batch)
        used, exact = torch.cuda.max_memory_allocated(device) - before, True
    else:
        reset = _reset_peak_rss()
        before, peak_before = _resident_memory()
        seconds = _timed(step, batch)
        peak = _resident_memory()[1]
        used, exact = peak - before, reset or peak > peak_before
    print(json.dumps({"bytes": float(used), "exact": bool(exact), "seconds": seconds}))


def _timed(step: Callable[[EpisodeBatch], float], batch: EpisodeBatch) -> float:
    start = time.perf_counter()
    step(batch)  # ends in loss.item(): synchronized
    return time.perf_counter() - start


def _resident_memory() -> tuple[int, int]:
    """The process's resident memory now and at its peak, in bytes: VmRSS and
    VmHWM on Linux. Elsewhere both are ``ru_maxrss`` (which Linux would carry
    over from the parent process)."""
    try:
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return tuple(int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM"))
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024
        return peak, peak


def _reset_peak_rss() -> bool:
    """Reset the peak resident memory to the current one (Linux 4.0 and later)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def memory_runs(settings: SpeedSettings) -> tuple[list[MemoryRun], list[MemoryRun]]:
    """The inner-steps sweep (second order, second order recomputing the
    inner steps, first order) and the chunking pair."""
    batch = settings.memory_meta_batch or _conv4_estimator("cpu", 0).meta_batch_size
    sweep = [
        run
        for steps in settings.memory_inner_steps
        for run in (
            MemoryRun(steps, False, batch),
            MemoryRun(steps, False, batch, activation_checkpointing=True),
            MemoryRun(steps, True, batch),
        )
    ]
    size, chunk = settings.chunking
    return sweep, [MemoryRun(1, False, size), MemoryRun(1, False, size, chunk)]


def memory_notes(device: torch.device) -> str:
    how = (
        "`torch.cuda.max_memory_allocated` during the step, less the memory allocated before it"
        if device.type == "cuda"
        else "the peak resident memory during the step (VmHWM, reset just before it on "
        "Linux) less the resident memory before it, with large blocks returned to the "
        "system when freed"
    )
    return (
        "Each figure is one vectorized outer step in a fresh process that first took one "
        f'one-episode step (so the optimizer state exists): {how}. MiB; "<=" marks a step '
        "that stayed under the process's earlier peak (an upper bound)."
    )


def _mib(measured: tuple[float, bool, float]) -> str:
    value, exact, _ = measured
    return f"{'' if exact else '<= '}{value / _MIB:,.0f}"


_SWEEP_COLUMNS = {  # (first_order, activation_checkpointing) -> name
    (False, False): "second order",
    (False, True): "second order, recomputed",
    (True, False): "first order",
}


def memory_sweep_table(runs: Sequence[MemoryRun], memory: dict) -> str:
    steps = sorted({run.inner_steps for run in runs})
    by = {
        (run.inner_steps, (run.first_order, run.activation_checkpointing)): memory[run]
        for run in runs
    }
    second, recomputed, first = _SWEEP_COLUMNS
    rows = [
        [str(k)]
        + [_mib(by[k, column]) for column in _SWEEP_COLUMNS]
        + [
            f"{by[k, second][0] / by[k, first][0]:.1f}x",
            f"{by[k, recomputed][2] / by[k, second][2]:.2f}x",
        ]
        for k in steps
    ]
    headers = [f"{name} MiB" for name in _SWEEP_COLUMNS.values()]
    table = markdown_table(
        ["inner steps", *headers, "second / first", "time recomputed / second"], rows
    )
    text = (
        f'{table}\n\nMeta-batch of {runs[0].meta_batch_size} tasks. "Recomputed": '
        "`activation_checkpointing=True`; its time is that of the same single step "
        "in a fresh process against the second-order one."
    )
    if len(steps) > 1:
        slopes = [
            round(np.polyfit(steps, [by[k, column][0] / _MIB for k in steps], 1)[0])
            for column in _SWEEP_COLUMNS
        ]
        named = zip(_SWEEP_COLUMNS.values(), slopes, strict=True)
        listed = ", ".join(f"{name} {slope:+,d}" for name, slope in named)
        text += f" Least-squares slope, MiB per inner step: {listed}."
    return text


def chunking_table(runs: Sequence[MemoryRun], memory: dict) -> str:
    rows = [
        [
            str(run.meta_batch_size),
            "None" if run.task_chunk_size is None else str(run.task_chunk_size),
            _mib(memory[run]),
        ]
        for run in runs
    ]
    whole, chunked = (memory[run][0] for run in runs)
    return (
        markdown_table(["meta_batch_size", "task_chunk_size", "peak MiB"], rows)
        + f"\n\nSecond order, one inner step: chunks of {runs[1].task_chunk_size} tasks take "
        f"{chunked / whole:.2f}x the memory of the whole meta-batch, for the same update."
    )
