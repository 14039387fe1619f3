import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from sklearn_meta import FewShotAdapter, MAMLClassifier, MAMLRegressor
from sklearn_meta.datasets import make_sinusoid_tasks

FAST = dict(max_iter=30, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def meta_regressor(sinusoid):
    return MAMLRegressor(**FAST).fit(*sinusoid)


def test_adapt_returns_a_fitted_adapter_and_leaves_the_meta_estimator(meta_regressor):
    X, y, _ = make_sinusoid_tasks(1, 15, random_state=3)
    before = [p.detach().clone() for p in meta_regressor.learner_.parameters()]
    adapted = meta_regressor.adapt(X[:5], y[:5], inner_steps=5)
    assert isinstance(adapted, FewShotAdapter) and adapted.estimator is meta_regressor
    assert adapted.predict(X).shape == (15,)
    assert adapted.score(X, y) == pytest.approx(
        1 - ((y - adapted.predict(X)) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    )
    after = list(meta_regressor.learner_.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_more_inner_steps_fit_the_support_better(meta_regressor):
    X, y, _ = make_sinusoid_tasks(1, 10, random_state=4)
    errors = [
        np.mean((meta_regressor.adapt(X, y, inner_steps=k).predict(X) - y) ** 2) for k in (0, 1, 10)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_clone_keeps_the_fitted_meta_estimator(meta_regressor):
    adapter = FewShotAdapter(meta_regressor, inner_steps=3)
    cloned = clone(adapter)
    assert cloned.estimator is meta_regressor and cloned.inner_steps == 3
    assert not hasattr(cloned, "module_")


def test_cross_val_score_on_one_new_task(meta_regressor):
    X, y, _ = make_sinusoid_tasks(1, 40, random_state=2)
    scores = cross_val_score(FewShotAdapter(meta_regressor, inner_steps=10), X, y, cv=4)
    assert scores.shape == (4,) and np.isfinite(scores).all()


def test_classifier_adapter(blobs_classes):
    X, y = blobs_classes
    meta = MAMLClassifier(n_way=3, **FAST).fit(X[y < 8], y[y < 8])
    new = y >= 8
    adapter = FewShotAdapter(meta, inner_steps=5)
    assert hasattr(adapter, "predict_proba")
    scores = cross_val_score(adapter, X[new], y[new], cv=3)
    assert np.isfinite(scores).all() and scores.mean() > 0.25
    assert not hasattr(FewShotAdapter(MAMLRegressor()), "predict_proba")


def test_adapter_checks_its_input(meta_regressor):
    with pytest.raises(ValueError, match="1 features"):
        meta_regressor.adapt(np.ones((5, 3)), np.ones(5))
    with pytest.raises(ValueError, match="inner_steps must be >= 0"):
        meta_regressor.adapt(np.ones((5, 1)), np.ones(5), inner_steps=-2)
    with pytest.raises(ValueError, match="Unknown label type"):
        MAMLClassifier(n_way=2, **FAST).fit(*_two_blobs()).adapt(
            np.ones((4, 2)), [0.1, 0.2, 0.3, 0.4]
        )
    with pytest.raises(Exception, match="not fitted"):
        FewShotAdapter(MAMLRegressor()).fit(np.ones((5, 1)), np.ones(5))


def test_adapter_pickles(meta_regressor):
    X, y, _ = make_sinusoid_tasks(1, 10, random_state=6)
    adapted = meta_regressor.adapt(X, y)
    loaded = pickle.loads(pickle.dumps(adapted))
    np.testing.assert_array_equal(loaded.predict(X), adapted.predict(X))


def _two_blobs():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    return rng.normal(size=(40, 2)) + 3 * y[:, None], y


def test_adapter_keeps_its_task_when_the_meta_estimator_trains_on(sinusoid):
    meta = MAMLRegressor(**FAST, warm_start=True).fit(*sinusoid)
    X, y, _ = make_sinusoid_tasks(1, 15, random_state=7)
    adapted = meta.adapt(X[:5], y[:5], inner_steps=3)
    before = adapted.predict(X)
    meta.set_params(max_iter=5).fit(*sinusoid)  # updates the learner in place
    assert not np.array_equal(meta.adapt(X[:5], y[:5], inner_steps=3).predict(X), before)
    np.testing.assert_array_equal(adapted.predict(X), before)


def test_module_is_built_on_demand_and_predicts_as_the_adapter(meta_regressor):
    X, y, _ = make_sinusoid_tasks(1, 15, random_state=8)
    adapter = FewShotAdapter(meta_regressor, inner_steps=2).fit(X[:5], y[:5])
    assert "module_" not in vars(adapter)  # predict does not need it
    module = adapter.module_
    assert adapter.module_ is module
    outputs = module(torch.tensor(X, dtype=torch.float32)).detach().numpy()[:, 0]
    np.testing.assert_allclose(outputs, adapter.predict(X), rtol=1e-6)
    adapter.fit(X[5:10], y[5:10])  # a new task: a new module
    assert adapter.module_ is not module
    loaded = pickle.loads(pickle.dumps(adapter))
    np.testing.assert_array_equal(loaded.predict(X), adapter.predict(X))
    torch.testing.assert_close(loaded.module_.head.weight, adapter.module_.head.weight)
