"""What a benchmark report says besides its numbers: the machine, and markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import sklearn
import torch

import sklearn_meta

#: Where progress goes: one line a call.
Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """Write one progress line to standard error."""
    print(message, file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def gpu_name() -> str:
    """The accelerator torch sees, or ``"none"``."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "Apple MPS"
    return "none"


def git_commit(directory: Path | None = None) -> str | None:
    """The short commit of the git checkout the package runs from, with
    ``"+ uncommitted changes"`` when tracked files differ; None outside one."""
    directory = Path(sklearn_meta.__file__).parent.parent if directory is None else directory
    if not (directory / ".git").exists():
        return None
    try:
        commit = _git(directory, "rev-parse", "--short", "HEAD")
        changed = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + (" + uncommitted changes" if changed else "")


def _git(directory: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()


def machine_report(command: str | None = None) -> str:
    """Markdown bullets on the date, hardware and software the numbers come from.

    Parameters
    ----------
    command : str, default=None
        The command that made the report, quoted first when given.

    Returns
    -------
    report : str
        One bullet a line.
    """
    load = ""
    if hasattr(os, "getloadavg"):
        load = "; load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    commit = git_commit()
    library = f"sklearn-meta {sklearn_meta.__version__}"
    if commit is not None:
        library += f" at commit `{commit}`"
    lines = [f"- Command: `{command}`"] if command else []
    lines += [
        f"- Date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores{load}",
        f"- GPU: {gpu_name()}",
        f"- Software: torch {torch.__version__} ({_threads(torch.get_num_threads())}), "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}; {library}",
    ]
    return "\n".join(lines)


def _threads(n: int) -> str:
    return f"{n} CPU thread" + "s" * (n != 1)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table, one row of cells a line.

    Examples
    --------
    >>> from sklearn_meta._benchmarks._report import markdown_table
    >>> print(markdown_table(["learner", "accuracy"], [["maml", "51.5 ± 0.9"]]))
    | learner | accuracy |
    |---|---|
    | maml | 51.5 ± 0.9 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"A row has {len(row)} cells, the header {len(header)}.")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def seconds_text(seconds: float) -> str:
    """``"12 s"``, or ``"2.1 s"`` under ten seconds."""
    return f"{seconds:.{0 if seconds >= 10 else 1}f} s"


def mean_ci(mean: float, ci: float, *, scale: float = 1.0, digits: int = 3) -> str:
    """``"0.611 ± 0.062"``: a mean and the half-width of its confidence interval.

    Examples
    --------
    >>> from sklearn_meta._benchmarks._report import mean_ci
    >>> mean_ci(0.5153, 0.0091, scale=100, digits=1)
    '51.5 ± 0.9'
    """
    return f"{scale * mean:.{digits}f} ± {scale * ci:.{digits}f}"
