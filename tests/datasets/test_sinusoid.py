import numpy as np
import pytest

from sklearn_meta.datasets import make_sinusoid_tasks


def test_tasks_follow_the_maml_family():
    X, y, groups = make_sinusoid_tasks(50, 30, random_state=0)
    assert X.shape == (1500, 1) and y.shape == (1500,)
    assert (X >= -5).all() and (X <= 5).all()
    for task in range(50):
        x, t = X[groups == task, 0], y[groups == task]
        # recover y = A sin(x - phi) = a sin x + b cos x by least squares
        (a, b), residual, *_ = np.linalg.lstsq(np.c_[np.sin(x), np.cos(x)], t, rcond=None)
        assert residual.item() < 1e-18
        amplitude, phase = np.hypot(a, b), np.arctan2(-b, a)
        assert 0.1 <= amplitude <= 5 and 0 <= phase <= np.pi


def test_seeded_and_checked():
    a = make_sinusoid_tasks(3, 4, random_state=1)
    b = make_sinusoid_tasks(3, 4, random_state=1)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    with pytest.raises(ValueError, match="n_tasks must be >= 1"):
        make_sinusoid_tasks(0, 4)
