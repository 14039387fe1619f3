"""Sinusoid regression with the MAML paper's protocol, and meta-training throughput.

(a) The MSE table is ``sklearn-meta benchmark sinusoid`` (the code is in
``sklearn_meta/_benchmarks/_sinusoid.py``); options this script does not
know are passed on to it (``--max-iter``, ``--episodes``, ``--output``, ...).

(b) Throughput: the sinusoid rows of ``sklearn-meta benchmark speed``,
meta-training tasks per second on the vectorized (``vmap``) path and on the
task loop, second and first order, from the same state on the same
meta-batches (``sklearn_meta/_benchmarks/_speed.py``).

Usage: ``python benchmarks/sinusoid.py [--only throughput|accuracy] [--repeats 7]``
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from sklearn_meta._benchmarks._report import machine_report
from sklearn_meta._benchmarks._speed import (
    DEFAULT,
    SINUSOID,
    prepare,
    throughput,
    throughput_section,
)
from sklearn_meta._cli import main as cli
from sklearn_meta._core._threads import torch_threads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Other options go to `sklearn-meta benchmark sinusoid` (see its --help).",
    )
    parser.add_argument("--only", choices=["throughput", "accuracy"], help="run one part only")
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT.repeats, help="interleaved timing repeats"
    )
    parser.add_argument("--device", default="auto", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--random-state", type=int, default=0, help="seed")
    return parser


def sinusoid_throughput(device: str, random_state: int, repeats: int) -> str:
    """The throughput section of ``sklearn-meta benchmark speed``, sinusoid only."""
    settings = replace(DEFAULT, repeats=repeats)
    prepared = prepare(SINUSOID, settings, device, random_state)
    return throughput_section([throughput(prepared, settings, SINUSOID.name)])


def main(argv: list[str] | None = None) -> None:
    """Run (b), then (a)."""
    args, rest = build_parser().parse_known_args(argv)
    if args.only != "accuracy":
        with torch_threads(args.threads):
            print(machine_report(), end="\n\n", flush=True)
            section = sinusoid_throughput(args.device, args.random_state, args.repeats)
        print(section, end="\n\n", flush=True)
    if args.only != "throughput":
        common = ["--device", args.device, "--threads", str(args.threads)]
        cli(["benchmark", "sinusoid", *common, "--random-state", str(args.random_state), *rest])


if __name__ == "__main__":
    main()
