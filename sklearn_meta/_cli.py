"""The ``sklearn-meta`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ._demo import run_demo, torch_threads


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-meta`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sklearn-meta", description="Meta-learning as scikit-learn estimators."
    )
    commands = parser.add_subparsers(required=True)
    demo = commands.add_parser(
        "demo",
        help="MAML vs a pooled baseline on few-shot sine regression",
        description=(
            "Meta-train MAML and a non-meta baseline (one network on the pooled tasks) "
            "on sine tasks with the same budget, print their MSE on unseen tasks after "
            "0, 1 and 10 adaptation steps from K=5 and K=10 examples, and plot a few "
            "adapted curves."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--max-iter", type=_positive_int, default=7000, help="training steps")
    demo.add_argument("--random-state", type=int, default=0, help="seed of the training")
    demo.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ...")
    demo.add_argument(
        "--output", type=Path, default=Path("sklearn_meta_demo.png"), help="path of the plot"
    )
    demo.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch CPU threads; these small networks gain nothing from more, "
        "and lose much when the cores are busy",
    )
    demo.add_argument(
        "--n-train-tasks", type=_positive_int, default=5000, help="sine tasks to train on"
    )
    demo.add_argument(
        "--n-test-tasks", type=_positive_int, default=100, help="unseen tasks to evaluate on"
    )
    demo.set_defaults(run=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> None:
    with torch_threads(args.threads):
        run_demo(
            max_iter=args.max_iter,
            random_state=args.random_state,
            device=args.device,
            output=args.output,
            n_train_tasks=args.n_train_tasks,
            n_test_tasks=args.n_test_tasks,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sklearn-meta`` with ``argv`` (default: the process's arguments).

    Parameters
    ----------
    argv : sequence of str, default=None
        The arguments after the program name.

    Returns
    -------
    status : int
        The exit status, 0 on success.
    """
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0
