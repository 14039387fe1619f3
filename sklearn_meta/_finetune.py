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

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._algorithm import MetaAlgorithm
from ._core._inner import InnerLoop
from ._core._learner import Learner
from ._core._model import MetaModel, Params, class_indicators
from ._core._tasks import CLASSIFICATION, TaskKind
from ._maml import MAMLLearner
from ._params import ADAPT_LAYERS, INNER_LR, INNER_STEPS, Param, document_parameters, one_of

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
        members = class_indicators(y, n_outputs, features.dtype)
        rows = members.T @ F.normalize(features, dim=-1)
        return {"weight": F.normalize(rows, dim=-1)}


HEADS = {"linear": LinearHead, "cosine": CosineHead}


class Pretrained(MAMLLearner):
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


class Baseline(MAMLLearner):
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


@document_parameters
class FineTune(MetaAlgorithm):
    """Pretrain on the pooled training data, then fine-tune per task (Chen et al. 2019).

    Classification trains the backbone and a head with one row per training
    class by ordinary minibatch cross-entropy (no episodes), and ``predict``
    uses that network; a new task gets a fresh head for its classes
    (starting at zero, or at the class mean directions for the cosine
    head), trained for ``inner_steps`` gradient steps on the support set.
    Regression trains one network on the pooled tasks and fine-tunes it.
    This is the transfer-learning baseline of few-shot learning (Baseline
    and Baseline++ of "A Closer Look at Few-shot Classification").

    {parameters}

    See Also
    --------
    FineTuneClassifier, FineTuneRegressor : The same as estimators with flat parameters.

    Examples
    --------
    >>> from sklearn_meta import FineTune, MetaClassifier
    >>> MetaClassifier(FineTune(head="cosine")).get_params()["algorithm__head"]
    'cosine'
    """

    adapts_with_steps = True
    pretrains = True
    fit_support = "trained head"
    shortcuts = {"finetune": {}}
    _parameters = {
        "inner_steps": INNER_STEPS.reworded(
            "Gradient steps that adapt the network to a new task's support set, in "
            "``score``, ``adapt`` and early stopping. Pretraining has no inner loop."
        ),
        "inner_lr": INNER_LR.reworded(
            "Step size of the gradient descent that adapts to a new task."
        ),
        "adapt_layers": ADAPT_LAYERS.reworded(
            "What adaptation to a new task trains: the (fresh) head on the frozen "
            "pretrained backbone (Baseline), or the head and the backbone."
        ),
        "head": Param(
            '{"linear", "cosine"}',
            "The classification head, in pretraining and adaptation: linear "
            "(Baseline), or the cosine similarity of the embedding with each "
            f"class's weight row, times {COSINE_SCALE:g} (Baseline++). Regression "
            "has a linear head.",
            one_of(*HEADS),
        ),
    }
    _parameters["inner_steps"] = replace(
        _parameters["inner_steps"], by_kind={"classification": 100, "regression": 10}
    )
    _parameters["inner_lr"] = replace(
        _parameters["inner_lr"], by_kind={"classification": 0.05, "regression": 0.01}
    )
    _parameters["adapt_layers"] = replace(
        _parameters["adapt_layers"], by_kind={"classification": "head", "regression": "all"}
    )

    def __init__(self, inner_steps=None, inner_lr=None, *, adapt_layers=None, head="linear"):
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.adapt_layers = adapt_layers
        self.head = head

    def build_learner(self, model: MetaModel, kind: TaskKind, n_classes: int | None) -> Learner:
        inner_lr = self.setting("inner_lr", kind)
        if kind is CLASSIFICATION:
            return Baseline(model, inner_lr, n_classes, self.head)
        return Pretrained(model, inner_lr)

    def inner_loop(self, kind: TaskKind, steps: int | None = None) -> InnerLoop:
        return InnerLoop(
            kind=kind,
            steps=self.setting("inner_steps", kind) if steps is None else steps,
            lr=self.setting("inner_lr", kind),
            head_only=self.setting("adapt_layers", kind) == "head",
        )

    def validate(self, kind: TaskKind) -> None:
        super().validate(kind)
        if kind is not CLASSIFICATION and self.head != "linear":
            raise ValueError(f"head={self.head!r} is for classification; regression is linear.")
