"""Speed and memory of meta-training and adaptation: ``sklearn-meta benchmark speed``.

Four measurements in one run, each with the ratios that matter:

- meta-training tasks per second on two protocols, the sinusoid (MAML's
  1-40-40-1 MLP, 25 tasks a step) and Omniglot-shaped images (Conv4 on
  random 28x28 inputs, 5-way 1-shot, 8 tasks a step): the vectorized
  (``vmap``) path against the task loop, second order against first order,
  every configuration from the same state on the same meta-batches;
- the latency of ``adapt`` + ``predict`` on one new 5-shot task;
- the time to draw and gather a meta-batch of episodes, beside the step;
- the peak memory of an outer step against ``inner_steps`` (second and first
  order) and with ``task_chunk_size``, each measured in a fresh process.

Steps are timed with the core's ``meta_step`` on the estimator's own learner,
optimizer and episodes, so the figures are those of ``fit`` less its
per-call validation (``OuterSteps``).

The measurements live in ``_speed_throughput``, ``_speed_latency`` and
``_speed_memory``, the protocols and settings in ``_speed_protocols``; this
module runs them and writes the report.
"""

from __future__ import annotations

import torch

from .._core._model import resolve_device
from ._report import Progress
from ._speed_latency import Latency, adaptation_latency, latency_table
from ._speed_memory import (
    MemoryRun,
    chunking_table,
    memory_notes,
    memory_runs,
    memory_sweep_table,
    peak_memory,
)
from ._speed_protocols import (
    CONV4,
    DEFAULT,
    ORDERS,
    PATHS,
    PROTOCOLS,
    QUICK,
    SINUSOID,
    Prepared,
    Protocol,
    SpeedSettings,
    prepare,
)
from ._speed_throughput import (
    Throughput,
    sampling_seconds,
    sampling_table,
    throughput,
    throughput_section,
)

__all__ = [
    "CONV4",
    "DEFAULT",
    "ORDERS",
    "PATHS",
    "PROTOCOLS",
    "QUICK",
    "SINUSOID",
    "Latency",
    "MemoryRun",
    "Prepared",
    "Protocol",
    "SpeedSettings",
    "Throughput",
    "peak_memory",
    "prepare",
    "run_speed",
    "throughput",
    "throughput_section",
]


def run_speed(
    *,
    settings: SpeedSettings = DEFAULT,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Measure throughput, latency, sampling and memory, and report them.

    Parameters
    ----------
    settings : SpeedSettings, default=DEFAULT
        Sizes and repeats (:data:`QUICK` for a quick look).
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the data and the estimators.
    progress : callable
        Receives one line at each stage.

    Returns
    -------
    section : str
        A markdown section with four tables.
    """
    resolved = resolve_device(device)
    throughputs, sampling = [], {}
    for name, protocol in PROTOCOLS.items():
        progress(f"speed: {name}: preparing a pool of {settings.pool_size[name]}")
        prepared = prepare(protocol, settings, str(resolved), random_state)
        progress(f"speed: {name}: timing {len(ORDERS) * len(PATHS)} configurations")
        throughputs.append(throughput(prepared, settings, name))
        sampling[name] = sampling_seconds(prepared, settings.sampling_draws)
        del prepared
    progress(f"speed: adapt + predict, {settings.latency_calls} calls each")
    latencies = adaptation_latency(settings.latency_calls, str(resolved), random_state)
    sweep, chunking = memory_runs(settings)
    memory = {}
    for run in sweep + chunking:
        progress(f"speed: peak memory of {run}")
        memory[run] = peak_memory(run, str(resolved), random_state)
    threads = torch.get_num_threads()
    return "\n\n".join(
        [
            "## Speed and memory",
            f"On {resolved} with {threads} torch thread{'s' * (threads != 1)}; "
            f"medians over {settings.repeats} interleaved repeats after "
            f"{settings.warmup} warm-up steps. Every configuration starts from the same "
            "state and takes the same meta-batches (`meta_step` of the core on the "
            "estimator's learner, as in `fit`).",
            throughput_section(throughputs),
            "### Adaptation latency: `adapt(X_support, y_support).predict(X_query)` on one "
            "new task",
            latency_table(latencies),
            "### Episode sampling against the step",
            sampling_table(sampling, throughputs),
            "### Peak memory of one outer step (Conv4 protocol)",
            memory_notes(resolved),
            memory_sweep_table(sweep, memory),
            chunking_table(chunking, memory),
        ]
    )
