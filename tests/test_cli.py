"""The ``sklearn-meta`` command line and its demo."""

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sklearn_meta
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
    assert "{demo,benchmark}" in capsys.readouterr().err


def test_version_prints_the_version(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.strip() == f"sklearn-meta {sklearn_meta.__version__}"


@pytest.mark.parametrize("command", ["demo", "benchmark"])
def test_a_device_this_machine_lacks_is_a_one_line_error(command, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as raised:
        main([command, "--device", "cuda"])
    assert raised.value.code == 2
    (message,) = capsys.readouterr().err.strip().splitlines()  # one line, no usage dump
    assert message.startswith("sklearn-meta: error: --device:")
    assert "'cuda' was requested but is not available" in message


def test_a_device_name_torch_does_not_know_is_an_option_error(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--device", "gpu0"])
    assert raised.value.code == 2
    assert "'gpu0' is not a torch device" in capsys.readouterr().err


def test_a_value_error_while_running_is_a_one_line_error(monkeypatch, capsys):
    def refuse(**options):
        raise ValueError("n_shots=30 is more than a task holds.")

    monkeypatch.setattr("sklearn_meta._cli.run_demo", refuse)
    with pytest.raises(SystemExit) as raised:
        main(["demo", *TINY])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err == "sklearn-meta: error: n_shots=30 is more than a task holds.\n"


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


# -- sklearn-meta benchmark ---------------------------------------------------
TINY_BENCHMARK = ["--max-iter", "2", "--episodes", "4", "--device", "cpu"]
CELL = re.compile(r"^(\*\*)?\d{1,3}\.\d ± \d{1,3}\.\d(\*\*)?$")


def markdown_rows(out: str, header_start: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and the rows of cells of the markdown table that starts with
    ``header_start``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    assert set(lines[start + 1]) == {"|", "-"}
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [cell.strip() for cell in lines[start].strip("|").split("|")], rows


def run_benchmark(args: list[str], capsys) -> tuple[str, str]:
    threads = torch.get_num_threads()
    assert main(["benchmark", *args]) == 0
    assert torch.get_num_threads() == threads  # --threads is undone
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_benchmark_classification_table(tmp_path, capsys):
    output = tmp_path / "results.md"
    args = ["classification", *TINY_BENCHMARK, "--algorithms", "protonet", "--output", str(output)]
    out, err = run_benchmark(args, capsys)

    assert out.startswith("# sklearn-meta benchmarks\n")
    assert f"- Command: `sklearn-meta benchmark {' '.join(args)}`" in out
    for line in ("- Date: ", "- CPU: ", "- GPU: ", "- Software: torch "):
        assert "\n" + line in out
    assert "## Few-shot classification on held-out classes" in out
    header, rows = markdown_rows(out, "| learner |")
    assert header == [
        "learner",
        "digits 4-way 1-shot",
        "digits 4-way 5-shot",
        "synthetic 5-way 1-shot",
        "synthetic 5-way 5-shot",
    ]
    baseline = "**logreg on the support set (no meta-learning)**"
    assert [row[0] for row in rows] == ["protonet", "**finetune (baseline)**", baseline]
    for row in rows:
        assert all(CELL.match(cell) for cell in row[1:]), row
    for column in range(1, 5):  # the better of the two is bold
        assert sum(row[column].startswith("**") for row in rows) >= 1
    assert "4 test episodes" in out and "max_iter=2" in out
    # progress on stderr, one line per learner and setting; the report in the file
    assert err.count("-shot protonet: ") == 4 and err.count("-shot finetune: ") == 4
    assert output.read_text() == out.rstrip("\n") + "\n"


def test_benchmark_sinusoid_table(capsys):
    out, err = run_benchmark(["sinusoid", *TINY_BENCHMARK], capsys)
    assert "## Sinusoid regression (MAML protocol, Finn et al. 2017)" in out
    header, rows = markdown_rows(out, "| model |")
    assert header == ["model", "K", "steps", "MSE (mean ± 95% CI)", "median", "diverged", "paper"]
    expected = [(m, k, s) for m in ("MAML", "baseline") for k in (5, 10) for s in (0, 1, 5, 10)]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == expected
    paper = {(r[0], r[1], r[2]): r[6] for r in rows if r[6]}
    assert paper == {
        ("MAML", "5", "1"): "0.67",
        ("MAML", "5", "5"): "0.38",
        ("MAML", "5", "10"): "0.35",
        ("baseline", "5", "1"): "2.41",
        ("baseline", "5", "5"): "2.23",
        ("baseline", "5", "10"): "2.19",
    }
    for row in rows:
        mean, ci = (float(v) for v in row[3].split(" ± "))
        assert mean > 0 and ci > 0 and float(row[4]) > 0 and row[5] == "0"
    assert "2 steps each on 20000 training tasks" in out and "4 unseen tasks" in out
    assert "sinusoid: fitting MAML" in err and "sinusoid: fitting baseline" in err


@pytest.fixture(scope="module")
def omniglot_root(tmp_path_factory, omniglot_files):
    """Both subsets: 2 alphabets of 3 characters drawn twice each."""
    write, _ = omniglot_files
    root = tmp_path_factory.mktemp("omniglot")
    write(root, "background", ("Latin", "Greek"))
    write(root, "evaluation", ("Angelic", "Keble"))
    return root


def test_benchmark_omniglot_table(omniglot_root, capsys):
    args = ["omniglot", "--omniglot", str(omniglot_root), "--ways", "2,3", "--shots", "1"]
    args += ["--queries", "1", "--max-iter", "1", "--episodes", "3", "--device", "cpu"]
    out, err = run_benchmark([*args, "--algorithms", "protonet"], capsys)
    assert "## Omniglot N-way K-shot classification (Conv4)" in out
    # rotations make 4 x 6 training classes; the evaluation set has none
    assert "(24 classes, 48 images)" in out and "without rotations (6 classes)" in out
    assert 'module="conv4", input_shape=(1, 28, 28)' in out
    header, rows = markdown_rows(out, "| learner |")
    assert header == ["learner", "Omniglot 2-way 1-shot", "Omniglot 3-way 1-shot"]
    # no published numbers for these settings: no rows in italics
    assert [row[0] for row in rows] == ["protonet", "**finetune (baseline)**"]
    for row in rows:
        assert all(CELL.match(cell) for cell in row[1:]), row
    assert "Differences from the published protocols" in out
    assert f"omniglot: reading {omniglot_root}" in err


def test_benchmark_defaults_reproduce_the_recorded_protocols(omniglot_root, monkeypatch, capsys):
    from sklearn_meta._benchmarks import _classification, _omniglot, _sinusoid

    calls = {}
    for module, name in [
        (_sinusoid, "run_sinusoid"),
        (_classification, "run_classification"),
        (_omniglot, "run_omniglot"),
    ]:

        def fake(*args, _name=name, **kwargs):
            calls[_name] = (args, kwargs)
            return f"## {_name}"

        monkeypatch.setattr(module, name, fake)

    out, _ = run_benchmark([], capsys)
    assert list(calls) == ["run_sinusoid", "run_classification"]  # no omniglot without a path
    assert out.index("## run_sinusoid") < out.index("## run_classification")
    sinusoid = calls["run_sinusoid"][1]
    assert (sinusoid["max_iter"], sinusoid["n_test_tasks"], sinusoid["random_state"]) == (
        70_000,
        600,
        0,
    )
    classification = calls["run_classification"][1]
    assert classification["max_iter"] == 500 and classification["n_episodes"] == 600
    assert classification["shots"] == (1, 5)
    assert tuple(classification["algorithms"]) == (
        "maml", "fomaml", "metasgd", "anil", "lstm", "reptile", "protonet", "ridge",
        "simpleshot", "matching", "finetune",
    )  # fmt: skip

    calls.clear()
    run_benchmark(["--omniglot", str(omniglot_root)], capsys)
    assert list(calls) == ["run_sinusoid", "run_classification", "run_omniglot"]
    args, omniglot = calls["run_omniglot"]
    assert args == (omniglot_root,)
    assert omniglot["max_iter"] == 10_000 and omniglot["n_episodes"] == 600
    assert tuple(omniglot["algorithms"]) == ("protonet", "maml", "finetune")
    assert omniglot["ways"] == (5, 20) and omniglot["shots"] == (1, 5)
    assert omniglot["n_queries"] is None and omniglot["train_way"] is None
    assert omniglot["within_alphabet"] is False

    calls.clear()
    run_benchmark(["classification", "sinusoid", "classification", "--max-iter", "7"], capsys)
    assert list(calls) == ["run_classification", "run_sinusoid"]  # as named, once each
    assert calls["run_sinusoid"][1]["max_iter"] == calls["run_classification"][1]["max_iter"] == 7


@pytest.mark.parametrize("quick", [False, True])
def test_benchmark_speed_runs_the_speed_table(quick, monkeypatch, capsys):
    from sklearn_meta._benchmarks import _speed

    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return "## Speed and memory"

    monkeypatch.setattr(_speed, "run_speed", fake)
    args = ["speed", "--device", "cpu", "--random-state", "3"] + ["--quick"] * quick
    out, _ = run_benchmark(args, capsys)
    assert "## Speed and memory" in out
    [kwargs] = calls
    assert kwargs["settings"] is (_speed.QUICK if quick else _speed.DEFAULT)
    assert (kwargs["device"], kwargs["random_state"]) == ("cpu", 3)
    assert _speed.DEFAULT.memory_inner_steps == (1, 2, 5, 10)
    assert _speed.DEFAULT.chunking == (32, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["omniglot"], "the omniglot table needs --omniglot PATH"),
        (
            ["sped"],
            "unknown table 'sped' "
            "(choose from sinusoid, classification, early-stopping, omniglot, speed, rl)",
        ),
        (["--algorithms", "maml,foo"], "unknown algorithm 'foo'"),
        (["--max-iter", "0"], "--max-iter: must be a positive integer"),
        (["--episodes", "many"], "--episodes: must be a positive integer"),
        (["--shots", "1,0"], "--shots: must be a positive integer"),
        (["--ways", "5,1"], "--ways: must be an integer >= 2"),
        (["--train-way", "1"], "--train-way: must be an integer >= 2"),
        (["--omniglot", "{tmp}/nowhere"], "--omniglot: The path {tmp}/nowhere does not exist"),
        (["--omniglot", "{tmp}"], "Neither images_background.zip nor the folder"),
        (["--output", "{tmp}/missing/results.md"], "--output: the folder {tmp}/missing does not"),
    ],
)
def test_benchmark_rejects_bad_arguments(args, message, tmp_path, capsys):
    args = [arg.format(tmp=tmp_path) for arg in args]
    with pytest.raises(SystemExit) as raised:
        main(["benchmark", *args])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sklearn-meta benchmark")
    assert message.format(tmp=tmp_path) in " ".join(err.split())


def test_benchmark_early_stopping_table(capsys):
    args = ["early-stopping", "--max-iter", "2", "--episodes", "3", "--shots", "1"]
    out, err = run_benchmark([*args, "--algorithms", "protonet", "--device", "cpu"], capsys)
    assert "## Early stopping against fixed budgets (offline pools)" in out
    header, rows = markdown_rows(out, "| setting | learner | 1 steps |")
    assert header == ["setting", "learner", "1 steps", "2 steps"]
    assert [row[:2] for row in rows] == [
        ["digits 4-way 1-shot", "protonet"],
        ["synthetic 5-way 1-shot", "protonet"],
    ]
    header, _ = markdown_rows(out, "| setting | learner | best fixed budget |")
    assert "every 10, patience 10 (default)" in header
    assert "synthetic 5-way 1-shot protonet, early stopping every 1 steps" in err
