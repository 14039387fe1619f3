import pickle

import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import MAMLRegressor, MetaRidgeClassifier, MetaRidgeRegressor
from sklearn_meta._core._meta import EpisodeBatch, map_episodes
from sklearn_meta._core._model import MetaModel, build_mlp
from sklearn_meta._core._tasks import CLASSIFICATION, REGRESSION
from sklearn_meta._ridge import RidgeLearner, RidgeLoop, ridge_solve
from sklearn_meta.datasets import make_sinusoid_tasks

FAST = dict(max_iter=20, n_eval_episodes=20, device="cpu", random_state=0)


# -- the closed-form head ---------------------------------------------------------


def _features(estimator, X) -> np.ndarray:
    """Backbone features and the bias feature, as the ridge head sees them."""
    with torch.no_grad():
        features = estimator.learner_.model.backbone(torch.tensor(X, dtype=torch.float32))
    return np.hstack([features.numpy(), np.ones((len(X), 1))])


def _head(module) -> np.ndarray:
    """An adapted head as (n_features + 1, n_outputs): weights, then the bias."""
    return torch.cat([module.head.weight, module.head.bias[:, None]], dim=1).T.detach().numpy()


@pytest.mark.parametrize("n_support", [8, 60], ids=["dual", "primal"])
def test_regression_head_is_sklearn_ridge_around_the_meta_learned_head(sinusoid, n_support):
    X, y, groups = sinusoid
    ridge = MetaRidgeRegressor(hidden_layer_sizes=(16,), alpha=0.5, **FAST).fit(X, y, groups)
    support = slice(0, n_support)  # 8 < 17 features: Woodbury form; 60 > 17: primal form
    features = _features(ridge, X[support])
    prior = _head(ridge.learner_.model)
    # The network works on standardized targets; a ridge shrunk toward the
    # prior is a plain ridge on the prior's residuals.
    standardized = (y[support] - ridge.target_mean_) / ridge.target_scale_
    expected = Ridge(alpha=0.5, fit_intercept=False).fit(
        features, standardized - features @ prior[:, 0]
    )
    task = ridge.adapt(X[support], y[support])
    np.testing.assert_allclose(_head(task.module_)[:, 0], expected.coef_ + prior[:, 0], atol=1e-3)
    query = _features(ridge, X[100:140])
    expected_query = query @ prior[:, 0] + expected.predict(query)
    np.testing.assert_allclose(
        task.predict(X[100:140]),
        expected_query * ridge.target_scale_ + ridge.target_mean_,
        atol=1e-3,
    )


def test_classification_head_is_sklearn_ridge_on_one_hot_labels_times_the_scale(blobs_classes):
    X, y = blobs_classes
    clf = MetaRidgeClassifier(n_way=3, hidden_layer_sizes=(16,), alpha=2.0, **FAST).fit(X, y)
    support = np.flatnonzero(y < 4)[::6]  # 20 samples of 4 classes
    expected = Ridge(alpha=2.0, fit_intercept=False).fit(
        _features(clf, X[support]), np.eye(4)[y[support]]
    )
    scale = clf.learner_.log_scale.exp().item()
    assert scale != pytest.approx(10.0)  # meta-learned, not left at its start
    task = clf.adapt(X[support], y[support])
    np.testing.assert_allclose(_head(task.module_), scale * expected.coef_.T, atol=1e-3)
    np.testing.assert_array_equal(task.predict(X), expected.predict(_features(clf, X)).argmax(1))


@pytest.mark.parametrize("n_samples", [7, 30], ids=["dual", "primal"])
def test_ridge_solve_is_the_penalized_least_squares_solution(n_samples):
    g = torch.Generator().manual_seed(0)
    features, targets = (
        torch.randn(n_samples, 12, generator=g),
        torch.randn(n_samples, 2, generator=g),
    )
    prior, alpha = torch.randn(12, 2, generator=g), 0.3
    # ‖F W − T‖² + α‖W − P‖² is least squares on F stacked over √α I, T over √α P.
    expected = torch.linalg.lstsq(
        torch.cat([features, alpha**0.5 * torch.eye(12)]),
        torch.cat([targets, alpha**0.5 * prior]),
    ).solution
    torch.testing.assert_close(
        ridge_solve(features, targets, alpha, prior), expected, rtol=1e-4, atol=1e-4
    )


def test_large_alpha_shrinks_adaptation_to_the_meta_learned_prediction(sinusoid):
    X, y, groups = sinusoid
    ridge = MetaRidgeRegressor(**FAST).fit(X, y, groups)
    tight = ridge.set_params(alpha=1e6).adapt(X[:10], y[:10])  # alpha applies after fit
    np.testing.assert_allclose(tight.predict(X[10:20]), ridge.predict(X[10:20]), atol=1e-3)
    loose = ridge.set_params(alpha=1e-3).adapt(X[:10], y[:10])
    assert (
        np.abs(loose.predict(X[:10]) - y[:10]).mean()
        < np.abs(ridge.predict(X[:10]) - y[:10]).mean()
    )


# -- meta-learning does its job ---------------------------------------------------


def test_beats_the_pooled_baseline_on_unseen_sine_tasks():
    X, y, groups = make_sinusoid_tasks(100, 20, random_state=0)
    X_test, y_test, groups_test = make_sinusoid_tasks(40, 20, random_state=1)
    common = dict(max_iter=100, n_shots=10, device="cpu", random_state=0)
    ridge = MetaRidgeRegressor(**common).fit(X, y, groups)
    pooled = MAMLRegressor(inner_steps=0, **common).fit(X, y, groups)
    assert np.mean(ridge.loss_curve_[-10:]) < np.mean(ridge.loss_curve_[:10])
    ridge_score = ridge.score(X_test, y_test, groups_test)
    assert ridge_score > 0.5
    assert ridge_score > pooled.score(X_test, y_test, groups_test) + 0.3


def test_classifier_adapts_to_new_classes_better_than_chance(blobs_classes):
    X, y = blobs_classes
    train, new = y < 8, y >= 8
    clf = MetaRidgeClassifier(n_way=4, **FAST).fit(X[train], y[train])
    assert clf.vectorized_ is True
    assert clf.score(X[new], y[new]) > 0.6  # 4-way: chance is 0.25
    assert (clf.predict(X[train]) == y[train]).mean() > 0.6


def _meta_gradients(learner, batch, loop, n_outputs, vectorize):
    learner.zero_grad()

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, n_outputs, loop)

    map_episodes(loss, batch, vectorize).mean().backward()
    return [p.grad.clone() for p in learner.parameters() if p.grad is not None]


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_vmap_and_loop_give_the_same_meta_gradients(classification):
    torch.manual_seed(0)
    learner = RidgeLearner(MetaModel(build_mlp(3, (16,), "tanh"), 3), classification)
    g = torch.Generator().manual_seed(0)
    if classification:  # 3 classes: 9 support rows < 17 features (dual form)
        ys, yq, n_outputs = torch.arange(3).repeat(4, 3), torch.arange(3).repeat(4, 4), 3
    else:
        ys, yq, n_outputs = torch.randn(4, 9, generator=g), torch.randn(4, 12, generator=g), 1
    batch = EpisodeBatch(
        torch.randn(4, 9, 3, generator=g), ys, torch.randn(4, 12, 3, generator=g), yq
    )
    loop = RidgeLoop(CLASSIFICATION if classification else REGRESSION, steps=0, lr=0.0, alpha=0.7)
    vectorized = _meta_gradients(learner, batch, loop, n_outputs, vectorize=True)
    looped = _meta_gradients(learner, batch, loop, n_outputs, vectorize=False)
    assert len(vectorized) == len(list(learner.parameters())) - 2 * classification  # no prior
    for a, b in zip(vectorized, looped, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# -- scikit-learn behaviour -------------------------------------------------------


def test_has_no_inner_loop_parameters():
    for estimator in (MetaRidgeRegressor(), MetaRidgeClassifier()):
        params = estimator.get_params()
        assert params["alpha"] == 1.0
        assert not {"inner_steps", "inner_lr", "eval_inner_steps", "first_order"} & set(params)


@pytest.mark.parametrize("make", [MetaRidgeRegressor, MetaRidgeClassifier])
def test_pickle_keeps_predictions_and_scores(make, sinusoid, blobs_classes):
    data = sinusoid if make is MetaRidgeRegressor else blobs_classes
    X, y = data[:2]
    estimator = make(**FAST).fit(*data)
    loaded = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.score(X, y) == estimator.score(X, y)
    np.testing.assert_array_equal(
        loaded.adapt(X[::6], y[::6]).predict(X), estimator.adapt(X[::6], y[::6]).predict(X)
    )


def test_grid_search_over_alpha_with_group_k_fold(sinusoid, blobs_classes):
    quick = {**FAST, "max_iter": 5, "n_eval_episodes": 10}
    X, y, groups = sinusoid
    # A penalty of 1e4 shrinks every task's head to almost nothing: the search
    # must pick 0.1, in every fold.
    with config_context(enable_metadata_routing=True):  # groups to fit and score too
        ridge = MetaRidgeRegressor(**{**quick, "max_iter": 20}).set_fit_request(groups=True)
        search = GridSearchCV(
            ridge.set_score_request(groups=True),
            {"alpha": [0.1, 1e4]},
            cv=GroupKFold(3),
            error_score="raise",
        ).fit(X, y, groups=groups)  # task-disjoint folds
    for split in range(3):
        fitting, shrunk = search.cv_results_[f"split{split}_test_score"]
        assert fitting > shrunk
    assert search.best_params_ == {"alpha": 0.1}
    X, y = blobs_classes
    search = GridSearchCV(
        MetaRidgeClassifier(n_way=3, **quick), {"alpha": [0.1, 1e4]}, cv=GroupKFold(2)
    ).fit(X, y, groups=y)  # class-disjoint folds
    fitting, shrunk = search.cv_results_["mean_test_score"]
    assert fitting > 0.9 and shrunk < fitting - 0.1  # 3-way chance is 1/3
    assert search.best_params_ == {"alpha": 0.1}


def test_conv4_backbone_on_flattened_images():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 6)
    X = (rng.normal(size=(36, 1, 12, 12)) + y[:, None, None, None]).reshape(36, -1)
    small = dict(n_way=3, n_shots=2, n_queries=2, meta_batch_size=2, **{**FAST, "max_iter": 2})
    clf = MetaRidgeClassifier(module="conv4", input_shape=(1, 12, 12), **small).fit(X, y)
    assert clf.vectorized_ is True
    assert clf.predict(X).shape == (36,)


@pytest.mark.parametrize("alpha, error", [(0.0, ValueError), (-1.0, ValueError), ("1", TypeError)])
def test_bad_alpha_is_named(sinusoid, alpha, error):
    with pytest.raises(error, match="alpha must be"):
        MetaRidgeRegressor(alpha=alpha, **FAST).fit(*sinusoid)
