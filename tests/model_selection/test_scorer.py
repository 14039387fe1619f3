import pickle

import pytest
import sklearn
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_squared_error,
)
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLRegressor, ProtoNetClassifier
from sklearn_meta.model_selection import make_episodic_scorer

SMALL_CLASSIFIER = dict(
    hidden_layer_sizes=(16,),
    n_way=3,
    n_shots=2,
    n_queries=4,
    meta_batch_size=8,
    max_iter=10,
    device="cpu",
    random_state=0,
)


def test_repr_shows_the_metric_and_what_differs_from_the_defaults():
    assert repr(make_episodic_scorer(accuracy_score)) == "make_episodic_scorer(accuracy_score)"
    scorer = make_episodic_scorer(
        log_loss,
        n_shots=1,
        n_episodes=600,
        response_method="predict_proba",
        greater_is_better=False,
        random_state=0,
        eps=1e-7,
    )
    assert repr(scorer) == (
        "make_episodic_scorer(log_loss, n_shots=1, n_episodes=600, "
        "response_method='predict_proba', greater_is_better=False, random_state=0, eps=1e-07)"
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_shots": 0}, ValueError, "n_shots must be >= 1"),
        ({"n_queries": 1.5}, TypeError, "n_queries must be an int"),
        ({"n_episodes": 0}, ValueError, "n_episodes must be >= 1"),
        ({"n_way": 1}, ValueError, "n_way must be >= 2"),
        ({"inner_steps": -1}, ValueError, "inner_steps must be >= 0"),
        ({"response_method": "decision_function"}, ValueError, "response_method must be"),
        ({"greater_is_better": "yes"}, TypeError, "greater_is_better must be a bool"),
    ],
)
def test_bad_settings_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_episodic_scorer(accuracy_score, **kwargs)
    with pytest.raises(TypeError, match="metric must be a callable"):
        make_episodic_scorer("accuracy")


def test_accuracy_scorer_is_the_estimators_score(few_shot_classes, maml_classifier):
    X, y, train = few_shot_classes
    clf = maml_classifier
    scorer = make_episodic_scorer(
        accuracy_score,
        n_shots=clf.n_shots,
        n_queries=clf.n_queries,
        n_episodes=clf.n_eval_episodes,
        random_state=clf.random_state,
    )
    assert scorer(clf, X[~train], y[~train]) == pytest.approx(clf.score(X[~train], y[~train]))
    # an int random_state: the same episodes on every call
    assert scorer(clf, X[~train], y[~train]) == scorer(clf, X[~train], y[~train])


def test_metrics_settings_and_kwargs_reach_each_episode(few_shot_classes, protonet):
    X, y, train = few_shot_classes
    X, y = X[~train], y[~train]
    common = dict(n_episodes=30, random_state=0)
    accuracy = make_episodic_scorer(accuracy_score, **common)(protonet, X, y)
    # every episode has n_queries samples of each class: balanced accuracy is accuracy
    balanced = make_episodic_scorer(balanced_accuracy_score, **common)(protonet, X, y)
    assert balanced == pytest.approx(accuracy)
    macro_f1 = make_episodic_scorer(f1_score, average="macro", **common)(protonet, X, y)
    assert 0 < macro_f1 < 1 and macro_f1 != accuracy
    with pytest.raises(ValueError, match="average"):  # kwargs missing: the metric complains
        make_episodic_scorer(f1_score, **common)(protonet, X, y)
    loss = make_episodic_scorer(
        log_loss, response_method="predict_proba", greater_is_better=False, **common
    )(protonet, X, y)
    assert loss < 0  # negated: greater is better
    one_shot = make_episodic_scorer(accuracy_score, n_shots=1, **common)(protonet, X, y)
    five_way = make_episodic_scorer(accuracy_score, n_way=5, **common)(protonet, X, y)
    assert one_shot < accuracy and five_way < accuracy
    two_way_loss = make_episodic_scorer(
        log_loss, n_way=2, response_method="predict_proba", **common
    )(protonet, X, y)
    assert 0 < two_way_loss < -loss  # binary episodes: one column, as sklearn scorers pass


def test_regression_scorer(sine_split, maml_regressor):
    X, y, groups, train = sine_split
    held = ~train
    scorer = make_episodic_scorer(mean_squared_error, greater_is_better=False, random_state=0)
    with_groups = scorer(maml_regressor, X[held], y[held], groups=groups[held])
    one_task = scorer(maml_regressor, X[held], y[held])
    assert with_groups < 0 and one_task < 0 and with_groups != one_task
    proba = make_episodic_scorer(accuracy_score, response_method="predict_proba")
    with pytest.raises(ValueError, match="is a regressor"):
        proba(maml_regressor, X[held], y[held])


def test_cross_validate_routes_groups_to_the_scorer(sine_split):
    X, y, groups, _ = sine_split
    reg = MAMLRegressor(max_iter=5, meta_batch_size=8, device="cpu", random_state=0)
    scorer = make_episodic_scorer(
        mean_squared_error, n_episodes=20, greater_is_better=False, random_state=0
    )
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(UnsetMetadataPassedError, match="groups"):
            cross_validate(
                clone(reg).set_fit_request(groups=True),
                X,
                y,
                cv=GroupKFold(2),
                params={"groups": groups},
                scoring=clone_scorer(scorer),
            )
        routed = cross_validate(
            make_pipeline(StandardScaler(), clone(reg).set_fit_request(groups=True)),
            X,
            y,
            cv=GroupKFold(2),
            params={"groups": groups},
            scoring=clone_scorer(scorer).set_score_request(groups=True),
            return_estimator=True,
            return_indices=True,
        )
    # the scores are those of the scorer called by hand with each test fold's groups
    for estimator, test, score in zip(
        routed["estimator"], routed["indices"]["test"], routed["test_score"], strict=True
    ):
        assert score == pytest.approx(scorer(estimator, X[test], y[test], groups[test]))
        assert score != pytest.approx(scorer(estimator, X[test], y[test]))


def clone_scorer(scorer):
    return pickle.loads(pickle.dumps(scorer))


def test_set_score_request_needs_routing():
    scorer = make_episodic_scorer(accuracy_score)
    with pytest.raises(RuntimeError, match="metadata routing"):
        scorer.set_score_request(groups=True)
    assert scorer.get_metadata_routing().score.requests == {"groups": None}
    with sklearn.config_context(enable_metadata_routing=True):
        assert scorer.set_score_request(groups=True) is scorer
        assert scorer.get_metadata_routing().score.requests == {"groups": True}
        scorer.set_score_request(groups="tasks")
        assert scorer.get_metadata_routing().score.requests == {"groups": "tasks"}
        with pytest.raises(ValueError):
            scorer.set_score_request(groups=3)


def test_class_disjoint_cross_validation_without_routing(few_shot_classes):
    """groups=y: every test fold holds classes the model never saw."""
    X, y, _ = few_shot_classes
    clf = ProtoNetClassifier(**SMALL_CLASSIFIER)
    scoring = {
        "1-shot": make_episodic_scorer(accuracy_score, n_shots=1, n_episodes=40, random_state=0),
        "5-shot": make_episodic_scorer(accuracy_score, n_shots=5, n_episodes=40, random_state=0),
    }
    result = cross_validate(clf, X, y, groups=y, cv=GroupKFold(3), scoring=scoring)
    one, five = result["test_1-shot"], result["test_5-shot"]
    assert one.shape == five.shape == (3,)
    assert (one > 1 / 3).all() and five.mean() > one.mean()


def test_grid_search_with_an_episodic_scorer(few_shot_classes):
    X, y, _ = few_shot_classes
    scorer = make_episodic_scorer(accuracy_score, n_shots=1, n_episodes=30, random_state=0)
    search = GridSearchCV(
        ProtoNetClassifier(**SMALL_CLASSIFIER),
        {"max_iter": [1, 30]},
        cv=GroupKFold(2),
        scoring=scorer,
    ).fit(X, y, groups=y)
    assert search.best_params_ == {"max_iter": 30}
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.score(X, y) == pytest.approx(scorer(search.best_estimator_, X, y))


def test_grid_search_over_a_pipeline_with_an_episodic_scorer(unscaled_classes):
    """The scorer adapts the pipeline's last step to transformed support sets."""
    X, y, _ = unscaled_classes
    scorer = make_episodic_scorer(
        log_loss, response_method="predict_proba", greater_is_better=False, n_episodes=20,
        random_state=0,
    )  # fmt: skip
    pipe = make_pipeline(
        StandardScaler(), PCA(random_state=0), ProtoNetClassifier(**SMALL_CLASSIFIER)
    )
    search = GridSearchCV(pipe, {"pca__n_components": [2, 6]}, cv=GroupKFold(2), scoring=scorer)
    search.fit(X, y, groups=y)
    best = search.best_estimator_
    assert best[-1].n_features_in_ == search.best_params_["pca__n_components"]
    assert search.score(X, y) == pytest.approx(scorer(best[-1], best[:-1].transform(X), y))
