"""Regressors do not care about the scale of y: an affine change of the
targets changes the predictions the same way, in every path."""

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_meta import (
    FineTuneRegressor,
    MAMLRegressor,
    MetaRegressor,
    MetaRidgeRegressor,
    ReptileRegressor,
    load,
)
from sklearn_meta.model_selection import evaluate_few_shot

SMALL = dict(
    hidden_layer_sizes=(16,), n_shots=4, n_queries=6, max_iter=15, n_eval_episodes=10, device="cpu"
)
REGRESSORS = [
    MAMLRegressor(**SMALL),
    MAMLRegressor(**SMALL, inner_update="meta-sgd", adapt_layers="head"),
    ReptileRegressor(**SMALL, inner_steps=2),
    MetaRidgeRegressor(**SMALL),
    FineTuneRegressor(**SMALL, inner_steps=3),
    MetaRegressor("fomaml", **SMALL),
]
SCALE, SHIFT = 1e4, -300.0


@pytest.fixture(scope="module")
def site_tasks():
    """Linear tasks whose targets sit far from zero, on a large scale."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 12)
    X = rng.normal(size=(len(groups), 3))
    slopes = rng.normal(size=(40, 3))
    y = 2.0 + (X * slopes[groups]).sum(axis=1)
    return X, y, groups


@pytest.mark.parametrize("estimator", REGRESSORS, ids=lambda e: repr(e)[:60])
def test_affine_change_of_targets_changes_predictions_alike(estimator, site_tasks, tmp_path):
    X, y, groups = site_tasks
    train, new = groups < 30, groups >= 30
    targets = (y, SCALE * y + SHIFT)
    fits = [
        clone(estimator).set_params(random_state=0).fit(X[train], t[train], groups[train])
        for t in targets
    ]
    plain, scaled = fits

    def close(a, b):
        np.testing.assert_allclose(b, SCALE * a + SHIFT, rtol=1e-4, atol=1e-3 * SCALE)

    close(plain.predict(X[new]), scaled.predict(X[new]))
    support, query = np.flatnonzero(new)[:5], np.flatnonzero(new)[5:12]
    close(
        plain.adapt(X[support], y[support]).predict(X[query]),
        scaled.adapt(X[support], SCALE * y[support] + SHIFT).predict(X[query]),
    )
    r2 = [fit.score(X[new], t[new], groups[new]) for fit, t in zip(fits, targets, strict=True)]
    assert r2[1] == pytest.approx(r2[0], abs=1e-4)
    mse = [
        evaluate_few_shot(
            fit, X[new], t[new], groups[new], n_shots=4, n_queries=6, n_episodes=8, random_state=0
        )
        for fit, t in zip(fits, targets, strict=True)
    ]
    assert mse[1]["mean"][0] == pytest.approx(SCALE**2 * mse[0]["mean"][0], rel=1e-3)

    scaled.save(tmp_path / "scaled.pt")
    loaded = load(tmp_path / "scaled.pt")
    np.testing.assert_allclose(loaded.predict(X[new]), scaled.predict(X[new]), rtol=1e-6)


def test_targets_far_from_zero_adapt_to_finite_predictions():
    """Unstandardized site data: y around 2 with spread 1.9 used to adapt to 1e24."""
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(60), 15)
    X = rng.normal(size=(len(groups), 4))
    y = 2.0 + 1.9 * (X * rng.normal(size=(60, 4))[groups]).sum(axis=1) / 2
    meta = MAMLRegressor(
        inner_steps=5, inner_lr=0.05, n_shots=5, max_iter=40, device="cpu", random_state=0
    ).fit(X[groups < 50], y[groups < 50], groups[groups < 50])
    errors = []
    for site in range(50, 60):
        rows = np.flatnonzero(groups == site)
        task = meta.adapt(X[rows[:5]], y[rows[:5]])
        errors.append(np.mean((task.predict(X[rows[5:]]) - y[rows[5:]]) ** 2))
    assert np.all(np.isfinite(errors))
    assert max(errors) < 10 * np.var(y)


def test_constant_targets_fit_without_dividing_by_zero(site_tasks):
    X, _, groups = site_tasks
    meta = MAMLRegressor(**SMALL, random_state=0).fit(X, np.full(len(X), 7.0), groups)
    assert meta.target_scale_ == 1.0
    assert np.all(np.isfinite(meta.predict(X)))
