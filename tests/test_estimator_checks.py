"""scikit-learn's own estimator checks over every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_meta import (
    MAML,
    FineTuneClassifier,
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaClassifier,
    MetaRegressor,
    MetaRidgeClassifier,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    Reptile,
    ReptileClassifier,
    ReptileRegressor,
)

# Small episodes and few steps: the checks use datasets of 10 to 300 samples.
SMALL = dict(
    hidden_layer_sizes=(8,),
    n_shots=1,
    n_queries=2,
    max_iter=5,
    meta_batch_size=4,
    n_eval_episodes=8,
    device="cpu",
    random_state=0,
)

ESTIMATORS = [
    MAMLRegressor(**SMALL),
    MAMLRegressor(**SMALL, first_order=True, adapt_layers="head"),
    # one inner step: check_class_weight_classifiers forces max_iter=1000
    MAMLClassifier(**SMALL, n_way=2, inner_steps=1),
    MAMLClassifier(**SMALL, n_way=2, inner_steps=2, inner_update="meta-sgd"),
    ReptileRegressor(**SMALL, inner_steps=2),
    ReptileClassifier(**SMALL, n_way=2, inner_steps=2),
    ProtoNetClassifier(**SMALL, n_way=2),
    ProtoNetClassifier(**SMALL, n_way=2, distance="cosine"),
    MetaRidgeRegressor(**SMALL),
    MetaRidgeClassifier(**SMALL, n_way=2),
    FineTuneClassifier(**SMALL, n_way=2, inner_steps=3),
    FineTuneClassifier(**SMALL, n_way=2, inner_steps=3, head="cosine", adapt_layers="all"),
    FineTuneRegressor(**SMALL, inner_steps=3),
    FineTuneRegressor(**SMALL, inner_steps=3, adapt_layers="head"),
    MetaClassifier("protonet", n_way=2, **SMALL),
    MetaRegressor("anil", **SMALL),
    # algorithm components: nested parameters, cloned with the estimator
    MetaClassifier(MAML(inner_steps=1), n_way=2, **SMALL),
    MetaRegressor(Reptile(inner_steps=2), **SMALL),
]


def expected_failed_checks(estimator) -> dict[str, str]:
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "weights set how often a sample is drawn into episodes; a repeated sample is "
            "drawn as often in expectation, but not in the same random draws"
        )
    }


# The checks fit regressors on one task, on purpose.
@pytest.mark.filterwarnings("ignore::sklearn_meta.exceptions.SingleTaskWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
