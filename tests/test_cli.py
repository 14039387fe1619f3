"""The ``sklearn-meta`` command line and its demo."""

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_meta._cli import main

# A tiny budget: the demo's behaviour, not its accuracy, is under test.
TINY = ["--max-iter", "3", "--n-train-tasks", "30", "--n-test-tasks", "4", "--device", "cpu"]


def run_demo(output: Path, capsys) -> str:
    assert main(["demo", *TINY, "--output", str(output)]) == 0
    return capsys.readouterr().out


def parse_table(out: str) -> tuple[list[str], dict[tuple[str, int], np.ndarray]]:
    """The header cells and the numbers of each (model, K) row of the printed table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        name, k, *values = line.split()
        rows[name, int(k)] = np.array(values, dtype=float)
    return re.split(r"\s{2,}", lines[start].strip()), rows


def test_demo_prints_the_table_and_saves_the_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    threads = torch.get_num_threads()
    output = tmp_path / "demo.png"
    out = run_demo(output, capsys)

    header, rows = parse_table(out)
    assert header == ["model", "K", "0 steps", "1 step", "10 steps"]
    assert list(rows) == [("MAML", 5), ("MAML", 10), ("baseline", 5), ("baseline", 10)]
    for values in rows.values():
        assert values.shape == (3,) and np.isfinite(values).all() and (values > 0).all()
    # Without adaptation the support set is unused: K does not matter.
    for name in ("MAML", "baseline"):
        assert rows[name, 5][0] == rows[name, 10][0]
    assert "4 unseen tasks" in out and "100 evenly spaced query points" in out

    assert f"Saved adapted curves (K=5, 10 steps) to {output}" in out
    assert output.read_bytes().startswith(b"\x89PNG")
    assert torch.get_num_threads() == threads  # --threads is undone


def test_demo_without_matplotlib_skips_the_plot(tmp_path, capsys, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    output = tmp_path / "demo.png"
    out = run_demo(output, capsys)

    assert "matplotlib is not installed: skipped the plot" in out
    assert not output.exists()
    assert len(parse_table(out)[1]) == 4


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_demo_rejects_a_bad_max_iter(value, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--max-iter", value])
    assert raised.value.code == 2
    assert "--max-iter" in capsys.readouterr().err


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as raised:
        main([])
    assert raised.value.code == 2
    assert "{demo}" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sklearn-meta", "demo", "--help"])
    monkeypatch.delitem(sys.modules, "sklearn_meta.__main__", raising=False)
    with pytest.raises(SystemExit) as raised:
        runpy.run_module("sklearn_meta", run_name="__main__")
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sklearn-meta demo")
    for option in ("--max-iter", "--random-state", "--device", "--output"):
        assert option in out
