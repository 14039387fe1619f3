"""The ``sklearn-meta`` command line."""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import __version__
from ._benchmarks import TABLES, BenchmarkOptions, default_tables, run_benchmarks
from ._benchmarks._classification import ALGORITHMS
from ._benchmarks._omniglot import check_omniglot
from ._core._model import resolve_device
from ._core._threads import torch_threads
from ._demo import run_demo


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _comma_list(convert: Callable[[str], object]) -> Callable[[str], tuple]:
    """An argument type: comma-separated values, each converted by ``convert``."""

    def parse(text: str) -> tuple:
        values = tuple(convert(part.strip()) for part in text.split(","))
        return tuple(dict.fromkeys(values))  # without repeats, in order

    return parse


def _choice(options: Sequence[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r} (choose from {', '.join(options)})"
            )
        return text

    return parse


def _at_least_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text!r}")
    return value


def _device(text: str) -> str:
    """An argument type: ``auto`` or the name of a torch device (whether this
    machine has it is checked before running, see :func:`_check_device`)."""
    if text != "auto":
        try:
            torch.device(text)
        except (RuntimeError, TypeError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a torch device; use auto, cpu, cuda, cuda:<index> or mps"
            ) from None
    return text


def _check_device(args: argparse.Namespace) -> None:
    """A ValueError, before any work, when ``--device`` names a device this machine lacks."""
    if getattr(args, "device", None) is not None:
        try:
            resolve_device(args.device)
        except ValueError as error:
            raise ValueError(f"--device: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-meta`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sklearn-meta", description="Meta-learning as scikit-learn estimators."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
    demo.add_argument(
        "--device", type=_device, default="auto", help="torch device: auto, cpu, cuda, ..."
    )
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
    _add_benchmark(commands)
    return parser


def _add_benchmark(commands) -> None:
    tables = "\n".join(
        textwrap.fill(
            table.description, 79, initial_indent=f"  {name:<16}", subsequent_indent=" " * 18
        )
        for name, table in TABLES.items()
    )
    benchmark = commands.add_parser(
        "benchmark",
        help="reproduce the tables of benchmarks/RESULTS.md",
        description=(
            "Run benchmark tables and print them as markdown, with the machine they ran\n"
            "on; progress goes to standard error. With no TABLE, runs sinusoid and\n"
            "classification, and omniglot when --omniglot is given. The defaults are the\n"
            "protocols of benchmarks/RESULTS.md; full runs take long (benchmarks/README.md)."
            "\n\ntables:\n" + tables
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    benchmark.add_argument(
        "tables",
        nargs="*",
        metavar="TABLE",
        type=_choice(tuple(TABLES), "table"),
        help=f"tables to run, of: {', '.join(TABLES)}",
    )
    benchmark.add_argument(
        "--omniglot",
        type=Path,
        metavar="PATH",
        help="folder with Omniglot's images_background and images_evaluation "
        "(zip files or folders; see sklearn_meta.datasets.load_omniglot)",
    )
    benchmark.add_argument(
        "--max-iter",
        type=_positive_int,
        metavar="N",
        help="outer training steps of every model (default: each table's, see above)",
    )
    benchmark.add_argument(
        "--episodes",
        type=_positive_int,
        default=600,
        metavar="N",
        help="test episodes per setting; sinusoid: unseen tasks (default: %(default)s)",
    )
    benchmark.add_argument(
        "--algorithms",
        type=_comma_list(_choice(ALGORITHMS, "algorithm")),
        metavar="A,B,...",
        help="learners of the classification tables; the fine-tuning baseline is always "
        "added (default: classification all, omniglot protonet,maml)",
    )
    benchmark.add_argument(
        "--shots",
        type=_comma_list(_positive_int),
        default=(1, 5),
        metavar="K,...",
        help="shot counts of the classification tables (default: 1,5)",
    )
    benchmark.add_argument(
        "--ways",
        type=_comma_list(_at_least_two),
        default=(5, 20),
        metavar="N,...",
        help="classes per test episode in the omniglot table (default: 5,20)",
    )
    benchmark.add_argument(
        "--queries",
        type=_positive_int,
        metavar="N",
        help="query samples per class in the omniglot table (default: 15 up to 5-way, 5 above)",
    )
    benchmark.add_argument(
        "--train-way",
        type=_at_least_two,
        metavar="N",
        help="classes per training episode in the omniglot table (default: the way "
        "tested; Snell et al. train ProtoNet 60-way)",
    )
    benchmark.add_argument(
        "--within-alphabet",
        action="store_true",
        help="draw each Omniglot episode's classes from one alphabet (harder; the "
        "published numbers draw from all characters)",
    )
    benchmark.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the data, training and test episodes (default: %(default)s)",
    )
    benchmark.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="torch device: auto, cpu, cuda, ... (default: auto)",
    )
    benchmark.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        metavar="N",
        help="torch CPU threads (default: %(default)s)",
    )
    benchmark.add_argument(
        "--quick",
        action="store_true",
        help="speed table: few repeats and small sizes, a rough look in under a minute",
    )
    benchmark.add_argument(
        "--output", type=Path, metavar="FILE", help="also write the markdown report here"
    )
    benchmark.set_defaults(run=_run_benchmark, check=_check_benchmark, parser=benchmark)


def _check_benchmark(args: argparse.Namespace) -> None:
    """Errors that argparse cannot see alone, raised before anything runs."""
    parser = args.parser
    if "omniglot" in args.tables and args.omniglot is None:
        parser.error(
            "the omniglot table needs --omniglot PATH, a folder with Omniglot's "
            "images_background and images_evaluation (zip files or folders), which "
            "are never downloaded"
        )
    if args.omniglot is not None:
        try:
            check_omniglot(args.omniglot)
        except (FileNotFoundError, ImportError) as error:
            parser.error(f"--omniglot: {error}")
    if args.output is not None and not args.output.parent.is_dir():
        parser.error(f"--output: the folder {args.output.parent} does not exist")


def _run_benchmark(args: argparse.Namespace) -> None:
    options = BenchmarkOptions(
        max_iter=args.max_iter,
        n_episodes=args.episodes,
        algorithms=args.algorithms,
        shots=args.shots,
        omniglot=args.omniglot,
        ways=args.ways,
        n_queries=args.queries,
        train_way=args.train_way,
        within_alphabet=args.within_alphabet,
        device=args.device,
        random_state=args.random_state,
        quick=args.quick,
    )
    tables = list(dict.fromkeys(args.tables)) or default_tables(options)
    with torch_threads(args.threads):
        run_benchmarks(
            tables,
            options,
            command="sklearn-meta " + shlex.join(args.argv),
            output=args.output,
        )


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

    Raises
    ------
    SystemExit
        With status 2 and a short message on standard error, no traceback,
        when the options are invalid, also when only the estimators find out
        (a ``ValueError`` while running).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if hasattr(args, "check"):
        args.check(args)
    try:
        _check_device(args)
        args.run(args)
    except ValueError as error:  # options the estimators refuse: an error, not a traceback
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0
