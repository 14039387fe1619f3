import copy
from functools import partial

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLClassifier
from sklearn_meta._evaluation import EpisodicEvaluator
from sklearn_meta.exceptions import AdaptationWarning
from sklearn_meta.model_selection._episodic import (
    Settings,
    _spans,
    episode_scores,
    meta_estimator,
)
from sklearn_meta.model_selection._metrics import Metric, predictions, resolve_metric


def draw_episodes(meta, X, y, groups, settings, seed):
    return EpisodicEvaluator(meta).draw(X, y, groups, settings=settings, seed=seed)


def own_score_parts(meta, X, y, groups=None):
    """Each episode's score parts, as ``score`` takes them."""
    evaluator = EpisodicEvaluator(meta)
    return evaluator.score_parts(evaluator.draw(X, y, groups))


def test_classification_scores_are_the_estimators_own(few_shot_classes, maml_classifier):
    """Same settings and seed as score: the same episodes, outputs and accuracies."""
    X, y, train = few_shot_classes
    clf = maml_classifier
    settings = Settings(clf.n_shots, clf.n_queries, clf.n_eval_episodes, clf.n_way)
    (scores,) = episode_scores(
        clf, X[~train], y[~train], None, [settings], Metric(accuracy_score), clf.random_state
    )
    parts = own_score_parts(clf, X[~train], y[~train])
    np.testing.assert_allclose(scores, parts[:, 0], atol=1e-6)
    assert len(np.unique(scores)) > 1  # a real spread of episodes, not one value


def test_regression_errors_are_the_estimators_own(sine_split, maml_regressor):
    """Per-episode MSE times n_queries is the squared error behind score's R²."""
    X, y, groups, train = sine_split
    reg, held = maml_regressor, ~train
    settings = Settings(reg.n_shots, reg.n_queries, reg.n_eval_episodes)
    (mse,) = episode_scores(
        reg, X[held], y[held], groups[held], [settings], Metric(mean_squared_error), 0
    )
    parts = own_score_parts(reg, X[held], y[held], groups[held])  # of standardized targets
    squared_errors = (parts[:, 1] - parts[:, 0]) * reg.target_scale_**2
    np.testing.assert_allclose(mse * reg.n_queries, squared_errors, rtol=1e-4)


def test_draws_depend_only_on_random_state(few_shot_classes, maml_classifier, protonet):
    X, y, train = few_shot_classes
    settings = Settings(1, 3, 20, 3)
    first = draw_episodes(maml_classifier, X[~train], y[~train], None, settings, 7)
    again = draw_episodes(protonet, X[~train], y[~train], None, settings, 7)
    other = draw_episodes(maml_classifier, X[~train], y[~train], None, settings, 8)
    for a, b in zip(first.batch.tensors(), again.batch.tensors(), strict=True):
        assert a.equal(b)
    assert not first.batch.x_support.equal(other.batch.x_support)


def test_episode_classes_map_outputs_back_to_labels(few_shot_classes, protonet):
    """Argmax of an episode's logits names the original class, whatever its label."""
    X, y, train = few_shot_classes
    names = np.array([f"class-{k}" for k in range(24)])[y[~train]]
    drawn = draw_episodes(protonet, X[~train], names, None, Settings(2, 3, 10, 3), 0)
    assert drawn.classes.shape == (10, 3)
    assert drawn.y_true.shape == (10, 9)
    for e in range(10):  # episode-local query labels name the same classes as y_true
        local = drawn.batch.y_query[e].numpy()
        np.testing.assert_array_equal(drawn.classes[e][local], drawn.y_true[e])
    logits = np.eye(3)[[2, 0, 1]]
    classes = np.array(["b", "c", "a"])
    np.testing.assert_array_equal(predictions(logits, classes, "predict"), ["a", "b", "c"])
    proba = predictions(logits, classes, "predict_proba")
    # columns sorted by label (a, b, c): row 0 predicts class 2 = "a"
    np.testing.assert_array_equal(proba.argmax(axis=1), [0, 1, 2])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    binary = predictions(np.array([[0.0, 1.0]]), np.array([5, 3]), "predict_proba")
    assert binary.shape == (1,) and binary[0] < 0.5  # the probability of class 5, the larger


def test_explicit_n_way_needs_enough_classes(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    few = np.isin(y, [12, 13, 14])
    drawn = draw_episodes(protonet, X[few], y[few], None, Settings(1, 2, 4), 0)
    assert drawn.n_outputs == 3  # n_way=None: the estimator's 3
    with pytest.raises(ValueError, match="fewer than n_way=4"):
        draw_episodes(protonet, X[few], y[few], None, Settings(1, 2, 4, n_way=4), 0)


def test_spans_cover_whole_meta_batches():
    assert _spans(100, 16, 1) == [(0, 100)]
    spans = _spans(100, 16, 3)
    assert spans[0][0] == 0 and spans[-1][1] == 100
    assert all(a % 16 == 0 for a, _ in spans)
    assert all(b == c for (_, b), (c, _) in zip(spans[:-1], spans[1:], strict=True))
    assert _spans(10, 16, 4) == [(0, 10)]


def test_outputs_per_meta_batch_match_one_call(few_shot_classes, maml_classifier):
    X, y, train = few_shot_classes
    evaluator = EpisodicEvaluator(maml_classifier)
    drawn = evaluator.draw(X[~train], y[~train], settings=Settings(2, 3, 20), seed=0)
    together, steps_kept = evaluator.outputs(drawn)
    halves = [
        evaluator.outputs(drawn, None, a, b)[0]
        for a, b in [(0, 5), (5, 20)]  # runs that are not whole meta-batches
    ]
    assert together.shape == (20, 9, 3)
    np.testing.assert_array_equal(steps_kept, 2)  # every step of every episode
    # Runs of 5 and 15 episodes batch the float32 products differently from
    # runs of meta_batch_size: equal up to rounding, on any CPU's kernels.
    np.testing.assert_allclose(np.concatenate(halves), together, rtol=1e-5, atol=1e-6)
    more_steps, _ = evaluator.outputs(drawn, 10)
    assert not np.allclose(more_steps, together)


def test_meta_estimator_unwraps_pipelines(few_shot_classes, finetune):
    X, y, train = few_shot_classes
    meta, X_seen = meta_estimator(finetune, X)
    assert meta is finetune and X_seen is X  # MetaClassifier adapts itself
    pipe = make_pipeline(StandardScaler(), MAMLClassifier(max_iter=2, device="cpu")).fit(X, y)
    meta, X_seen = meta_estimator(pipe, X)
    assert meta is pipe[-1]
    np.testing.assert_allclose(X_seen, pipe[0].transform(X))
    with pytest.raises(TypeError, match="LogisticRegression"):
        meta_estimator(LogisticRegression().fit(X, y), X)


def test_diverged_episodes_warn_and_keep_the_last_good_step(few_shot_classes, maml_classifier):
    X, y, train = few_shot_classes
    diverging = copy.deepcopy(maml_classifier).set_params(inner_lr=1e30)
    with pytest.warns(AdaptationWarning, match="Adaptation diverged on episode 0 .*inner_lr"):
        (scores,) = episode_scores(
            diverging,
            X[~train] * 1e10,
            y[~train],
            None,
            [Settings(2, 3, 10)],
            Metric(accuracy_score),
            0,
        )
    assert np.isfinite(scores).all()


def test_resolve_metric(maml_classifier, maml_regressor):
    assert resolve_metric(None, maml_classifier).func is accuracy_score
    assert resolve_metric(None, maml_regressor).func is mean_squared_error
    log_loss = resolve_metric("neg_log_loss", maml_classifier)
    assert (log_loss.sign, log_loss.response_method, log_loss.name) == (
        -1,
        "predict_proba",
        "neg_log_loss",
    )
    assert resolve_metric("roc_auc", maml_classifier).response_method == "predict_proba"
    assert resolve_metric(accuracy_score, maml_classifier) == Metric(accuracy_score)
    with pytest.raises(TypeError, match="scoring must be"):
        resolve_metric(3, maml_classifier)


@pytest.mark.parametrize("metric", [accuracy_score, mean_squared_error])
def test_vectorized_default_metrics_agree_with_sklearn(
    few_shot_classes, protonet, sine_split, maml_regressor, metric
):
    if metric is accuracy_score:
        X, y, train = few_shot_classes
        meta, X, y, groups = protonet, X[~train], y[~train], None
    else:
        X, y, groups, train = sine_split
        meta, X, y, groups = maml_regressor, X[~train], y[~train], groups[~train]
    settings = [Settings(2, 5, 30)]
    (fast,) = episode_scores(meta, X, y, groups, settings, Metric(metric), 0)
    (slow,) = episode_scores(meta, X, y, groups, settings, Metric(partial(metric)), 0)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    assert np.ptp(fast) > 0
