"""A synthetic many-class family for few-shot classification."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_float, check_int


def make_few_shot_classification(
    n_classes=100,
    n_samples_per_class=20,
    n_features=20,
    n_latent=5,
    class_sep=1.0,
    noise=0.1,
    random_state=None,
):
    """Many classes that share one hidden structure, for few-shot learning.

    Each class is a Gaussian blob in an ``n_latent``-dimensional latent space
    (centres drawn with standard deviation ``class_sep``, unit spread within a
    class). One random two-layer ``tanh`` network, shared by all classes, maps
    latent points to ``n_features`` features, and Gaussian ``noise`` is
    added. An embedding meta-learned on some classes undoes that shared map
    and carries over to classes it has never seen.

    Parameters
    ----------
    n_classes : int, default=100
        Number of classes.
    n_samples_per_class : int, default=20
        Samples of each class.
    n_features : int, default=20
        Number of features.
    n_latent : int, default=5
        Dimension of the latent space the classes live in.
    class_sep : float, default=1.0
        Standard deviation of the class centres; larger is easier.
    noise : float, default=0.1
        Standard deviation of the noise added to the features.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_classes * n_samples_per_class, n_features)
        Samples, class after class.
    y : ndarray of shape (n_classes * n_samples_per_class,)
        Class labels ``0 .. n_classes - 1``.

    Examples
    --------
    >>> from sklearn_meta.datasets import make_few_shot_classification
    >>> X, y = make_few_shot_classification(n_classes=30, n_samples_per_class=10, random_state=0)
    >>> X.shape, len(set(y))
    ((300, 20), 30)
    """
    for name, value in [
        ("n_classes", n_classes),
        ("n_samples_per_class", n_samples_per_class),
        ("n_features", n_features),
        ("n_latent", n_latent),
    ]:
        check_int(name, value, 1)
    check_float("class_sep", class_sep)
    check_float("noise", noise, positive=False)
    rng = check_random_state(random_state)
    centres = rng.normal(scale=class_sep, size=(n_classes, n_latent))
    y = np.repeat(np.arange(n_classes), n_samples_per_class)
    latent = centres[y] + rng.normal(size=(len(y), n_latent))
    hidden_width = 2 * n_features
    first = rng.normal(size=(n_latent, hidden_width)) / np.sqrt(n_latent)
    second = rng.normal(size=(hidden_width, n_features)) / np.sqrt(hidden_width)
    X = np.tanh(latent @ first) @ second + rng.normal(scale=noise, size=(len(y), n_features))
    return X, y
