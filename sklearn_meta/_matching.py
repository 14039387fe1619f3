"""Matching networks (Vinyals et al. 2016) on the shared core, without full-context embeddings.

A query's class distribution is an attention-weighted vote of the support
samples: a(x, xᵢ) is the softmax over the support samples of the similarity
of the embeddings (the cosine times a learned scale, or minus the squared
Euclidean distance), and p(c | x) = Σᵢ a(x, xᵢ) 1[yᵢ = c]. Only the embedding
(and the scale) is meta-learned, on the queries' cross-entropy: adapting to a
new task is one forward pass, with no gradient steps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._algorithm import MetaAlgorithm
from ._core._inner import InnerLoop
from ._core._learner import AdaptedState, Learner, embed_in_chunks
from ._core._model import MetaModel, Params, class_indicators
from ._core._tasks import TaskKind
from ._params import Param, document_parameters, one_of
from ._protonet import NegativeSquaredEuclidean, ScaledCosine

DISTANCES = ("cosine", "euclidean")


def log_attention_vote(scores: Tensor, labels: Tensor, one_hot: Tensor) -> Tensor:
    """log p(c | x) = log Σᵢ softmaxᵢ(scores)[i] 1[yᵢ = c], for every query and class.

    ``scores`` (n_query, n_support) are the similarities, ``labels``
    (n_support,) the class codes and ``one_hot`` (n_support, n_classes) the
    same as a matrix. Each class's sum is shifted by its own largest score,
    so a class whose attention underflows in floating point still gets a
    finite log-probability and a gradient (a shift common to all classes
    would give it log 0). A class without support samples gets -inf, without
    NaN in the gradient of the others. No data-dependent control flow: runs
    under ``vmap``.
    """
    n_query, n_classes = scores.shape[0], one_hot.shape[1]
    present = one_hot.sum(0) > 0
    # The shifts need no gradient: log Σ exp(s - m) + m is the same for any finite m.
    lowest = torch.full((n_query, n_classes), -torch.inf, dtype=scores.dtype, device=scores.device)
    index = labels.expand(n_query, -1)
    shift = lowest.scatter_reduce(-1, index, scores.detach(), "amax")
    shift = torch.where(present, shift, torch.zeros_like(shift))
    # Each class's largest score contributes exp(0) = 1: its sum is at least 1.
    sums = (scores - shift.gather(-1, index)).exp() @ one_hot
    safe = torch.where(present, sums, torch.ones_like(sums))  # log 0 would poison the backward
    log_vote = safe.log() + shift - scores.logsumexp(-1, keepdim=True)
    return log_vote.masked_fill(~present, -torch.inf)


class MatchingLearner(Learner):
    """A meta-learned embedding and attention over the embedded support set."""

    def __init__(self, embedding: nn.Module, distance: str = "cosine"):
        super().__init__()
        self.embedding = embedding
        # The similarities of ProtoNet, taken with each support sample instead of a prototype.
        self.similarity = ScaledCosine() if distance == "cosine" else NegativeSquaredEuclidean()

    @property
    def backbone(self) -> nn.Module:
        """The meta-learned embedding (there is no head)."""
        return self.embedding

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The embedded support set and its one-hot labels (``loop`` is not used: no steps)."""
        one_hot = class_indicators(y, n_outputs, x.dtype)
        return {"support": self.embedding(x), "labels": one_hot}

    def adapt_by_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """:meth:`adapt` in bounded memory: the support set embedded by chunks,
        batch norm normalizing with the statistics of the whole support set
        (as one batch would)."""
        one_hot = class_indicators(y, n_outputs, x.dtype)
        return {"support": embed_in_chunks(self.embedding, x), "labels": one_hot}

    def predict_with(self, state: Params, x: Tensor) -> Tensor:
        """Log-probabilities of ``x`` for the classes of ``state``: the
        attention-weighted vote of the support samples, -inf for a class
        without support samples."""
        scores = self.similarity(self.embedding(x), state["support"])
        one_hot = state["labels"]
        return log_attention_vote(scores, one_hot.argmax(-1), one_hot)

    def materialize(self, state: Params) -> nn.Module:
        """A standalone module holding a copy of the embedding and the support set."""
        return AdaptedState(self, state)


@document_parameters
class MatchingNetworks(MetaAlgorithm):
    """Matching networks (Vinyals et al. 2016), for classification.

    A query x is classified by attention over the embedded support samples:
    a(x, xᵢ) is the softmax, over the support set, of the similarity of the
    embeddings, and the class probabilities are p(c | x) = Σᵢ a(x, xᵢ)
    1[yᵢ = c]; the meta-loss is the queries' cross-entropy. This is the basic
    form, without the full-context embeddings (the LSTMs that condition the
    embeddings on the whole support set). Only the embedding is meta-learned:
    adapting is one forward pass, with no gradient steps. ``predict`` after
    ``fit`` attends to the support memory (up to ``n_shots + n_queries``
    samples of each training class); a class declared to ``partial_fit``
    without samples is never predicted.

    {parameters}

    See Also
    --------
    ProtoNet : Compares queries with class means instead of every support sample.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MatchingNetworks, MetaClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> clf = MetaClassifier(
    ...     MatchingNetworks(), n_way=3, max_iter=20, device="cpu", random_state=0
    ... )
    >>> clf = clf.fit(X[train], y[train])
    >>> task = clf.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    task_kinds = ("classification",)
    adapts_with_steps = False
    fit_support = "support memory"
    shortcuts = {"matching": {}}
    # As for ProtoNet, the other embedding-only metric learner: an episode's
    # loss already averages over n_way * n_queries queries, so a few episodes
    # per outer step suffice, and the embedding is the whole model.
    recommended = {"classification": {"hidden_layer_sizes": (64, 64), "meta_batch_size": 4}}
    _parameters = {
        "distance": Param(
            '{"cosine", "euclidean"}',
            "The similarity the attention is the softmax of: the cosine "
            "similarity of the embeddings times a learned scale that starts at "
            '10 ("cosine", the paper\'s kernel), or minus their squared '
            'Euclidean distance ("euclidean").',
            one_of(*DISTANCES),
        ),
    }

    def __init__(self, distance="cosine"):
        self.distance = distance

    def build_learner(
        self, model: MetaModel, kind: TaskKind, n_classes: int | None
    ) -> MatchingLearner:
        return MatchingLearner(model.backbone, self.distance)  # the linear head is not used
