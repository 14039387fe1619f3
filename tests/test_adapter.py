import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import FewShotAdapter, MAMLClassifier, MAMLRegressor, MetaClassifier
from sklearn_meta._adapter import resolve_meta_estimator
from sklearn_meta.datasets import make_few_shot_classification, make_sinusoid_tasks
from sklearn_meta.exceptions import AdaptationWarning

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


def test_classifier_adapter():
    # Classes that share one hidden structure: what meta-training learns on 36
    # of them carries over to 4 new ones. (On well separated blobs an untrained
    # network adapts as well as a trained one, so a score there proves nothing.)
    X, y = make_few_shot_classification(40, 20, random_state=0)
    new = y >= 36
    settings = {**FAST, "n_way": 4, "meta_lr": 0.01}
    meta = MAMLClassifier(**settings).fit(X[~new], y[~new])
    untrained = MAMLClassifier(**{**settings, "max_iter": 1, "meta_lr": 1e-9})
    untrained.fit(X[~new], y[~new])
    adapter = FewShotAdapter(meta, inner_steps=5)
    assert hasattr(adapter, "predict_proba")
    scores = cross_val_score(adapter, X[new], y[new], cv=3)
    assert np.isfinite(scores).all()
    baseline = cross_val_score(FewShotAdapter(untrained, inner_steps=5), X[new], y[new], cv=3)
    # the same folds: about 0.7 against 0.5 (4-way chance is 0.25)
    assert scores.mean() > baseline.mean() + 0.05
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
    # The network works on standardized targets.
    in_target_units = outputs * meta_regressor.target_scale_ + meta_regressor.target_mean_
    np.testing.assert_allclose(in_target_units, adapter.predict(X), rtol=1e-5)
    adapter.fit(X[5:10], y[5:10])  # a new task: a new module
    assert adapter.module_ is not module
    loaded = pickle.loads(pickle.dumps(adapter))
    np.testing.assert_array_equal(loaded.predict(X), adapter.predict(X))
    torch.testing.assert_close(loaded.module_.head.weight, adapter.module_.head.weight)


def _unscaled(X):
    """``X`` with features on scales from 1e-2 to 1e3, off center: a scaler changes it."""
    return X * np.logspace(-2, 3, X.shape[1]) + 50.0


def _support_and_query(y, new, n_shots=5):
    """Masks of the first ``n_shots`` samples of each new class, and of the rest."""
    first = np.zeros(len(y), dtype=bool)
    for label in np.unique(y[new]):
        first[np.flatnonzero(y == label)[:n_shots]] = True
    return first, new & ~first


@pytest.mark.parametrize(
    "last",
    [MAMLClassifier(n_way=3, inner_steps=2, **FAST), MetaClassifier("protonet", n_way=3, **FAST)],
    ids=["MAMLClassifier", "MetaClassifier"],
)
def test_adapter_of_a_pipeline_transforms_support_and_query(blobs_classes, last):
    X, y = blobs_classes
    X = _unscaled(X)
    pipe = make_pipeline(StandardScaler(), clone(last)).fit(X[y < 8], y[y < 8])
    support, query = _support_and_query(y, y >= 8)
    adapter = FewShotAdapter(pipe).fit(X[support], y[support])
    scaler, meta = pipe[0], pipe[-1]
    by_hand = FewShotAdapter(meta).fit(scaler.transform(X[support]), y[support])
    X_query = scaler.transform(X[query])
    proba = adapter.predict_proba(X[query])
    np.testing.assert_allclose(proba, by_hand.predict_proba(X_query), atol=1e-6)
    np.testing.assert_array_equal(adapter.predict(X[query]), by_hand.predict(X_query))
    assert adapter.score(X[query], y[query]) == pytest.approx(by_hand.score(X_query, y[query]))
    assert adapter.n_features_in_ == 6
    # adapting the meta-estimator to the inputs as they are gives other predictions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AdaptationWarning)  # unscaled inputs may diverge
        skipped = FewShotAdapter(meta).fit(X[support], y[support])
    assert not np.allclose(proba, skipped.predict_proba(X[query]))


def test_adapter_of_a_pipeline_that_reduces_the_features(blobs_classes):
    X, y = blobs_classes
    pipe = make_pipeline(
        StandardScaler(), PCA(n_components=3, random_state=0), MAMLClassifier(n_way=3, **FAST)
    ).fit(X[y < 8], y[y < 8])
    new = y >= 8
    scores = cross_val_score(FewShotAdapter(pipe, inner_steps=3), X[new], y[new], cv=3)
    by_hand = cross_val_score(
        FewShotAdapter(pipe[-1], inner_steps=3), pipe[:-1].transform(X[new]), y[new], cv=3
    )
    np.testing.assert_allclose(scores, by_hand, atol=1e-6)
    support, query = _support_and_query(y, new)
    adapter = FewShotAdapter(pipe, inner_steps=3).fit(X[support], y[support])
    assert adapter.n_features_in_ == 6  # the pipeline's inputs, not the 3 components
    with pytest.raises(ValueError, match="X has 3 features, but StandardScaler is expecting 6"):
        adapter.predict(X[query][:, :3])
    loaded = pickle.loads(pickle.dumps(adapter))
    np.testing.assert_array_equal(loaded.predict(X[query]), adapter.predict(X[query]))


def test_adapter_of_a_regression_pipeline(sinusoid):
    X, y, groups = sinusoid
    pipe = make_pipeline(StandardScaler(), MAMLRegressor(**FAST))
    pipe.fit(_unscaled(X), y, mamlregressor__groups=groups)
    X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=3)
    X_new = _unscaled(X_new)
    adapter = FewShotAdapter(pipe, inner_steps=5).fit(X_new[:5], y_new[:5])
    by_hand = pipe[-1].adapt(pipe[0].transform(X_new[:5]), y_new[:5], inner_steps=5)
    np.testing.assert_allclose(
        adapter.predict(X_new), by_hand.predict(pipe[0].transform(X_new)), rtol=1e-5, atol=1e-6
    )
    assert adapter.score(X_new[5:], y_new[5:]) == pytest.approx(
        by_hand.score(pipe[0].transform(X_new[5:]), y_new[5:]), abs=1e-5
    )


def test_resolve_meta_estimator_of_nested_pipelines(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=3, **FAST)
    inner = make_pipeline(PCA(n_components=4, random_state=0), clf)
    pipe = make_pipeline(StandardScaler(), inner)
    with pytest.raises(NotFittedError):
        resolve_meta_estimator(pipe)
    pipe.fit(X[y < 8], y[y < 8])
    resolved = resolve_meta_estimator(pipe)
    assert resolved.meta is clf
    np.testing.assert_allclose(
        resolved.transform(X), inner[0].transform(pipe[0].transform(X)), atol=1e-6
    )
    alone = resolve_meta_estimator(clf)  # a meta-estimator itself: nothing in front
    assert alone.meta is clf and alone.transformers == ()
    logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match="Pipeline ending in one of them; got LogisticRegression"):
        resolve_meta_estimator(logistic)
