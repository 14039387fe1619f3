"""Prototypical networks (Snell et al. 2017) on the shared core.

Each class of a task is represented by the mean embedding of its support
samples, its prototype; a sample's logits are its negative squared distances
(or scaled cosine similarities) to the prototypes. Only the embedding is
meta-learned: adapting to a new task is one forward pass, with no gradient steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._algorithm import MetaAlgorithm
from ._base import _PREDICT_BATCH
from ._core._inner import InnerLoop
from ._core._learner import AdaptedState, Learner, embed_in_chunks
from ._core._model import MetaModel, Params, class_indicators
from ._core._tasks import TaskKind
from ._params import Param, document_parameters, one_of

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


def embed(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)``, at most ``_EMBED_BATCH`` rows at a time (in even chunks)."""
    n_chunks = max(1, -(-x.shape[0] // _EMBED_BATCH))
    return torch.cat([module(chunk) for chunk in x.tensor_split(n_chunks)])


def class_means(features: Tensor, y: Tensor, n_classes: int) -> Params:
    """Each class's mean feature (``means``, zero for a class without
    samples) and its number of samples (``counts``); runs under ``vmap``."""
    members = class_indicators(y, n_classes, features.dtype)
    counts = members.sum(0)
    return {"means": members.mT @ features / counts.clamp(min=1)[:, None], "counts": counts}


def class_means_in_chunks(features: Tensor, y: Tensor, n_classes: int) -> Params:
    """:func:`class_means` of many rows and classes, without the (n,
    n_classes) indicator matrix: sums by class in float64 (equal to
    :func:`class_means` up to rounding; not under ``vmap``)."""
    sums = features.new_zeros((n_classes, features.shape[1]), dtype=torch.float64)
    sums.index_add_(0, y, features.double())
    counts = torch.bincount(y, minlength=n_classes).to(features.dtype)
    means = (sums / counts.clamp(min=1)[:, None].double()).to(features.dtype)
    return {"means": means, "counts": counts}


def without_absent_classes(logits: Tensor, counts: Tensor) -> Tensor:
    """``logits`` with -inf for the classes without support samples (only
    classes declared to ``partial_fit`` without samples so far lack them)."""
    return logits.masked_fill(counts == 0, -torch.inf)


class ProtoNetLearner(Learner):
    """A meta-learned embedding and the nearest-prototype rule on top of it."""

    def __init__(self, embedding: nn.Module, distance: str = "euclidean"):
        super().__init__()
        self.embedding = embedding
        self.logits = NegativeSquaredEuclidean() if distance == "euclidean" else ScaledCosine()

    @property
    def backbone(self) -> nn.Module:
        """The meta-learned embedding (there is no head)."""
        return self.embedding

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The prototypes of one support set (``loop`` is not used: no steps).

        The state also holds each class's support count; a class without
        samples gets no prototype.
        """
        means = class_means(embed(self.embedding, x), y, n_outputs)
        return {"prototypes": means["means"], "counts": means["counts"]}

    def adapt_by_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """:meth:`adapt` in bounded memory: the support set embedded by chunks,
        batch norm normalizing with the statistics of the whole support set
        (as one batch would), and summed by class."""
        means = class_means_in_chunks(embed_in_chunks(self.embedding, x), y, n_outputs)
        return {"prototypes": means["means"], "counts": means["counts"]}

    def predict_with(self, state: Params, x: Tensor) -> Tensor:
        """Logits of ``x`` for the classes of ``state``."""
        logits = self.logits(embed(self.embedding, x), state["prototypes"])
        return without_absent_classes(logits, state["counts"])

    def materialize(self, state: Params) -> nn.Module:
        """A standalone module holding a copy of the embedding and the prototypes."""
        return AdaptedState(self, state)


@document_parameters
class ProtoNet(MetaAlgorithm):
    """Prototypical networks (Snell et al. 2017), for classification.

    Each class's prototype is the mean embedding of its support samples; a
    query's logits are its negative squared Euclidean distances (or scaled
    cosine similarities) to the prototypes. Only the embedding is
    meta-learned: adapting is one forward pass, with no gradient steps.
    ``predict`` after ``fit`` uses the prototypes of all training samples.

    {parameters}

    See Also
    --------
    ProtoNetClassifier : The same as an estimator with flat parameters.

    Examples
    --------
    >>> from sklearn_meta import MetaClassifier, ProtoNet
    >>> MetaClassifier(ProtoNet(distance="cosine")).get_params()["algorithm__distance"]
    'cosine'
    """

    task_kinds = ("classification",)
    fit_support = "all samples"
    shortcuts = {"protonet": {}}
    recommended = {"classification": {"hidden_layer_sizes": (64, 64), "meta_batch_size": 4}}
    _parameters = {
        "distance": Param(
            '{"euclidean", "cosine"}',
            "How queries are compared with prototypes: logits are minus the "
            'squared Euclidean distance ("euclidean", as in Snell et al. 2017), or '
            "the cosine similarity times a learned scale that starts at 10 "
            '("cosine").',
            one_of(*DISTANCES),
        ),
    }

    def __init__(self, distance="euclidean"):
        self.distance = distance

    def build_learner(
        self, model: MetaModel, kind: TaskKind, n_classes: int | None
    ) -> ProtoNetLearner:
        return ProtoNetLearner(model.backbone, self.distance)  # the linear head is not used
