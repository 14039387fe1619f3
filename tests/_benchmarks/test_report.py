import re
import subprocess
from pathlib import Path

import pytest

import sklearn_meta
from sklearn_meta._benchmarks._report import (
    git_commit,
    machine_report,
    markdown_table,
    mean_ci,
    seconds_text,
)


def test_markdown_table_checks_the_row_lengths():
    assert markdown_table(["a", "b"], []) == "| a | b |\n|---|---|"
    with pytest.raises(ValueError, match="A row has 1 cells, the header 2"):
        markdown_table(["a", "b"], [["x"]])


def test_numbers():
    assert mean_ci(0.6114, 0.0623) == "0.611 ± 0.062"
    assert mean_ci(0.5, 0.01, scale=100, digits=2) == "50.00 ± 1.00"
    assert seconds_text(1129.4) == "1129 s" and seconds_text(1.26) == "1.3 s"


def test_machine_report():
    report = machine_report("sklearn-meta benchmark sinusoid")
    lines = report.splitlines()
    assert lines[0] == "- Command: `sklearn-meta benchmark sinusoid`"
    assert re.fullmatch(r"- Date: \d{4}-\d\d-\d\d", lines[1])
    assert lines[2].startswith("- CPU: ") and " cores" in lines[2]
    assert lines[3].startswith("- GPU: ")
    assert f"sklearn-meta {sklearn_meta.__version__}" in lines[4]
    assert not machine_report().startswith("- Command")


def test_git_commit(tmp_path):
    assert git_commit(tmp_path) is None  # not a checkout
    checkout = Path(sklearn_meta.__file__).parent.parent
    if not (checkout / ".git").exists():
        pytest.skip("the package does not run from a git checkout")
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
    ).stdout.strip()
    commit = git_commit()
    assert commit.split(" + ")[0] == head
    assert commit in machine_report()
