"""The transfer-learning baseline of few-shot learning (Chen et al. 2019).

Baseline: pretrain a backbone and a linear head with one row per training
class on all training samples, an ordinary supervised minibatch training;
for a new task, train a fresh head for its classes on the support set with
the backbone frozen. Baseline++ does the same with a cosine-similarity head.
Fine-tuning the whole network (``adapt_layers="all"``) and regression, where
the pooled network is fine-tuned as in ``MAMLRegressor(inner_steps=0)``, are
settings.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._classifier import _MetaClassifierBase
from ._core._episodes import PooledClasses
from ._core._inner import InnerLoop
from ._core._model import MetaModel, Params
from ._docs import document_parameters
from ._maml import MAML
from ._regressor import _MetaRegressorBase
from ._validation import check_option

COSINE_SCALE = 10.0


class LinearHead(nn.Linear):
    """A linear head whose rows for new classes start at zero."""

    def fresh_parameters(self, features: Tensor, y: Tensor, n_outputs: int) -> Params:
        width = features.shape[-1]
        return {
            "weight": features.new_zeros(n_outputs, width),
            "bias": features.new_zeros(n_outputs),
        }


class CosineHead(nn.Linear):
    """Scaled cosine similarity of the embedding with each class's weight row
    (the Baseline++ head); no bias."""

    def __init__(self, in_features: int, out_features: int, device=None):
        super().__init__(in_features, out_features, bias=False, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return COSINE_SCALE * F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=-1))

    def fresh_parameters(self, features: Tensor, y: Tensor, n_outputs: int) -> Params:
        # A zero row has no direction; each class starts at its mean support
        # direction instead (weight imprinting, Qi et al. 2018).
        members = (y[:, None] == torch.arange(n_outputs, device=y.device)).to(features.dtype)
        rows = members.T @ F.normalize(features, dim=-1)
        return {"weight": F.normalize(rows, dim=-1)}


HEADS = {"linear": LinearHead, "cosine": CosineHead}


class Pretrained(MAML):
    """One network trained on the pooled tasks (MAML without an inner loop,
    ``MAMLRegressor(inner_steps=0)``), fine-tuned from there per task."""

    def episode_loss(
        self,
        x_support: Tensor,
        y_support: Tensor,
        x_query: Tensor,
        y_query: Tensor,
        n_outputs: int,
        loop: InnerLoop,
    ) -> Tensor:
        """The loss of the network on the query set, with no adaptation."""
        no_steps = replace(loop, steps=0)
        return super().episode_loss(x_support, y_support, x_query, y_query, n_outputs, no_steps)


class Baseline(MAML):
    """A network pretrained on all training classes, and a fresh head per new task."""

    def __init__(self, model: MetaModel, inner_lr: float, n_classes: int, head: str = "linear"):
        super().__init__(model, inner_lr)
        width, device = model.head.in_features, model.head.weight.device
        model.head = HEADS[head](width, n_classes, device=device)

    def episode_loss(
        self,
        x_support: Tensor,
        y_support: Tensor,
        x_query: Tensor,
        y_query: Tensor,
        n_outputs: int,
        loop: InnerLoop,
    ) -> Tensor:
        """The pretraining loss: the plain loss of the network on a minibatch
        (support and query alike, labelled with the training classes)."""
        x = torch.cat([x_support, x_query])
        return loop.kind.loss(self.model(x), torch.cat([y_support, y_query]))

    def task_start(self, x: Tensor, y: Tensor, n_outputs: int) -> Params:
        """The pretrained backbone and a fresh head for the task's ``n_outputs`` classes."""
        head = self.model.head.fresh_parameters(self.model.backbone(x), y, n_outputs)
        backbone = {
            name: p for name, p in self.model.named_parameters() if not name.startswith("head.")
        }
        return {**backbone, **{f"head.{name}": value for name, value in head.items()}}


_SHARED_DOCS = {
    "inner_lr": ("float", "Step size of the gradient descent that adapts to a new task."),
    "inner_steps": (
        "int",
        "Gradient steps that adapt the network to a new task's support set, in "
        "``score``, ``adapt`` and early stopping. Pretraining has no inner loop.",
    ),
    "meta_lr": ("float", "Learning rate of the Adam optimizer that pretrains the network."),
    "max_iter": ("int", "Pretraining steps (minibatches) per ``fit``."),
}


class _FineTuneMixin:
    """Hooks shared by the fine-tuning estimators."""

    def _inner_loop(self, steps: int | None = None) -> InnerLoop:
        return InnerLoop(
            kind=self._kind,
            steps=self.inner_steps if steps is None else steps,
            lr=self.inner_lr,
            head_only=self.adapt_layers == "head",
        )


@document_parameters
class FineTuneClassifier(_FineTuneMixin, _MetaClassifierBase):
    """Pretrain on all training classes, then fit a new head per task
    (Baseline and Baseline++ of Chen et al. 2019, "A Closer Look at Few-shot
    Classification").

    ``fit`` trains the backbone and a head with one row per training class
    by ordinary minibatch cross-entropy on all samples with their real
    labels (no episodes): each step fits ``meta_batch_size`` random
    minibatches of ``n_way * (n_shots + n_queries)`` samples, as many as a
    meta-batch of episodes. ``predict`` uses that pretrained network
    directly. ``partial_fit`` with new classes (and a ``warm_start`` fit with
    more classes) grows the head by a row per new class; as a head trained on
    the latest calls forgets the classes absent from them, ``predict`` after
    ``partial_fit`` fits a fresh head to the support memory of every class
    seen, as ``adapt`` would (see ``partial_fit``). For a new task
    (``adapt``, ``score``) a fresh head for the task's classes, starting at
    zero (at the class mean directions for the cosine head), takes
    ``inner_steps`` gradient steps on the support set, with the backbone
    frozen (``adapt_layers="head"``) or fine-tuned too (``"all"``).
    ``groups`` only shape the episodes of ``score`` and of early stopping.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The pretrained network (``learner_.model``: backbone and a head with
        one row per training class).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The pretrained network as a standalone module, used by ``predict``
        (after ``partial_fit``, with a head fitted to the support memory).

    See Also
    --------
    FineTuneRegressor : The same for regression.
    MAMLClassifier : Meta-learning instead of pretraining.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import FineTuneClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> clf = FineTuneClassifier(max_iter=50, device="cpu", random_state=0)
    >>> clf = clf.fit(X[train], y[train])
    >>> bool((clf.predict(X[train]) == y[train]).mean() > 0.8)
    True
    >>> task = clf.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = {
        **_SHARED_DOCS,
        "head": (
            '{"linear", "cosine"}',
            "The classification head, in pretraining and adaptation: linear "
            "(Baseline), or the cosine similarity of the embedding with each "
            f"class's weight row, times {COSINE_SCALE:g} (Baseline++).",
        ),
        "adapt_layers": (
            '{"head", "all"}',
            "What adaptation to a new task trains: a fresh head on the frozen "
            "pretrained backbone (Baseline), or the fresh head and the backbone.",
        ),
        "n_way": ("int", "Classes per episode of ``score``; sets the pretraining minibatch size."),
        "meta_batch_size": (
            "int",
            "Minibatches of ``n_way * (n_shots + n_queries)`` samples per pretraining "
            "step, vectorized with ``torch.func.vmap``.",
        ),
    }

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        head="linear",
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        inner_steps=100,
        inner_lr=0.05,
        adapt_layers="head",
        meta_lr=0.001,
        meta_batch_size=16,
        vectorize=True,
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=100,
        device="auto",
        precision="float32",
        compile=False,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.head = head
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.class_weight = class_weight
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.adapt_layers = adapt_layers
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose

    def _build_learner(self, model: MetaModel) -> Baseline:
        return Baseline(model, self.inner_lr, len(self.classes_), self.head)

    def _check_params(self) -> None:
        super()._check_params()
        check_option("head", self.head, tuple(HEADS))

    def _validate_training_data(self, X, y, fresh: bool, classes, sample_weight=None):
        previous = None if fresh else self.classes_
        X, y, labels = super()._validate_training_data(X, y, fresh, classes, sample_weight)
        if previous is not None and not np.array_equal(previous, labels):
            if not np.isin(previous, labels).all():
                raise ValueError(
                    f"warm_start continues pretraining a head for the classes {previous!r}; "
                    f"y has the classes {labels!r}. Set warm_start=False to start afresh."
                )
            self._grow_head(previous)
        return X, y, labels

    def _grow_head(self, previous: np.ndarray) -> None:
        """Give the head a row for each class of ``classes_`` that ``previous``
        lacks, initialized as a fresh head's rows; the head's optimizer state
        starts afresh. Learner and optimizer are replaced by grown copies, so
        that a call that fails later keeps the old ones."""
        learner = copy.deepcopy(self.learner_)
        old = learner.model.head
        seed = int(self._seeded_rng().integers(2**31 - 1))
        seed = np.random.SeedSequence([seed, self.n_iter_]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):  # rows drawn from random_state alone
            torch.manual_seed(int(seed))
            head = type(old)(old.in_features, len(self.classes_)).to(old.weight.device)
        kept = torch.as_tensor(np.searchsorted(self.classes_, previous), device=old.weight.device)
        with torch.no_grad():
            for name, value in head.named_parameters():
                value[kept] = getattr(old, name)
        learner.model.head = head
        state = self._optimizer.state_dict()
        names = [name for name, _ in learner.named_parameters()]
        state["state"] = {
            index: value
            for index, value in state["state"].items()
            if not names[index].startswith("model.head.")
        }
        optimizer = torch.optim.Adam(learner.parameters(), lr=self.meta_lr)
        optimizer.load_state_dict(state)
        self.learner_, self._optimizer = learner, optimizer

    def _task_pool(self, y, groups, group_names, labels, *, evaluating: bool, weights=None):
        if evaluating:
            return super()._task_pool(y, groups, group_names, labels, evaluating=True)
        n_support, n_query = self.n_way * self.n_shots, self.n_way * self.n_queries
        return PooledClasses(y, len(labels), n_support, n_query, weights)

    def _after_fit(self, X, y, *, streaming: bool = False) -> None:
        if streaming:  # the head forgets classes absent from the latest calls
            super()._after_fit(X, y, streaming=True)
            return
        # The pretrained head has a row per training class: no adaptation needed.
        self._support_memory = self._remembered(X, y, streaming=False)
        self._set_predict_state(dict(self.learner_.model.named_parameters()))


@document_parameters
class FineTuneRegressor(_FineTuneMixin, _MetaRegressorBase):
    """Pretrain one network on the pooled tasks, then fine-tune it per task.

    ``fit`` is the pooled training of ``MAMLRegressor(inner_steps=0)``: each
    step fits the ``n_queries`` query samples of ``meta_batch_size`` tasks
    with the same network. For a new task (``adapt``, ``score``) the
    network takes ``inner_steps`` gradient steps on the support set,
    all layers (``adapt_layers="all"``) or only the linear head on the frozen
    backbone (``"head"``). ``predict`` uses the pretrained network.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The pretrained network (``learner_.model``: backbone and head).
    {fitted_attributes}

    See Also
    --------
    FineTuneClassifier : The same for classification.
    MAMLRegressor : Meta-learning instead of pretraining.

    Examples
    --------
    >>> from sklearn_meta import FineTuneRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(50, 20, random_state=0)
    >>> reg = FineTuneRegressor(max_iter=20, device="cpu", random_state=0)
    >>> reg = reg.fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=1)
    >>> task = reg.adapt(X_new[:5], y_new[:5], inner_steps=10)
    >>> task.predict(X_new[5:]).shape
    (10,)
    """

    _parameter_docs = {
        **_SHARED_DOCS,
        "adapt_layers": (
            '{"all", "head"}',
            "What adaptation to a new task trains: the whole pretrained network, "
            "or only its linear head on the frozen backbone.",
        ),
        "meta_batch_size": (
            "int",
            "Tasks per pretraining step, vectorized with ``torch.func.vmap``.",
        ),
    }

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        inner_steps=10,
        inner_lr=0.01,
        adapt_layers="all",
        meta_lr=0.001,
        meta_batch_size=25,
        vectorize=True,
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=100,
        device="auto",
        precision="float32",
        compile=False,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.adapt_layers = adapt_layers
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose

    def _build_learner(self, model: MetaModel) -> Pretrained:
        return Pretrained(model, self.inner_lr)
