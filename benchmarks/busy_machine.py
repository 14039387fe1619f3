"""Meta-training with the estimators' defaults on a quiet and on a busy machine.

Three measurements (a fourth when named), each run quiet and then with one core kept busy by
another process (``python -c "while True: pass"``), the caller never
setting torch's threads (torch's default: one per core):

(a) ``sinusoid``: ``MAMLRegressor().fit`` (the MAML protocol, 1-40-40-1,
    K=10+10, one second-order step, 25 tasks a step) in tasks per second,
    with the defaults (``vectorize="auto"``, ``n_threads="auto"``), with the
    former defaults (``vmap`` with torch's threads), and against
    learn2learn 0.2.0's MAML task loop when it is importable, and a plain
    task loop written the way learn2learn's examples write it;
(b) ``conv4``: ``MAMLClassifier`` with ``module="conv4"`` on random 28x28
    images, 5-way 1-shot (the speed benchmark's Conv4 protocol), the fit time
    with the defaults against each path forced with torch's threads;
(c) ``protonet``: ``ProtoNetClassifier`` with ``module="conv4"``,
    20-way 1-shot, 5 queries, on an Omniglot-sized pool (964 classes of 20
    random 28x28 images), the fit time with the defaults;
(d) ``late`` (only when named): (b)'s fit with a core taken
    ``--late-after`` seconds into it, the defaults against the same without
    watching the chosen path.

Usage: ``python benchmarks/busy_machine.py [--only sinusoid,conv4,protonet,late]
[--sinusoid-steps 1000] [--rounds 3] [--conv4-steps 100] [--protonet-steps 150]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from sklearn_meta import MAMLClassifier, MAMLRegressor, ProtoNetClassifier
from sklearn_meta import _paths as paths
from sklearn_meta._benchmarks._report import machine_report, markdown_table
from sklearn_meta.datasets import make_sinusoid_tasks

CONDITIONS = ("quiet", "one core busy")
paths_slowdown = paths.SLOWDOWN


@contextmanager
def condition(name: str) -> Iterator[None]:
    """Run the block on a quiet machine, or with another process spinning."""
    if name == "quiet":
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


# -- (a) sinusoid -----------------------------------------------------------
def sinusoid_tasks(random_state: int = 0):
    X, y, groups = make_sinusoid_tasks(2000, 20, random_state=random_state)
    order = np.argsort(groups, kind="stable")
    X_tasks = torch.tensor(X[order], dtype=torch.float32).reshape(2000, 20, 1)
    y_tasks = torch.tensor(y[order], dtype=torch.float32).reshape(2000, 20, 1)
    return (X, y, groups), (X_tasks, y_tasks)


def sinusoid_network() -> nn.Module:
    return nn.Sequential(
        nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
    )


def task_batches(tasks, steps: int, seed: int = 0) -> Iterator[list[tuple]]:
    """25 tasks a step, each split at random into 10 support and 10 query points."""
    X_tasks, y_tasks = tasks
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        batch = []
        for task in rng.choice(len(X_tasks), 25, replace=False):
            rows = torch.as_tensor(rng.permutation(20))
            x, y = X_tasks[task][rows], y_tasks[task][rows]
            batch.append((x[:10], y[:10], x[10:], y[10:]))
        yield batch


def learn2learn_loop(tasks, steps: int) -> float:
    """learn2learn's MAML example loop: clone, adapt, query loss, backward."""
    import learn2learn as l2l

    torch.manual_seed(0)
    maml = l2l.algorithms.MAML(sinusoid_network(), lr=0.01, first_order=False)
    optimizer = torch.optim.Adam(maml.parameters(), lr=0.001)
    loss = nn.MSELoss()
    start = time.perf_counter()
    for batch in task_batches(tasks, steps):
        optimizer.zero_grad()
        for x_support, y_support, x_query, y_query in batch:
            learner = maml.clone()
            learner.adapt(loss(learner(x_support), y_support))
            (loss(learner(x_query), y_query) / len(batch)).backward()
        optimizer.step()
    return steps * 25 / (time.perf_counter() - start)


def plain_loop(tasks, steps: int) -> float:
    """The same loop without learn2learn: ``torch.autograd.grad`` with
    ``create_graph`` and ``functional_call``, one task at a time."""
    torch.manual_seed(0)
    network = sinusoid_network()
    optimizer = torch.optim.Adam(network.parameters(), lr=0.001)
    loss = nn.MSELoss()
    start = time.perf_counter()
    for batch in task_batches(tasks, steps):
        optimizer.zero_grad()
        for x_support, y_support, x_query, y_query in batch:
            params = dict(network.named_parameters())
            support_loss = loss(functional_call(network, params, (x_support,)), y_support)
            grads = torch.autograd.grad(support_loss, list(params.values()), create_graph=True)
            steps_taken = zip(params.items(), grads, strict=True)
            adapted = {name: p - 0.01 * g for (name, p), g in steps_taken}
            (loss(functional_call(network, adapted, (x_query,)), y_query) / len(batch)).backward()
        optimizer.step()
    return steps * 25 / (time.perf_counter() - start)


def has_learn2learn() -> bool:
    try:
        import learn2learn  # noqa: F401
    except ImportError:
        return False
    return True


def fit_rate(X, y, groups, steps: int, chosen: list[str], **params) -> float:
    """Tasks per second of ``MAMLRegressor(**params).fit``; the path it took
    goes to ``chosen``."""
    estimator = MAMLRegressor(max_iter=steps, random_state=0, **params)
    seconds, fitted = timed(lambda: estimator.fit(X, y, groups=groups))
    chosen.append(_path(fitted))
    return steps * 25 / seconds


def run_sinusoid(steps: int, loop_steps: int, former_busy_steps: int, rounds: int) -> str:
    """Tasks per second of each contestant, the median of ``rounds`` rounds
    that run them in turn (this machine's speed drifts by tens of percent)."""
    (X, y, groups), tasks = sinusoid_tasks()
    MAMLRegressor(max_iter=60, random_state=0).fit(X, y, groups=groups)  # warm up
    threads = torch.get_num_threads()
    rows = []
    for name in CONDITIONS:
        former_steps = steps if name == "quiet" else former_busy_steps
        chosen: list[str] = []
        contestants = {
            "defaults": partial(fit_rate, X, y, groups, steps, chosen),
            "former": partial(
                fit_rate, X, y, groups, former_steps, [], vectorize=True, n_threads=threads
            ),
        }
        contestants["plain"] = partial(plain_loop, tasks, loop_steps)
        if has_learn2learn():
            contestants["learn2learn"] = partial(learn2learn_loop, tasks, loop_steps)
        rates = {key: [] for key in contestants}
        with condition(name):
            for _ in range(rounds):
                for key, run in contestants.items():
                    rates[key].append(run())
        print(f"sinusoid {name}: {rates}, chosen {chosen}", flush=True)
        median = {key: float(np.median(values)) for key, values in rates.items()}
        baseline = median.get("learn2learn", median["plain"])
        rows.append(
            [
                name,
                f"{median['defaults']:,.0f} ({'; '.join(sorted(set(chosen)))})",
                f"{median['former']:,.0f}",
                f"{median['learn2learn']:,.0f}" if "learn2learn" in median else "not installed",
                f"{median['plain']:,.0f}",
                f"**{median['defaults'] / baseline:.1f}x**",
            ]
        )
    header = [
        "machine",
        "defaults, tasks/s (paths chosen)",
        f"former defaults (vmap, {threads} threads)",
        "learn2learn 0.2.0 task loop",
        "plain task loop",
        "defaults / learn2learn (plain loop without it)",
    ]
    return markdown_table(header, rows)


# -- (b) and (c): Conv4 -----------------------------------------------------
def images(n_classes: int, per_class: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((n_classes * per_class, 784), dtype=np.float32)
    return X, np.repeat(np.arange(n_classes), per_class)


CONV4 = dict(module="conv4", input_shape=(1, 28, 28), device="cpu", random_state=0)


def conv4_maml(steps: int, **path) -> MAMLClassifier:
    return MAMLClassifier(
        n_way=5, n_shots=1, n_queries=5, inner_steps=1, meta_batch_size=8, max_iter=steps,
        **CONV4, **path,
    )  # fmt: skip


def run_conv4(steps: int, conditions: tuple[str, ...] = CONDITIONS) -> str:
    X, y = images(100, 6)
    threads = torch.get_num_threads()
    paths = {
        "defaults": {},
        "vmap": dict(vectorize=True, n_threads=threads),
        "task loop": dict(vectorize=False, n_threads=threads),
    }
    rows = []
    for name in conditions:
        with condition(name):
            seconds = {}
            for label, path in paths.items():
                seconds[label], fitted = timed(
                    lambda path=path: conv4_maml(steps, **path).fit(X, y)
                )
                if label == "defaults":
                    chosen = _path(fitted)
                print(f"conv4 {name} {label}: {seconds[label]:.1f} s", flush=True)
        faster = min(seconds["vmap"], seconds["task loop"])
        rows.append(
            [
                name,
                f"{seconds['defaults']:.1f} ({chosen})",
                f"{seconds['vmap']:.1f}",
                f"{seconds['task loop']:.1f}",
                f"**{seconds['defaults'] / faster:.2f}**",
            ]
        )
    header = [
        "machine",
        f"defaults, s for {steps} steps (path chosen)",
        f"vmap, {threads} threads",
        f"task loop, {threads} threads",
        "defaults / faster path",
    ]
    return markdown_table(header, rows)


@contextmanager
def spinner_after(seconds: float) -> Iterator[None]:
    """Keep one core busy from ``seconds`` into the block to its end."""
    spinner: list[subprocess.Popen] = []
    timer = threading.Timer(
        seconds,
        lambda: spinner.append(subprocess.Popen([sys.executable, "-c", "while True: pass"])),
    )
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        for process in spinner:
            process.kill()
            process.wait()


def run_late_load(steps: int, after: float) -> str:
    """Conv4 MAML (as in ``conv4``) with a core taken ``after`` seconds into
    the fit: the defaults, against the same without watching the chosen path."""
    X, y = images(100, 6)
    rows = []
    for label, slowdown in (("defaults", paths.SLOWDOWN), ("path not watched", float("inf"))):
        paths.SLOWDOWN = slowdown
        try:
            with spinner_after(after):
                seconds, fitted = timed(lambda: conv4_maml(steps).fit(X, y))
        finally:
            paths.SLOWDOWN = paths_slowdown
        timings = ", ".join(f"{key} {value:.2f}" for key, value in fitted.path_timings_.items())
        rows.append([label, f"{seconds:.1f}", _path(fitted), timings])
        print(f"late load {label}: {rows[-1]}", flush=True)
    header = ["fit", f"s for {steps} steps", "path at the end", "last trial, s per step"]
    return markdown_table(header, rows)


def run_protonet(steps: int) -> str:
    X, y = images(964, 20)
    seconds, rows = {}, []
    for name in CONDITIONS:
        with condition(name):
            clf = ProtoNetClassifier(n_way=20, n_shots=1, n_queries=5, max_iter=steps, **CONV4)
            seconds[name], fitted = timed(lambda clf=clf: clf.fit(X, y))
        rows.append([name, f"{seconds[name]:.1f}", _path(fitted)])
        print(f"protonet {name}: {seconds[name]:.1f} s, {fitted.path_timings_}", flush=True)
    rows.append(["busy / quiet", f"**{seconds[CONDITIONS[1]] / seconds['quiet']:.2f}x**", ""])
    return markdown_table(["machine", f"fit of {steps} steps, s", "path chosen"], rows)


def _path(fitted) -> str:
    mapping = "vmap" if fitted.vectorized_ else "task loop"
    return f"{mapping}, {fitted.n_threads_} thread{'s' * (fitted.n_threads_ > 1)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="sinusoid,conv4,protonet")
    parser.add_argument("--sinusoid-steps", type=int, default=1000)
    parser.add_argument("--loop-steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--former-busy-steps", type=int, default=100)
    parser.add_argument("--conv4-steps", type=int, default=100)
    parser.add_argument("--protonet-steps", type=int, default=150)
    parser.add_argument("--late-after", type=float, default=20.0)
    parser.add_argument(
        "--conv4-conditions",
        default=",".join(CONDITIONS),
        help="conv4's machines, of " + ", ".join(CONDITIONS),
    )
    args = parser.parse_args(argv)
    print(machine_report(" ".join(["python", *sys.argv])), end="\n\n", flush=True)
    parts = args.only.split(",")
    if "sinusoid" in parts:
        table = run_sinusoid(
            args.sinusoid_steps, args.loop_steps, args.former_busy_steps, args.rounds
        )
        print(table, end="\n\n", flush=True)
    if "conv4" in parts:
        conditions = tuple(args.conv4_conditions.split(","))
        print(run_conv4(args.conv4_steps, conditions), end="\n\n", flush=True)
    if "protonet" in parts:
        print(run_protonet(args.protonet_steps), end="\n\n", flush=True)
    if "late" in parts:
        print(run_late_load(args.conv4_steps, args.late_after), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
