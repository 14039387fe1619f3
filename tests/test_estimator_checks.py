"""scikit-learn's own estimator checks over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_meta import MAMLClassifier, MAMLRegressor

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
    MAMLClassifier(**SMALL, n_way=2),
    MAMLClassifier(**SMALL, n_way=2, inner_update="meta-sgd"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
