from sklearn_meta._benchmarks._throughput import format_throughput, throughput


def test_both_paths_are_timed_after_agreeing():
    seconds = throughput("cpu", 0, rounds=1, steps_per_fit={"vectorized": 2, "loop": 1})
    assert set(seconds) == {"vectorized", "loop"} and all(v > 0 for v in seconds.values())


def test_format_throughput_gives_the_verdict():
    text = format_throughput({"vectorized": 0.005, "loop": 0.05})
    assert "vectorized        5.00      5000" in text
    assert "vectorized / loop: 10.0x (meets the 5x target)" in text
    assert "FALLS SHORT of" in format_throughput({"vectorized": 0.02, "loop": 0.05})
