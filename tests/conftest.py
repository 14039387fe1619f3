import numpy as np
import pytest

from sklearn_meta.datasets import make_sinusoid_tasks


@pytest.fixture(scope="session")
def sinusoid():
    """60 small sine tasks: X, y, groups."""
    return make_sinusoid_tasks(60, 20, random_state=0)


@pytest.fixture(scope="session")
def blobs_classes():
    """A 12-class pool: well separated Gaussian blobs in 6-D, 30 samples per class."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(12, 6))
    y = np.repeat(np.arange(12), 30)
    X = centers[y] + rng.normal(size=(len(y), 6))
    return X.astype(np.float64), y
