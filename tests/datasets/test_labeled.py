import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.datasets import tasks_from_labeled


def _pool(n_classes=10, n_per_class=5, seed=0):
    """Shuffled rows of ``n_classes`` string classes; X[:, 0] is the row number."""
    rng = np.random.default_rng(seed)
    y = np.repeat([f"c{k:02d}" for k in range(n_classes)], n_per_class)
    order = rng.permutation(len(y))
    y = y[order]
    X = np.c_[np.arange(len(y)), rng.normal(size=(len(y), 2))]
    return X, y


def test_classes_are_disjoint_and_complete():
    X, y = _pool()
    X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=0.3, random_state=0)
    assert len(np.unique(y_test)) == 3 and len(np.unique(y_train)) == 7
    assert not set(y_train) & set(y_test)
    assert len(y_train) + len(y_test) == len(y)
    # rows stay paired with their labels and keep their original order on each side
    for X_side, y_side in [(X_train, y_train), (X_test, y_test)]:
        rows = X_side[:, 0].astype(int)
        assert (np.diff(rows) > 0).all()
        np.testing.assert_array_equal(y[rows], y_side)
        np.testing.assert_array_equal(X[rows], X_side)


def test_seeded_shuffle_and_int_test_size():
    X, y = _pool()
    first = tasks_from_labeled(X, y, test_size=4, random_state=0)
    again = tasks_from_labeled(X, y, test_size=4, random_state=0)
    for left, right in zip(first, again, strict=True):
        np.testing.assert_array_equal(left, right)
    assert len(np.unique(first[3])) == 4
    test_sets = {
        tuple(np.unique(tasks_from_labeled(X, y, test_size=4, random_state=seed)[3]))
        for seed in range(5)
    }
    assert len(test_sets) > 1


def test_without_shuffle_the_last_classes_are_held_out():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=4, shuffle=False)
    np.testing.assert_array_equal(X_train, X[y < 6])
    np.testing.assert_array_equal(y_test, y[y >= 6])
    np.testing.assert_array_equal(X_test, X[y >= 6])


def test_min_samples_per_class_drops_small_classes():
    X, y = _pool(n_classes=6, n_per_class=4)
    keep = ~((y == "c00") & (np.cumsum(y == "c00") > 1))  # c00 keeps one sample
    X, y = X[keep], y[keep]
    X_train, X_test, y_train, y_test = tasks_from_labeled(
        X, y, test_size=2, min_samples_per_class=2, random_state=0
    )
    assert "c00" not in set(y_train) | set(y_test)
    assert len(y_train) + len(y_test) == 20
    assert len(X_train) == len(y_train)
    # without the filter the tiny class is kept on one side
    kept = tasks_from_labeled(X, y, test_size=2, random_state=0)
    assert "c00" in set(kept[2]) | set(kept[3])


def test_images_keep_their_shape():
    X = np.zeros((8, 3, 3))
    y = np.repeat(np.arange(4), 2)
    X_train, X_test, _, _ = tasks_from_labeled(X, y, test_size=2, random_state=0)
    assert X_train.shape == (4, 3, 3) and X_test.shape == (4, 3, 3)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(test_size=1), ValueError, "each side needs at least 2 classes"),
        (dict(test_size=9), ValueError, "between 2 and 8"),
        (dict(test_size=0.05), ValueError, "puts 1 of the 10 classes"),
        (dict(test_size=0.95), ValueError, "puts 10 of the 10 classes"),
        (dict(test_size=1.5), ValueError, r"must lie in \(0, 1\)"),
        (dict(test_size=0), ValueError, "puts 0 of"),
        (dict(test_size="half"), TypeError, "test_size must be"),
        (dict(test_size=True), TypeError, "test_size must be"),
        (dict(min_samples_per_class=6), ValueError, "There are 0 classes with at least 6"),
        (dict(min_samples_per_class=0), ValueError, "min_samples_per_class must be >= 1"),
        (dict(shuffle="yes"), TypeError, "shuffle must be a bool"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    X, y = _pool()
    with pytest.raises(error, match=match):
        tasks_from_labeled(X, y, **kwargs)


def test_bad_data():
    X, y = _pool()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        tasks_from_labeled(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        tasks_from_labeled(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="There are 3 classes; splitting them needs at least 4"):
        tasks_from_labeled(X[:9], np.repeat([0, 1, 2], 3))


def test_pools_feed_a_meta_learner():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = tasks_from_labeled(
        X / 16, y, test_size=4, min_samples_per_class=6, random_state=0
    )
    model = ProtoNetClassifier(n_way=3, n_shots=1, n_queries=5, max_iter=5, random_state=0)
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.45  # 3-way episodes on unseen digits; chance is 1/3
    task = model.adapt(X_test[:8], y_test[:8])
    np.testing.assert_array_equal(task.classes_, np.unique(y_test))
