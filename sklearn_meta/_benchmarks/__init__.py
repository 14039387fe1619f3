"""The benchmarks behind ``sklearn-meta benchmark``: one module per table.

Each table is a function of :class:`BenchmarkOptions` and a progress
callback that returns a markdown section, ready for ``benchmarks/RESULTS.md``.
A new table is a module here and an entry in :data:`TABLES`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import _classification, _early_stopping, _omniglot, _rl, _sinusoid, _speed
from ._report import Progress, machine_report, stderr_progress


@dataclass(frozen=True)
class BenchmarkOptions:
    """What the command line sets; None means each table's default."""

    max_iter: int | None = None
    n_episodes: int = 600
    algorithms: tuple[str, ...] | None = None
    shots: tuple[int, ...] = _classification.SHOTS
    omniglot: Path | None = None
    ways: tuple[int, ...] = _omniglot.WAYS
    n_queries: int | None = None
    train_way: int | None = None
    within_alphabet: bool = False
    device: str = "auto"
    random_state: int = 0
    quick: bool = False

    def steps(self, default: int) -> int:
        """Outer training steps: ``max_iter``, or the table's ``default``."""
        return default if self.max_iter is None else self.max_iter


@dataclass(frozen=True)
class Table:
    """A benchmark table: its name on the command line, a description, and
    ``run(options, progress) -> markdown``."""

    name: str
    description: str
    run: Callable[[BenchmarkOptions, Progress], str]


def _sinusoid_table(options: BenchmarkOptions, progress: Progress) -> str:
    return _sinusoid.run_sinusoid(
        max_iter=options.steps(_sinusoid.MAX_ITER),
        n_test_tasks=options.n_episodes,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


def _classification_table(options: BenchmarkOptions, progress: Progress) -> str:
    return _classification.run_classification(
        algorithms=options.algorithms or _classification.ALGORITHMS,
        shots=options.shots,
        max_iter=options.steps(_classification.MAX_ITER),
        n_episodes=options.n_episodes,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


def _early_stopping_table(options: BenchmarkOptions, progress: Progress) -> str:
    return _early_stopping.run_early_stopping(
        algorithms=options.algorithms or _early_stopping.ALGORITHMS,
        shots=options.shots,
        max_iter=options.steps(_early_stopping.MAX_ITER),
        n_episodes=options.n_episodes,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


def _omniglot_table(options: BenchmarkOptions, progress: Progress) -> str:
    if options.omniglot is None:
        raise ValueError("The omniglot table needs the path of the Omniglot files.")
    return _omniglot.run_omniglot(
        options.omniglot,
        algorithms=options.algorithms or _omniglot.ALGORITHMS,
        ways=options.ways,
        shots=options.shots,
        n_queries=options.n_queries,
        train_way=options.train_way,
        within_alphabet=options.within_alphabet,
        max_iter=options.steps(_omniglot.MAX_ITER),
        n_episodes=options.n_episodes,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


def _speed_table(options: BenchmarkOptions, progress: Progress) -> str:
    return _speed.run_speed(
        settings=_speed.QUICK if options.quick else _speed.DEFAULT,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


def _rl_table(options: BenchmarkOptions, progress: Progress) -> str:
    return _rl.run_rl(
        settings=_rl.QUICK if options.quick else _rl.DEFAULT,
        max_iter=options.max_iter,
        device=options.device,
        random_state=options.random_state,
        progress=progress,
    )


TABLES = {
    table.name: table
    for table in [
        Table(
            "sinusoid",
            "MAML vs the pooled baseline on sine regression, the MAML paper's protocol "
            f"(default {_sinusoid.MAX_ITER} steps)",
            _sinusoid_table,
        ),
        Table(
            "classification",
            "every learner beside the fine-tuning baseline on the offline class pools, "
            f"digits and synthetic (default {_classification.MAX_ITER} steps)",
            _classification_table,
        ),
        Table(
            "early-stopping",
            "early stopping's candidate settings against fixed budgets on the offline "
            "pools (default protonet and maml, up to "
            f"{_early_stopping.MAX_ITER} steps; about 25 min)",
            _early_stopping_table,
        ),
        Table(
            "omniglot",
            "5- and 20-way Omniglot with the Conv4 backbone beside the published numbers; "
            f"needs --omniglot PATH (default {_omniglot.MAX_ITER} steps)",
            _omniglot_table,
        ),
        Table(
            "speed",
            "meta-training tasks per second (vmap against the task loop, second against "
            "first order), adapt + predict latency, episode sampling and peak memory "
            "against inner_steps and task_chunk_size (a few minutes; --quick: about a minute)",
            _speed_table,
        ),
        Table(
            "rl",
            "meta-RL: RL² on bandits and tabular MDPs and MAML for policies on 2-D "
            "navigation beside the classical baselines, and vectorized against "
            "gymnasium environment steps (about 40 min; --quick: about a minute)",
            _rl_table,
        ),
    ]
}


def default_tables(options: BenchmarkOptions) -> list[str]:
    """The tables run when none is named: all that need no files, and
    Omniglot when its path is given."""
    names = ["sinusoid", "classification"]
    return names + ["omniglot"] if options.omniglot is not None else names


def run_benchmarks(
    names: Sequence[str],
    options: BenchmarkOptions,
    *,
    command: str | None = None,
    output: Path | None = None,
    stdout: TextIO | None = None,
    progress: Progress = stderr_progress,
) -> str:
    """Run the tables ``names`` and print the report as each one is done.

    Parameters
    ----------
    names : sequence of str
        Keys of :data:`TABLES`, run in this order.
    options : BenchmarkOptions
        Settings of the run.
    command : str, default=None
        The command line, quoted in the report.
    output : Path, default=None
        A markdown file to write the report to; rewritten after each table,
        so a long run keeps what is done.
    stdout : file, default=None
        Where the report is printed (None: ``sys.stdout``).
    progress : callable, default=stderr_progress
        Receives the progress lines.

    Returns
    -------
    report : str
        The machine's description and every table's section, in markdown.
    """
    stdout = sys.stdout if stdout is None else stdout
    sections = ["# sklearn-meta benchmarks\n\n" + machine_report(command)]
    print(sections[0], end="\n\n", file=stdout, flush=True)
    for name in names:
        progress(f"{name}: starting")
        sections.append(TABLES[name].run(options, progress))
        print(sections[-1], end="\n\n", file=stdout, flush=True)
        if output is not None:
            output.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return "\n\n".join(sections) + "\n"
