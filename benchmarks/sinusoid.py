"""Sinusoid regression with the MAML paper's protocol (Finn et al. 2017, section 5.1).

(a) Few-shot accuracy: MAML and a pooled non-meta baseline (``inner_steps=0``)
get the same training budget (1-40-40-1 ReLU network, K=10 support + 10 query
points, one inner step of size 0.01, 25 tasks per meta-batch, Adam at 0.001).
Both are fine-tuned on K=5 and K=10 examples of unseen sines with plain
gradient steps (size 0.01) and scored by the MSE on the whole input range.

(b) Throughput: meta-training tasks per second of ``MAMLRegressor.fit`` on the
vectorized (``vmap``) path and on the task loop, from the same state.

Usage: ``python benchmarks/sinusoid.py [--max-iter 70000] [--n-test-tasks 600]``
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import pickle
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
import torch

from sklearn_meta import MAMLRegressor
from sklearn_meta._demo import (
    QUERY_DESCRIPTION,
    Errors,
    evaluate,
    make_estimators,
    sample_test_tasks,
    steps_label,
    torch_threads,
    train,
)
from sklearn_meta.datasets import make_sinusoid_tasks

SHOTS = (5, 10)
STEPS = (0, 1, 5, 10)
#: MSE at K=5 after 1, 5 and 10 steps reported by the MAML paper.
PAPER = {
    ("MAML", 5, 1): 0.67,
    ("MAML", 5, 5): 0.38,
    ("MAML", 5, 10): 0.35,
    ("baseline", 5, 1): 2.41,
    ("baseline", 5, 5): 2.23,
    ("baseline", 5, 10): 2.19,
}
TARGET_MSE = 0.40  # MAML, K=5, 10 steps
TARGET_SPEEDUP = 5.0  # vectorized over loop
SAMPLES_PER_TRAIN_TASK = 50
META_BATCH_SIZE = 25  # as in make_estimators
STEPS_PER_FIT = {"vectorized": 100, "loop": 10}  # about half a second each


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> str:
    """A few lines on the hardware and software the numbers come from."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return "\n".join(
        [
            f"date:    {datetime.date.today().isoformat()}",
            f"CPU:     {cpu_model()}, {os.cpu_count()} cores; load average {load}",
            f"GPU:     {gpu}",
            f"torch:   {torch.__version__} ({torch.get_num_threads()} CPU threads); "
            f"scikit-learn {sklearn.__version__}; numpy {np.__version__}; "
            f"Python {platform.python_version()}",
        ]
    )


# -- (b) throughput -----------------------------------------------------------
def throughput_tasks(random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """200 training tasks: enough to draw episodes from as in the full run."""
    return make_sinusoid_tasks(200, SAMPLES_PER_TRAIN_TASK, random_state=random_state)


def path_estimators(device: str, data: tuple) -> dict[str, MAMLRegressor]:
    """A MAML estimator after one step, and a copy of it that takes the task loop.

    With ``warm_start`` later fits keep ``vectorized_``, so both go on from
    the same parameters, optimizer state and stream of episodes.
    """
    vectorized = make_estimators(1, device, 0, verbose=False)["MAML"]
    vectorized.set_params(warm_start=True).fit(*data)
    if not vectorized.vectorized_:
        raise RuntimeError("MAMLRegressor did not take the vectorized path.")
    loop = copy.deepcopy(vectorized)
    loop.vectorized_ = False
    return {"vectorized": vectorized, "loop": loop}


def check_paths_agree(estimators: dict[str, MAMLRegressor], data: tuple, n_steps: int) -> None:
    """Both paths take ``n_steps`` identical steps: their losses must match."""
    for estimator in estimators.values():
        estimator.set_params(max_iter=n_steps).fit(*data)
    vectorized, loop = (np.array(e.loss_curve_[-n_steps:]) for e in estimators.values())
    np.testing.assert_allclose(vectorized, loop, rtol=1e-3)


def throughput(device: str, random_state: int, rounds: int) -> dict[str, float]:
    """Median seconds per outer step of ``fit`` on each path, interleaved over ``rounds``."""
    data = throughput_tasks(random_state)
    estimators = path_estimators(device, data)
    check_paths_agree(estimators, data, n_steps=5)  # and warm up
    samples: dict[str, list[float]] = {path: [] for path in estimators}
    for _ in range(rounds):
        for path, estimator in estimators.items():
            estimator.set_params(max_iter=STEPS_PER_FIT[path])
            start = time.perf_counter()
            estimator.fit(*data)  # every step ends in loss.item(): synchronized
            samples[path].append((time.perf_counter() - start) / STEPS_PER_FIT[path])
    return {path: float(np.median(times)) for path, times in samples.items()}


def format_throughput(seconds: dict[str, float]) -> str:
    """Milliseconds per step and tasks per second of each path, and their ratio."""
    lines = [f"{'path':<12}{'ms/step':>10}{'tasks/s':>10}"]
    for path, value in seconds.items():
        lines.append(f"{path:<12}{1e3 * value:>10.2f}{META_BATCH_SIZE / value:>10.0f}")
    ratio = seconds["loop"] / seconds["vectorized"]
    verdict = "meets" if ratio >= TARGET_SPEEDUP else "FALLS SHORT of"
    lines.append(f"vectorized / loop: {ratio:.1f}x ({verdict} the {TARGET_SPEEDUP:.0f}x target)")
    return "\n".join(lines)


# -- (a) accuracy -------------------------------------------------------------
def summarize(errors: np.ndarray) -> str:
    """Mean ± 95% CI and median over the tasks that did not diverge, and how many did."""
    finite = errors[np.isfinite(errors)]
    half_width = 1.96 * finite.std(ddof=1) / np.sqrt(len(finite))
    mean = f"{finite.mean():.3f} ± {half_width:.3f}"
    return f"{mean:>16}{np.median(finite):>9.3f}{len(errors) - len(finite):>10}"


def format_accuracy(errors: Errors) -> str:
    """One row per model, K and steps, beside the paper's number."""
    header = f"{'mean ± 95% CI':>16}{'median':>9}{'diverged':>10}{'paper':>7}"
    lines = [f"{'model':<10}{'K':>3}{'steps':>10}{header}"]
    for (name, k, steps), values in errors.items():
        paper = PAPER.get((name, k, steps))
        reference = "-" if paper is None else f"{paper:.2f}"
        lines.append(f"{name:<10}{k:>3}{steps_label(steps):>10}{summarize(values)}{reference:>7}")
    return "\n".join(lines)


def verdict_mse(errors: Errors) -> str:
    """The headline number against its target; a task whose adaptation diverged fails it."""
    values = errors["MAML", 5, 10]
    diverged = int((~np.isfinite(values)).sum())
    mean = values[np.isfinite(values)].mean()
    verdict = "meets" if mean <= TARGET_MSE and not diverged else "FALLS SHORT of"
    note = f" on the {len(values) - diverged} tasks that did not diverge" if diverged else ""
    return f"MAML, K=5, 10 steps: {mean:.3f}{note} ({verdict} the <= {TARGET_MSE} target)"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; the defaults run the full protocol."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--max-iter", type=int, default=70_000, help="outer steps of each model")
    parser.add_argument("--n-test-tasks", type=int, default=600, help="unseen evaluation tasks")
    parser.add_argument("--random-state", type=int, default=0, help="seed of the training")
    parser.add_argument("--n-train-tasks", type=int, default=20_000, help="training task pool")
    parser.add_argument("--device", default="auto", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds per path")
    parser.add_argument("--save", type=Path, help="pickle the fitted estimators to this file")
    parser.add_argument("--only", choices=["throughput", "accuracy"], help="run one part only")
    return parser


def run_throughput(args: argparse.Namespace) -> None:
    """Part (b), printed."""
    step_seconds = throughput(args.device, args.random_state, args.rounds)
    print("Meta-training throughput (MAML fit, 25 tasks per step, median per step):")
    print(format_throughput(step_seconds), end="\n\n", flush=True)


def run_accuracy(args: argparse.Namespace) -> None:
    """Part (a), printed."""
    estimators = make_estimators(args.max_iter, args.device, args.random_state)
    seconds = train(estimators, args.n_train_tasks, SAMPLES_PER_TRAIN_TASK, args.random_state)
    if args.save is not None:
        args.save.write_bytes(pickle.dumps(estimators))
    errors = evaluate(estimators, sample_test_tasks(args.n_test_tasks, max(SHOTS)), SHOTS, STEPS)
    for name, value in seconds.items():
        rate = args.max_iter * META_BATCH_SIZE / value
        print(
            f"fit {name}: {args.max_iter} steps in {value:.0f} s on {estimators[name].device_} "
            f"({rate:.0f} tasks/s end to end)"
        )
    print(f"\nMSE on {args.n_test_tasks} unseen tasks, {QUERY_DESCRIPTION}:")
    print(format_accuracy(errors))
    print(verdict_mse(errors))


def main(argv: list[str] | None = None) -> None:
    """Run (b), then (a), printing as results come."""
    args = build_parser().parse_args(argv)
    with torch_threads(args.threads):
        print(machine_info(), end="\n\n", flush=True)
        if args.only != "accuracy":
            run_throughput(args)
        if args.only != "throughput":
            run_accuracy(args)


if __name__ == "__main__":
    main()
