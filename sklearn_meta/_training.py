"""Meta-training: the outer loop behind ``fit`` and ``partial_fit``.

:class:`MetaTrainingMixin` validates the training data, holds out tasks for
early stopping, builds the network and its optimizer, and takes the outer
steps on the core: compiled or not, with a progress bar, random streams that
a resumed fit draws again, the ``vmap`` probe, checkpoints, and interrupts
that keep the last complete step.
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._core._meta import EpisodeBatch, can_vectorize, is_main_process, map_episodes, meta_step
from ._core._model import MetaModel, build_backbone, own_random_state, resolve_device
from ._core._tasks import CLASSIFICATION, combine_scores
from ._core._threads import torch_threads
from ._paths import MIN_STEPS_TO_MEASURE, ExecutionPath, PathTrial, thread_candidates
from ._persistence import data_fingerprint, read_payload, same_training, save_estimator
from ._validation import check_hidden_layer_sizes, check_sample_weight, encode_groups

_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


class MetaTrainingMixin:
    """The meta-training of :class:`~sklearn_meta._base.BaseMetaEstimator`.

    It relies on the estimator's hooks (``_build_learner``, ``_inner_loop``,
    ``_encode_targets``, ``_task_pool``, ``_n_outputs``), its input checks and
    its episodic evaluation, which scores the held-out tasks of early stopping.
    """

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
        with torch_threads(self._own_threads()):
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
                n_iter = -(-train_pool.n_tasks // self._setting("meta_batch_size"))
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

    def _initialize(self, n_features: int, device: torch.device | None = None) -> None:
        """Fresh network, optimizer and random streams (on ``device``, else ``self.device``)."""
        self.device_ = resolve_device(self.device) if device is None else device
        self._rng = self._seeded_rng()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._rng.integers(2**31 - 1)))
            backbone = build_backbone(
                self.module,
                n_features,
                check_hidden_layer_sizes(self._setting("hidden_layer_sizes")),
                self.activation,
                self.input_shape,
            ).to(self.device_)
            self.learner_ = self._build_learner(MetaModel(backbone, n_features)).to(self.device_)
        self.learner_.eval()  # adapt, predict and score; fit switches to training mode
        self._optimizer = torch.optim.Adam(self.learner_.parameters(), lr=self._setting("meta_lr"))
        self.vectorized_ = None
        self.path_timings_ = {}
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = None
        self.best_validation_score_ = None

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

    def _episode_loss(self, pool):
        """The loss of one training episode drawn from ``pool``, as the outer
        step maps it over a meta-batch."""
        return partial(
            self.learner_.episode_loss, n_outputs=self._n_outputs(pool), loop=self._inner_loop()
        )

    def _meta_train(self, X, y, pool, validation, n_iter: int) -> None:
        for group in self._optimizer.param_groups:
            group["lr"] = self._setting("meta_lr")
        batch_size = self._setting("meta_batch_size")
        X_t, y_t = self._tensors(X, y)
        episode_loss = self._episode_loss(pool)
        step = partial(
            meta_step,
            chunk_size=self.task_chunk_size,
            autocast=_AUTOCAST[self.precision],
            mapper=torch.compile(map_episodes) if self.compile else map_episodes,
        )
        stopper = _Stopper(self.tol, self.n_iter_no_change, self.learner_ if validation else None)
        if validation is not None and self.validation_scores_ is None:
            self.validation_scores_ = []
        progress = tqdm(range(n_iter), disable=not self.verbose, desc=type(self).__name__)
        completed = self._rng.bit_generator.state  # the episode stream after the last step
        torch_seed = int(self._seeded_rng().integers(2**31 - 1))
        self.learner_.train()  # dropout, if the module has any, in meta-training only
        trial = None
        try:
            with own_random_state(self.device_), torch_threads(None):
                for index in progress:
                    _seed_torch(self.device_, torch_seed, self.n_iter_)
                    episodes = pool.sample(self._rng, batch_size)
                    batch = EpisodeBatch.gather(X_t, y_t, episodes)
                    if trial is None:
                        trial = self._path_trial(episode_loss, batch, n_iter)
                    path = trial.path
                    if torch.get_num_threads() != path.n_threads:
                        torch.set_num_threads(path.n_threads)
                    start = time.perf_counter()
                    loss = step(episode_loss, batch, self._optimizer, path.vectorize)
                    trial.record(time.perf_counter() - start)
                    self._keep_path(trial)  # early stopping's validation follows it
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
            kept = (
                "the best validated step (early_stopping)"
                if validation is not None
                else "the last complete step"
            )
            warnings.warn(
                f"Meta-training was interrupted after {self.n_iter_} steps (n_iter_); the "
                f"estimator keeps the parameters of {kept}.",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:  # also after a non-finite loss, which leaves the last finite parameters
            self.learner_.eval()
            if validation is not None:
                self.best_validation_score_ = stopper.restore_best()
            self._write_checkpoint()

    def _path_trial(self, episode_loss, batch: EpisodeBatch, n_iter: int) -> PathTrial:
        """The ways to run this fit's outer steps, timed on its first steps
        (see ``_paths``); a continued fit keeps the way of the fit before."""
        if self.vectorized_ is not None:  # (a model saved before n_threads_ existed lacks it)
            threads = self._own_threads() or torch.get_num_threads()
            return PathTrial([ExecutionPath(self.vectorized_, threads)])
        mappings = [False]
        if self.vectorize and can_vectorize(episode_loss, batch):
            mappings = [True, False] if self.vectorize == "auto" else [True]
        threads = thread_candidates(self.n_threads, self.device_)
        candidates = [ExecutionPath(m, n) for m in mappings for n in threads]
        return PathTrial(candidates, measure=n_iter >= MIN_STEPS_TO_MEASURE)

    def _keep_path(self, trial: PathTrial) -> None:
        """Record the fastest path timed so far (the one chosen once the trial ends)."""
        timings = trial.summary()
        if timings:
            self.path_timings_ = timings
        self.vectorized_, self.n_threads_ = trial.best.vectorize, trial.best.n_threads

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
        self._finish_fit(X)

    def _finish_fit(self, X) -> None:
        """The algorithm's statistics of the training inputs ``X`` (see ``finish_fit``)."""
        X = torch.tensor(X, dtype=torch.float32, device=self.device_)
        with torch.no_grad():
            self._algorithm().finish_fit(self.learner_, X)


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


def _seed_torch(device: torch.device, seed: int, step: int) -> None:
    """Seed torch's randomness (dropout) of outer step ``step`` from ``seed``
    alone, so that a resumed fit draws what an uninterrupted one would."""
    step_seed = int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
    torch.default_generator.manual_seed(step_seed)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        torch.cuda.default_generators[index].manual_seed(step_seed)


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


def _drop_weightless(X, y, codes, weights):
    """The samples of positive weight; an error when there are none."""
    keep = weights > 0
    if not keep.any():
        raise ValueError("sample_weight is zero for every sample; nothing to train on.")
    return X[keep], y[keep], codes[keep], weights[keep]
