"""The offline class pools, digits and synthetic, and the baseline without
meta-learning that the offline pools add: logistic regression fitted on each
support set alone."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.datasets import load_digits

from .._support_set import SupportSetClassifier
from ..datasets import make_few_shot_classification, tasks_from_labeled
from ._learners import N_QUERIES, SHOTS, FewShotData, Result, fit_and_score, summarize
from ._report import Progress

#: The row without meta-learning: SupportSetClassifier() on the raw features.
SUPPORT_SET = "logreg on the support set"


def evaluate_support_set(
    data: FewShotData,
    *,
    pool: str,
    n_way: int,
    shots: Sequence[int] = SHOTS,
    n_queries: int = N_QUERIES,
    n_episodes: int = 600,
    random_state: int = 0,
    progress: Progress,
) -> list[Result]:
    """The baseline without meta-learning on the learners' test episodes.

    ``SupportSetClassifier(n_way=n_way, n_shots=K, n_queries=n_queries,
    random_state=random_state)``: scikit-learn's ``LogisticRegression()``
    fitted on each test episode's support set alone, on the raw features,
    scored as :func:`evaluate_learners` scores the learners (the same
    episodes).

    Parameters
    ----------
    data : FewShotData
        Training and held-out classes (only the held-out ones matter).
    pool : str
        Name of the data, for the columns and the progress lines.
    n_way : int
        Classes per test episode.
    shots : sequence of int, default=(1, 5)
        Support samples per class.
    n_queries : int, default=15
        Query samples per class.
    n_episodes : int, default=600
        Test episodes per setting.
    random_state : int, default=0
        Seed of the test episodes.
    progress : callable
        Receives one line per shot count.

    Returns
    -------
    results : list of Result
        One per shot count, under the name ``SUPPORT_SET``.
    """
    results = []
    for k in shots:
        baseline = SupportSetClassifier(
            n_way=n_way, n_shots=k, n_queries=n_queries, random_state=random_state
        )
        scores, seconds = fit_and_score(
            baseline, data, n_way, k, n_queries, n_episodes, random_state
        )
        result = summarize(SUPPORT_SET, (pool, n_way, k), scores, seconds)
        results.append(result)
        progress(f"{pool} {n_way}-way {k}-shot {SUPPORT_SET}: {result.cell()} %")
    return results


def offline_pools(random_state: int) -> dict[str, tuple[FewShotData, int]]:
    """The class pools built offline, and the way each is tested at.

    ``digits``: scikit-learn's 8x8 digits scaled to [0, 1], trained on digits
    0-5 and tested 4-way on 6-9. ``synthetic``:
    ``make_few_shot_classification(200, 30)``, trained on 150 classes and
    tested 5-way on the other 50.
    """
    X, y = load_digits(return_X_y=True)
    # The last classes in sorted order are held out: digits 6-9, synthetic classes 150-199.
    X_train, X_test, y_train, y_test = tasks_from_labeled(X / 16.0, y, test_size=4, shuffle=False)
    digits = FewShotData(X_train, y_train, None, X_test, y_test, None)
    X, y = make_few_shot_classification(200, 30, random_state=random_state)
    X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=50, shuffle=False)
    synthetic = FewShotData(X_train, y_train, None, X_test, y_test, None)
    return {"digits": (digits, 4), "synthetic": (synthetic, 5)}
