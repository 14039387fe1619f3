"""Reptile (Nichol, Achiam & Schulman 2018) on the shared core.

Reptile adapts the initialization θ to each task with a few steps of SGD,
giving φ, and moves θ toward the adapted weights: no meta-gradient through
the inner loop. The shell's outer optimizer applies that move through a
surrogate loss, ½‖θ − stopgrad(φ)‖², whose gradient is exactly θ − φ.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import torch
from torch import Tensor

from ._algorithm import MetaAlgorithm
from ._core._inner import InnerLoop, gradient_steps
from ._core._model import MetaModel, Params, with_head_rows
from ._core._tasks import CLASSIFICATION, TaskKind
from ._maml import MAMLLearner
from ._params import EVAL_INNER_STEPS, INNER_LR, Param, at_least, document_parameters

Minibatch = tuple[Tensor, Tensor]


class ReptileLearner(MAMLLearner):
    """A meta-learned initialization trained by Reptile's first-order update.

    New tasks are adapted to as in MAML (``adapt``: full-batch SGD on the
    support); only meta-training differs.
    """

    def __init__(self, model: MetaModel, inner_lr: float, *, shared_head_row: bool = False):
        super().__init__(model, inner_lr, shared_head_row=shared_head_row)

    def episode_loss(
        self,
        x_support: Tensor,
        y_support: Tensor,
        x_query: Tensor,
        y_query: Tensor,
        n_outputs: int,
        loop: InnerLoop,
    ) -> Tensor:
        """Reptile's update as a loss: its gradient with respect to the
        parameters θ is θ − φ, with φ the weights after ``loop.steps`` SGD
        steps on the episode's :func:`inner_minibatches`; its value is the
        loss of φ on all the episode's rows.
        """
        minibatches = inner_minibatches(
            x_support, y_support, x_query, y_query, n_outputs, loop.steps
        )
        with torch.no_grad():  # φ is a constant of the outer step (first order)
            adapted = self.adapt_on_minibatches(minibatches, n_outputs, loop)
            x, y = torch.cat([x_support, x_query]), torch.cat([y_support, y_query])
            adapted_loss = loop.kind.loss(self.predict_with(adapted, x), y)
        target = _shared_head_row(adapted)
        distance = sum(
            0.5 * (value - target[name]).square().sum()
            for name, value in self.model.named_parameters()
        )
        # The value reported is the loss after adaptation; the gradient is the distance's.
        return adapted_loss + (distance - distance.detach())

    def adapt_on_minibatches(
        self, minibatches: list[Minibatch], n_outputs: int, loop: InnerLoop
    ) -> Params:
        """One SGD step on each minibatch in turn, from the shared-row initialization."""
        params = with_head_rows(dict(self.model.named_parameters()), n_outputs)
        rates = self.learning_rates(loop)
        one_step = replace(loop, steps=1, first_order=True)
        for x, y in minibatches:
            loss_of = partial(self._loss, x=x, y=y, kind=loop.kind)
            params = gradient_steps(loss_of, params, rates, one_step)
        return params

    def _loss(self, params: Params, x: Tensor, y: Tensor, kind: TaskKind) -> Tensor:
        return kind.loss(self.predict_with(params, x), y)


def inner_minibatches(
    x_support: Tensor,
    y_support: Tensor,
    x_query: Tensor,
    y_query: Tensor,
    n_blocks: int,
    steps: int,
) -> list[Minibatch]:
    """The minibatches of Reptile's inner loop: ``steps`` windows the size of
    the support set, cycling through the episode's rows, the support first.

    Support and query rows come in ``n_blocks`` equal blocks: one per class
    (episodes list their rows class by class), one for regression. Each
    window takes as many rows of every block as the support does, so it is
    balanced like the support set that evaluation adapts to.
    """
    n_shots = len(x_support) // n_blocks
    x = _blocks(x_support, x_query, n_blocks)
    y = _blocks(y_support, y_query, n_blocks)
    minibatches = []
    for step in range(steps):
        start = step * n_shots % x.shape[1]
        x_window, y_window = (t.roll(-start, dims=1)[:, :n_shots].flatten(0, 1) for t in (x, y))
        minibatches.append((x_window, y_window))
    return minibatches


def _blocks(support: Tensor, query: Tensor, n_blocks: int) -> Tensor:
    """Support and query rows side by side, block by block: (n_blocks, rows, ...)."""
    return torch.cat([support.unflatten(0, (n_blocks, -1)), query.unflatten(0, (n_blocks, -1))], 1)


def _shared_head_row(params: Params) -> Params:
    """Adapted parameters with the head's class rows averaged back into the
    one shared row they all started from."""
    return {
        **params,
        "head.weight": params["head.weight"].mean(0, keepdim=True),
        "head.bias": params["head.bias"].mean(0, keepdim=True),
    }


@document_parameters
class Reptile(MetaAlgorithm):
    """Reptile (Nichol, Achiam & Schulman 2018): a first-order meta-learned initialization.

    Each outer step adapts the initialization θ to every episode of the
    meta-batch with ``inner_steps`` SGD steps of size ``inner_lr`` on
    minibatches the size of the support set (the support, then windows of
    the query rows), giving weights φ, and moves θ toward φ: the outer
    optimizer takes θ − φ as the gradient. New tasks are adapted to as in
    MAML, with full-batch SGD on the support set.

    {parameters}

    See Also
    --------
    ReptileClassifier, ReptileRegressor : The same as estimators with flat parameters.

    Examples
    --------
    >>> from sklearn_meta import MetaRegressor, Reptile
    >>> MetaRegressor(Reptile(inner_steps=8)).get_params()["algorithm__inner_steps"]
    8
    """

    adapts_with_steps = True
    shortcuts = {"reptile": {}}
    # On sine tasks three times MAML's meta_lr fit better after as many steps.
    recommended = {"regression": {"meta_lr": 0.003}}
    _parameters = {
        "inner_steps": Param(
            "int",
            "SGD steps from the initialization on each training episode, one per "
            "minibatch. At least 1; Reptile proper needs 2 or more, as one step "
            "makes its update the gradient of the pooled tasks' loss (joint training).",
            at_least(1),
        ),
        "inner_lr": replace(INNER_LR, by_kind={"classification": 0.1, "regression": 0.02}),
        "eval_inner_steps": EVAL_INNER_STEPS,
    }

    def __init__(self, inner_steps=5, inner_lr=None, *, eval_inner_steps=None):
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.eval_inner_steps = eval_inner_steps

    def build_learner(
        self, model: MetaModel, kind: TaskKind, n_classes: int | None
    ) -> ReptileLearner:
        return ReptileLearner(
            model, self.setting("inner_lr", kind), shared_head_row=kind is CLASSIFICATION
        )

    def inner_loop(self, kind: TaskKind, steps: int | None = None) -> InnerLoop:
        return InnerLoop(
            kind=kind,
            steps=self.inner_steps if steps is None else steps,
            lr=self.setting("inner_lr", kind),
            first_order=True,
        )

    def evaluation_steps(self) -> int | None:
        return self.eval_inner_steps
