import numpy as np
import pytest

from sklearn_meta import MetaClassifier, SupportSetClassifier
from sklearn_meta._benchmarks._classification import learner_table
from sklearn_meta._benchmarks._learners import (
    FewShotData,
    Result,
    evaluate_learners,
    summarize,
    with_baseline,
)
from sklearn_meta._benchmarks._offline_pools import (
    SUPPORT_SET,
    evaluate_support_set,
    offline_pools,
)


def test_the_baseline_is_always_there_and_last():
    assert with_baseline(["protonet", "finetune", "maml", "protonet"]) == [
        "protonet",
        "maml",
        "finetune",
    ]
    assert with_baseline([]) == ["finetune"]


def test_diverged_episodes_are_counted_not_averaged():
    scores = np.array([0.5, np.nan, 0.7, 0.6])
    result = summarize("lstm", ("digits", 4, 1), scores, 1.0)
    assert result.mean == pytest.approx(0.6) and result.n_diverged == 1
    assert result.cell() == "60.0 ± 11.3 (1 of 4 diverged)"
    nothing = summarize("lstm", ("digits", 4, 1), np.full(3, np.nan), 1.0)
    assert nothing.cell() == "all 3 episodes diverged"


def test_learner_table_bolds_the_best_and_adds_published_rows():
    columns = [("pool", 5, 1), ("pool", 5, 5)]
    results = [
        Result("maml", columns[0], 0.5, 0.01, 0, 600, 1.0),
        Result("maml", columns[1], 0.7, 0.01, 0, 600, 1.0),
        Result("finetune", columns[0], 0.4, 0.01, 0, 600, 1.0),
        Result("finetune", columns[1], 0.8, 0.01, 3, 600, 1.0),
    ]
    table = learner_table(results, {"maml": ("Finn et al. 2017", {columns[1]: "99.9"})})
    assert table.splitlines() == [
        "| learner | pool 5-way 1-shot | pool 5-way 5-shot |",
        "|---|---|---|",
        "| maml | **50.0 ± 1.0** | 70.0 ± 1.0 |",
        "| *published: Finn et al. 2017* |  | *99.9* |",
        "| **finetune (baseline)** | 40.0 ± 1.0 | **80.0 ± 1.0 (3 of 600 diverged)** |",
    ]


def test_offline_pools_hold_out_unseen_classes():
    pools = offline_pools(0)
    assert {name: n_way for name, (_, n_way) in pools.items()} == {"digits": 4, "synthetic": 5}
    digits = pools["digits"][0]
    assert set(digits.y_train) == set(range(6)) and set(digits.y_test) == {6, 7, 8, 9}
    assert digits.X_train.max() == 1.0
    synthetic = pools["synthetic"][0]
    assert len(set(synthetic.y_train)) == 150 and len(set(synthetic.y_test)) == 50
    assert not set(synthetic.y_train) & set(synthetic.y_test)


def test_evaluate_learners_scores_the_episodes_that_score_draws(blobs_classes):
    """The recorded tables used ``score`` with ``n_eval_episodes``: the same episodes."""
    X, y = blobs_classes
    train, test = y < 8, y >= 8
    data = FewShotData(X[train], y[train], None, X[test], y[test], None)
    lines = []
    results = evaluate_learners(
        ["protonet"], data, pool="blobs", n_way=3, shots=(1, 2), n_queries=5, max_iter=5,
        n_episodes=30, device="cpu", random_state=0, progress=lines.append,
    )  # fmt: skip
    assert [r.column for r in results] == [("blobs", 3, 1), ("blobs", 3, 2)]
    for result in results:
        shots = result.column[2]
        learner = MetaClassifier(
            "protonet", n_way=3, n_shots=shots, n_queries=5, max_iter=5, n_eval_episodes=30,
            device="cpu", random_state=0,
        ).fit(X[train], y[train])  # fmt: skip
        assert result.mean == pytest.approx(learner.score(X[test], y[test]), abs=1e-6)
        assert result.n_episodes == 30 and result.n_diverged == 0 and result.ci95 > 0
    assert len(lines) == 2 and lines[0].startswith("blobs 3-way 1-shot protonet: ")


def test_the_support_set_baseline_scores_the_learners_episodes(blobs_classes):
    """LogisticRegression on each support set: ``SupportSetClassifier.score``
    with ``n_eval_episodes`` episodes, the learners' episodes; its row is marked."""
    X, y = blobs_classes
    train, test = y < 8, y >= 8
    data = FewShotData(X[train], y[train], None, X[test], y[test], None)
    lines = []
    results = evaluate_support_set(
        data, pool="blobs", n_way=3, shots=(1, 2), n_queries=5, n_episodes=20, random_state=0,
        progress=lines.append,
    )  # fmt: skip
    assert [(r.algorithm, r.column) for r in results] == [
        (SUPPORT_SET, ("blobs", 3, 1)),
        (SUPPORT_SET, ("blobs", 3, 2)),
    ]
    for result in results:
        baseline = SupportSetClassifier(
            n_way=3, n_shots=result.column[2], n_queries=5, n_eval_episodes=20, random_state=0
        ).fit(X[train], y[train])
        assert result.mean == pytest.approx(baseline.score(X[test], y[test]), abs=1e-12)
    assert lines[1].startswith(f"blobs 3-way 2-shot {SUPPORT_SET}: ")
    learner = Result("protonet", ("blobs", 3, 1), 0.2, 0.01, 0, 20, 1.0)
    rows = learner_table([learner, results[0]]).splitlines()[2:]
    assert rows[0].startswith("| protonet |")
    assert rows[1].startswith(f"| **{SUPPORT_SET} (no meta-learning)** |")
