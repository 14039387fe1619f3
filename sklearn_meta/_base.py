"""The scikit-learn shell shared by every meta-estimator.

:class:`BaseMetaEstimator` holds the algorithm hooks, the public API, input
validation, adaptation to one task and prediction. Its parents hold the
rest: meta-training (``_training``), episodic evaluation (``_evaluation``)
and persistence (``_persistence``). The learning algorithm is a component,
a :class:`~sklearn_meta.MetaAlgorithm`: the estimator's ``algorithm``
parameter, or built from a preset's flat parameters (``_preset``).
Regression and classification come in through ``_MetaRegressorBase``
(``_regressor``) and ``_MetaClassifierBase`` (``_classifier``).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from torch import nn

from ._adapter import FewShotAdapter
from ._algorithm import MetaAlgorithm, resolve_algorithm
from ._core._inner import InnerLoop, split_steps_kept
from ._core._model import AdaptedTask, MetaModel, run_in_dtype
from ._core._tasks import REGRESSION, TaskKind, combine_scores
from ._core._threads import torch_threads
from ._evaluation import EpisodicEvaluationMixin, warn_diverged
from ._params import SHELL, validate_parameters
from ._persistence import PersistenceMixin, save_estimator
from ._training import MetaTrainingMixin
from ._validation import check_int, check_numeric

_PREDICT_BATCH = 4096


class BaseMetaEstimator(
    MetaTrainingMixin, EpisodicEvaluationMixin, PersistenceMixin, BaseEstimator, ABC
):
    """Meta-training, episodic scoring, adaptation and persistence."""

    _kind: TaskKind
    #: The algorithm a preset (such as ``MAMLClassifier``) builds from its own
    #: flat parameters; None where the ``algorithm`` parameter names it.
    _preset: ClassVar[type[MetaAlgorithm] | None] = None

    # -- the algorithm -------------------------------------------------------
    def _algorithm(self) -> MetaAlgorithm:
        """The learning algorithm with the current parameters."""
        if self._preset is not None:  # the algorithm's parameters this preset has
            params = self.get_params(deep=False)
            names = set(self._preset._get_param_names()) & params.keys()
            return self._preset(**{name: params[name] for name in names})
        return resolve_algorithm(self.algorithm, self._kind)

    def set_params(self, **params):
        """Set the parameters of this estimator and of its algorithm.

        ``algorithm__<name>`` on an algorithm given by name first replaces the
        name by the component it stands for, so that
        ``MetaClassifier().set_params(algorithm__inner_lr=0.1)`` gives
        ``MAML(inner_lr=0.1)`` (and grid searches over it work).

        Parameters
        ----------
        **params : dict
            Estimator parameters, and ``algorithm__<name>`` for the algorithm's.

        Returns
        -------
        self : object
            The estimator.
        """
        nested = any(name.startswith("algorithm__") for name in params)
        if (
            nested
            and "algorithm" not in params
            and isinstance(getattr(self, "algorithm", None), str)
        ):
            self.algorithm = resolve_algorithm(self.algorithm, self._kind)
        return super().set_params(**params)

    def _setting(self, name: str):
        """Shell parameter ``name``; None stands for the algorithm's
        recommendation, else the default of the task kind."""
        value = getattr(self, name)
        if value is not None:
            return value
        recommended = self._algorithm().recommended.get(self._kind.name, {})
        return recommended.get(name, SHELL[name].resolve(None, self._kind.name))

    def _own_threads(self) -> int | None:
        """Torch's CPU threads for this estimator's work: ``n_threads``, else
        those ``fit`` chose (None before a fit: the caller's)."""
        SHELL["n_threads"].validate("n_threads", self.n_threads)
        if self.n_threads != "auto":
            return self.n_threads
        return getattr(self, "n_threads_", None)

    def _build_learner(self, model: MetaModel) -> nn.Module:
        """The algorithm's torch module around a freshly built network."""
        classes = getattr(self, "classes_", None)
        n_classes = None if classes is None else len(classes)
        return self._algorithm().build_learner(model, self._kind, n_classes)

    def _inner_loop(self, steps: int | None = None) -> InnerLoop:
        """The adaptation settings; ``steps`` overrides the training ones."""
        return self._algorithm().inner_loop(self._kind, steps)

    # -- hooks of the task kind --------------------------------------------
    @abstractmethod
    def _encode_targets(self, y, *, fitting: bool, classes=None):
        """Validated targets as numbers the torch core uses, and the labels
        the class codes stand for (None for regression)."""

    @abstractmethod
    def _task_pool(self, y, groups, group_names, labels, *, evaluating: bool):
        """Tasks to draw episodes from."""

    @abstractmethod
    def _n_outputs(self, pool) -> int:
        """Outputs per episode."""

    # -- public API ---------------------------------------------------------
    def fit(self, X, y, groups=None, sample_weight=None):
        """Meta-train on the tasks in ``(X, y, groups)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of all tasks, stacked.
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Task label of each sample (see the estimator's task model). None
            means one task for regression and one class pool for
            classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes: a sample is drawn
            into an episode's support or query set in proportion to its weight
            (among its task's or class's samples), and a task, class or group
            is drawn in proportion to the mean weight of its samples. Samples
            of weight zero are left out; equal weights are the same as none.

        Returns
        -------
        self : object
            The meta-trained estimator.
        """
        fresh = not (self.warm_start and hasattr(self, "learner_"))
        return self._fit(X, y, groups, fresh=fresh, sample_weight=sample_weight)

    def adapt(self, X_support, y_support, *, inner_steps=None):
        """Fit one new task from a few examples.

        Parameters
        ----------
        X_support : array-like of shape (n_support, n_features)
            The new task's examples.
        y_support : array-like of shape (n_support,)
            Their targets (for classifiers, any labels, new classes included).
        inner_steps : int, default=None
            Gradient steps of adaptation, for estimators with an inner loop;
            None uses ``eval_inner_steps``.

        Returns
        -------
        adapted : FewShotAdapter
            A fitted estimator for that task. This estimator is unchanged.
        """
        return FewShotAdapter(self, inner_steps=inner_steps).fit(X_support, y_support)

    def score(self, X, y, groups=None, sample_weight=None):
        """Episodic few-shot score on the tasks in ``(X, y, groups)``.

        ``n_eval_episodes`` episodes are drawn from the given data as in
        training. Each adapts to its support set (``eval_inner_steps`` steps)
        and is scored on its queries: the mean accuracy for classifiers; for
        regressors R² with each query set measured against its own task's
        mean, ``1 - ΣSSE / ΣSST`` over the episodes (an average of
        per-episode R² would be ruled by near-constant tasks). The episodes
        depend only on ``random_state``, so scores are repeatable and
        comparable across estimators.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Held-out tasks' inputs.
        y : array-like of shape (n_samples,)
            Their targets; classes need not have been seen in ``fit``.
        groups : array-like of shape (n_samples,), default=None
            Task labels, as in ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the query samples in each episode's score.

        Returns
        -------
        score : float
            The score over all episodes (see above).
        """
        parts = self._score_parts(X, y, groups, sample_weight)
        diverged = int((~np.isfinite(parts).all(axis=1)).sum())
        if diverged:
            warnings.warn(
                f"Adaptation diverged in {diverged} of {len(parts)} episodes; the score is "
                "not finite. Lower inner_lr or the number of inner steps.",
                RuntimeWarning,
                stacklevel=2,
            )
        return combine_scores(parts)

    def save(self, path) -> None:
        """Save the fitted estimator: weights and configuration, no pickled code.

        Read it back with :func:`sklearn_meta.load`, on any device (a model
        fitted on a GPU loads on a CPU-only machine). Pickle and joblib work
        too, but run code from the file when loading.

        Parameters
        ----------
        path : str or path-like
            The file to write (replaced atomically when it exists).
        """
        save_estimator(self, path)

    def _set_predict_state(self, state) -> None:
        """Keep the adapted state ``predict`` uses, and the module holding it."""
        self._predict_state = {name: value.detach().clone() for name, value in state.items()}
        self.adapted_module_ = self.learner_.materialize(self._predict_state)

    # -- input and randomness ----------------------------------------------
    def _validate_X_y(self, X, y, reset: bool):
        check_numeric("X", X)
        if self._kind is REGRESSION:
            check_numeric("y", y)
        return validate_data(
            self, X, y, reset=reset, dtype=np.float32, y_numeric=self._kind is REGRESSION
        )

    def _seeded_rng(self) -> np.random.Generator:
        """A generator seeded from ``random_state``: the same draws on every call
        for an int, fresh ones for None."""
        return np.random.default_rng(check_random_state(self.random_state).randint(2**31 - 1))

    # -- adaptation and prediction -----------------------------------------
    def _decoded(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs in the units of the targets (regressors standardize ``y``)."""
        return outputs

    def _adaptation_loop(self, steps: int | None = None) -> InnerLoop:
        """The inner loop of ``score`` and ``adapt``: ``steps``, else the
        algorithm's evaluation steps, else the training steps."""
        algorithm = self._algorithm()
        if steps is not None and not algorithm.adapts_with_steps:
            raise ValueError(
                f"{type(self).__name__} adapts without gradient steps; "
                f"inner_steps={steps} does not apply."
            )
        if steps is None:
            steps = algorithm.evaluation_steps()
        return replace(algorithm.inner_loop(self._kind, steps), guarded=True)

    def _tensors(self, X, y):
        X_t = torch.tensor(X, dtype=torch.float32, device=self.device_)
        y_t = torch.tensor(y, dtype=self._kind.target_dtype, device=self.device_)
        return X_t, y_t

    def _adapted_task(self, X, y, n_outputs: int, steps: int | None) -> AdaptedTask:
        """A predictor adapted to one task's ``(X, y)``, independent of later fits."""
        return AdaptedTask(self.learner_, self._adapted_state(X, y, n_outputs, steps))

    def _adapted_state(self, X, y, n_outputs: int, steps: int | None) -> dict:
        """The learner's state adapted to one task's ``(X, y)``, in bounded
        memory for a support set of any size (such as all the training
        classes after ``fit``): see ``Learner.adapt_in_chunks``."""
        X_t, y_t = self._tensors(X, y)
        loop = replace(self._adaptation_loop(steps), plain_autograd=True)
        adapt = getattr(self.learner_, "adapt_in_chunks", self.learner_.adapt)
        with torch.no_grad(), torch_threads(self._own_threads()):
            params, steps_kept = split_steps_kept(adapt(X_t, y_t, n_outputs, loop))
        if steps_kept is not None:
            task = f"the support set of {len(X)} samples"
            warn_diverged(steps_kept.cpu().numpy()[None], loop.steps, [task], stacklevel=5)
        if not all(torch.isfinite(value).all() for value in params.values()):
            raise FloatingPointError(
                "Adapting to this task diverged to non-finite parameters; "
                "lower inner_lr or the number of inner steps, or scale the inputs."
            )
        return params

    def _outputs(self, module: nn.Module | AdaptedTask, X) -> np.ndarray:
        """``module`` applied to ``X`` in batches, in float64 (float32 on MPS,
        which has no float64), as a float64 NumPy array: a row's outputs do not
        depend on the batch it is in, on any CPU (see ``run_in_dtype``)."""
        dtype = torch.float32 if self.device_.type == "mps" else torch.float64
        # Even chunks: no batch of one row for batch norm to choke on.
        n_chunks = -(-len(X) // _PREDICT_BATCH)
        with torch.no_grad(), torch_threads(self._own_threads()):
            outputs = [
                run_in_dtype(module, torch.tensor(chunk, device=self.device_, dtype=dtype))
                .cpu()
                .numpy()
                for chunk in np.array_split(X, n_chunks)
            ]
        return self._decoded(np.concatenate(outputs).astype(np.float64))

    # -- parameters ---------------------------------------------------------
    def _check_params(self) -> None:
        validate_parameters(self.get_params(deep=False), SHELL)
        self._algorithm().validate(self._kind)
        if self._kind is REGRESSION:  # R² of a query set needs two points
            check_int("n_queries", self.n_queries, 2)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        return tags
