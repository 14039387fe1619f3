import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sklearn_meta.datasets import make_few_shot_classification


def test_shape_labels_and_seed():
    X, y = make_few_shot_classification(12, 7, n_features=9, random_state=0)
    assert X.shape == (84, 9)
    np.testing.assert_array_equal(np.bincount(y), np.full(12, 7))
    np.testing.assert_array_equal(X, make_few_shot_classification(12, 7, 9, random_state=0)[0])


def test_class_sep_controls_difficulty():
    def accuracy(sep):
        X, y = make_few_shot_classification(10, 30, class_sep=sep, random_state=0)
        return cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3).mean()

    assert accuracy(3.0) > accuracy(0.3) + 0.2


def test_bad_arguments():
    with pytest.raises(ValueError, match="class_sep"):
        make_few_shot_classification(class_sep=0)
    with pytest.raises(TypeError, match="n_classes must be an int"):
        make_few_shot_classification(n_classes=2.5)
