import pickle

import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.func import functional_call

from sklearn_meta import MAMLRegressor, ReptileClassifier, ReptileRegressor
from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, map_episodes
from sklearn_meta._core._model import MetaModel, build_mlp
from sklearn_meta._core._tasks import CLASSIFICATION, REGRESSION
from sklearn_meta._reptile import ReptileLearner, inner_minibatches
from sklearn_meta.datasets import make_sinusoid_tasks

FAST = dict(max_iter=20, n_eval_episodes=20, device="cpu", random_state=0)


# -- the learner: Reptile's update as a gradient ----------------------------------


def _learner(n_features=3, seed=0):
    torch.manual_seed(seed)
    return ReptileLearner(MetaModel(build_mlp(n_features, (16, 16), "tanh"), n_features), 0.1)


def _batch(kind, n_episodes=4, n_way=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_support = torch.randn(n_episodes, 6, 3, generator=g)
    x_query = torch.randn(n_episodes, 9, 3, generator=g)
    if kind is REGRESSION:
        y_support = torch.randn(n_episodes, 6, generator=g)
        y_query = torch.randn(n_episodes, 9, generator=g)
    else:
        y_support = torch.arange(n_way).repeat(n_episodes, 2)
        y_query = torch.arange(n_way).repeat(n_episodes, 3)
    return EpisodeBatch(x_support, y_support, x_query, y_query)


def _meta_gradient(learner, batch, loop, n_outputs, vectorize):
    learner.zero_grad()

    def loss(xs, ys, xq, yq):
        return learner.episode_loss(xs, ys, xq, yq, n_outputs, loop)

    value = map_episodes(loss, batch, vectorize).mean()
    value.backward()
    return value.detach(), {name: p.grad.clone() for name, p in learner.named_parameters()}


def _plain_sgd(model, n_outputs, minibatches, kind, lr):
    """The reference inner loop: autograd SGD on a copy of the parameters."""
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    for name in ("head.weight", "head.bias"):
        params[name] = params[name].repeat_interleave(n_outputs, dim=0)
    for x, y in minibatches:
        params = {name: p.requires_grad_() for name, p in params.items()}
        loss = kind.loss(functional_call(model, params, (x,)), y)
        grads = torch.autograd.grad(loss, list(params.values()))
        steps = zip(params.items(), grads, strict=True)
        params = {name: (p - lr * g).detach() for (name, p), g in steps}
    return params


def test_inner_minibatches_cycle_through_the_episode_balanced_like_the_support():
    x_support, y_support = torch.arange(6.0), torch.tensor([0, 0, 1, 1, 2, 2])
    x_query, y_query = torch.arange(6.0, 15.0), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    minibatches = inner_minibatches(x_support, y_support, x_query, y_query, 3, steps=4)
    assert [x.tolist() for x, _ in minibatches] == [
        [0, 1, 2, 3, 4, 5],  # the support first
        [6, 7, 9, 10, 12, 13],
        [8, 0, 11, 2, 14, 4],  # wrapping around to the support
        [1, 6, 3, 9, 5, 12],
    ]
    for _, y in minibatches:
        assert y.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("kind, n_outputs", [(REGRESSION, 1), (CLASSIFICATION, 3)])
def test_gradient_is_theta_minus_adapted_weights(kind, n_outputs):
    learner = _learner()
    batch = _batch(kind, n_episodes=1, n_way=n_outputs)
    loop = InnerLoop(kind, steps=3, lr=0.1, first_order=True)
    value, gradient = _meta_gradient(learner, batch, loop, n_outputs, vectorize=False)

    episode = [t[0] for t in batch.tensors()]
    minibatches = inner_minibatches(*episode, n_outputs, loop.steps)
    adapted = _plain_sgd(learner.model, n_outputs, minibatches, kind, loop.lr)
    x, y = torch.cat(episode[0::2]), torch.cat(episode[1::2])
    with torch.no_grad():
        expected_value = kind.loss(functional_call(learner.model, adapted, (x,)), y)
    torch.testing.assert_close(value, expected_value)  # what loss_curve_ records
    for name, theta in learner.model.named_parameters():
        phi = adapted[name].mean(0, keepdim=True) if name.startswith("head.") else adapted[name]
        torch.testing.assert_close(gradient[f"model.{name}"], theta.detach() - phi)
    if kind is CLASSIFICATION:  # a softmax ignores the shared row: the class rows' mean stays
        assert gradient["model.head.weight"].abs().max() < 1e-6
        assert gradient["model.backbone.0.weight"].abs().max() > 1e-4


def test_one_inner_step_is_a_gradient_step_on_the_support():
    learner = _learner()
    batch = _batch(REGRESSION, n_episodes=1)
    _, gradient = _meta_gradient(learner, batch, InnerLoop(REGRESSION, 1, 0.1), 1, False)
    learner.zero_grad()
    REGRESSION.loss(learner.model(batch.x_support[0]), batch.y_support[0]).backward()
    for name, p in learner.named_parameters():
        torch.testing.assert_close(gradient[name], 0.1 * p.grad)


@pytest.mark.parametrize("kind, n_outputs", [(REGRESSION, 1), (CLASSIFICATION, 3)])
def test_vmap_and_loop_agree(kind, n_outputs):
    learner = _learner()
    batch = _batch(kind, n_way=n_outputs)
    loop = InnerLoop(kind, steps=3, lr=0.1, first_order=True)
    vectorized = _meta_gradient(learner, batch, loop, n_outputs, vectorize=True)
    looped = _meta_gradient(learner, batch, loop, n_outputs, vectorize=False)
    torch.testing.assert_close(vectorized[0], looped[0])
    for name in vectorized[1]:
        torch.testing.assert_close(vectorized[1][name], looped[1][name], rtol=1e-4, atol=1e-6)


# -- meta-learning does its job ---------------------------------------------------


def test_reptile_beats_the_pooled_baseline_on_unseen_sine_tasks():
    X, y, groups = make_sinusoid_tasks(200, 20, random_state=0)
    X_test, y_test, groups_test = make_sinusoid_tasks(40, 20, random_state=1)
    common = dict(FAST, max_iter=150, meta_lr=0.01, meta_batch_size=10, n_eval_episodes=100)
    common.update(inner_lr=0.02, eval_inner_steps=10)  # the baseline adapts as Reptile does
    reptile = ReptileRegressor(**common).fit(X, y, groups)
    pooled = MAMLRegressor(inner_steps=0, **common).fit(X, y, groups)
    assert np.mean(reptile.loss_curve_[-20:]) < np.mean(reptile.loss_curve_[:20])
    reptile_score = reptile.score(X_test, y_test, groups_test)
    assert reptile_score > pooled.score(X_test, y_test, groups_test) + 0.1


def test_classifier_adapts_to_held_out_classes(blobs_classes):
    X, y = blobs_classes
    train, new = y < 8, y >= 8
    reptile = ReptileClassifier(n_way=4, n_queries=5, eval_inner_steps=10, **FAST)
    reptile.set_params(max_iter=60).fit(X[train], y[train])
    assert reptile.score(X[new], y[new]) > 0.6  # 4-way: chance is 0.25
    assert (reptile.predict(X[train]) == y[train]).mean() > 0.6


def test_classifier_learns_which_features_matter_for_new_classes():
    # Classes differ in 3 of 16 features; the other 13 are louder noise. A
    # few shots cannot tell them apart; the meta-learned backbone can.
    rng = np.random.default_rng(0)
    centers = np.zeros((30, 16))
    centers[:, :3] = rng.normal(scale=2.0, size=(30, 3))
    y = np.repeat(np.arange(30), 20)
    X = centers[y] + rng.normal(size=(len(y), 16)) * np.r_[np.full(3, 0.5), np.full(13, 2.0)]
    train, new = y < 20, y >= 20
    settings = dict(FAST, n_way=4, n_queries=5, meta_lr=0.01, eval_inner_steps=10)
    barely = ReptileClassifier(**{**settings, "max_iter": 1}).fit(X[train], y[train])
    reptile = ReptileClassifier(**{**settings, "max_iter": 100}).fit(X[train], y[train])
    assert reptile.score(X[new], y[new]) > barely.score(X[new], y[new]) + 0.2


# -- scikit-learn behaviour -------------------------------------------------------


def test_parameters_are_those_of_a_first_order_sgd_learner():
    params = ReptileRegressor().get_params()
    assert {"first_order", "inner_update", "adapt_layers"}.isdisjoint(params)
    assert params["inner_steps"] == 5 and params["inner_lr"] == 0.02
    assert "n_way" in ReptileClassifier().get_params()
    with pytest.raises(ValueError, match="inner_steps must be >= 1, got 0"):
        ReptileRegressor(inner_steps=0, **FAST).fit(np.zeros((40, 1)), np.zeros(40))


def test_eval_inner_steps_drive_score_and_adapt(sinusoid):
    X, y, groups = sinusoid
    reptile = ReptileRegressor(inner_steps=2, eval_inner_steps=10, **FAST).fit(X, y, groups)
    default = reptile.adapt(X[:10], y[:10]).predict(X)
    np.testing.assert_array_equal(default, reptile.adapt(X[:10], y[:10], inner_steps=10).predict(X))
    assert not np.allclose(default, reptile.adapt(X[:10], y[:10], inner_steps=2).predict(X))
    more_steps = reptile.score(X, y, groups)
    assert more_steps != reptile.set_params(eval_inner_steps=None).score(X, y, groups)
    assert more_steps == reptile.set_params(eval_inner_steps=10).score(X, y, groups)


@pytest.mark.parametrize("make", [ReptileRegressor, ReptileClassifier])
def test_pickle_keeps_predictions_and_scores(make, sinusoid, blobs_classes):
    data = sinusoid if make is ReptileRegressor else blobs_classes
    X, y = data[:2]
    estimator = make(**FAST).fit(*data)
    loaded = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.score(X, y) == estimator.score(X, y)


def test_cross_validate_with_routed_groups(sinusoid):
    X, y, groups = sinusoid
    with config_context(enable_metadata_routing=True):
        reptile = ReptileRegressor(**FAST).set_fit_request(groups=True)
        pipeline = make_pipeline(StandardScaler(), reptile.set_score_request(groups=True))
        result = cross_validate(
            pipeline, X, y, cv=GroupKFold(3), params={"groups": groups}, return_indices=True
        )
        train, test = result["indices"]["train"][0], result["indices"]["test"][0]
        by_hand = clone(pipeline).fit(X[train], y[train], groups=groups[train])
        assert result["test_score"][0] == by_hand.score(X[test], y[test], groups=groups[test])
        assert result["test_score"][0] != by_hand.score(X[test], y[test])  # one pooled task
    assert np.isfinite(result["test_score"]).all()
