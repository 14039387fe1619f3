"""The regression task model: each group is one task."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseMetaEstimator
from ._core._episodes import RegressionTasks, _label
from ._core._tasks import REGRESSION
from ._validation import check_numeric, check_sample_weight
from .exceptions import SingleTaskWarning


class _MetaRegressorBase(RegressorMixin, BaseMetaEstimator):
    """Task model: each group is one task; ``groups=None`` makes all data one task."""

    _kind = REGRESSION
    score = BaseMetaEstimator.score  # episodic, not RegressorMixin's

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # score adapts on n_shots samples per episode: a few-shot score, not
        # the in-sample fit that the checks' score thresholds assume.
        tags.regressor_tags.poor_score = True
        return tags

    def partial_fit(self, X, y, groups=None, sample_weight=None):
        """Continue meta-training with one pass over the tasks in ``(X, y, groups)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of the new tasks.
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Task label of each sample.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes, as in ``fit``.

        Returns
        -------
        self : object
            The estimator, meta-trained a little further.
        """
        fresh = not hasattr(self, "learner_")
        return self._fit(X, y, groups, fresh=fresh, one_pass=True, sample_weight=sample_weight)

    def predict(self, X):
        """Predict with the meta-learned parameters, without adaptation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predictions.
        """
        check_is_fitted(self)
        check_numeric("X", X)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return self._outputs(self.learner_.model, X)[:, 0]

    def _validate_training_data(self, X, y, fresh: bool, classes, sample_weight=None):
        X, y = self._validate_X_y(X, y, reset=fresh)
        if fresh:
            kept = _positive_weight_targets(y, sample_weight)
            self.target_mean_, self.target_scale_ = _target_scaling(kept)
        return X, *self._encode_targets(y, fitting=True)

    def _encode_targets(self, y, *, fitting: bool, classes=None):
        """Targets standardized with the training targets' mean and scale, so
        that ``inner_lr`` and the loss mean the same on any scale of ``y``."""
        with np.errstate(over="ignore"):
            targets = (np.asarray(y, dtype=np.float64) - self.target_mean_) / self.target_scale_
            targets = targets.astype(np.float32)
        if not np.isfinite(targets).all():
            raise ValueError(
                f"y has values too far from the training targets (mean {self.target_mean_:.3g}, "
                f"scale {self.target_scale_:.3g}) for float32 once standardized."
            )
        return targets, None

    def _decoded(self, outputs: np.ndarray) -> np.ndarray:
        return outputs * self.target_scale_ + self.target_mean_

    def _restore_payload(self, payload: dict, **kwargs) -> None:
        super()._restore_payload(payload, **kwargs)
        if not hasattr(self, "target_mean_"):  # saved before targets were standardized
            self.target_mean_, self.target_scale_ = 0.0, 1.0

    def _task_pool(self, y, groups, group_names, labels, *, evaluating: bool, weights=None):
        pool = RegressionTasks.of_groups(groups, group_names, self.n_shots, self.n_queries, weights)
        if not evaluating and pool.n_tasks == 1:
            _warn_single_task(type(self).__name__, pool.task_names[0])
        return pool

    def _n_outputs(self, pool) -> int:
        return 1


def _positive_weight_targets(y: np.ndarray, sample_weight) -> np.ndarray:
    """The targets ``fit`` trains on: those of positive weight (all, when none has;
    ``fit`` then says so)."""
    if sample_weight is None:
        return y
    keep = check_sample_weight(sample_weight, len(y)) > 0
    return y[keep] if keep.any() else y


def _target_scaling(y: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the training targets (scale 1 for constant ones)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, scale = float(y.mean()), float(y.std())
    if not np.isfinite(mean) or not np.isfinite(scale):
        raise ValueError("y has values too large to standardize (their mean or spread overflows).")
    return mean, scale or 1.0


def _warn_single_task(name: str, group) -> None:
    """Meta-training on one task learns one function: usually ``groups`` got lost."""
    which = "no groups were given" if group is None else f"every sample is in group {_label(group)}"
    warnings.warn(
        f"{name} is meta-trained on a single task ({which}), so it learns one function, not "
        "how to adapt to new tasks. Pass the task of each sample: fit(X, y, groups=...). "
        "cross_validate, GridSearchCV and Pipeline give groups only to the splitter unless "
        "metadata routing is on: sklearn.set_config(enable_metadata_routing=True) and "
        "estimator.set_fit_request(groups=True).set_score_request(groups=True).",
        SingleTaskWarning,
        stacklevel=5,  # the caller of fit or partial_fit
    )
