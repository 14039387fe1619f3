"""The embedding of a fitted meta-estimator's meta-learned backbone.

:class:`SupportSetClassifier` and :class:`SupportSetRegressor` fit their
estimator on it when given ``features``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ._adapter import ResolvedEstimator, resolve_meta_estimator
from ._base import BaseMetaEstimator
from ._validation import check_numeric


def _feature_learner(features) -> ResolvedEstimator:
    """The fitted meta-estimator whose backbone embeds the inputs, and what
    transforms the inputs before it (see ``resolve_meta_estimator``)."""
    if isinstance(features, FrozenEstimator):
        features = features.estimator
    resolved = resolve_meta_estimator(features)
    if not isinstance(resolved.meta, BaseMetaEstimator):
        raise TypeError(
            "features must be a meta-estimator of sklearn_meta (such as ProtoNetClassifier), "
            f"MetaClassifier or MetaRegressor; got {type(features).__name__}."
        )
    return resolved


def backbone_embedding(features, X) -> np.ndarray:
    """``X`` embedded by the meta-learned backbone of the fitted ``features``.

    Parameters
    ----------
    features : estimator
        A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or
        one of them inside :class:`~sklearn.frozen.FrozenEstimator`.
    X : array-like of shape (n_samples, n_features)
        Inputs.

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_embedding)
        The backbone's outputs (``learner_.backbone``), in float64.
    """
    resolved = _feature_learner(features)
    meta = resolved.meta
    X = resolved.transform(X)
    check_numeric("X", X)
    X = validate_data(meta, X, reset=False, dtype=np.float32)
    return meta._outputs(meta.learner_.backbone, X)


class BackboneEmbedding(TransformerMixin, BaseEstimator):
    """The embedding of a fitted meta-estimator's backbone, as a transformer.

    The first step of the estimators that :class:`SupportSetClassifier` and
    :class:`SupportSetRegressor` fit when they use a meta-learner's features;
    it learns nothing itself.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator, inside :class:`~sklearn.frozen.FrozenEstimator`
        so that cloning keeps it fitted.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y=None):
        """Check that ``estimator`` is a fitted meta-estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Ignored.
        y : array-like of shape (n_samples,), default=None
            Ignored.

        Returns
        -------
        self : BackboneEmbedding
            This transformer.
        """
        _feature_learner(self.estimator)
        self.n_features_in_ = self.estimator.n_features_in_
        return self

    def transform(self, X):
        """Embed ``X`` with the backbone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_embedding)
            The backbone's outputs.
        """
        check_is_fitted(self)
        return backbone_embedding(self.estimator, X)
