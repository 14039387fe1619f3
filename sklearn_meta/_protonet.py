"""Prototypical networks (Snell et al. 2017) on the shared core.

Each class of a task is represented by the mean embedding of its support
samples, its prototype; a sample's logits are its negative squared distances
(or scaled cosine similarities) to the prototypes. Only the embedding is
meta-learned: adapting to a new task is one forward pass, with no gradient steps.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import _PREDICT_BATCH
from ._classifier import _MetaClassifierBase
from ._core._inner import InnerLoop
from ._core._learner import Learner
from ._core._model import MetaModel, Params
from ._docs import document_parameters
from ._validation import check_option

DISTANCES = ("euclidean", "cosine")

# Rows embedded at once: prototypes of a whole training set, not only of an episode.
_EMBED_BATCH = _PREDICT_BATCH


class NegativeSquaredEuclidean(nn.Module):
    """Logits: minus the squared Euclidean distance to each prototype."""

    def forward(self, embedded: Tensor, prototypes: Tensor) -> Tensor:
        # Expanded as 2 z.p - |z|^2 - |p|^2: memory (n, n_classes), not (n, n_classes, n_embedding).
        return (
            2 * embedded @ prototypes.mT
            - embedded.square().sum(-1, keepdim=True)
            - prototypes.square().sum(-1)
        )


class ScaledCosine(nn.Module):
    """Logits: a learned scale times the cosine similarity to each prototype.

    Cosine similarities lie in [-1, 1], too close together for a softmax;
    the scale, learned as its logarithm, starts at 10 (as TADAM's metric
    scaling, Oreshkin et al. 2018).
    """

    def __init__(self, initial_scale: float = 10.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(initial_scale)))

    def forward(self, embedded: Tensor, prototypes: Tensor) -> Tensor:
        similarity = F.normalize(embedded, dim=-1) @ F.normalize(prototypes, dim=-1).mT
        return self.log_scale.exp() * similarity


class ProtoNet(Learner):
    """A meta-learned embedding and the nearest-prototype rule on top of it."""

    def __init__(self, embedding: nn.Module, distance: str = "euclidean"):
        super().__init__()
        self.embedding = embedding
        self.logits = NegativeSquaredEuclidean() if distance == "euclidean" else ScaledCosine()

    @property
    def backbone(self) -> nn.Module:
        """The meta-learned embedding (there is no head)."""
        return self.embedding

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings of ``x``, at most ``_EMBED_BATCH`` rows at a time (in even chunks)."""
        n_chunks = max(1, -(-x.shape[0] // _EMBED_BATCH))
        return torch.cat([self.embedding(chunk) for chunk in x.tensor_split(n_chunks)])

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The prototypes of one support set (``loop`` is not used: no steps).

        The state also holds each class's support count; a class without
        samples gets no prototype.
        """
        # One-hot matrix product instead of a loop over classes: runs under vmap.
        members = (y[:, None] == torch.arange(n_outputs, device=y.device)).to(x.dtype)
        counts = members.sum(0)
        sums = members.mT @ self.embed(x)
        return {"prototypes": sums / counts.clamp(min=1)[:, None], "counts": counts}

    def predict_with(self, state: Params, x: Tensor) -> Tensor:
        """Logits of ``x`` for the classes of ``state``."""
        logits = self.logits(self.embed(x), state["prototypes"])
        # Only classes declared to partial_fit without samples so far lack them.
        return logits.masked_fill(state["counts"] == 0, -torch.inf)

    def materialize(self, state: Params) -> nn.Module:
        """A standalone module holding a copy of the embedding and the prototypes."""
        return AdaptedProtoNet(self, state)


class AdaptedProtoNet(nn.Module):
    """A frozen copy of a :class:`ProtoNet` with one task's prototypes: inputs to logits."""

    def __init__(self, learner: ProtoNet, state: Params):
        super().__init__()
        self.learner = copy.deepcopy(learner).requires_grad_(False)
        self.register_buffer("prototypes", state["prototypes"].detach().clone())
        self.register_buffer("counts", state["counts"].detach().clone())
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.learner.predict_with({"prototypes": self.prototypes, "counts": self.counts}, x)


@document_parameters
class ProtoNetClassifier(_MetaClassifierBase):
    """Prototypical networks for few-shot classification (Snell et al. 2017).

    The backbone is an embedding, meta-trained on episodes as for
    :class:`MAMLClassifier`: ``n_way`` classes (from one group, when
    ``groups`` is given), ``n_shots`` support and ``n_queries`` query
    samples of each. Each class's prototype is the mean embedding of its
    support samples; the queries' logits are their negative squared
    Euclidean distances (or scaled cosine similarities) to the prototypes,
    and the meta-loss is their cross-entropy.

    Adapting to a task takes no gradient steps: ``adapt`` embeds the support
    set and averages it per class, so a new task with any number of classes
    is fitted in one forward pass (its ``inner_steps`` is ignored). After
    ``fit``, ``predict`` uses prototypes of the training classes computed
    from all the training samples; after ``partial_fit``, from the support
    memory of every class seen so far (see ``partial_fit``).

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned embedding (``learner_.embedding``) and, for
        "cosine", the logit scale (``learner_.logits.log_scale``).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The embedding with the prototypes of the training classes, used by
        ``predict``.

    See Also
    --------
    MAMLClassifier : Adapts a meta-learned network with gradient steps.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> proto = ProtoNetClassifier(n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> proto = proto.fit(X[train], y[train])
    >>> task = proto.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = {
        "hidden_layer_sizes": (
            "array-like of shape (n_layers,)",
            "Widths of the hidden layers of the MLP embedding; the last is the "
            "embedding's dimension.",
        ),
        "distance": (
            '{"euclidean", "cosine"}',
            "How queries are compared with prototypes: logits are minus the "
            'squared Euclidean distance ("euclidean", as in Snell et al. 2017), or '
            "the cosine similarity times a learned scale that starts at 10 "
            '("cosine").',
        ),
    }

    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        distance="euclidean",
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        meta_lr=0.001,
        meta_batch_size=4,
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
        self.distance = distance
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.class_weight = class_weight
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

    def _build_learner(self, model: MetaModel) -> ProtoNet:
        return ProtoNet(model.backbone, self.distance)  # the linear head is not used

    def _inner_loop(self, steps: int | None = None) -> InnerLoop:
        return InnerLoop(kind=self._kind, steps=0, lr=0.0)

    def _check_params(self) -> None:
        super()._check_params()
        check_option("distance", self.distance, DISTANCES)

    def _training_support(self, X, y, streaming: bool) -> tuple[np.ndarray, np.ndarray]:
        """After ``fit``, all its samples: the prototypes of the training classes
        average every sample; after ``partial_fit``, the support memory."""
        return super()._training_support(X, y, streaming) if streaming else (X, y)
