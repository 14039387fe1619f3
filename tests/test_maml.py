import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_squared_error

from sklearn_meta import MAMLClassifier, MAMLRegressor, ReptileClassifier
from sklearn_meta._core._norms import BatchNorm
from sklearn_meta.datasets import make_sinusoid_tasks
from sklearn_meta.exceptions import AdaptationWarning, SingleTaskWarning

FAST = dict(max_iter=30, device="cpu", random_state=0, n_eval_episodes=20)


def _parameters(estimator):
    return [p.detach().clone() for p in estimator.learner_.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# -- meta-learning does its job ---------------------------------------------------


def test_maml_beats_the_pooled_baseline_on_unseen_sine_tasks():
    X, y, groups = make_sinusoid_tasks(200, 20, random_state=0)
    X_test, y_test, groups_test = make_sinusoid_tasks(40, 20, random_state=1)
    common = dict(max_iter=400, eval_inner_steps=5, device="cpu", random_state=0)
    maml = MAMLRegressor(**common).fit(X, y, groups)
    pooled = MAMLRegressor(inner_steps=0, **common).fit(X, y, groups)
    assert np.mean(maml.loss_curve_[-50:]) < np.mean(maml.loss_curve_[:50])
    assert maml.score(X_test, y_test, groups_test) > pooled.score(X_test, y_test, groups_test) + 0.1


def test_adapting_fits_a_new_task_better_than_the_initialization(sinusoid):
    maml = MAMLRegressor(max_iter=200, device="cpu", random_state=0).fit(*sinusoid)
    X_new, y_new, _ = make_sinusoid_tasks(1, 60, random_state=5)
    support, query = slice(0, 10), slice(10, None)
    adapted = maml.adapt(X_new[support], y_new[support], inner_steps=10)
    before = mean_squared_error(y_new[query], maml.predict(X_new[query]))
    after = mean_squared_error(y_new[query], adapted.predict(X_new[query]))
    assert after < 0.6 * before


def test_classifier_adapts_to_new_classes_better_than_chance(blobs_classes):
    X, y = blobs_classes
    train, new = y < 8, y >= 8
    clf = MAMLClassifier(n_way=4, eval_inner_steps=5, **{**FAST, "max_iter": 150})
    clf.fit(X[train], y[train])
    assert clf.score(X[new], y[new]) > 0.6  # 4-way: chance is 0.25
    assert (clf.predict(X[train]) == y[train]).mean() > 0.6


# -- variants ---------------------------------------------------------------------


def test_meta_sgd_learns_its_inner_rates(sinusoid):
    maml = MAMLRegressor(inner_update="meta-sgd", **FAST).fit(*sinusoid)
    rates = torch.cat([r.detach().ravel() for r in maml.learner_.inner_lrs])
    assert rates.shape[0] == sum(p.numel() for p in maml.learner_.model.parameters())
    assert not torch.allclose(rates, torch.full_like(rates, maml.inner_lr))
    assert MAMLRegressor(**FAST).fit(*sinusoid).learner_.inner_lrs is None


def test_anil_adapt_changes_only_the_head(sinusoid):
    maml = MAMLRegressor(adapt_layers="head", **FAST).fit(*sinusoid)
    X, y, _ = sinusoid
    adapted = maml.adapt(X[:10], y[:10], inner_steps=3).module_
    for (name, meta), (_, task) in zip(
        maml.learner_.model.named_parameters(), adapted.named_parameters(), strict=True
    ):
        assert torch.equal(meta, task) != name.startswith("head."), name


def test_variants_train_differently(sinusoid):
    curves = {
        kwargs: MAMLRegressor(**dict(kwargs), **FAST).fit(*sinusoid).loss_curve_
        for kwargs in [(), (("first_order", True),), (("adapt_layers", "head"),)]
    }
    assert len({tuple(np.round(c, 6)) for c in curves.values()}) == 3


# -- scikit-learn behaviour -------------------------------------------------------


def test_same_random_state_gives_identical_models(sinusoid):
    a = MAMLRegressor(**FAST).fit(*sinusoid)
    b = MAMLRegressor(**FAST).fit(*sinusoid)
    X = sinusoid[0]
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.score(*sinusoid) == b.score(*sinusoid)


def test_fit_without_groups_is_one_task(sinusoid):
    X, y, _ = sinusoid
    with pytest.warns(SingleTaskWarning, match="no groups were given"):
        maml = MAMLRegressor(**FAST).fit(X, y)
    assert np.isfinite(maml.score(X, y))


def test_classifier_with_string_non_contiguous_labels(blobs_classes):
    X, y = blobs_classes
    labels = np.array([f"class-{3 * k + 1}" for k in range(12)])[y]
    clf = MAMLClassifier(n_way=3, **FAST).fit(X, labels)
    assert set(clf.classes_) == set(labels)
    assert set(clf.predict(X)) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 12)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    task = clf.adapt(X[:12], np.array(["cat", "dog", "emu"] * 4))
    assert list(task.classes_) == ["cat", "dog", "emu"]
    assert set(task.predict(X)) <= {"cat", "dog", "emu"}


def test_classifier_groups_restrict_episodes(blobs_classes):
    X, y = blobs_classes
    groups = np.where(y < 6, "first", "second")
    clf = MAMLClassifier(n_way=6, **FAST).fit(X, y, groups=groups)
    assert np.isfinite(clf.score(X, y, groups=groups))
    with pytest.raises(ValueError, match="Group 'second' has 2 classes, fewer than n_way=3"):
        MAMLClassifier(n_way=3, **FAST).fit(X, y, groups=np.where(y < 10, "first", "second"))


def test_partial_fit_continues_without_reset(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(meta_batch_size=10, **FAST)
    maml.partial_fit(X[:600], y[:600], groups[:600])
    assert maml.n_iter_ == 3  # one pass: 30 tasks in meta-batches of 10
    before = _parameters(maml)
    maml.partial_fit(X[600:], y[600:], groups[600:])
    assert maml.n_iter_ == 6
    assert not _same(before, _parameters(maml))


def test_warm_start_continues_and_cold_start_resets(sinusoid):
    maml = MAMLRegressor(warm_start=True, **{**FAST, "max_iter": 10}).fit(*sinusoid)
    maml.fit(*sinusoid)
    assert maml.n_iter_ == 20 and len(maml.loss_curve_) == 20
    maml.set_params(warm_start=False).fit(*sinusoid)
    assert maml.n_iter_ == 10


def test_early_stopping_holds_out_tasks_and_keeps_the_best(sinusoid):
    maml = MAMLRegressor(
        early_stopping=True, validation_interval=5, n_iter_no_change=3, **{**FAST, "max_iter": 300}
    ).fit(*sinusoid)
    assert maml.n_iter_ < 300 and maml.n_iter_ % 5 == 0  # validated every 5 steps
    scores = maml.validation_scores_
    assert len(scores) == maml.n_iter_ // 5
    assert len(scores) - 1 - np.argmax(scores) == 3  # 3 validations without improvement
    assert maml.best_validation_score_ == max(scores)


def test_early_stopping_validates_the_last_step(sinusoid):
    maml = MAMLRegressor(
        early_stopping=True, validation_interval=4, n_iter_no_change=50, **{**FAST, "max_iter": 10}
    ).fit(*sinusoid)
    assert maml.n_iter_ == 10 and len(maml.validation_scores_) == 3  # steps 4, 8 and 10


def test_early_stopping_trains_on_other_tasks_and_restores_the_best_step(sinusoid, monkeypatch):
    X, y, groups = sinusoid
    trained_on, validated_on = set(), []
    task_pool = MAMLRegressor._task_pool

    def recording_task_pool(self, y, codes, names, labels, *, evaluating, **kwargs):
        """The tasks of every episode meta-training draws, and of every
        evaluation pool (during fit: the validation tasks)."""
        pool = task_pool(self, y, codes, names, labels, evaluating=evaluating, **kwargs)
        if evaluating:
            validated_on.append(set(names[np.unique(codes)]))
            return pool
        sample = pool.sample

        def recording_sample(rng, n_episodes):
            episodes = sample(rng, n_episodes)
            rows = np.concatenate([episodes.support.ravel(), episodes.query.ravel()])
            trained_on.update(names[codes[rows]])
            return episodes

        pool.sample = recording_sample
        return pool

    monkeypatch.setattr(MAMLRegressor, "_task_pool", recording_task_pool)
    settings = dict(validation_interval=2, n_iter_no_change=3, meta_lr=0.01)
    maml = MAMLRegressor(early_stopping=True, **settings, **{**FAST, "max_iter": 300})
    maml.fit(X, y, groups)
    monkeypatch.undo()

    # 10% of the 60 tasks are held out, and meta-training draws from all the others only
    assert len(validated_on) == 1 and len(validated_on[0]) == 6
    assert trained_on.isdisjoint(validated_on[0])
    assert trained_on | validated_on[0] == set(np.unique(groups))

    # Stopped 3 validations after the best one: the model kept is the best one's,
    # whose score on the validation tasks (the same episodes, drawn from
    # random_state) is best_validation_score_, not the last step's score.
    scores = maml.validation_scores_
    assert len(scores) - 1 - np.argmax(scores) == 3
    assert maml.best_validation_score_ > scores[-1] + 0.01
    held = np.isin(groups, list(validated_on[0]))
    rescored = maml.score(X[held], y[held], groups[held])
    assert rescored == pytest.approx(maml.best_validation_score_, rel=1e-5)
    assert rescored != pytest.approx(scores[-1], rel=1e-3)


def test_tol_stops_when_the_loss_stalls(sinusoid):
    maml = MAMLRegressor(tol=10.0, n_iter_no_change=2, **{**FAST, "max_iter": 100})
    assert maml.fit(*sinusoid).n_iter_ == 3


def test_verbose_shows_progress(sinusoid, capsys):
    MAMLRegressor(verbose=True, **{**FAST, "max_iter": 3}).fit(*sinusoid)
    assert "MAMLRegressor" in capsys.readouterr().err


def test_user_module_is_copied_not_trained_in_place(sinusoid):
    backbone = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh())
    before = [p.detach().clone() for p in backbone.parameters()]
    maml = MAMLRegressor(module=backbone, **FAST).fit(*sinusoid)
    assert _same(before, list(backbone.parameters()))
    assert maml.learner_.model.backbone[0].out_features == 16


def test_float32_inside_numpy_out(sinusoid):
    maml = MAMLRegressor(**FAST).fit(*sinusoid)
    assert next(maml.learner_.parameters()).dtype == torch.float32
    prediction = maml.predict(sinusoid[0].tolist())
    assert isinstance(prediction, np.ndarray) and prediction.dtype == np.float64


# -- devices and persistence ------------------------------------------------------


def test_auto_device_resolves_at_fit(sinusoid):
    maml = MAMLRegressor(**{**FAST, "device": "auto"})
    assert maml.device == "auto" and not hasattr(maml, "device_")
    maml.fit(*sinusoid)
    accelerated = torch.cuda.is_available() or torch.backends.mps.is_available()
    assert (maml.device_.type != "cpu") == accelerated


def test_model_from_an_absent_device_loads_on_cpu(sinusoid):
    maml = MAMLRegressor(**FAST).fit(*sinusoid)
    expected = maml.predict(sinusoid[0])
    maml.device_ = torch.device("cuda", 99)  # as if fitted on a GPU this machine lacks
    with pytest.warns(UserWarning, match="not available here; it runs on the CPU"):
        loaded = pickle.loads(pickle.dumps(maml))
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict(sinusoid[0]), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_fit_pickles_to_a_cpu_only_process(sinusoid, tmp_path):
    maml = MAMLRegressor(**{**FAST, "device": "cuda"}).fit(*sinusoid)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(maml))
    np.save(tmp_path / "X.npy", sinusoid[0])
    np.save(tmp_path / "expected.npy", maml.predict(sinusoid[0]))
    script = f"""
import pickle, numpy as np, torch
assert not torch.cuda.is_available()
model = pickle.loads(open("{tmp_path}/model.pkl", "rb").read())
predicted = model.predict(np.load("{tmp_path}/X.npy"))
np.testing.assert_allclose(predicted, np.load("{tmp_path}/expected.npy"), rtol=1e-4, atol=1e-5)
"""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(inner_lr=0), ValueError, "inner_lr must be a finite number > 0"),
        (dict(meta_lr=-1.0), ValueError, "meta_lr"),
        (dict(inner_steps=-1), ValueError, "inner_steps must be >= 0"),
        (dict(n_shots=1.5), TypeError, "n_shots must be an int"),
        (dict(adapt_layers="body"), ValueError, "adapt_layers must be one of"),
        (dict(inner_update="adam"), ValueError, "inner_update must be one of"),
        (dict(first_order="yes"), TypeError, "first_order must be a bool"),
        (dict(activation="gelu"), ValueError, "activation must be one of"),
        (dict(device="tpu"), ValueError, "device='tpu' is not a torch device"),
        (
            dict(module="resnet"),
            TypeError,
            "module must be None, .mlp., .conv4., a torch.nn.Module",
        ),
    ],
)
def test_bad_parameters_are_named(sinusoid, params, error, message):
    with pytest.raises(error, match=message):
        MAMLRegressor(**{**FAST, **params}).fit(*sinusoid)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_absent_cuda_is_a_clear_error(sinusoid):
    with pytest.raises(ValueError, match="device='cuda' was requested but is not available"):
        MAMLRegressor(**{**FAST, "device": "cuda"}).fit(*sinusoid)


def test_bad_groups_are_named(sinusoid):
    X, y, groups = sinusoid
    with pytest.raises(ValueError, match="groups has 5 entries but X has 1200 samples"):
        MAMLRegressor(**FAST).fit(X, y, groups[:5])
    with pytest.raises(ValueError, match="Task 59 has 2 samples"):
        MAMLRegressor(**FAST).fit(X[:1182], y[:1182], groups[:1182])


def test_too_few_classes_for_n_way(blobs_classes):
    X, y = blobs_classes
    with pytest.raises(ValueError, match="The data has 12 classes, fewer than n_way=20"):
        MAMLClassifier(n_way=20, **FAST).fit(X, y)


def test_failed_fit_leaves_the_fitted_model_unchanged(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(**FAST).fit(X, y, groups)
    expected, state = maml.predict(X), dict(vars(maml))
    with pytest.raises(ValueError):
        maml.fit(np.hstack([X, X]), y, groups[:3])
    assert maml.n_features_in_ == 1
    assert vars(maml).keys() == state.keys()
    np.testing.assert_array_equal(maml.predict(X), expected)


def test_non_finite_loss_stops_with_a_clear_error(sinusoid):
    X, y, groups = sinusoid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FloatingPointError, match="meta-training loss became"):
            MAMLRegressor(**{**FAST, "inner_lr": 1e6}).fit(X, y * 1e20, groups)


def test_score_weighs_query_samples(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(**FAST).fit(X, y, groups)
    plain = maml.score(X, y, groups)
    assert maml.score(X, y, groups, sample_weight=np.full(len(y), 3.0)) == pytest.approx(plain)
    weights = np.where(X[:, 0] > 0, 1.0, 0.01)
    assert maml.score(X, y, groups, sample_weight=weights) != pytest.approx(plain)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        maml.score(X, y, groups, sample_weight=np.ones(3))


def test_conv4_backbone_on_flattened_images():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 6)
    X = (rng.normal(size=(36, 1, 12, 12)) + y[:, None, None, None]).reshape(36, -1)
    small = dict(n_way=3, n_shots=2, n_queries=2, meta_batch_size=2, **{**FAST, "max_iter": 2})
    clf = MAMLClassifier(module="conv4", input_shape=(1, 12, 12), **small).fit(X, y)
    assert clf.vectorized_ is True  # batch norm on per-episode statistics runs under vmap
    assert isinstance(clf.learner_.model.backbone[1][1], BatchNorm)  # per-episode statistics
    assert clf.predict(X).shape == (36,)
    with pytest.raises(ValueError, match="needs input_shape"):
        MAMLClassifier(module="conv4", **small).fit(X, y)
    with pytest.raises(ValueError, match="does not hold the 144 features"):
        MAMLClassifier(module="conv4", input_shape=(1, 10, 10), **small).fit(X, y)


def test_user_batch_norm_normalizes_per_episode(sinusoid):
    backbone = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU())
    maml = MAMLRegressor(module=backbone, **{**FAST, "max_iter": 3}).fit(*sinusoid)
    assert maml.vectorized_ is True and np.isfinite(maml.loss_curve_).all()
    assert isinstance(maml.learner_.model.backbone[1], BatchNorm)
    assert not list(maml.learner_.model.buffers())  # no running statistics
    assert backbone[1].track_running_stats  # the user's module is left as it was
    assert maml.predict(np.linspace(-5, 5, 4097)[:, None]).shape == (4097,)  # no 1-row batch


def test_lstm_update_rule_is_meta_learned(sinusoid):
    maml = MAMLRegressor(inner_update="lstm", **FAST).fit(*sinusoid)
    assert maml.learner_.update_rule.output.weight.abs().sum() > 0
    assert maml.vectorized_ and np.isfinite(maml.score(*sinusoid))


def test_diverging_adaptation_warns_and_keeps_the_last_good_step(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(**FAST).fit(X, y, groups)
    start = maml.adapt(X[:10], y[:10], inner_steps=0).predict(X[10:20])
    maml.set_params(inner_lr=1e6)
    with pytest.warns(AdaptationWarning, match=r"support set of 10 samples \(kept 0 of 20 steps"):
        task = maml.adapt(X[:10], y[:10], inner_steps=20)
    # The first step already diverged: predictions are those before adapting.
    np.testing.assert_allclose(task.predict(X[10:20]), start, rtol=1e-6)
    with pytest.warns(AdaptationWarning, match=r"Adaptation diverged on group \d+ .*inner_lr"):
        assert np.isfinite(maml.score(X, y, groups))


def test_guard_keeps_every_step_of_a_healthy_adaptation(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(**FAST).fit(X, y, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdaptationWarning)
        few, more = (maml.adapt(X[:10], y[:10], inner_steps=k) for k in (1, 5))
    # A healthy loop runs all its steps: five steps fit the support better than one.
    support_error = [np.mean((t.predict(X[:10]) - y[:10]) ** 2) for t in (few, more)]
    assert support_error[1] < support_error[0]


def test_diverging_classifier_episodes_are_never_silent(blobs_classes):
    X, y = blobs_classes
    clf = MAMLClassifier(n_way=3, **FAST).fit(X, y)
    clf.set_params(inner_lr=1e30)
    with pytest.warns(AdaptationWarning, match="Adaptation diverged on episode 0"):
        assert np.isfinite(clf.score(X, y))


def test_activation_checkpointing_trains_the_same_model(sinusoid):
    # No bias before the norm: its gradient is float noise, which Adam turns into full steps.
    linear = torch.nn.Linear(1, 16, bias=False)
    layers = [linear, torch.nn.BatchNorm1d(16), torch.nn.Dropout(0.2), torch.nn.ReLU()]
    backbone = torch.nn.Sequential(*layers)  # the same dropout masks, replayed
    small = dict(module=backbone, inner_steps=3, **{**FAST, "max_iter": 5})
    fits = [
        MAMLRegressor(activation_checkpointing=on, **small).fit(*sinusoid) for on in (False, True)
    ]
    # Float32 rounding differs between the two; Adam's steps (at most 5e-3 in
    # all here) amplify it for coordinates whose gradient is near zero.
    for a, b in zip(*(fit.learner_.parameters() for fit in fits), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-4)
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-5)


def test_activation_checkpointing_is_refused_with_the_lstm_rule(sinusoid):
    maml = MAMLRegressor(inner_update="lstm", activation_checkpointing=True, **FAST)
    with pytest.raises(ValueError, match="activation_checkpointing=True is not available"):
        maml.fit(*sinusoid)


@pytest.mark.parametrize("estimator", [MAMLClassifier, ReptileClassifier])
def test_shared_head_row_does_not_drift(estimator, blobs_classes):
    """Its meta-gradient is exactly zero (softmax ignores a shift of every row)."""
    X, y = blobs_classes
    fits = [estimator(n_way=3, **{**FAST, "max_iter": n}).fit(X, y) for n in (1, 30)]
    heads = [fit.learner_.model.head for fit in fits]
    assert torch.equal(heads[0].weight, heads[1].weight)
    assert torch.equal(heads[0].bias, heads[1].bias)
    backbones = [fit.learner_.model.backbone[0].weight for fit in fits]
    assert not torch.equal(*backbones)
