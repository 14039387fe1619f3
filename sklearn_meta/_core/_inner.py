"""The functional inner loop: gradient steps on a dict of parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ._learned_update import LSTMUpdate
from ._model import Params
from ._tasks import TaskKind


@dataclass(frozen=True)
class InnerLoop:
    """How a task is adapted: the loss, the number of steps and what moves."""

    kind: TaskKind
    steps: int
    lr: float
    first_order: bool = False
    head_only: bool = False


def gradient_steps(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    learning_rates: Mapping[str, Tensor | float],
    steps: int,
    first_order: bool,
) -> Params:
    """``steps`` steps of gradient descent on ``loss_of`` from ``params``.

    The gradients come from :func:`torch.func.grad`, so the result stays
    differentiable with respect to ``params`` and ``learning_rates`` (MAML's
    second-order meta-gradient), and the function runs under ``vmap``.
    ``first_order`` detaches the inner gradients (first-order MAML).
    """
    for _ in range(steps):
        grads = _gradients(loss_of, params, first_order)
        params = {name: p - learning_rates[name] * grads[name] for name, p in params.items()}
    return params


def learned_steps(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    rule: LSTMUpdate,
    lr: float,
    steps: int,
    first_order: bool,
) -> Params:
    """``steps`` updates by a learned ``rule``, which keeps state across steps."""
    state = rule.initial_state(params)
    for _ in range(steps):
        params, state = rule(params, _gradients(loss_of, params, first_order), state, lr)
    return params


def _gradients(loss_of: Callable[[Params], Tensor], params: Params, first_order: bool) -> Params:
    grads = torch.func.grad(loss_of)(params)
    if first_order:
        grads = {name: g.detach() for name, g in grads.items()}
    return grads
