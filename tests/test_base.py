"""The shell shared by every estimator: weights, precision, compilation, failed fits."""

import warnings

import numpy as np
import pytest
import torch
from sklearn import config_context
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.utils.class_weight import compute_sample_weight

from sklearn_meta import FineTuneClassifier, MAMLClassifier, MAMLRegressor, MetaClassifier
from sklearn_meta.exceptions import SingleTaskWarning

FAST = dict(max_iter=10, n_eval_episodes=10, device="cpu", random_state=0)


def assert_same_parameters(a, b):
    for (name, left), (_, right) in zip(
        a.learner_.state_dict().items(), b.learner_.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(left, right, rtol=0, atol=0, msg=name)


def test_samples_of_weight_zero_are_left_out(sinusoid):
    X, y, groups = sinusoid
    weights = np.where(groups < 30, 1.0, 0.0)
    weighted = MAMLRegressor(**FAST).fit(X, y, groups, sample_weight=weights)
    kept = groups < 30
    plain = MAMLRegressor(**FAST).fit(X[kept], y[kept], groups[kept])
    assert_same_parameters(weighted, plain)


def test_weights_change_the_training(sinusoid):
    X, y, groups = sinusoid
    plain = MAMLRegressor(**FAST).fit(X, y, groups)
    scaled = MAMLRegressor(**FAST).fit(X, y, groups, sample_weight=np.full(len(y), 3.0))
    assert_same_parameters(scaled, plain)
    weights = np.where(groups % 2 == 0, 5.0, 1.0)
    weighted = MAMLRegressor(**FAST).fit(X, y, groups, sample_weight=weights)
    with pytest.raises(AssertionError):
        assert_same_parameters(weighted, plain)


def test_class_weight_multiplies_sample_weight(blobs_classes):
    X, y = blobs_classes
    class_weight = {label: 1.0 + label for label in range(12)}
    sample_weight = np.linspace(0.5, 1.5, len(y))
    by_class = MAMLClassifier(n_way=3, class_weight=class_weight, **FAST)
    by_class.fit(X, y, sample_weight=sample_weight)
    by_sample = MAMLClassifier(n_way=3, **FAST).fit(X, y, sample_weight=sample_weight * (1 + y))
    assert_same_parameters(by_class, by_sample)
    np.testing.assert_array_equal(by_class.classes_, np.arange(12))


def test_class_weight_zero_leaves_a_class_out_of_meta_training(blobs_classes):
    X, y = blobs_classes
    without = MAMLClassifier(n_way=3, class_weight={11: 0.0}, **FAST).fit(X, y)
    kept = y != 11
    plain = MAMLClassifier(n_way=3, **FAST).fit(X[kept], y[kept])
    assert_same_parameters(without, plain)


def test_balanced_class_weight_is_the_balanced_sample_weight(blobs_classes):
    X, y = blobs_classes
    rows = np.flatnonzero((y > 3) | (np.arange(len(y)) % 30 < 6))  # classes 0-3 are rare
    X, y = X[rows], y[rows]
    settings = dict(n_way=4, n_shots=2, n_queries=3, inner_steps=3, **FAST)
    balanced = FineTuneClassifier(class_weight="balanced", **settings).fit(X, y)
    weights = compute_sample_weight("balanced", y)
    by_sample = FineTuneClassifier(**settings).fit(X, y, sample_weight=weights)
    assert_same_parameters(balanced, by_sample)
    plain = FineTuneClassifier(**settings).fit(X, y)
    with pytest.raises(AssertionError):
        assert_same_parameters(balanced, plain)


def test_an_algorithm_by_name_weighs_as_its_preset(blobs_classes):
    X, y = blobs_classes
    weights = np.where(y < 6, 2.0, 1.0)
    clf = MetaClassifier("anil", n_way=3, class_weight={0: 3.0}, **FAST)
    clf.fit(X, y, sample_weight=weights)
    preset = MAMLClassifier(n_way=3, adapt_layers="head", class_weight={0: 3.0}, **FAST)
    assert_same_parameters(clf, preset.fit(X, y, sample_weight=weights))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sample_weight=np.zeros(360)), "zero for every sample"),
        (dict(sample_weight=-np.ones(360)), "negative"),
        (dict(sample_weight=np.ones(3)), "sample_weight has shape"),
    ],
)
def test_bad_weights_are_refused_and_leave_the_model_as_it_was(blobs_classes, kwargs, message):
    X, y = blobs_classes
    clf = MAMLClassifier(n_way=3, **FAST).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y, **kwargs)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == FAST["max_iter"]


@pytest.mark.parametrize("class_weight", ["sometimes", 3, [1, 2]])
def test_bad_class_weight_is_refused(blobs_classes, class_weight):
    X, y = blobs_classes
    with pytest.raises(ValueError, match="class_weight must be"):
        MAMLClassifier(class_weight=class_weight, **FAST).fit(X, y)


def test_routed_sample_weight_reaches_fit_in_cross_validate(sinusoid):
    X, y, groups = sinusoid
    weights = np.where(groups % 3 == 0, 0.0, 1.0 + groups % 2)
    with config_context(enable_metadata_routing=True):
        maml = MAMLRegressor(**FAST).set_fit_request(groups=True, sample_weight=True)
        maml.set_score_request(groups=True, sample_weight=False)
        result = cross_validate(
            maml,
            X,
            y,
            cv=GroupKFold(3),
            params={"groups": groups, "sample_weight": weights},
            return_estimator=True,
            return_indices=True,
        )
    for fitted, train in zip(result["estimator"], result["indices"]["train"], strict=True):
        direct = MAMLRegressor(**FAST).fit(
            X[train], y[train], groups[train], sample_weight=weights[train]
        )
        assert_same_parameters(fitted, direct)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_in_float32_parameters(sinusoid, precision):
    X, y, groups = sinusoid
    settings = dict(max_iter=20, meta_batch_size=8, device="cpu", random_state=0)
    full = MAMLRegressor(**settings).fit(X, y, groups)
    mixed = MAMLRegressor(precision=precision, **settings).fit(X, y, groups)
    assert all(p.dtype == torch.float32 for p in mixed.learner_.parameters())
    assert mixed.loss_curve_ != full.loss_curve_  # the forward passes did run in low precision
    np.testing.assert_allclose(mixed.loss_curve_, full.loss_curve_, rtol=0.05)
    assert mixed.score(X, y, groups) == pytest.approx(full.score(X, y, groups), abs=0.05)


def test_compiled_meta_batches_take_the_same_steps(sinusoid, monkeypatch):
    from torch._dynamo.utils import counters

    from sklearn_meta._core._meta import map_episodes

    X, y, groups = sinusoid
    settings = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", random_state=0)
    compiled_functions, compiled_calls = [], []
    compile_ = torch.compile

    def spy_compile(fn, *args, **kwargs):
        """torch.compile, noting what it compiles and each call of the result."""
        compiled_functions.append(fn)
        result = compile_(fn, *args, **kwargs)

        def run_compiled(*call_args, **call_kwargs):
            compiled_calls.append(fn)
            return result(*call_args, **call_kwargs)

        return run_compiled

    monkeypatch.setattr(torch, "compile", spy_compile)
    torch._dynamo.reset()  # compile afresh, not from another test's cache
    graphs = counters["stats"]["unique_graphs"]
    compiled = MAMLRegressor(compile=True, **settings).fit(X, y, groups)
    assert compiled_functions == [map_episodes]  # the meta-batch mapper
    assert compiled_calls == [map_episodes] * 3  # ran in each of the 3 outer steps
    assert counters["stats"]["unique_graphs"] > graphs  # dynamo captured a graph
    eager = MAMLRegressor(**settings).fit(X, y, groups)
    assert compiled_functions == [map_episodes]  # compile=False compiles nothing
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(compiled.predict(X), eager.predict(X), rtol=1e-4, atol=1e-6)


def test_unknown_precision_is_refused(sinusoid):
    with pytest.raises(ValueError, match="precision must be one of"):
        MAMLRegressor(precision="float8").fit(*sinusoid)


def test_a_diverged_refit_never_predicts_with_the_older_fit(blobs_classes):
    X, y = blobs_classes
    clf = MAMLClassifier(n_way=3, **FAST).fit(X, y)
    older = [p.detach().clone() for p in clf.learner_.parameters()]
    with pytest.raises(FloatingPointError):
        clf.fit(X * 1e30, y)
    assert clf.n_iter_ == 0  # the last finite parameters: the fresh start of that fit
    fresh = MAMLClassifier(n_way=3, **FAST)
    fresh._initialize(X.shape[1])
    kept = list(clf.learner_.parameters())
    assert all(map(torch.equal, kept, fresh.learner_.parameters()))
    assert not all(map(torch.equal, kept, older))
    assert np.isfinite(clf.predict_proba(X)).all()  # adapted from those parameters


def test_constant_query_targets_score_like_r2_score(sinusoid):
    X, y, groups = sinusoid
    maml = MAMLRegressor(**FAST).fit(X, y, groups)
    constant = np.full_like(y, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warning, no NaN
        assert maml.score(X, constant, groups) == 0.0


def _dropout_backbone():
    return torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Dropout(0.3), torch.nn.ReLU())


def test_dropout_is_seeded_by_random_state_and_off_outside_fit(sinusoid):
    X, y, groups = sinusoid
    settings = dict(module=_dropout_backbone(), max_iter=10, device="cpu", n_eval_episodes=20)
    torch_state = torch.get_rng_state()
    first, again, other = (
        MAMLRegressor(random_state=seed, **settings).fit(X, y, groups) for seed in (0, 0, 1)
    )
    assert torch.equal(torch.get_rng_state(), torch_state)  # the caller's stream is left alone
    assert first.loss_curve_ == again.loss_curve_ and first.loss_curve_ != other.loss_curve_
    assert not first.learner_.training
    np.testing.assert_array_equal(first.predict(X), first.predict(X))
    assert first.score(X, y, groups) == first.score(X, y, groups)
    task = first.adapt(X[:5], y[:5])
    np.testing.assert_array_equal(task.predict(X), first.adapt(X[:5], y[:5]).predict(X))


# -- stopping -------------------------------------------------------------------------


def test_the_stopper_keeps_the_parameters_of_the_best_value_whatever_tol():
    from sklearn_meta._training import _Stopper

    module = torch.nn.Linear(1, 1, bias=False)
    stopper = _Stopper(tol=0.5, patience=2, watched=module)
    stops = []
    for value in [0.1, 0.3, 0.2]:  # 0.3 beats 0.1, but not by more than tol
        module.weight.data.fill_(value)
        stops.append(stopper.should_stop(value))
    assert stops == [False, False, True]
    assert stopper.restore_best() == 0.3 and module.weight.item() == pytest.approx(0.3)


def test_early_stopping_holds_out_at_least_two_classes(blobs_classes):
    X, y = blobs_classes
    few = y < 5  # 10% would be half a class: a validation episode needs two
    clf = MAMLClassifier(n_way=3, early_stopping=True, validation_interval=2, **FAST)
    with pytest.warns(UserWarning, match="hold only 2 classes"):  # 2-way validation
        clf.fit(X[few], y[few])
    assert len(clf.validation_scores_) == 5  # steps 2, 4, ..., 10
    with pytest.raises(ValueError, match="holds out 2 of the 2 tasks"):
        clf.fit(X[y < 2], y[y < 2])


def test_score_says_when_it_lowers_n_way(blobs_classes):
    X, y = blobs_classes
    clf = MetaClassifier("protonet", n_way=5, **FAST).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # five classes: nothing to say
        clf.score(X[y < 5], y[y < 5])
    with pytest.warns(UserWarning, match="only 3 classes, fewer than n_way=5: scoring uses 3-way"):
        assert 0.0 <= clf.score(X[y < 3], y[y < 3]) <= 1.0
    message = "1 class, fewer than the 2 an episode needs; scoring already lowered .* n_way=5"
    with pytest.raises(ValueError, match=message):
        clf.score(X[y == 0], y[y == 0])


def test_a_regressor_meta_trained_on_one_task_warns(sinusoid):
    X, y, groups = sinusoid
    how = r"set_fit_request\(groups=True\)"
    with pytest.warns(SingleTaskWarning, match=rf"task \(no groups were given\).*{how}"):
        MAMLRegressor(**FAST).fit(X, y)
    with pytest.warns(SingleTaskWarning, match="every sample is in group 'a'"):
        MAMLRegressor(**FAST).partial_fit(X, y, np.full(len(y), "a"))
    with pytest.warns(SingleTaskWarning):  # without routing, groups reach the splitter only
        cross_validate(MAMLRegressor(**FAST), X, y, groups=groups, cv=GroupKFold(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleTaskWarning)
        MAMLRegressor(**FAST).fit(X, y, groups)
        with config_context(enable_metadata_routing=True):
            routed = MAMLRegressor(**FAST).set_fit_request(groups=True)
            routed.set_score_request(groups=True)
            cross_validate(routed, X, y, params={"groups": groups}, cv=GroupKFold(2))
