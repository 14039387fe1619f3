"""SimpleShot (Wang et al. 2019): nearest centroids on pretrained, normalized features.

The backbone is pretrained as the fine-tuning baseline's: plain cross-entropy
over the pooled training classes, on minibatches. A new task is fitted with
no training at all: each class's centroid is the mean of its support
samples' transformed features, and a query goes to the nearest centroid in
Euclidean distance. The transforms are those of "SimpleShot: Revisiting
Nearest-Neighbor Classification for Few-Shot Learning": none ("UN"), L2
normalization ("L2N"), or centering on the mean feature of the training data
followed by L2 normalization ("CL2N").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._algorithm import MetaAlgorithm
from ._core._inner import InnerLoop
from ._core._learner import AdaptedState, embed_in_chunks
from ._core._model import MetaModel, Params
from ._core._tasks import TaskKind
from ._finetune import Baseline
from ._params import Param, document_parameters, one_of
from ._protonet import (
    NegativeSquaredEuclidean,
    class_means,
    class_means_in_chunks,
    embed,
    without_absent_classes,
)

FEATURE_TRANSFORMS = ("CL2N", "L2N", "UN")


def transform_features(features: Tensor, mean: Tensor, feature_transform: str) -> Tensor:
    """SimpleShot's feature transform: centered on ``mean`` then L2-normalized
    ("CL2N"), L2-normalized ("L2N"), or as they are ("UN")."""
    if feature_transform == "CL2N":
        features = features - mean
    if feature_transform in ("CL2N", "L2N"):
        features = F.normalize(features, dim=-1)
    return features


def nearest_centroid_logits(features: Tensor, state: Params) -> Tensor:
    """Minus the squared Euclidean distance to each centroid; classes
    without support samples get -inf."""
    logits = NegativeSquaredEuclidean()(features, state["centroids"])
    return without_absent_classes(logits, state["counts"])


class SimpleShotLearner(Baseline):
    """A backbone pretrained with a head over the pooled training classes,
    and the nearest-centroid rule on its transformed features.

    The head (``model.head``, one row per training class) serves only the
    pretraining. The buffer ``feature_mean`` is the mean feature of the
    training data, which "CL2N" subtracts; :meth:`SimpleShot.finish_fit` sets
    it after each fit.
    """

    def __init__(self, model: MetaModel, n_classes: int, feature_transform: str = "CL2N"):
        super().__init__(model, inner_lr=0.0, n_classes=n_classes, head="linear")
        self.feature_transform = feature_transform
        width, device = model.head.in_features, model.head.weight.device
        self.register_buffer("feature_mean", torch.zeros(width, device=device))

    def features(self, x: Tensor) -> Tensor:
        """The transformed backbone features of ``x``."""
        return transform_features(
            embed(self.backbone, x), self.feature_mean, self.feature_transform
        )

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The class centroids of one support set and each class's support
        count (``loop`` is not used: no steps)."""
        means = class_means(self.features(x), y, n_outputs)
        return {"centroids": means["means"], "counts": means["counts"]}

    def adapt_by_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """:meth:`adapt` in bounded memory: the support set embedded by chunks,
        batch norm normalizing with the statistics of the whole support set
        (as one batch would), and summed by class."""
        features = transform_features(
            embed_in_chunks(self.backbone, x), self.feature_mean, self.feature_transform
        )
        means = class_means_in_chunks(features, y, n_outputs)
        return {"centroids": means["means"], "counts": means["counts"]}

    def predict_with(self, state: Params, x: Tensor) -> Tensor:
        """Logits of ``x``: minus its squared distances to the centroids of ``state``."""
        return nearest_centroid_logits(self.features(x), state)

    def materialize(self, state: Params) -> nn.Module:
        """A standalone module holding a copy of the learner (its backbone and
        feature mean) and the centroids."""
        return AdaptedState(self, state)


@document_parameters
class SimpleShot(MetaAlgorithm):
    """SimpleShot (Wang et al. 2019): nearest centroids on pretrained features.

    Meta-training is plain supervised pretraining, as the fine-tuning
    baseline's (:class:`FineTune`): the backbone and a head with one row per
    training class learn by cross-entropy on minibatches of the pooled
    training classes. Adapting to a task takes no gradient steps: each
    class's centroid is the mean transformed feature of its support
    samples, and a query's logits are minus its squared Euclidean distances
    to the centroids. ``predict`` after ``fit`` uses the centroids of the
    support memory of the training classes. The features are centered on
    the mean feature of the training data and L2-normalized ("CL2N", the
    paper's best), only L2-normalized ("L2N"), or left as they are ("UN").

    {parameters}

    See Also
    --------
    FineTune : The same pretraining; a new task trains a fresh head.
    ProtoNet : Nearest prototypes on a meta-learned embedding.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MetaClassifier, SimpleShot
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> clf = MetaClassifier(SimpleShot(), n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> clf = clf.fit(X[train], y[train])
    >>> task = clf.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    task_kinds = ("classification",)
    adapts_with_steps = False
    pretrains = True
    fit_support = "support memory"
    shortcuts = {"simpleshot": {}}
    _parameters = {
        "feature_transform": Param(
            '{"CL2N", "L2N", "UN"}',
            "The transform of the backbone's features before the centroids and "
            "distances: centered on the mean feature of the training data, then "
            'L2-normalized ("CL2N"); L2-normalized ("L2N"); or unnormalized ("UN").',
            one_of(*FEATURE_TRANSFORMS),
        ),
    }

    def __init__(self, feature_transform="CL2N"):
        self.feature_transform = feature_transform

    def build_learner(
        self, model: MetaModel, kind: TaskKind, n_classes: int | None
    ) -> SimpleShotLearner:
        return SimpleShotLearner(model, n_classes, self.feature_transform)

    def finish_fit(self, learner: SimpleShotLearner, X: Tensor) -> None:
        """Set the learner's ``feature_mean`` to the mean backbone feature of
        ``X``, all the training inputs (embedded in even chunks, summed in float64)."""
        total = embed(learner.backbone, X).sum(0, dtype=torch.float64)
        learner.feature_mean.copy_(total / max(len(X), 1))
