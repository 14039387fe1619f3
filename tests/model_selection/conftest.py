import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import FineTune, MAMLClassifier, MAMLRegressor, MetaClassifier, ProtoNetClassifier
from sklearn_meta.datasets import make_few_shot_classification

SMALL_CLASSIFIER = dict(
    hidden_layer_sizes=(16,),
    n_way=3,
    n_shots=2,
    n_queries=4,
    meta_batch_size=8,
    max_iter=10,
    n_eval_episodes=40,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="session")
def few_shot_classes():
    """24 classes of 20 samples: X, y, and a mask of the 12 training classes."""
    X, y = make_few_shot_classification(24, 20, n_features=8, class_sep=2.0, random_state=0)
    return X, y, y < 12


@pytest.fixture(scope="session")
def sine_split(sinusoid):
    """The conftest's 60 sine tasks: the first 40 to fit, the last 20 held out."""
    X, y, groups = sinusoid
    return X, y, groups, groups < 40


@pytest.fixture(scope="session")
def maml_regressor(sine_split):
    X, y, groups, train = sine_split
    reg = MAMLRegressor(
        hidden_layer_sizes=(20, 20),
        n_shots=5,
        n_queries=10,
        max_iter=20,
        n_eval_episodes=40,
        device="cpu",
        random_state=0,
    )
    return reg.fit(X[train], y[train], groups[train])


@pytest.fixture(scope="session")
def maml_classifier(few_shot_classes):
    X, y, train = few_shot_classes
    return MAMLClassifier(inner_steps=2, **SMALL_CLASSIFIER).fit(X[train], y[train])


@pytest.fixture(scope="session")
def protonet(few_shot_classes):
    X, y, train = few_shot_classes
    return ProtoNetClassifier(**SMALL_CLASSIFIER).fit(X[train], y[train])


@pytest.fixture(scope="session")
def finetune(few_shot_classes):
    X, y, train = few_shot_classes
    baseline = MetaClassifier(FineTune(inner_steps=5), **SMALL_CLASSIFIER)
    return baseline.fit(X[train], y[train])


@pytest.fixture(scope="session")
def unscaled_classes(few_shot_classes):
    """``few_shot_classes`` with features on scales from 1e-3 to 1e4, off center."""
    X, y, train = few_shot_classes
    return X * np.logspace(-3, 4, X.shape[1]) + 50.0, y, train


@pytest.fixture(scope="session")
def maml_pipeline(unscaled_classes):
    """StandardScaler, PCA to 5 features and MAML, fitted on the 12 training classes."""
    X, y, train = unscaled_classes
    maml = MAMLClassifier(inner_steps=2, **SMALL_CLASSIFIER)
    pipe = make_pipeline(StandardScaler(), PCA(n_components=5, random_state=0), maml)
    return pipe.fit(X[train], y[train])
