"""MAML and its variants on the shared core.

Second-order MAML (Finn et al. 2017), first-order MAML, Meta-SGD (Li et al.
2017, learned per-parameter inner learning rates), a learned LSTM update rule
(Andrychowicz et al. 2016; Ravi & Larochelle 2017) and ANIL (Raghu et al.
2019, only the head adapts) are settings of one learner.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ._algorithm import MetaAlgorithm
from ._core._inner import ChunkedLoss, InnerLoop, gradient_steps, learned_steps
from ._core._learned_update import LSTMUpdate
from ._core._learner import Learner, embed_in_chunks, support_chunks
from ._core._model import MetaModel, Params, with_head_rows
from ._core._norms import support_statistics
from ._core._tasks import CLASSIFICATION, TaskKind
from ._params import (
    ADAPT_LAYERS,
    EVAL_INNER_STEPS,
    INNER_LR,
    INNER_STEPS,
    Param,
    document_parameters,
    one_of,
)
from ._validation import check_bool


class MAMLLearner(Learner):
    """A meta-learned initialization and, if the update rule is learned too,
    Meta-SGD's per-parameter rates or an LSTM update rule."""

    def __init__(
        self,
        model: MetaModel,
        inner_lr: float,
        inner_update: str = "sgd",
        *,
        shared_head_row: bool = False,
    ):
        super().__init__()
        self.model = model
        if shared_head_row:
            # Every class starts from the head's one row, and adding a vector
            # to all rows leaves the softmax unchanged: the row's meta-gradient
            # is exactly zero, yet Adam would move it by its rounding noise.
            model.head.requires_grad_(False)
        self.inner_lrs = (
            nn.ParameterList(nn.Parameter(torch.full_like(p, inner_lr)) for p in model.parameters())
            if inner_update == "meta-sgd"
            else None
        )
        self.update_rule = LSTMUpdate() if inner_update == "lstm" else None

    def learning_rates(self, loop: InnerLoop) -> dict[str, Tensor | float]:
        names = [name for name, _ in self.model.named_parameters()]
        if self.inner_lrs is None:
            return dict.fromkeys(names, loop.lr)
        return dict(zip(names, self.inner_lrs, strict=True))

    def task_start(self, x: Tensor, y: Tensor, n_outputs: int) -> Params:
        """Where adaptation to a task starts: the meta-learned parameters, the
        shared head row repeated for each of the task's ``n_outputs``."""
        return with_head_rows(dict(self.model.named_parameters()), n_outputs)

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """Parameters after ``loop.steps`` inner updates on one support set."""
        params = self.task_start(x, y, n_outputs)
        if not loop.head_only:

            def support_loss(p: Params) -> Tensor:
                return loop.kind.loss(functional_call(self.model, p, (x,)), y)

            return self._inner_updates(support_loss, params, loop)

        features = self.model.backbone(x)  # computed once: only the head moves

        def head_loss(head: Params) -> Tensor:
            weights = {name.removeprefix("head."): value for name, value in head.items()}
            return loop.kind.loss(functional_call(self.model.head, weights, (features,)), y)

        head = {name: p for name, p in params.items() if name.startswith("head.")}
        return {**params, **self._inner_updates(head_loss, head, loop)}

    def adapt_by_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """:meth:`adapt` with the support loss summed over chunks of rows;
        batch norm uses the statistics of the whole support set, gradients
        through them included (see ``ChunkedLoss``)."""
        chunks = support_chunks(x.shape[0])
        params = self.task_start(x, y, n_outputs)
        if not loop.head_only:

            def support_loss(p: Params, start: int, stop: int) -> Tensor:
                outputs = functional_call(self.model, p, (x[start:stop],))
                return loop.kind.loss(outputs, y[start:stop])

            with support_statistics(self.model) as statistics:
                loss = ChunkedLoss(support_loss, x.shape[0], chunks, statistics)
                return self._inner_updates(loss, params, loop)

        features = embed_in_chunks(self.model.backbone, x)

        def head_loss(head: Params, start: int, stop: int) -> Tensor:
            weights = {name.removeprefix("head."): value for name, value in head.items()}
            outputs = functional_call(self.model.head, weights, (features[start:stop],))
            return loop.kind.loss(outputs, y[start:stop])

        head = {name: p for name, p in params.items() if name.startswith("head.")}
        loss = ChunkedLoss(head_loss, x.shape[0], chunks)
        return {**params, **self._inner_updates(loss, head, loop)}

    def _inner_updates(self, loss_of, params: Params, loop: InnerLoop) -> Params:
        if self.update_rule is not None:
            return learned_steps(loss_of, params, self.update_rule, loop)
        if loop.head_only:
            # ANIL's head loss closes over the backbone's features: recomputing
            # would lose their gradient, and a head's steps take little memory.
            loop = replace(loop, recompute=False)
        return gradient_steps(loss_of, params, self.learning_rates(loop), loop)


@document_parameters
class MAML(MetaAlgorithm):
    """Model-agnostic meta-learning (Finn et al. 2017) and its variants.

    Meta-trains an initialization across tasks so that ``inner_steps``
    gradient steps on a handful of examples fit a new task. Its settings
    give first-order MAML, Meta-SGD (Li et al. 2017), a learned LSTM update
    rule (Andrychowicz et al. 2016; Ravi & Larochelle 2017) and ANIL (Raghu
    et al. 2019). For classification the head starts every class from one
    shared meta-learned row (as in Unicorn-MAML, Ye & Chao 2022), so a task
    may have any number of classes; ``inner_steps=0`` on regression trains
    one network on the pooled tasks, the non-meta baseline.

    {parameters}

    See Also
    --------
    MAMLClassifier, MAMLRegressor : The same as estimators with flat parameters.

    Examples
    --------
    >>> from sklearn_meta import MAML, MetaRegressor
    >>> reg = MetaRegressor(MAML(inner_steps=2, first_order=True))
    >>> reg.get_params()["algorithm__inner_lr"] is None  # 0.01 for regression
    True
    """

    adapts_with_steps = True
    shortcuts = {
        "maml": {},
        "fomaml": {"first_order": True},
        "metasgd": {"inner_update": "meta-sgd"},
        "anil": {"adapt_layers": "head"},
        "lstm": {"inner_update": "lstm"},
    }
    _parameters = {
        "inner_steps": replace(INNER_STEPS, by_kind={"classification": 5, "regression": 1}),
        "inner_lr": replace(INNER_LR, by_kind={"classification": 0.4, "regression": 0.01}),
        "first_order": Param(
            "bool",
            "Drop the second-order terms of the meta-gradient (first-order MAML).",
            check_bool,
        ),
        "inner_update": Param(
            '{"sgd", "meta-sgd", "lstm"}',
            "The inner loop's update rule, meta-learned with the model unless "
            '"sgd": gradient descent with step size ``inner_lr`` (MAML); with one '
            'learned step size per parameter starting at ``inner_lr`` ("meta-sgd", '
            "Meta-SGD); or gradient descent plus a correction of at most "
            "``inner_lr`` per coordinate from a coordinate-wise LSTM fed each "
            'gradient, which starts at zero ("lstm", Andrychowicz et al. 2016; Ravi '
            "& Larochelle 2017).",
            one_of("sgd", "meta-sgd", "lstm"),
        ),
        "adapt_layers": ADAPT_LAYERS,
        "activation_checkpointing": Param(
            "bool",
            "Keep no activations of the inner steps for the meta-gradient: the "
            "backward pass runs each inner step again. Second-order memory then "
            "stays nearly flat in ``inner_steps``, for about one more inner step "
            'of compute each. Not with ``inner_update="lstm"``; no effect with '
            '``adapt_layers="head"`` (only the head adapts) or in prediction.',
            check_bool,
        ),
        "eval_inner_steps": EVAL_INNER_STEPS,
    }

    def __init__(
        self,
        inner_steps=None,
        inner_lr=None,
        *,
        first_order=False,
        inner_update="sgd",
        adapt_layers="all",
        activation_checkpointing=False,
        eval_inner_steps=None,
    ):
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.first_order = first_order
        self.inner_update = inner_update
        self.adapt_layers = adapt_layers
        self.activation_checkpointing = activation_checkpointing
        self.eval_inner_steps = eval_inner_steps

    def build_learner(self, model: MetaModel, kind: TaskKind, n_classes: int | None) -> MAMLLearner:
        return MAMLLearner(
            model,
            self.setting("inner_lr", kind),
            self.inner_update,
            shared_head_row=kind is CLASSIFICATION,
        )

    def inner_loop(self, kind: TaskKind, steps: int | None = None) -> InnerLoop:
        return InnerLoop(
            kind=kind,
            steps=self.setting("inner_steps", kind) if steps is None else steps,
            lr=self.setting("inner_lr", kind),
            first_order=self.first_order,
            head_only=self.adapt_layers == "head",
            recompute=self.activation_checkpointing,
        )

    def evaluation_steps(self) -> int | None:
        return self.eval_inner_steps

    def validate(self, kind: TaskKind) -> None:
        super().validate(kind)
        if self.activation_checkpointing and self.inner_update == "lstm":
            raise ValueError(
                "activation_checkpointing=True is not available with inner_update='lstm' "
                "(the LSTM rule keeps state across steps); use 'sgd' or 'meta-sgd', or "
                "task_chunk_size to bound memory."
            )
