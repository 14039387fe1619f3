"""SupportSetClassifier and SupportSetRegressor: an ordinary estimator fitted on
each support set, evaluated on the episodes the meta-estimators draw."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_meta import (
    FewShotAdapter,
    MAMLRegressor,
    MetaClassifier,
    ProtoNetClassifier,
    SupportSetClassifier,
    SupportSetRegressor,
)
from sklearn_meta.model_selection import evaluate_few_shot, few_shot_curve, make_episodic_scorer

# The checks use datasets of 10 to 300 samples: small episodes.
EPISODES = dict(n_shots=1, n_queries=2, n_eval_episodes=8, random_state=0)
NETWORK = dict(hidden_layer_sizes=(8,), max_iter=5, meta_batch_size=4, device="cpu")


@parametrize_with_checks(
    [
        SupportSetClassifier(n_way=2, **EPISODES),
        SupportSetRegressor(**EPISODES),
        SupportSetClassifier(
            features=ProtoNetClassifier(n_way=2, **NETWORK, **EPISODES), n_way=2, **EPISODES
        ),
        SupportSetRegressor(features=MAMLRegressor(**NETWORK, **EPISODES), **EPISODES),
    ],
    expected_failed_checks=lambda estimator: (
        {}
        if estimator.features is None
        else {
            "check_sample_weight_equivalence_on_dense_data": (
                "the features' meta-learner draws episodes in proportion to the weights; "
                "a repeated sample is drawn as often in expectation, not in the same draws"
            )
        }
    ),
)
@pytest.mark.filterwarnings("ignore::sklearn_meta.exceptions.SingleTaskWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


class SupportRecorder(KNeighborsClassifier):
    """1-nearest neighbour that records every set it is fitted on (in a class
    attribute: the clones fitted per episode share it)."""

    fitted_on: list = []

    def fit(self, X, y):
        type(self).fitted_on.append((np.asarray(X), np.asarray(y)))
        return super().fit(X, y)


def scored_episodes(meta, monkeypatch, X, y, groups=None):
    """The support and query tensors of the episodes ``meta.score`` uses."""
    seen = []
    evaluation_episodes = meta._evaluation_episodes

    def spy(*args, **kwargs):
        seen.append(evaluation_episodes(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(meta, "_evaluation_episodes", spy)
    meta.score(X, y, groups)
    return seen[0].batch


def test_score_draws_the_episodes_of_a_meta_classifier(blobs_classes, monkeypatch):
    """Same settings and seed: the support sets ProtoNet's score adapts to, in
    order, and the accuracy of a manual loop over those episodes."""
    X, y = blobs_classes
    train, held = y < 6, y >= 6
    settings = dict(n_way=3, n_shots=2, n_queries=4, n_eval_episodes=12, random_state=3)
    proto = ProtoNetClassifier(**NETWORK, **settings).fit(X[train], y[train])
    baseline = SupportSetClassifier(SupportRecorder(n_neighbors=1), **settings)
    baseline.fit(X[train], y[train])
    SupportRecorder.fitted_on.clear()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=held.sum())
    score = baseline.score(X[held], y[held], sample_weight=weights)
    batch = scored_episodes(proto, monkeypatch, X[held], y[held])
    assert len(SupportRecorder.fitted_on) == len(batch) == 12
    X_held, y_held = X[held], y[held]
    accuracies = []
    for e, (X_support, y_support) in enumerate(SupportRecorder.fitted_on):
        np.testing.assert_array_equal(X_support.astype(np.float32), batch.x_support[e].numpy())
        # the episode's labels name the same classes as ProtoNet's episode-local ones
        pairs = set(zip(batch.y_support[e].tolist(), y_support.tolist(), strict=True))
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}) == 3
        rows = _rows(X_held, batch.x_query[e].numpy().astype(np.float64), atol=1e-6)
        knn = KNeighborsClassifier(n_neighbors=1).fit(X_support, y_support)
        correct = knn.predict(X_held[rows]) == y_held[rows]
        accuracies.append(np.average(correct, weights=weights[rows]))
    assert score == pytest.approx(np.mean(accuracies), rel=1e-6)  # float32 weights
    assert len(set(accuracies)) > 1  # episodes that differ, not one value


def _rows(X, rows, atol=0.0):
    """Indices in ``X`` of each of ``rows``."""
    distance = np.abs(X[None, :, :] - rows[:, None, :]).max(axis=2)
    assert (distance.min(axis=1) <= atol).all()
    return distance.argmin(axis=1)


def separated_blobs(n_classes=10, per_class=12):
    """Classes far apart: centers 21 apart, unit noise (samples of a class
    about 4.5 apart): 1-NN cannot err."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(n_classes), per_class)
    return 15.0 * np.eye(n_classes)[y] + rng.normal(size=(len(y), n_classes)), y


def test_one_nearest_neighbour_on_separated_blobs_scores_one():
    X, y = separated_blobs()
    baseline = SupportSetClassifier(
        KNeighborsClassifier(n_neighbors=1), n_way=4, n_shots=1, n_queries=5, random_state=0
    ).fit(X, y)
    assert baseline.score(X, y) == 1.0
    chance = SupportSetClassifier(
        KNeighborsClassifier(n_neighbors=1), n_way=4, n_shots=1, n_queries=5, random_state=0
    ).fit(X, y)
    shuffled = np.random.default_rng(0).permutation(y)
    assert chance.score(X, shuffled) < 0.5  # labels unrelated to X: near chance (0.25)


def test_regressor_scores_the_episodes_of_a_meta_regressor(monkeypatch):
    """Linear tasks: a line fitted to two support points predicts the task
    exactly (R² of 1), and the R² of a 2-NN matches a manual loop over the
    episodes MAMLRegressor's score draws."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(15), 10)
    slope, intercept = rng.normal(size=(2, 15))
    X = rng.uniform(-3, 3, size=(len(groups), 1))
    y = slope[groups] * X[:, 0] + intercept[groups]
    settings = dict(n_shots=2, n_queries=5, n_eval_episodes=10, random_state=1)
    line = SupportSetRegressor(LinearRegression(), **settings).fit(X, y, groups)
    assert line.score(X, y, groups) == pytest.approx(1.0)
    ridge = SupportSetRegressor(Ridge(alpha=10.0), **settings).fit(X, y, groups)
    maml = MAMLRegressor(**NETWORK, **settings).fit(X, y, groups)
    batch = scored_episodes(maml, monkeypatch, X, y, groups)
    sse = sst = 0.0
    for e in range(len(batch)):
        x_support, y_support, x_query, y_query = (
            t[e].numpy().astype(np.float64) for t in batch.tensors()
        )
        task = Ridge(alpha=10.0).fit(x_support, y_support)
        sse += np.square(y_query - task.predict(x_query)).sum()
        sst += np.square(y_query - y_query.mean()).sum()
    assert ridge.score(X, y, groups) == pytest.approx(1 - sse / sst, rel=1e-5)
    assert ridge.score(X, y, groups) < 0.99  # shrunk lines: not the exact answer


@pytest.fixture(scope="module")
def blob_split(blobs_classes):
    """The conftest's blobs: 6 training classes, 6 new ones."""
    X, y = blobs_classes
    return X, y, y < 6


def test_evaluate_few_shot_and_few_shot_curve(blob_split):
    X, y, train = blob_split
    baseline = SupportSetClassifier(
        n_way=3, n_shots=2, n_queries=4, n_eval_episodes=15, random_state=0
    ).fit(X[train], y[train])
    new = ~train
    result = evaluate_few_shot(
        baseline, X[new], y[new], n_shots=[1, 2], n_queries=4, n_episodes=15, random_state=0
    )
    assert result.scores.shape == (2, 15)
    # score's episodes are evaluate_few_shot's with the same settings and seed
    assert result.mean[1] == pytest.approx(baseline.score(X[new], y[new]), abs=1e-12)
    shots, curve = few_shot_curve(
        baseline, X[new], y[new], param_range=[1, 2], n_queries=4, n_episodes=15, random_state=0
    )
    np.testing.assert_array_equal(shots, [1, 2])
    np.testing.assert_allclose(curve, result.scores, atol=1e-12)
    log_loss = evaluate_few_shot(
        baseline, X[new], y[new], n_shots=2, n_episodes=15, scoring="neg_log_loss", random_state=0
    )
    assert np.all(log_loss.scores < 0) and np.isfinite(log_loss.scores).all()
    with pytest.raises(ValueError, match="adapts without gradient steps"):
        few_shot_curve(baseline, X[new], y[new], param_name="inner_steps", param_range=[0, 1])


def test_binary_probabilities_reach_scorers():
    """Two classes: scorers get the second class's probability (roc_auc needs it)."""
    X, y = separated_blobs()
    baseline = SupportSetClassifier(n_way=2, n_shots=2, n_queries=5, random_state=0).fit(X, y)
    auc = evaluate_few_shot(
        baseline, X, y, n_shots=2, n_queries=5, n_episodes=10, scoring="roc_auc", random_state=0
    )
    np.testing.assert_allclose(auc.scores, 1.0)


def test_grid_search_chooses_between_a_meta_learner_and_the_baseline(blob_split):
    """A Pipeline step searched over a meta-estimator and the baseline, with
    class-disjoint folds; the baseline's fold scores are its episodic scores."""
    X, y, _ = blob_split
    episodes = dict(n_way=3, n_shots=2, n_queries=4, n_eval_episodes=20, random_state=0)
    proto = ProtoNetClassifier(**NETWORK, **episodes)
    baseline = SupportSetClassifier(KNeighborsClassifier(n_neighbors=1), **episodes)
    pipe = Pipeline([("scale", StandardScaler()), ("learner", proto)])
    cv = GroupKFold(n_splits=2)
    search = GridSearchCV(pipe, {"learner": [proto, baseline]}, cv=cv).fit(X, y, groups=y)
    by_hand = [
        make_pipeline(StandardScaler(), clone(baseline)).fit(X[tr], y[tr]).score(X[te], y[te])
        for tr, te in cv.split(X, y, groups=y)
    ]
    position = [type(p).__name__ for p in search.cv_results_["param_learner"]].index(
        "SupportSetClassifier"
    )
    for fold, score in enumerate(by_hand):
        assert search.cv_results_[f"split{fold}_test_score"][position] == pytest.approx(score)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    result = evaluate_few_shot(best, X, y, n_shots=2, n_episodes=5, random_state=0)
    assert result.scores.shape == (1, 5)


def test_episodic_scorer_in_cross_validate(blob_split):
    """make_episodic_scorer's episodes are score's with the same settings."""
    X, y, _ = blob_split
    episodes = dict(n_shots=2, n_queries=4, random_state=0)
    baseline = SupportSetClassifier(n_way=3, n_eval_episodes=20, **episodes)
    scorer = make_episodic_scorer(accuracy_score, n_episodes=20, **episodes)
    cv = GroupKFold(n_splits=2)
    own = cross_val_score(baseline, X, y, groups=y, cv=cv)
    result = cross_validate(baseline, X, y, groups=y, cv=cv, scoring={"accuracy": scorer})
    np.testing.assert_allclose(result["test_accuracy"], own, atol=1e-12)
    assert len(set(own)) == 2  # two folds of different classes


def test_few_shot_adapter_and_adapt_fit_the_estimator_on_the_support(blob_split):
    X, y, train = blob_split
    baseline = SupportSetClassifier(n_way=3, random_state=0).fit(X[train], y[train])
    support = np.flatnonzero(~train)[::6]  # a few samples of each new class
    query = np.setdiff1d(np.flatnonzero(~train), support)
    expected = LogisticRegression().fit(X[support], y[support])
    task = baseline.adapt(X[support], y[support])
    assert type(task) is LogisticRegression and task is not baseline.estimator
    adapter = FewShotAdapter(baseline).fit(X[support], y[support])
    np.testing.assert_array_equal(adapter.classes_, np.arange(6, 12))
    for fitted in (task, adapter):
        np.testing.assert_array_equal(fitted.predict(X[query]), expected.predict(X[query]))
        np.testing.assert_allclose(fitted.predict_proba(X[query]), expected.predict_proba(X[query]))
    new = ~train
    scores = cross_val_score(FewShotAdapter(baseline), X[new], y[new], cv=3)
    np.testing.assert_allclose(scores, cross_val_score(LogisticRegression(), X[new], y[new], cv=3))
    with pytest.raises(ValueError, match="adapts without gradient steps"):
        FewShotAdapter(baseline, inner_steps=2).fit(X[support], y[support])


def _embedding(meta, X) -> np.ndarray:
    with torch.no_grad():
        return meta.learner_.backbone(torch.tensor(X, dtype=torch.float32)).double().numpy()


def test_features_are_a_meta_learners_backbone_embedding(blob_split):
    X, y, train = blob_split
    proto = ProtoNetClassifier(**NETWORK, n_way=3, random_state=0).fit(X[train], y[train])
    frozen = SupportSetClassifier(features=FrozenEstimator(proto), n_way=3, random_state=0)
    frozen.fit(X[train], y[train])
    assert frozen.features_ is proto
    support = np.flatnonzero(~train)[::6]
    query = np.setdiff1d(np.flatnonzero(~train), support)
    task = frozen.adapt(X[support], y[support])
    expected = LogisticRegression().fit(_embedding(proto, X[support]), y[support])
    proba = task.predict_proba(X[query])
    np.testing.assert_allclose(
        proba, expected.predict_proba(_embedding(proto, X[query])), atol=1e-4
    )
    # an unfitted meta-learner: fit meta-trains a clone, as fitting it alone does
    unfitted = ProtoNetClassifier(**NETWORK, n_way=3, random_state=0)
    fresh = SupportSetClassifier(features=unfitted, n_way=3, random_state=0)
    fresh.fit(X[train], y[train])
    assert not hasattr(unfitted, "learner_")
    np.testing.assert_allclose(
        fresh.adapt(X[support], y[support]).predict_proba(X[query]), proba, atol=1e-6
    )
    by_name = MetaClassifier("protonet", **NETWORK, n_way=3, random_state=0)
    via_name = SupportSetClassifier(features=by_name, n_way=3, random_state=0)
    via_name.fit(X[train], y[train])
    np.testing.assert_allclose(
        via_name.adapt(X[support], y[support]).predict_proba(X[query]), proba, atol=1e-6
    )
    # raw features give other predictions
    raw = SupportSetClassifier(n_way=3).fit(X[train], y[train]).adapt(X[support], y[support])
    assert not np.allclose(raw.predict_proba(X[query]), proba, atol=1e-2)


@pytest.mark.parametrize(
    "estimator, error, match",
    [
        (SupportSetClassifier(Ridge()), TypeError, "must be a scikit-learn classifier"),
        (SupportSetRegressor(LogisticRegression()), TypeError, "must be a scikit-learn regressor"),
        (SupportSetClassifier(features=LogisticRegression()), TypeError, "features must be"),
        (SupportSetClassifier(n_way=1), ValueError, "n_way must be >= 2"),
        (SupportSetClassifier(n_shots=0), ValueError, "n_shots must be >= 1"),
        (SupportSetRegressor(n_queries=1), ValueError, "n_queries must be >= 2"),
    ],
)
def test_bad_parameters_are_named_in_fit(blobs_classes, estimator, error, match):
    X, y = blobs_classes
    with pytest.raises(error, match=match):
        estimator.fit(X, y)


def test_bad_input(blobs_classes):
    X, y = blobs_classes
    with pytest.raises(NotFittedError):
        SupportSetClassifier().score(X, y)
    knn = SupportSetClassifier(KNeighborsClassifier())
    with pytest.raises(ValueError, match="takes none"):
        knn.fit(X, y, sample_weight=np.ones(len(y)))
    baseline = SupportSetClassifier(knn, n_way=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="zero for every sample"):
        baseline.score(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="only one class"):
        SupportSetClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="6 features"):
        baseline.adapt(X[:10, :3], y[:10])
    with pytest.raises(ValueError, match="groups has"):
        baseline.score(X, y, groups=np.zeros(3))
