import pickle

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.metrics import accuracy_score, make_scorer, mean_absolute_error

from sklearn_meta._evaluation import EpisodicEvaluator
from sklearn_meta.model_selection import (
    FewShotEvaluation,
    evaluate_few_shot,
    few_shot_curve,
    make_episodic_scorer,
)
from sklearn_meta.model_selection._episodic import Settings, _spans
from sklearn_meta.model_selection._evaluation import confidence_interval


@pytest.mark.parametrize("name", ["maml_classifier", "protonet", "finetune"])
def test_mean_accuracy_is_the_estimators_score(request, few_shot_classes, name):
    """Same shots, queries, way, episodes and seed as score: the same number."""
    clf = request.getfixturevalue(name)
    X, y, train = few_shot_classes
    params = clf.get_params()
    result = evaluate_few_shot(
        clf,
        X[~train],
        y[~train],
        n_shots=params["n_shots"],
        n_queries=params["n_queries"],
        n_episodes=params["n_eval_episodes"],
        n_way=params["n_way"],
        random_state=params["random_state"],
    )
    assert result.mean[0] == pytest.approx(clf.score(X[~train], y[~train]), abs=1e-6)
    assert result.metric == "accuracy_score"


def test_regressor_reports_mean_squared_error(sine_split, maml_regressor):
    X, y, groups, train = sine_split
    held = ~train
    result = evaluate_few_shot(
        maml_regressor, X[held], y[held], groups[held], n_shots=(2, 10), n_queries=5,
        n_episodes=60, random_state=0,
    )  # fmt: skip
    assert result.metric == "mean_squared_error"
    assert (result.scores > 0).all()  # an error, as is: lower is better
    assert result.mean[1] < result.mean[0]  # more shots, smaller error
    r2 = maml_regressor.score(X[held], y[held], groups[held])
    assert 0 < r2 < 1  # the fixture learned something; the errors are not chance


def test_result_holds_scores_means_and_confidence_intervals(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    result = evaluate_few_shot(protonet, X[~train], y[~train], n_episodes=50, random_state=0)
    assert isinstance(result, FewShotEvaluation)
    np.testing.assert_array_equal(result.n_shots, [1, 5])
    assert result.scores.shape == (2, 50)
    np.testing.assert_allclose(result.mean, result.scores.mean(axis=1))
    expected = 1.96 * result.scores.std(axis=1, ddof=1) / np.sqrt(50)
    np.testing.assert_allclose(result.ci95, expected)
    assert result["mean"] is result.mean  # a Bunch
    assert result.mean[1] > result.mean[0] + result.ci95.max()
    lines = result.summary().splitlines()
    assert lines[0] == "accuracy_score (%): mean ± 95% confidence interval over 50 episodes"
    assert lines[2] == f"5-shot: {100 * result.mean[1]:.2f} ± {100 * result.ci95[1]:.2f}"
    assert str(result) == result.summary()


def test_confidence_interval_of_one_episode_is_nan():
    assert np.isnan(confidence_interval(np.array([[0.5]]))).all()
    np.testing.assert_allclose(confidence_interval(np.array([0.0, 1.0])), [1.96 * 0.5])


@pytest.fixture(scope="module")
def serial_run(few_shot_classes, maml_classifier):
    X, y, train = few_shot_classes
    kwargs = dict(n_shots=(1, 2), n_episodes=40, random_state=0)
    return kwargs, evaluate_few_shot(maml_classifier, X[~train], y[~train], **kwargs)


def test_threads_give_the_same_scores(few_shot_classes, maml_classifier, serial_run):
    """Episodes spread over 3 jobs in runs of whole meta-batches, taking turns."""
    X, y, train = few_shot_classes
    kwargs, serial = serial_run
    with parallel_backend("threading"):
        threads = evaluate_few_shot(maml_classifier, X[~train], y[~train], n_jobs=3, **kwargs)
    np.testing.assert_array_equal(threads.scores, serial.scores)


def test_what_a_worker_process_receives_gives_the_same_outputs(few_shot_classes, maml_classifier):
    """Worker processes get the evaluator (with its estimator) and the drawn
    episodes pickled; a real loky pool is left out here, as each worker
    spends seconds importing torch."""
    X, y, train = few_shot_classes
    evaluator = EpisodicEvaluator(maml_classifier)
    drawn = evaluator.draw(X[~train], y[~train], settings=Settings(2, 4, 40), seed=0)
    serial, _ = evaluator.outputs(drawn)
    shipped_evaluator, shipped = pickle.loads(pickle.dumps((evaluator, drawn)))
    spans = _spans(len(drawn), shipped_evaluator.episodes_per_call(), 2)
    parts = [shipped_evaluator.outputs(shipped, None, start, stop)[0] for start, stop in spans]
    np.testing.assert_array_equal(np.concatenate(parts), serial)


def test_scoring_options(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    X, y = X[~train], y[~train]
    kwargs = dict(n_shots=2, n_episodes=30, random_state=0)
    accuracy = evaluate_few_shot(protonet, X, y, **kwargs)
    by_name = evaluate_few_shot(protonet, X, y, scoring="balanced_accuracy", **kwargs)
    np.testing.assert_allclose(by_name.scores, accuracy.scores)  # balanced episodes
    log_loss = evaluate_few_shot(protonet, X, y, scoring="neg_log_loss", **kwargs)
    assert log_loss.metric == "neg_log_loss" and (log_loss.scores < 0).all()
    assert "(%)" not in log_loss.summary()  # not an accuracy: as it is
    # an episodic scorer lends its metric; the episodes are evaluate_few_shot's
    scorer = make_episodic_scorer(accuracy_score, n_shots=5, n_episodes=3, random_state=9)
    np.testing.assert_array_equal(
        evaluate_few_shot(protonet, X, y, scoring=scorer, **kwargs).scores, accuracy.scores
    )
    errors = evaluate_few_shot(protonet, X, y, scoring=make_scorer(mean_absolute_error), **kwargs)
    assert errors.metric == "mean_absolute_error"  # labels as numbers: any metric goes


def test_bad_arguments(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    with pytest.raises(ValueError, match="n_shots must not be empty"):
        evaluate_few_shot(protonet, X, y, n_shots=())
    with pytest.raises(ValueError, match="each of n_shots must be >= 1"):
        evaluate_few_shot(protonet, X, y, n_shots=(0, 1))
    with pytest.raises(ValueError, match="adapts without gradient steps"):
        evaluate_few_shot(protonet, X, y, inner_steps=3)
    with pytest.raises(ValueError, match="each class needs at least"):
        evaluate_few_shot(protonet, X, y, n_shots=10, n_queries=15)


def test_shot_curve(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    shots, scores = few_shot_curve(
        protonet, X[~train], y[~train], param_range=[1, 5], n_episodes=40, random_state=0
    )
    np.testing.assert_array_equal(shots, [1, 5])
    assert scores.shape == (2, 40)
    assert scores[1].mean() > scores[0].mean()
    same = evaluate_few_shot(
        protonet, X[~train], y[~train], n_shots=(1, 5), n_episodes=40, random_state=0
    )
    np.testing.assert_array_equal(scores, same.scores)


def test_adaptation_step_curve(sine_split, maml_regressor):
    X, y, groups, train = sine_split
    held = ~train
    steps, errors = few_shot_curve(
        maml_regressor, X[held], y[held], groups[held], param_name="inner_steps",
        param_range=[0, 5], n_queries=10, n_episodes=40, random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(steps, [0, 5])
    assert errors.shape == (2, 40)
    for k, row in zip(steps, errors, strict=True):  # each point is that many steps' evaluation
        direct = evaluate_few_shot(
            maml_regressor, X[held], y[held], groups[held], n_shots=maml_regressor.n_shots,
            n_queries=10, n_episodes=40, inner_steps=k, scoring="neg_mean_squared_error",
            random_state=0,
        )  # fmt: skip
        np.testing.assert_allclose(row, -direct.scores[0], rtol=1e-6)
    assert not np.allclose(errors[0], errors[1])
    with pytest.raises(ValueError, match="param_name must be one of"):
        few_shot_curve(maml_regressor, X, y, groups, param_name="n_way")


def test_every_value_draws_the_same_episodes(few_shot_classes, maml_classifier):
    """Also from a RandomState, which advances: one seed for the whole curve."""
    X, y, train = few_shot_classes
    _, scores = few_shot_curve(
        maml_classifier, X[~train], y[~train], param_name="inner_steps", param_range=[2, 2],
        n_episodes=30, random_state=np.random.RandomState(0),
    )  # fmt: skip
    np.testing.assert_array_equal(scores[0], scores[1])
    assert np.ptp(scores[0]) > 0


def test_a_pipeline_is_evaluated_on_its_transformed_inputs(unscaled_classes, maml_pipeline):
    """Support and query sets go through the scaler and the PCA as fitted."""
    X, y, train = unscaled_classes
    X_new, y_new = X[~train], y[~train]
    X_seen = maml_pipeline[:-1].transform(X_new)
    common = dict(n_episodes=20, scoring="neg_log_loss", random_state=0)
    result = evaluate_few_shot(maml_pipeline, X_new, y_new, **common)
    by_hand = evaluate_few_shot(maml_pipeline[-1], X_seen, y_new, **common)
    np.testing.assert_allclose(result.scores, by_hand.scores, atol=1e-6)
    assert np.isfinite(result.scores).all() and result.metric == "neg_log_loss"
    curve = dict(param_name="inner_steps", param_range=[0, 3], n_episodes=20, random_state=0)
    _, scores = few_shot_curve(maml_pipeline, X_new, y_new, **curve)
    _, scores_by_hand = few_shot_curve(maml_pipeline[-1], X_seen, y_new, **curve)
    np.testing.assert_allclose(scores, scores_by_hand, atol=1e-6)


def test_lowering_n_way_to_the_held_out_classes_is_said(few_shot_classes, maml_classifier):
    X, y, train = few_shot_classes
    two = ~train & np.isin(y, np.unique(y[~train])[:2])
    with pytest.warns(UserWarning, match="only 2 classes, fewer than n_way=3: scoring uses 2-way"):
        lowered = evaluate_few_shot(maml_classifier, X[two], y[two], n_shots=2, n_episodes=5)
    assert lowered.scores.shape == (1, 5)
    with pytest.raises(ValueError, match="fewer than n_way=3"):
        evaluate_few_shot(maml_classifier, X[two], y[two], n_shots=2, n_episodes=5, n_way=3)
