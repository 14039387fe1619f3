"""Outer meta-training steps of the learned LSTM update rule against MAML, and
where the LSTM rule's time goes.

(a) Throughput: ``MAMLClassifier(inner_update="sgd")`` (MAML) against
``inner_update="lstm"`` at the same settings, on the classification table's
digits protocol (scikit-learn's 8x8 digits scaled to [0, 1], meta-trained on
digits 0-5, 4-way, ``n_shots`` support and 15 query samples per class, the
default (40, 40) MLP, 5 inner steps, 16 episodes a step, second order,
vectorized). Both start from one outer step of ``fit`` and take the same
meta-batches; steps are the core's ``meta_step`` on the estimator's own
learner and optimizer (``OuterSteps``, as the speed benchmark times them).
The configurations alternate, each timed for at least ``--min-seconds`` a
round; the table has the medians.

(b) Profile: ``torch.profiler`` over LSTM outer steps, the top operations by
self CPU time, forward and backward (autograd) shares, and the rule alone
(its forward and its backward over a meta-batch of coordinates, under
``vmap``) against the whole step, with its FLOPs against the network's.

Usage: ``python benchmarks/lstm_profile.py [--shots 1,5] [--repeats 7] [--threads 1]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from sklearn_meta import MAMLClassifier
from sklearn_meta._benchmarks._report import machine_report, markdown_table
from sklearn_meta._core._learned_update import LSTMUpdate
from sklearn_meta._outer_steps import OuterSteps

UPDATES = ("sgd", "lstm")
#: The timed configurations: (update rule, first order).
CONFIGS = {"sgd": ("sgd", False), "lstm": ("lstm", False), "lstm first order": ("lstm", True)}
N_WAY, N_QUERIES = 4, 15


def digits_training_classes() -> tuple[np.ndarray, np.ndarray]:
    """The classification table's digits training pool: digits 0-5, scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    train = y < 6
    return (X[train] / 16.0).astype(np.float32), y[train]


def prepared(update: str, shots: int, X, y, random_state: int) -> OuterSteps:
    estimator = MAMLClassifier(
        n_way=N_WAY,
        n_shots=shots,
        n_queries=N_QUERIES,
        inner_update=update,
        max_iter=1,
        device="cpu",
        random_state=random_state,
    )
    return OuterSteps(estimator.fit(X, y), X, y)


def time_steps(shots: int, repeats: int, min_seconds: float, random_state: int):
    """Median seconds per outer step of each update rule, alternated."""
    X, y = digits_training_classes()
    steps = {update: prepared(update, shots, X, y, random_state) for update in UPDATES}
    step_fns = {
        name: steps[update].step_function(vectorize=True, first_order=first_order)
        for name, (update, first_order) in CONFIGS.items()
    }
    rng = np.random.default_rng(random_state)
    first = steps["sgd"]
    pool = [first.batch(rng) for _ in range(64)]
    # Warm up and size each round to at least ``min_seconds``.
    n_steps = {}
    for update, step in step_fns.items():
        step(pool[0])
        start = time.perf_counter()
        step(pool[1])
        n_steps[update] = max(2, int(np.ceil(min_seconds / (time.perf_counter() - start))))
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for round_ in range(repeats):
        for update, step in step_fns.items():
            batches = [pool[(round_ * 7 + i) % len(pool)] for i in range(n_steps[update])]
            start = time.perf_counter()
            for batch in batches:
                step(batch)  # ends in loss.item()
            samples[update].append((time.perf_counter() - start) / len(batches))
    n_coordinates = sum(p.numel() for p in steps["lstm"].estimator.learner_.model.parameters())
    n_coordinates += (N_WAY - 1) * _head_row_size(steps["lstm"])
    return {u: float(np.median(t)) for u, t in samples.items()}, n_steps, steps, pool, n_coordinates


def _head_row_size(steps: OuterSteps) -> int:
    """Coordinates of one class row of the head (repeated per class in a task)."""
    head = steps.estimator.learner_.model.head
    return sum(p[:1].numel() for p in head.parameters())


def throughput_table(results) -> str:
    rows = []
    for shots, (seconds, n_steps, *_rest) in results.items():
        sgd, lstm = seconds["sgd"], seconds["lstm"]
        rows.append(
            [
                f"digits {N_WAY}-way {shots}-shot",
                f"{1e3 * sgd:.1f}",
                f"{1e3 * lstm:.1f}",
                f"{lstm / sgd:.1f}x",
                f"{1e3 * seconds['lstm first order']:.1f}",
                " / ".join(str(n) for n in n_steps.values()),
            ]
        )
    header = ["protocol", "MAML ms/step", "LSTM ms/step", "LSTM / MAML"]
    header += ["LSTM first order ms/step", "steps per round"]
    return markdown_table(header, rows)


# -- where the time goes ---------------------------------------------------------
def profile_table(steps: OuterSteps, pool, n_steps: int, row_limit: int) -> str:
    """Top operations by self CPU time over ``n_steps`` LSTM outer steps."""
    step = steps.step_function(vectorize=True)
    step(pool[0])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for batch in pool[1 : n_steps + 1]:
            step(batch)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    backward = sum(
        e.cpu_time_total for e in events if e.key.startswith("autograd::engine::evaluate_function")
    )
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:row_limit]
    rows = [
        [
            f"`{e.key}`",
            str(e.count // n_steps),
            f"{e.self_cpu_time_total / 1e3 / n_steps:.1f}",
            f"{100 * e.self_cpu_time_total / total:.1f}%",
        ]
        for e in top
    ]
    header = ["operation", "calls/step", "self ms/step", "share"]
    note = (
        f"Profiled {n_steps} LSTM outer steps: {total / 1e3 / n_steps:.0f} ms/step of self CPU "
        f"time (profiler overhead included), {100 * backward / total:.0f}% of it inside the "
        "autograd engine (the outer backward pass)."
    )
    return markdown_table(header, rows) + "\n\n" + note


def rule_alone(n_coordinates: int, episodes: int, inner_steps: int, repeats: int, whole_step):
    """Seconds of the rule alone over a meta-batch: ``inner_steps`` forward
    calls under ``vmap`` over ``episodes``, and forward + backward to the
    gradients and the rule's weights (what the outer step adds), alternated
    with ``whole_step`` (a whole LSTM outer step) for the share."""
    torch.manual_seed(0)
    rule = LSTMUpdate()
    with torch.no_grad():  # a trained rule: its output layer is no longer zero
        rule.output.weight.normal_(0, 0.1)
    params = {"w": torch.randn(episodes, n_coordinates)}
    grads = [torch.randn(episodes, n_coordinates) * 0.1 for _ in range(inner_steps)]

    def run(p, *gs):
        state = rule.initial_state({"w": p})
        current = {"w": p}
        for g in gs:
            current, state = rule(current, {"w": g}, state, 0.4)
        return current["w"].square().sum()

    batched = torch.func.vmap(run)

    def forward():
        with torch.no_grad():
            batched(params["w"], *grads)

    leaves = [g.clone().requires_grad_() for g in grads]

    def forward_backward():
        batched(params["w"], *leaves).sum().backward()

    runs = {"forward": forward, "forward + backward": forward_backward, "whole step": whole_step}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()
    for _ in range(repeats):  # alternated, as the steps are
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    out = {name: float(np.median(t)) for name, t in times.items()}
    return out


def flops_note(n_coordinates: int, shots: int, hidden: int = 20) -> str:
    lstm = 2 * n_coordinates * 4 * hidden * (hidden + 2) + 2 * n_coordinates * hidden
    support = N_WAY * shots
    network = 2 * support * n_coordinates  # about one multiply-add per weight and sample
    return (
        f"Per inner step and episode the rule's forward pass multiplies "
        f"{n_coordinates:,} coordinates by its gate weights: 2 x {n_coordinates:,} x "
        f"4*{hidden} x ({hidden}+2) + the output layer = {lstm / 1e6:.1f} MFLOP, against "
        f"about {network / 1e6:.2f} MFLOP for the network's forward pass on the "
        f"{support} support samples ({lstm / network:.0f}x); the backward passes "
        "multiply both by about the same factor (2-3x), and the rule's elementwise gate "
        f"operations touch {4 * hidden} values per coordinate, each one a pass over "
        f"{n_coordinates * 4 * hidden * 4 / 1e6:.1f} MB per episode."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", default="1,5", help="support samples per class, comma-separated")
    parser.add_argument("--repeats", type=int, default=7, help="alternated timing rounds")
    parser.add_argument(
        "--min-seconds", type=float, default=0.4, help="least time per configuration and round"
    )
    parser.add_argument("--profile-steps", type=int, default=3, help="LSTM steps profiled")
    parser.add_argument("--top", type=int, default=15, help="operations in the profile table")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--random-state", type=int, default=0, help="seed")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    shots = [int(s) for s in args.shots.split(",")]
    torch.set_num_threads(args.threads)  # one: comparable on a shared machine
    print(machine_report(), end="\n\n", flush=True)
    results = {k: time_steps(k, args.repeats, args.min_seconds, args.random_state) for k in shots}
    print("## The LSTM update rule against MAML: outer steps\n")
    print(
        f"Digits {N_WAY}-way, {N_QUERIES} queries per class, MLP (40, 40), 5 inner steps, "
        "16 episodes a step, second order (and the LSTM in first order: inner gradients "
        "detached, the rule still differentiated), vectorized; "
        f"{torch.get_num_threads()} torch thread(s); "
        f"medians of {args.repeats} alternated rounds.\n"
    )
    print(throughput_table(results), end="\n\n", flush=True)
    last = shots[-1]
    _seconds, _n, steps, pool, n_coordinates = results[last]
    print(f"### Top operations of an LSTM outer step ({last}-shot)\n")
    print(profile_table(steps["lstm"], pool, args.profile_steps, args.top), end="\n\n")
    step = steps["lstm"].step_function(vectorize=True)
    alone = rule_alone(
        n_coordinates, steps["lstm"].meta_batch_size, 5, args.repeats, lambda: step(pool[0])
    )
    whole = alone.pop("whole step")
    print("### The rule alone\n")
    rows = [[name, f"{1e3 * s:.1f}", f"{100 * s / whole:.0f}%"] for name, s in alone.items()]
    print(markdown_table(["rule, 5 steps x 16 episodes", "ms", "of the LSTM step"], rows))
    print(f"\nThe whole LSTM outer step, alternated with these: {1e3 * whole:.1f} ms.")
    print()
    print(flops_note(n_coordinates, last), flush=True)


if __name__ == "__main__":
    main()
