import re

import numpy as np
import pytest

from sklearn_meta._benchmarks import _speed
from sklearn_meta._benchmarks._speed import QUICK, MemoryRun, peak_memory, run_speed


def _rows(section: str, header_start: str) -> list[list[str]]:
    """The rows of cells of the markdown table whose header starts with ``header_start``."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def quick_section():
    """The quick speed table, with a stand-in for the memory runs (tested below):
    second order grows 10 MiB per inner step and takes a second per step,
    recomputed it stays at 6 MiB and takes 1.5 s per step, first order stays
    at 5 MiB, and memory is proportional to the tasks in a chunk."""
    runs = []

    def fake_peak_memory(run, device, random_state):
        runs.append(run)
        tasks = run.task_chunk_size or run.meta_batch_size
        if run.first_order:
            per_task = 5
        else:
            per_task = 6 if run.activation_checkpointing else 10 * run.inner_steps
        seconds = run.inner_steps * (1.5 if run.activation_checkpointing else 1.0)
        return float(tasks * per_task * 2**20), True, seconds

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_speed, "peak_memory", fake_peak_memory)
        progress = []
        section = run_speed(settings=QUICK, device="cpu", progress=progress.append)
    return section, runs, progress


def test_throughput_rows_and_the_paths_agree(quick_section):
    section, _, progress = quick_section
    rows = _rows(section, "| protocol | order |")
    assert [(r[0], r[1]) for r in rows] == [
        ("sinusoid", "second"),
        ("sinusoid", "first"),
        ("conv4", "second"),
        ("conv4", "first"),
    ]
    for row in rows:
        vectorized, loop = (re.fullmatch(r"([\d.]+) \(([\d,]+)\)", cell) for cell in row[2:4])
        assert vectorized and loop, row
        ratio = float(loop[1]) / float(vectorized[1])  # of the rounded cells
        assert float(row[4].rstrip("x")) == pytest.approx(ratio, rel=0.05, abs=0.05)
    for protocol in ("sinusoid", "conv4"):
        note = re.search(rf"- {protocol}: vectorized / loop ([\d.]+)x.*differ by (\S+) ", section)
        assert note and float(note[2]) < 1e-4  # same state, same batches: the same loss
    assert "speed: conv4: timing 4 configurations" in progress


def test_latency_and_sampling_tables(quick_section):
    section, _, _ = quick_section
    latency = _rows(section, "| estimator |")
    assert [(r[0], r[2]) for r in latency] == [
        ("MAMLRegressor", "1"),
        ("MAMLClassifier", "5"),
        ("ProtoNetClassifier", "-"),
    ]
    assert all(0 < float(r[3]) <= float(r[4]) for r in latency)
    assert re.search(r"in <= 3 ms: \*\*(met|MISSED)\*\* \([\d.]+ ms\)", section)
    sampling = _rows(section, "| protocol | tasks |")
    assert [r[:2] for r in sampling] == [["sinusoid", "25"], ["conv4", "8"]]
    for row in sampling:
        share = 100 * float(row[2]) / float(row[3])
        assert float(row[4].rstrip("%")) == pytest.approx(share, rel=0.05, abs=0.1)


def test_memory_tables(quick_section):
    section, runs, _ = quick_section
    assert runs == [
        MemoryRun(1, False, 2),
        MemoryRun(1, False, 2, activation_checkpointing=True),
        MemoryRun(1, True, 2),
        MemoryRun(2, False, 2),
        MemoryRun(2, False, 2, activation_checkpointing=True),
        MemoryRun(2, True, 2),
        MemoryRun(1, False, 4),
        MemoryRun(1, False, 4, 2),
    ]
    assert _rows(section, "| inner steps |") == [
        ["1", "20", "12", "10", "2.0x", "1.50x"],
        ["2", "40", "12", "10", "4.0x", "1.50x"],
    ]
    slopes = "second order +20, second order, recomputed +0, first order +0."
    assert f"Least-squares slope, MiB per inner step: {slopes}" in section
    assert _rows(section, "| meta_batch_size |") == [["4", "None", "40"], ["4", "2", "20"]]
    assert "chunks of 2 tasks take 0.50x the memory" in section


def test_peak_memory_of_second_order_grows_with_inner_steps():
    one, exact_one, _ = peak_memory(MemoryRun(1, False, 2), "cpu", 0)
    three, exact_three, _ = peak_memory(MemoryRun(3, False, 2), "cpu", 0)
    assert exact_one and exact_three
    assert 2**20 < one < three < 4 * one
    assert np.isfinite([one, three]).all()


def test_recomputing_the_inner_steps_takes_less_memory():
    stored, _, _ = peak_memory(MemoryRun(3, False, 2), "cpu", 0)
    recomputed, exact, seconds = peak_memory(MemoryRun(3, False, 2, None, True), "cpu", 0)
    assert exact and seconds > 0
    assert recomputed < 0.8 * stored
