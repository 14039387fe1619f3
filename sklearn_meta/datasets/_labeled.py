"""Any labeled dataset as a class pool split into meta-train and meta-test classes."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state, check_X_y
from sklearn.utils.multiclass import check_classification_targets

from .._validation import check_bool, check_int


def tasks_from_labeled(
    X, y, *, test_size=0.25, min_samples_per_class=None, shuffle=True, random_state=None
):
    """Split a labeled dataset by class into meta-train and meta-test pools.

    Few-shot evaluation tests a meta-learner on classes it has never seen.
    This splits the *classes* of ``X, y`` (for example scikit-learn's
    ``load_digits``) into two disjoint sets and returns every sample of the
    meta-train classes and every sample of the meta-test classes, in the
    order of :func:`~sklearn.model_selection.train_test_split`. Within each
    side the rows keep their original order.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples; arrays with more dimensions (e.g. images) are accepted too.
    y : array-like of shape (n_samples,)
        Class labels.
    test_size : float or int, default=0.25
        A float in (0, 1) is the fraction of the classes that go to the
        meta-test side (rounded up); an int is their number. Each side needs
        at least 2 classes.
    min_samples_per_class : int or None, default=None
        Classes with fewer samples are dropped before the split; None keeps
        every class. An episode draws ``n_shots + n_queries`` samples of each
        of its classes, so set this to at least ``n_shots + n_queries`` of the
        estimator the pools are for.
    shuffle : bool, default=True
        Whether to shuffle the classes before splitting. With
        ``shuffle=False`` the meta-test side holds the last classes in sorted
        order (``random_state`` is not used).
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle of the classes.

    Returns
    -------
    X_train : ndarray of shape (n_train_samples, ...)
        Samples of the meta-train classes.
    X_test : ndarray of shape (n_test_samples, ...)
        Samples of the meta-test classes.
    y_train : ndarray of shape (n_train_samples,)
        Their labels (the original labels, not re-encoded).
    y_test : ndarray of shape (n_test_samples,)
        Labels of the meta-test samples; no class is on both sides.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta.datasets import tasks_from_labeled
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=4, shuffle=False)
    >>> sorted(set(y_train.tolist())), sorted(set(y_test.tolist()))
    ([0, 1, 2, 3, 4, 5], [6, 7, 8, 9])
    >>> X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=0.3, random_state=0)
    >>> len(set(y_train.tolist())), len(set(y_test.tolist())), X_train.shape[0] + X_test.shape[0]
    (7, 3, 1797)
    """
    X, y = check_X_y(X, y, accept_sparse="csr", dtype=None, allow_nd=True)
    check_classification_targets(y)
    shuffle = check_bool("shuffle", shuffle)
    classes, counts = np.unique(y, return_counts=True)
    if min_samples_per_class is not None:
        minimum = check_int("min_samples_per_class", min_samples_per_class, 1)
        classes = classes[counts >= minimum]
        kept = f" with at least {minimum} samples"
    else:
        kept = ""
    n_test = _n_test_classes(test_size, len(classes), kept)
    if shuffle:
        classes = check_random_state(random_state).permutation(classes)
        test_classes = classes[:n_test]
    else:
        test_classes = classes[len(classes) - n_test :]
    train_classes = np.setdiff1d(classes, test_classes)
    train, test = np.isin(y, train_classes), np.isin(y, test_classes)
    return X[train], X[test], y[train], y[test]


def _n_test_classes(test_size, n_classes: int, kept: str) -> int:
    """The number of meta-test classes; at least 2 on each side."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a float in (0, 1) or an int, got {test_size!r} "
            f"({type(test_size).__name__})."
        )
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = int(np.ceil(test_size * n_classes))
    else:
        raise ValueError(f"A float test_size must lie in (0, 1), got {test_size}.")
    if n_classes < 4:
        raise ValueError(
            f"There are {n_classes} classes{kept}; splitting them needs at least 4, 2 on each side."
        )
    if not 2 <= n_test <= n_classes - 2:
        raise ValueError(
            f"test_size={test_size} puts {n_test} of the {n_classes} classes{kept} on the "
            f"meta-test side; each side needs at least 2 classes, so the meta-test side "
            f"must have between 2 and {n_classes - 2}."
        )
    return n_test
