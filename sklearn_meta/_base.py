"""The scikit-learn shell shared by every meta-estimator.

It validates input, indexes tasks, runs the outer loop on the core and turns
fitted torch modules back into NumPy predictions. Algorithms plug in through
``_build_learner`` and ``_inner_loop``; regression and classification through
the ``_MetaRegressorBase`` and ``_MetaClassifierBase`` classes below.
"""

from __future__ import annotations

import copy
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from tqdm.auto import tqdm

from ._core._episodes import ClassificationTasks, RegressionTasks, _label
from ._core._inner import DIVERGENCE_FACTOR, InnerLoop, split_steps_kept
from ._core._meta import (
    EpisodeBatch,
    can_vectorize,
    episode_scores,
    is_main_process,
    map_episodes,
    meta_step,
)
from ._core._model import (
    AdaptedTask,
    MetaModel,
    build_backbone,
    evaluation_mode,
    own_random_state,
    resolve_device,
    run_in_dtype,
)
from ._core._tasks import CLASSIFICATION, REGRESSION, TaskKind, combine_scores
from ._persistence import (
    data_fingerprint,
    decode,
    encode,
    read_payload,
    same_training,
    save_estimator,
    warn_if_unavailable,
)
from ._validation import (
    check_classes,
    check_hidden_layer_sizes,
    check_int,
    check_numeric,
    check_parameters,
    check_sample_weight,
    encode_groups,
    merge_classes,
)
from .exceptions import AdaptationWarning, SingleTaskWarning

_PREDICT_BATCH = 4096


class BaseMetaEstimator(BaseEstimator, ABC):
    """Meta-training, episodic scoring, adaptation and persistence."""

    _kind: TaskKind
    # The name its messages give it: a MetaClassifier or MetaRegressor sets its
    # own on the learner it builds, so that users read the name they used.
    _public_name: str | None = None

    def _display_name(self) -> str:
        """The name of this estimator in messages and progress bars."""
        return self._public_name or type(self).__name__

    # -- hooks -------------------------------------------------------------
    @abstractmethod
    def _build_learner(self, model: MetaModel) -> nn.Module:
        """The algorithm's torch module around a freshly built network."""

    @abstractmethod
    def _inner_loop(self, steps: int | None = None) -> InnerLoop:
        """The adaptation settings; ``steps`` overrides the training ones."""

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
        from ._adapter import FewShotAdapter

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

    def _score_parts(self, X, y, groups=None, sample_weight=None) -> np.ndarray:
        """Each episode's score as (numerator, denominator): shape (n_episodes, 2)."""
        check_is_fitted(self)
        X, y = self._validate_X_y(X, y, reset=False)
        y, labels = self._encode_targets(y, fitting=False)
        codes, names = encode_groups(groups, len(X))
        weights = check_sample_weight(sample_weight, len(X))
        if not weights.any():
            raise ValueError("sample_weight is zero for every sample; there is nothing to score.")
        evaluation = self._evaluation_episodes(X, y, codes, names, labels, weights)
        return self._episode_score_parts(evaluation)

    # -- persistence --------------------------------------------------------
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

    def _fitted_payload(self) -> dict:
        check_is_fitted(self)
        fitted = {name: getattr(self, name) for name in _SAVED_ATTRIBUTES if hasattr(self, name)}
        fitted["rng"] = self._rng.bit_generator.state
        return {
            "fitted": json.dumps({name: encode(value) for name, value in fitted.items()}),
            "learner": self.learner_.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "predict_state": getattr(self, "_predict_state", None),
        }

    def _restore_payload(self, payload: dict, *, device=None, module=None) -> None:
        fitted = {k: decode(v) for k, v in json.loads(payload["fitted"]).items()}
        rng_state = fitted.pop("rng")
        saved_device = torch.device(fitted.pop("device_"))
        device = warn_if_unavailable(saved_device) if device is None else resolve_device(device)
        self.__dict__.update(fitted)  # classes_ first: some learners are built for them
        self._initialize(self.n_features_in_, device)
        self.__dict__.update(fitted)  # the counters _initialize reset
        self.learner_.load_state_dict(payload["learner"])
        self._optimizer.load_state_dict(payload["optimizer"])
        self._rng.bit_generator.state = rng_state
        if payload["predict_state"] is not None:
            self._set_predict_state(
                {name: value.to(device) for name, value in payload["predict_state"].items()}
            )

    def _set_predict_state(self, state) -> None:
        """Keep the adapted state ``predict`` uses, and the module holding it."""
        self._predict_state = {name: value.detach().clone() for name, value in state.items()}
        self.adapted_module_ = self.learner_.materialize(self._predict_state)

    # -- meta-training ------------------------------------------------------
    def _fit(
        self,
        X,
        y,
        groups,
        *,
        fresh: bool,
        one_pass: bool = False,
        classes=None,
        sample_weight=None,
    ):
        with unchanged_on_failure(self):  # a call failing validation leaves it as it was
            self._check_params()
            X, y, labels = self._validate_training_data(X, y, fresh, classes, sample_weight)
            codes, names = encode_groups(groups, len(X))
            weights = self._training_weights(y, sample_weight)
            if weights is not None:
                X, y, codes, weights = _drop_weightless(X, y, codes, weights)
            train, validation = self._split_validation(X, y, codes, names, weights)
            X_train, y_train, codes_train, weights_train = train
            train_pool = self._task_pool(
                y_train, codes_train, names, labels, evaluating=False, weights=weights_train
            )
            resume = fresh and not one_pass and self._has_checkpoint()
            if self.checkpoint_path is not None:
                fingerprint = data_fingerprint(X, y, codes, weights)
            if resume:
                self._resume(fingerprint)
            elif fresh:
                self._initialize(X.shape[1])
            if self.checkpoint_path is not None:
                self._data_fingerprint = fingerprint
            if validation is not None:
                validation = self._evaluation_episodes(*validation[:3], names, labels)
        n_iter = max(self.max_iter - self.n_iter_, 0) if resume else self.max_iter
        if one_pass:
            n_iter = -(-train_pool.n_tasks // self.meta_batch_size)
        try:
            self._meta_train(X_train, y_train, train_pool, validation, n_iter)
        except FloatingPointError:
            self._prepare_predict_after_failure(X, y, one_pass)
            raise
        self._after_fit(X, y, streaming=one_pass)
        return self

    def _prepare_predict_after_failure(self, X, y, streaming: bool) -> None:
        """Make ``predict`` use the last finite parameters kept, never an older
        fit's state; without any, ``predict`` says the model is not fitted."""
        try:
            self._after_fit(X, y, streaming=streaming)
        except FloatingPointError:
            self.__dict__.pop("adapted_module_", None)
            self.__dict__.pop("_predict_state", None)

    def _validate_training_data(self, X, y, fresh: bool, classes, sample_weight=None):
        X, y = self._validate_X_y(X, y, reset=fresh)
        y, labels = self._encode_targets(y, fitting=True, classes=classes)
        return X, y, labels

    def _write_checkpoint(self) -> None:
        if self.checkpoint_path is not None and is_main_process():
            save_estimator(self, self.checkpoint_path)

    def _has_checkpoint(self) -> bool:
        return self.checkpoint_path is not None and Path(self.checkpoint_path).exists()

    def _resume(self, fingerprint: str) -> None:
        """Continue from the checkpoint at ``checkpoint_path``, if it is this
        estimator's on the same data."""
        payload = read_payload(self.checkpoint_path)
        stored = json.loads(payload["fitted"]).get("_data_fingerprint")
        if not same_training(payload, self):
            problem = "an estimator with other parameters"
        elif stored != fingerprint:
            problem = "a fit on other data"
        else:
            self._restore_payload(payload)
            return
        raise ValueError(
            f"checkpoint_path={str(self.checkpoint_path)!r} holds a checkpoint of {problem}; "
            "delete it or choose another path to start afresh."
        )

    def _training_weights(self, y, sample_weight) -> np.ndarray | None:
        """Validated sample weights of ``fit`` (None when not given)."""
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, len(y))

    def _validate_X_y(self, X, y, reset: bool):
        check_numeric("X", X)
        if self._kind is REGRESSION:
            check_numeric("y", y)
        return validate_data(
            self, X, y, reset=reset, dtype=np.float32, y_numeric=self._kind is REGRESSION
        )

    def _initialize(self, n_features: int, device: torch.device | None = None) -> None:
        """Fresh network, optimizer and random streams (on ``device``, else ``self.device``)."""
        self.device_ = resolve_device(self.device) if device is None else device
        self._rng = self._seeded_rng()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._rng.integers(2**31 - 1)))
            backbone = build_backbone(
                self.module,
                n_features,
                check_hidden_layer_sizes(self.hidden_layer_sizes),
                self.activation,
                self.input_shape,
            ).to(self.device_)
            self.learner_ = self._build_learner(MetaModel(backbone, n_features)).to(self.device_)
        self.learner_.eval()  # adapt, predict and score; fit switches to training mode
        self._optimizer = torch.optim.Adam(self.learner_.parameters(), lr=self.meta_lr)
        self.vectorized_ = None
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _seeded_rng(self) -> np.random.Generator:
        """A generator seeded from ``random_state``: the same draws on every call
        for an int, fresh ones for None."""
        return np.random.default_rng(check_random_state(self.random_state).randint(2**31 - 1))

    def _split_validation(self, X, y, codes, names, weights):
        """Hold out whole tasks (groups; classes without groups; rows for a
        single regression task) for early stopping."""
        if not self.early_stopping:
            return (X, y, codes, weights), None
        least = 1
        if len(names) > 1:
            units = codes
        elif self._kind is CLASSIFICATION:
            units, least = y, 2  # a validation episode needs two classes
        else:
            units = np.arange(len(y))
        unit_ids = np.unique(units)
        n_held = max(int(np.ceil(self.validation_fraction * len(unit_ids))), least)
        if n_held >= len(unit_ids):
            raise ValueError(
                f"early_stopping holds out {n_held} of the {len(unit_ids)} tasks, which "
                "leaves none to train on; give more tasks or lower validation_fraction."
            )
        held = self._seeded_rng().choice(unit_ids, n_held, replace=False)
        mask = np.isin(units, held)
        train, held_out = (
            tuple(None if a is None else a[rows] for a in (X, y, codes, weights))
            for rows in (~mask, mask)
        )
        return train, held_out

    def _evaluation_episodes(self, X, y, codes, names, labels, weights=None) -> _EvaluationEpisodes:
        """``n_eval_episodes`` episodes that depend only on ``random_state``."""
        pool = self._task_pool(y, codes, names, labels, evaluating=True)
        episodes = pool.sample(self._seeded_rng(), self.n_eval_episodes)
        weights = check_sample_weight(None, len(X)) if weights is None else weights
        return _EvaluationEpisodes(
            EpisodeBatch.gather(*self._tensors(X, y), episodes),
            torch.tensor(weights[episodes.query], device=self.device_),
            self._n_outputs(pool),
            episode_tasks(codes, names, episodes.support),
        )

    def _meta_train(self, X, y, pool, validation, n_iter: int) -> None:
        for group in self._optimizer.param_groups:
            group["lr"] = self.meta_lr
        X_t, y_t = self._tensors(X, y)
        n_outputs = self._n_outputs(pool)
        episode_loss = partial(
            self.learner_.episode_loss, n_outputs=n_outputs, loop=self._inner_loop()
        )
        step = partial(
            meta_step,
            chunk_size=self.task_chunk_size,
            autocast=_AUTOCAST[self.precision],
            mapper=torch.compile(map_episodes) if self.compile else map_episodes,
        )
        stopper = _Stopper(self.tol, self.n_iter_no_change, self.learner_ if validation else None)
        if validation is not None and self.validation_scores_ is None:
            self.validation_scores_ = []
        progress = tqdm(range(n_iter), disable=not self.verbose, desc=self._display_name())
        completed = self._rng.bit_generator.state  # the episode stream after the last step
        torch_seed = int(self._seeded_rng().integers(2**31 - 1))
        self.learner_.train()  # dropout, if the module has any, in meta-training only
        try:
            with own_random_state(self.device_):
                for index in progress:
                    _seed_torch(self.device_, torch_seed, self.n_iter_)
                    episodes = pool.sample(self._rng, self.meta_batch_size)
                    batch = EpisodeBatch.gather(X_t, y_t, episodes)
                    if self.vectorized_ is None:
                        self.vectorized_ = self.vectorize and can_vectorize(episode_loss, batch)
                    loss = step(episode_loss, batch, self._optimizer, self.vectorized_)
                    self.n_iter_ += 1
                    self.loss_curve_.append(loss)
                    completed = self._rng.bit_generator.state
                    progress.set_postfix(loss=f"{loss:.4f}", refresh=False)
                    value = self._stopping_value(loss, validation, last=index == n_iter - 1)
                    if self.n_iter_ % self.checkpoint_every == 0:
                        self._write_checkpoint()
                    if value is not None and stopper.should_stop(value):
                        break
        except KeyboardInterrupt:
            self._rng.bit_generator.state = completed  # as if it stopped after that step
            warnings.warn(
                f"Meta-training was interrupted after {self.n_iter_} steps (n_iter_); the "
                "estimator keeps the parameters of the last complete step.",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:  # also after a non-finite loss, which leaves the last finite parameters
            self.learner_.eval()
            if validation is not None:
                self.best_validation_score_ = stopper.restore_best()
            self._write_checkpoint()

    def _stopping_value(self, loss: float, validation, *, last: bool) -> float | None:
        """What the stopper watches after a step: minus the training loss, or
        with ``validation`` its episodic score every ``validation_interval``
        steps and after the last step (None between validations)."""
        if validation is None:
            return -loss
        if self.n_iter_ % self.validation_interval and not last:
            return None
        score = combine_scores(self._episode_score_parts(validation))
        self.validation_scores_.append(score)
        return score

    def _after_fit(self, X, y, *, streaming: bool = False) -> None:
        """What predict needs besides the meta-learned parameters (``streaming``:
        after ``partial_fit``)."""

    def _decoded(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs in the units of the targets (regressors standardize ``y``)."""
        return outputs

    def _episode_score_parts(
        self, evaluation: _EvaluationEpisodes, warn: bool = True
    ) -> np.ndarray:
        """Each episode's score parts; with ``warn``, an :class:`AdaptationWarning`
        names the tasks whose adaptation diverged."""
        loop = self._adaptation_loop()
        learner = self.learner_

        def adapt_and_predict(x_support, y_support, x_query):
            return learner.adapt_and_predict(
                x_support, y_support, x_query, evaluation.n_outputs, loop
            )

        with evaluation_mode(learner):  # validation scores during fit too
            parts, steps_kept = episode_scores(
                adapt_and_predict,
                self._kind.score_parts,
                evaluation.batch,
                evaluation.query_weights,
                bool(self.vectorized_),
                self._episodes_per_call(),
            )
        if warn:
            warn_diverged(steps_kept, loop.steps, evaluation.task_names, stacklevel=4)
        return parts

    def _episodes_per_call(self) -> int:
        """Episodes per ``vmap`` call when adapting for scores: the memory bound."""
        return self.task_chunk_size or self.meta_batch_size

    def _adaptation_loop(self, steps: int | None = None) -> InnerLoop:
        """The inner loop of ``score`` and ``adapt``: ``steps``, else
        ``eval_inner_steps`` where the estimator has that parameter (prototypical
        networks do not), else the training steps."""
        if steps is not None and "inner_steps" not in self.get_params(deep=False):
            raise ValueError(
                f"{self._display_name()} adapts without gradient steps; "
                f"inner_steps={steps} does not apply."
            )
        if steps is None:
            steps = getattr(self, "eval_inner_steps", None)
        return replace(self._inner_loop(steps), guarded=True)

    # -- torch helpers ------------------------------------------------------
    def _tensors(self, X, y):
        X_t = torch.tensor(X, dtype=torch.float32, device=self.device_)
        y_t = torch.tensor(y, dtype=self._kind.target_dtype, device=self.device_)
        return X_t, y_t

    def _adapted_task(self, X, y, n_outputs: int, steps: int | None) -> AdaptedTask:
        """A predictor adapted to one task's ``(X, y)``, independent of later fits."""
        return AdaptedTask(self.learner_, self._adapted_state(X, y, n_outputs, steps))

    def _adapted_state(self, X, y, n_outputs: int, steps: int | None) -> dict:
        """The learner's state adapted to one task's ``(X, y)``."""
        X_t, y_t = self._tensors(X, y)
        loop = replace(self._adaptation_loop(steps), plain_autograd=True)
        with torch.no_grad():
            params, steps_kept = split_steps_kept(self.learner_.adapt(X_t, y_t, n_outputs, loop))
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
        with torch.no_grad():
            outputs = [
                run_in_dtype(module, torch.tensor(chunk, device=self.device_, dtype=dtype))
                .cpu()
                .numpy()
                for chunk in np.array_split(X, n_chunks)
            ]
        return self._decoded(np.concatenate(outputs).astype(np.float64))

    # -- parameters ---------------------------------------------------------
    def _check_params(self) -> None:
        check_parameters(self.get_params(deep=False))
        if self._kind is REGRESSION:  # R² of a query set needs two points
            check_int("n_queries", self.n_queries, 2)

    # -- persistence --------------------------------------------------------
    def __getstate__(self):
        state = modules_to_cpu(super().__getstate__())
        if "_optimizer" in state:
            state["_optimizer"] = _to_cpu(self._optimizer.state_dict())
        if "_predict_state" in state:
            state["_predict_state"] = _to_cpu(state["_predict_state"])
        return state

    def __setstate__(self, state):
        optimizer_state = state.pop("_optimizer", None)
        super().__setstate__(state)
        if optimizer_state is None:
            return
        self.device_ = warn_if_unavailable(self.device_)
        modules_to_device(self, self.device_)
        if hasattr(self, "_predict_state"):
            self._predict_state = {k: v.to(self.device_) for k, v in self._predict_state.items()}
        self._optimizer = torch.optim.Adam(self.learner_.parameters(), lr=self.meta_lr)
        self._optimizer.load_state_dict(optimizer_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        return tags


_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Fitted attributes ``save`` stores besides the tensors.
_SAVED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "n_iter_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "vectorized_",
    "device_",
    "target_mean_",
    "target_scale_",
    "_data_fingerprint",
)


class _EvaluationEpisodes(NamedTuple):
    batch: EpisodeBatch
    query_weights: torch.Tensor
    n_outputs: int
    task_names: list[str]


def episode_tasks(codes: np.ndarray, names: np.ndarray, support: np.ndarray) -> list[str]:
    """What each episode was drawn from, for messages: its group, or its number
    when there are no groups."""
    if len(names) == 1 and names[0] is None:
        return [f"episode {e}" for e in range(len(support))]
    named = [names[codes[rows[0]]] for rows in support]
    return [f"group {name.item() if isinstance(name, np.generic) else name!r}" for name in named]


def warn_diverged(
    steps_kept: np.ndarray, steps: int, tasks: list[str], *, stacklevel: int
) -> None:
    """One :class:`AdaptationWarning` naming the tasks whose adaptation kept
    fewer than ``steps`` steps."""
    diverged = np.flatnonzero(np.asarray(steps_kept) < steps)
    if not len(diverged):
        return
    named = ", ".join(f"{tasks[e]} (kept {steps_kept[e]} of {steps} steps)" for e in diverged[:5])
    more = f" and {len(diverged) - 5} more" if len(diverged) > 5 else ""
    warnings.warn(
        f"Adaptation diverged on {named}{more}: the support loss became non-finite or rose "
        f"over {DIVERGENCE_FACTOR:g} times its starting value, so the last step before that was "
        "kept. Lower inner_lr or inner_steps (or scale the inputs).",
        AdaptationWarning,
        stacklevel=stacklevel,
    )


class _Stopper:
    """``tol`` / ``n_iter_no_change`` bookkeeping on a higher-is-better value.

    ``patience`` values in a row that do not beat the best by more than
    ``tol`` stop it. With a module to watch, it keeps a copy of the
    parameters of the best value, however small the gain (as scikit-learn's
    ``MLPClassifier``), so that ``best`` is always the kept parameters' value.
    """

    def __init__(self, tol: float | None, patience: int, watched: nn.Module | None):
        self.tol, self.patience, self.watched = tol, patience, watched
        self.best, self.best_state, self.waited = -np.inf, None, 0

    def should_stop(self, value: float) -> bool:
        if self.tol is None and self.watched is None:
            return False
        self.waited = 0 if value > self.best + (self.tol or 0.0) else self.waited + 1
        if value > self.best:
            self.best = value
            if self.watched is not None:
                self.best_state = copy.deepcopy(self.watched.state_dict())
        return self.waited >= self.patience

    def restore_best(self) -> float:
        if self.best_state is not None:
            self.watched.load_state_dict(self.best_state)
        return float(self.best)


def modules_to_cpu(state: dict) -> dict:
    """A copy of an estimator's state with its torch modules on the CPU (for pickling)."""
    return {
        name: copy.deepcopy(value).cpu() if isinstance(value, nn.Module) else value
        for name, value in state.items()
    }


def modules_to_device(estimator, device: torch.device) -> None:
    for _name, value in vars(estimator).items():
        if isinstance(value, nn.Module):
            value.to(device)


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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
        present, task_ids = np.unique(groups, return_inverse=True)
        pool = RegressionTasks(
            task_ids, group_names[present], self.n_shots, self.n_queries, weights
        )
        if not evaluating and pool.n_tasks == 1:
            _warn_single_task(self._display_name(), group_names[present[0]])
        return pool

    def _n_outputs(self, pool) -> int:
        return 1


class _MetaClassifierBase(ClassifierMixin, BaseMetaEstimator):
    """Task model: an episode is ``n_way`` classes (of one group, if given)."""

    _kind = CLASSIFICATION
    score = BaseMetaEstimator.score  # episodic, not ClassifierMixin's

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # few-shot score, as for regressors
        return tags

    def partial_fit(self, X, y, groups=None, classes=None, sample_weight=None):
        """Continue meta-training with one pass over the classes in ``(X, y, groups)``.

        Any call may bring classes not seen before (the head starts every
        class from one shared head row; the fine-tuning baseline's
        pretrained head grows a row for each new class): ``classes_`` grows,
        sorted, and ``predict`` and ``predict_proba`` cover every class seen
        so far. To predict, the network adapts to a support memory of at most
        ``n_shots + n_queries`` samples of each class, a uniform random sample
        of all the samples of that class passed to ``partial_fit`` (and to the
        ``fit`` before), so classes absent from the latest call are still
        predicted; the memory is saved with the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels, new ones included.
        groups : array-like of shape (n_samples,), default=None
            Group of each sample; episodes draw their classes from one group.
        classes : array-like of shape (n_classes,), default=None
            Classes to know from this call on besides those in ``y``, e.g. all
            the classes of a stream declared on the first call; a later call
            may add more. A declared class without samples yet has a column in
            ``predict_proba`` but nothing to adapt to: prototypical networks
            never predict it, the other learners rarely.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes, as in ``fit``.

        Returns
        -------
        self : object
            The estimator, meta-trained a little further.
        """
        fresh = not hasattr(self, "learner_")
        known = None if fresh else self.classes_
        if classes is not None:
            classes = check_classes(classes)
            known = classes if known is None else merge_classes(known, classes, "classes")
        return self._fit(
            X, y, groups, fresh=fresh, one_pass=True, classes=known, sample_weight=sample_weight
        )

    def predict_proba(self, X):
        """Class probabilities over the training classes.

        They come from the network ``fit`` prepared for the training classes
        (``adapted_module_``): for the MAML family, the meta-learned network
        adapted once to them (every class starts from the same head row);
        for prototypical networks, the prototypes of all training samples;
        for the fine-tuning baseline, its pretrained head. After
        ``partial_fit``, the network adapts to the support memory instead
        (see ``partial_fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self, "adapted_module_")
        check_numeric("X", X)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return probabilities(self._outputs(self.adapted_module_, X))

    def predict(self, X):
        """Predict a training class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def _encode_targets(self, y, *, fitting: bool, classes=None):
        check_classification_targets(y)
        if not fitting:  # episodic evaluation: any classes, labels per episode
            labels, codes = np.unique(y, return_inverse=True)
            return codes, labels
        # classes: those known before y (partial_fit), which y may add to.
        present = np.unique(y)
        self.classes_ = present if classes is None else merge_classes(classes, present, "y")
        if len(self.classes_) < 2:
            raise ValueError(
                f"{'y' if classes is None else 'y with classes'} holds only one class, "
                f"{self.classes_.tolist()[0]!r}; a classifier needs at least two."
            )
        return np.searchsorted(self.classes_, y), self.classes_

    def _task_pool(self, y, groups, group_names, labels, *, evaluating: bool, weights=None):
        # A class unit is a (group, class) pair: episodes never mix groups.
        units, unit_ids = np.unique(np.stack([groups, y], axis=1), axis=0, return_inverse=True)
        unit_ids = unit_ids.ravel()
        present = np.unique(units[:, 0])
        group_of_unit = [np.flatnonzero(units[:, 0] == g) for g in present]
        return ClassificationTasks(
            unit_ids,
            labels[units[:, 1]],
            group_of_unit,
            group_names[present],
            self.n_way,
            self.n_shots,
            self.n_queries,
            weights,
            evaluating=evaluating,  # held-out data may hold fewer classes than n_way
        )

    def _n_outputs(self, pool) -> int:
        return pool.n_way

    def _training_weights(self, y, sample_weight) -> np.ndarray | None:
        weights = super()._training_weights(y, sample_weight)
        if self.class_weight is None:
            return weights
        by_class = compute_sample_weight(self.class_weight, self.classes_[y])
        return by_class if weights is None else by_class * weights

    def _after_fit(self, X, y, *, streaming: bool = False) -> None:
        self._support_memory = self._remembered(X, y, streaming)
        X_support, y_support = self._training_support(X, y, streaming)
        state = self._adapted_state(X_support, y_support, len(self.classes_), None)
        self._set_predict_state(state)

    def _remembered(self, X, y, streaming: bool) -> dict:
        """The support memory after this call: at most ``n_shots + n_queries``
        samples of each class, a uniform sample of this call's samples and,
        when ``streaming``, of those the memory stood for (every sample draws
        a random key; the smallest keys of each class stay)."""
        labels, keys = self.classes_[y], self._rng.random(len(y))
        earlier = getattr(self, "_support_memory", None) if streaming else None
        if earlier is not None:
            X = np.concatenate([earlier["X"], X])
            labels = np.concatenate([earlier["labels"], labels])
            keys = np.concatenate([earlier["keys"], keys])
        codes = np.searchsorted(self.classes_, labels)
        rows = _smallest_per_class(codes, keys, self.n_shots + self.n_queries)
        return {"X": X[rows], "labels": labels[rows], "keys": keys[rows]}

    def _training_support(self, X, y, streaming: bool) -> tuple[np.ndarray, np.ndarray]:
        """The samples the network adapts to for ``predict``, and their codes:
        the support memory."""
        memory = self._support_memory
        return memory["X"], np.searchsorted(self.classes_, memory["labels"])

    def _fitted_payload(self) -> dict:
        payload = super()._fitted_payload()
        memory = getattr(self, "_support_memory", None)
        if memory is not None:  # labels as codes: tensors only
            payload["support_memory"] = {
                "X": torch.from_numpy(memory["X"]),
                "codes": torch.from_numpy(np.searchsorted(self.classes_, memory["labels"])),
                "keys": torch.from_numpy(memory["keys"]),
            }
        return payload

    def _restore_payload(self, payload: dict, **kwargs) -> None:
        super()._restore_payload(payload, **kwargs)
        memory = payload.get("support_memory")
        if memory is not None:
            self._support_memory = {
                "X": memory["X"].numpy(),
                "labels": self.classes_[memory["codes"].numpy()],
                "keys": memory["keys"].numpy(),
            }


def _seed_torch(device: torch.device, seed: int, step: int) -> None:
    """Seed torch's randomness (dropout) of outer step ``step`` from ``seed``
    alone, so that a resumed fit draws what an uninterrupted one would."""
    step_seed = int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
    torch.default_generator.manual_seed(step_seed)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        torch.cuda.default_generators[index].manual_seed(step_seed)


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


@contextmanager
def unchanged_on_failure(estimator) -> Iterator[None]:
    """Put back the estimator's attributes when the block raises: a call that
    fails leaves the estimator as it was."""
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


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


def _drop_weightless(X, y, codes, weights):
    """The samples of positive weight; an error when there are none."""
    keep = weights > 0
    if not keep.any():
        raise ValueError("sample_weight is zero for every sample; nothing to train on.")
    return X[keep], y[keep], codes[keep], weights[keep]


def _smallest_per_class(y: np.ndarray, keys: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted row indices of the (at most) ``per_class`` smallest ``keys`` of each class."""
    order = np.lexsort((keys, y))
    sorted_y = y[order]
    first = np.searchsorted(sorted_y, sorted_y, side="left")
    return np.sort(order[np.arange(len(y)) - first < per_class])
