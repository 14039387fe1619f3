import inspect

import pytest

from sklearn_meta import (
    FineTuneClassifier,
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
    ReptileRegressor,
)
from sklearn_meta._benchmarks._early_stopping import (
    budgets,
    default_setting,
    fixed_table,
    kept_step,
    stopping_table,
    study_learner,
    summary_table,
)
from sklearn_meta._benchmarks._learners import FewShotData

LEARNERS = [
    MAMLClassifier, MAMLRegressor, ReptileClassifier, ReptileRegressor, ProtoNetClassifier,
    MetaRidgeClassifier, MetaRidgeRegressor, FineTuneClassifier, FineTuneRegressor,
]  # fmt: skip


def test_budgets_are_fractions_of_max_iter():
    assert budgets(1000) == [100, 200, 300, 500, 1000]
    assert budgets(3) == [1, 2, 3]


def test_kept_step_counts_the_validation_after_the_last_step():
    assert kept_step([0.1, 0.5, 0.5, 0.2], interval=10, n_iter=40) == 20  # the first best
    assert kept_step([0.1, 0.2, 0.9], interval=10, n_iter=25) == 25  # validated at 10, 20, 25


@pytest.mark.parametrize("learner", LEARNERS)
def test_every_learner_stops_by_the_same_defaults(learner):
    defaults = inspect.signature(learner).parameters
    assert (defaults["validation_interval"].default, defaults["n_iter_no_change"].default) == (
        default_setting()
    )


@pytest.mark.filterwarnings("ignore:The held-out data hold only 2 classes")  # 2 of 8 held out
def test_study_compares_early_stopping_with_the_fixed_budgets(blobs_classes):
    X, y = blobs_classes
    data = FewShotData(X[y < 8], y[y < 8], None, X[y >= 8], y[y >= 8], None)
    lines = []
    study = study_learner(
        "protonet", data, ("blobs", 3, 1), max_iter=10, candidates=[(2, 1), default_setting()],
        n_episodes=10, device="cpu", random_state=0, progress=lines.append,
    )  # fmt: skip
    assert list(study.fixed) == [1, 2, 3, 5, 10] and len(lines) == 7
    for (interval, _), stopped in study.stopped.items():
        assert stopped.kept <= stopped.n_iter <= 10
        assert stopped.n_iter == 10 or stopped.n_iter % interval == 0
    assert study.shortfall(study.best_fixed()[1]) == 0
    rows = stopping_table([study]).splitlines()
    assert rows[0].endswith("| every 2, patience 1 | every 10, patience 10 (default) |")
    assert fixed_table([study]).splitlines()[0].endswith("| 5 steps | 10 steps |")
    summary = summary_table([study], 10).splitlines()
    assert summary[2].startswith("| fixed 10 steps |") and len(summary) == 5
