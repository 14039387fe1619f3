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
per-call validation.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from .._base import BaseMetaEstimator
from .._core._meta import EpisodeBatch, meta_step
from .._core._model import resolve_device
from .._demo import QUERY_X, make_estimators, sample_test_tasks
from .._maml import MAMLClassifier
from .._protonet import ProtoNetClassifier
from .._validation import encode_groups
from ..datasets import make_few_shot_classification, make_sinusoid_tasks
from ._report import Progress, markdown_table

#: Vectorized over loop steps per second (second order), and the adapt +
#: predict latency of a 5-shot MLP task: the targets of the issue on a 2-core CPU.
TARGET_SPEEDUP = {"sinusoid": 8.0, "conv4": 1.3}
TARGET_LATENCY_MS = 3.0
ORDERS = ("second", "first")
PATHS = ("vectorized", "loop")
_MIB = 2**20


@dataclass(frozen=True)
class Protocol:
    """A meta-training setting: an estimator and data to draw its episodes from."""

    name: str
    description: str
    estimator: Callable[[str, int], BaseMetaEstimator]
    data: Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def _sinusoid_estimator(device: str, random_state: int) -> BaseMetaEstimator:
    return make_estimators(1, device, random_state, verbose=False)["MAML"]


def _sinusoid_data(n_tasks: int, random_state: int):
    return make_sinusoid_tasks(n_tasks, 50, random_state=random_state)


def _conv4_estimator(device: str, random_state: int) -> BaseMetaEstimator:
    return MAMLClassifier(
        module="conv4",
        input_shape=(1, 28, 28),
        n_way=5,
        n_shots=1,
        n_queries=5,
        inner_steps=1,
        inner_lr=0.4,
        meta_batch_size=8,
        max_iter=1,
        device=device,
        random_state=random_state,
    )


def _conv4_data(n_classes: int, random_state: int):
    """Random 28x28 images, 20 of each class (Omniglot's shape, not its content)."""
    rng = np.random.default_rng(random_state)
    X = rng.random((20 * n_classes, 28 * 28), dtype=np.float32)
    return X, np.repeat(np.arange(n_classes), 20), None


SINUSOID = Protocol(
    "sinusoid",
    "1-40-40-1 MLP, K=10 support + 10 query points, one inner step, 25 tasks a step",
    _sinusoid_estimator,
    _sinusoid_data,
)
CONV4 = Protocol(
    "conv4",
    'Omniglot-shaped: module="conv4" on random 28x28 images, 5-way 1-shot, '
    "5 queries per class, one inner step, 8 tasks a step",
    _conv4_estimator,
    _conv4_data,
)
PROTOCOLS = {protocol.name: protocol for protocol in (SINUSOID, CONV4)}


@dataclass(frozen=True)
class SpeedSettings:
    """Sizes and repeats of a run; :data:`DEFAULT` is the recorded one."""

    repeats: int = 7
    warmup: int = 2
    #: Timed steps per repeat and configuration, per protocol.
    steps: dict[str, int] = field(default_factory=lambda: {"sinusoid": 20, "conv4": 2})
    #: Pool sizes: sinusoid tasks (the sinusoid table's), image classes (a
    #: classifier's fit adapts to all of them at once, a batch of 6 images each).
    pool_size: dict[str, int] = field(default_factory=lambda: {"sinusoid": 20_000, "conv4": 100})
    latency_calls: int = 1000
    sampling_draws: int = 200
    memory_inner_steps: tuple[int, ...] = (1, 2, 5, 10)
    #: (meta_batch_size, task_chunk_size) of the chunking comparison.
    chunking: tuple[int, int] = (32, 4)
    #: meta_batch_size of the Conv4 memory runs (None: the protocol's).
    memory_meta_batch: int | None = None


DEFAULT = SpeedSettings()
QUICK = SpeedSettings(
    repeats=1,
    warmup=1,
    steps={"sinusoid": 2, "conv4": 1},
    pool_size={"sinusoid": 100, "conv4": 10},
    latency_calls=5,
    sampling_draws=5,
    memory_inner_steps=(1, 2),
    chunking=(4, 2),
    memory_meta_batch=2,
)


# -- preparing a protocol ------------------------------------------------------
@dataclass
class Prepared:
    """An estimator after one outer step, and its episodes as ``fit`` draws them."""

    estimator: BaseMetaEstimator
    X: torch.Tensor
    y: torch.Tensor
    pool: object

    @classmethod
    def fit(cls, estimator: BaseMetaEstimator, X, y, groups=None) -> Prepared:
        """Fit ``estimator`` (one step) and index its training episodes."""
        return cls.of(estimator.set_params(max_iter=1).fit(X, y, groups), X, y, groups)

    @classmethod
    def of(cls, estimator: BaseMetaEstimator, X, y, groups=None) -> Prepared:
        """Index the training episodes of a fitted ``estimator``."""
        targets, labels = estimator._encode_targets(y, fitting=False)
        codes, names = encode_groups(groups, len(X))
        pool = estimator._task_pool(targets, codes, names, labels, evaluating=False)
        return cls(estimator, *estimator._tensors(X, targets), pool)

    def batch(self, rng: np.random.Generator, size: int | None = None) -> EpisodeBatch:
        """A meta-batch drawn and gathered as in ``fit``."""
        size = self.estimator.meta_batch_size if size is None else size
        return EpisodeBatch.gather(self.X, self.y, self.pool.sample(rng, size))

    def stepper(self, order: str, path: str) -> Callable[[EpisodeBatch], float]:
        """Outer steps of a copy of the estimator, in ``order`` on ``path``."""
        estimator = copy.deepcopy(self.estimator).set_params(first_order=order == "first")
        episode_loss = partial(
            estimator.learner_.episode_loss,
            n_outputs=estimator._n_outputs(self.pool),
            loop=estimator._inner_loop(),
        )
        return partial(
            meta_step,
            episode_loss,
            optimizer=estimator._optimizer,
            vectorize=path == "vectorized",
            chunk_size=estimator.task_chunk_size,
        )


def prepare(
    protocol: Protocol, settings: SpeedSettings, device: str, random_state: int
) -> Prepared:
    """The protocol's estimator after one outer step on its pool of
    ``settings.pool_size``, with its episodes."""
    return Prepared.fit(
        protocol.estimator(device, random_state),
        *protocol.data(settings.pool_size[protocol.name], random_state),
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- throughput ----------------------------------------------------------------
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
            _synchronize(device)
            start = time.perf_counter()
            for batch in timed:
                step(batch)  # ends in loss.item(): synchronized
            samples[key].append((time.perf_counter() - start) / n_steps)
    seconds = {key: float(np.median(times)) for key, times in samples.items()}
    return Throughput(protocol, prepared.estimator.meta_batch_size, seconds, difference)


def sampling_seconds(prepared: Prepared, draws: int) -> float:
    """Median seconds to draw and gather one meta-batch (``pool.sample`` and
    ``EpisodeBatch.gather``), as ``fit`` does before every step."""
    rng = np.random.default_rng(1)
    times = []
    for _ in range(draws):
        start = time.perf_counter()
        batch = prepared.batch(rng)
        _synchronize(batch.x_support.device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# -- adaptation latency --------------------------------------------------------
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
            estimator._adaptation_loop().steps if _has_inner_steps(estimator) else None,
            times[:, case],
        )
        for case, (estimator, task, _, _) in enumerate(cases)
    ]


def _adapt_and_predict(estimator, support, X_query) -> None:
    estimator.adapt(*support).predict(X_query)


def _has_inner_steps(estimator) -> bool:
    return "inner_steps" in estimator.get_params(deep=False)


# -- peak memory ---------------------------------------------------------------
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
    code = "from sklearn_meta._benchmarks._speed import _memory_child; _memory_child()"
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


# -- the report ----------------------------------------------------------------
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


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


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
            f">= {target:g}x: **{_verdict(speedup >= target)}**. First order is "
            f"{first:.2f}x the speed of second order (vectorized). The paths' first-step "
            f"losses differ by {result.path_difference:.1e} (relative)."
        )
    return "\n".join(lines)


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
        f"**{_verdict(regressor <= TARGET_LATENCY_MS)}** ({regressor:.2f} ms)."
    )


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
        f"{table}\n\nMeta-batch of {runs[0].meta_batch_size} tasks. \"Recomputed\": "
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
