"""The functional inner loop: gradient steps on a dict of parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ._learned_update import LSTMUpdate
from ._model import Params, own_random_state
from ._norms import Chunks, SupportStatistics
from ._tasks import TaskKind


@dataclass(frozen=True)
class InnerLoop:
    """How a task is adapted: the loss, the number of steps and what moves."""

    kind: TaskKind
    steps: int
    lr: float
    first_order: bool = False
    head_only: bool = False
    #: Keep no activations of the steps for the meta-gradient: the backward
    #: pass runs each step again (activation checkpointing).
    recompute: bool = False
    #: Gradients from plain autograd instead of ``torch.func.grad``, about
    #: twice as fast for one small task; only for one task outside
    #: ``torch.func`` transforms, without a meta-gradient (``adapt``).
    plain_autograd: bool = False
    #: Keep the parameters of the last step whose support loss is finite and
    #: not far above the starting loss (see :func:`guarded_steps`); only
    #: without a meta-gradient (``adapt``, ``score``).
    guarded: bool = False


#: A support loss above ``DIVERGENCE_FACTOR`` times the starting loss (plus
#: one, for a start near zero) counts as diverged.
DIVERGENCE_FACTOR = 1000.0

#: The key of an adapted state that holds how many steps a guarded loop kept.
STEPS_KEPT = "steps_kept"


@dataclass(frozen=True)
class ChunkedLoss:
    """A support loss that is the mean of a per-row loss over ``n_rows``
    rows, computed a chunk of rows at a time: bounded memory for a support
    set of any size. Only for the plain-autograd loop (``adapt``), outside
    ``torch.func`` transforms.

    ``loss_of_rows(params, start, stop)`` is the mean loss of rows
    ``start:stop``. The loss is the sum of the chunks' losses weighted by
    their share of the rows, its gradient the same sum of their gradients.
    With ``statistics``, the network's batch norms normalize every chunk
    with the statistics of all the rows (recomputed for every new
    ``params``), and the gradient includes the path through them (see
    :class:`~sklearn_meta._core._norms.SupportStatistics`): both equal the
    one-batch loss and gradient up to rounding.
    """

    loss_of_rows: Callable[[Params, int, int], Tensor]
    n_rows: int
    chunks: Chunks
    statistics: SupportStatistics | None = None

    def __call__(self, params: Params) -> Tensor:
        """The loss at ``params`` (differentiable only with the batch
        statistics held constant)."""
        self._collect(params)
        total = 0.0
        for start, stop in self.chunks:
            self._start()
            total = total + self.loss_of_rows(params, start, stop) * ((stop - start) / self.n_rows)
        return total

    def gradients(self, params: Params) -> tuple[Params, Tensor]:
        """The gradients of the loss at ``params`` and the loss."""
        leaves = {name: p.detach().requires_grad_() for name, p in params.items()}

        def objective(start: int, stop: int) -> Tensor:
            weight = (stop - start) / self.n_rows
            return self.loss_of_rows(leaves, start, stop) * weight

        self._collect(leaves)
        if self.statistics is not None:
            self.statistics.solve_adjoints(objective, self.chunks)
        grads: Params = {}
        loss = 0.0
        for start, stop in self.chunks:
            self._start()
            with torch.enable_grad():
                value = objective(start, stop)
                surrogate = 0.0 if self.statistics is None else self.statistics.surrogate
                parts = torch.autograd.grad(value + surrogate, list(leaves.values()))
            for name, part in zip(leaves, parts, strict=True):
                grads[name] = part if name not in grads else grads[name] + part
            loss = loss + value.detach()
        return grads, loss

    def _collect(self, params: Params) -> None:
        if self.statistics is not None:
            self.statistics.collect(
                lambda start, stop: self.loss_of_rows(params, start, stop), self.chunks
            )

    def _start(self) -> None:
        if self.statistics is not None:
            self.statistics.start()


def gradient_steps(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    learning_rates: Mapping[str, Tensor | float],
    loop: InnerLoop,
) -> Params:
    """``loop.steps`` steps of gradient descent on ``loss_of`` from ``params``.

    The gradients come from :func:`torch.func.grad`, so the result stays
    differentiable with respect to ``params`` and ``learning_rates`` (MAML's
    second-order meta-gradient), and the function runs under ``vmap``.
    ``loop.first_order`` detaches the inner gradients (first-order MAML).
    ``loop.recompute`` needs ``loss_of`` to depend on differentiable tensors
    only through ``params``; without gradients to record it changes nothing.
    """
    step = _recomputed_step if loop.recompute and torch.is_grad_enabled() else _gradient_step
    if loop.guarded:
        return guarded_steps(
            loss_of, params, lambda p, grads, _: (_descend(p, grads, learning_rates), None), loop
        )
    for _ in range(loop.steps):
        params = step(loss_of, params, learning_rates, loop)
    return params


def guarded_steps(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    update: Callable[[Params, Params, object], tuple[Params, object]],
    loop: InnerLoop,
    state: object = None,
) -> Params:
    """``loop.steps`` updates ``params, state = update(params, grads, state)``
    that keep the parameters of the last step whose support loss is finite and
    at most ``DIVERGENCE_FACTOR`` times the starting loss (plus one).

    The result also holds, under ``STEPS_KEPT``, the number of steps kept
    (``loop.steps`` when nothing diverged). Branch-free: it runs under ``vmap``.
    """
    kept, start, healthy, steps_kept = params, None, None, None
    for step in range(loop.steps + 1):
        if step < loop.steps:
            grads, loss = _gradients(loss_of, params, loop, with_loss=True)
        else:
            loss = loss_of(params).detach()
        if start is None:
            start, healthy = loss, torch.isfinite(loss)
            steps_kept = torch.zeros_like(loss, dtype=torch.long)
        else:
            healthy = healthy & torch.isfinite(loss) & (loss <= DIVERGENCE_FACTOR * start + 1)
            steps_kept = steps_kept + healthy.long()
        kept = {name: torch.where(healthy, value, kept[name]) for name, value in params.items()}
        if step < loop.steps:
            params, state = update(params, grads, state)
    return {**kept, STEPS_KEPT: steps_kept}


def split_steps_kept(state: Params) -> tuple[Params, Tensor | None]:
    """An adapted state without its ``STEPS_KEPT`` entry, and that entry (None
    for learners that take no guarded steps)."""
    state = dict(state)
    return state, state.pop(STEPS_KEPT, None)


def _descend(params: Params, grads: Params, learning_rates: Mapping[str, Tensor | float]) -> Params:
    return {name: p - learning_rates[name] * grads[name] for name, p in params.items()}


def _gradient_step(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    learning_rates: Mapping[str, Tensor | float],
    loop: InnerLoop,
) -> Params:
    return _descend(params, _gradients(loss_of, params, loop), learning_rates)


def _recomputed_step(
    loss_of: Callable[[Params], Tensor],
    params: Params,
    learning_rates: Mapping[str, Tensor | float],
    loop: InnerLoop,
) -> Params:
    """:func:`_gradient_step` as one autograd node that saves only its inputs."""
    names = list(params)
    learned = [name for name in names if isinstance(learning_rates[name], Tensor)]

    def step(*tensors: Tensor) -> tuple[Tensor, ...]:
        current = dict(zip(names, tensors[: len(names)], strict=True))
        rates = {**learning_rates, **dict(zip(learned, tensors[len(names) :], strict=True))}
        return tuple(_gradient_step(loss_of, current, rates, loop).values())

    inputs = [*params.values(), *(learning_rates[name] for name in learned)]
    outputs = _Recomputed.apply(_Replay(step, inputs[0].device), *inputs)
    return dict(zip(names, outputs, strict=True))


class _Replay:
    """A function and what it needs to run again exactly: the random number
    generator's state and the autocast setting at the first run."""

    def __init__(self, fn: Callable[..., tuple[Tensor, ...]], device: torch.device):
        self.fn = fn
        self.device = device
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        enabled = torch.is_autocast_enabled(device.type)
        self.autocast = torch.get_autocast_dtype(device.type) if enabled else None

    def again(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        with own_random_state(self.device):
            torch.set_rng_state(self.cpu_rng)
            if self.cuda_rng is not None:
                torch.cuda.set_rng_state(self.cuda_rng, self.device)
            with torch.autocast(
                self.device.type, dtype=self.autocast, enabled=self.autocast is not None
            ):
                return self.fn(*tensors)


class _Recomputed(torch.autograd.Function):
    """Runs ``replay.fn`` without recording it; the backward pass runs it
    again under :func:`torch.func.vjp`. Works under ``vmap`` and ``grad``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(replay: _Replay, *tensors: Tensor) -> tuple[Tensor, ...]:
        return replay.fn(*tensors)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        replay, *tensors = inputs
        ctx.replay = replay
        ctx.save_for_backward(*tensors)

    @staticmethod
    def backward(ctx, *cotangents: Tensor) -> tuple[Tensor | None, ...]:
        with torch.enable_grad():
            _, vjp = torch.func.vjp(ctx.replay.again, *ctx.saved_tensors)
        return (None, *vjp(cotangents))


def learned_steps(
    loss_of: Callable[[Params], Tensor], params: Params, rule: LSTMUpdate, loop: InnerLoop
) -> Params:
    """``loop.steps`` updates by a learned ``rule``, which keeps state across steps."""
    state = rule.initial_state(params)
    if loop.guarded:
        return guarded_steps(
            loss_of, params, lambda p, grads, s: rule(p, grads, s, loop.lr), loop, state
        )
    for _ in range(loop.steps):
        params, state = rule(params, _gradients(loss_of, params, loop), state, loop.lr)
    return params


def _gradients(
    loss_of: Callable[[Params], Tensor], params: Params, loop: InnerLoop, with_loss: bool = False
):
    """The gradients of ``loss_of`` at ``params``; with ``with_loss``, also the loss."""
    if loop.plain_autograd and isinstance(loss_of, ChunkedLoss):
        grads, loss = loss_of.gradients(params)
    elif loop.plain_autograd:
        leaves = {name: p.detach().requires_grad_() for name, p in params.items()}
        with torch.enable_grad():
            loss = loss_of(leaves)
            grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True))
        loss = loss.detach()
    else:
        grads, loss = torch.func.grad_and_value(loss_of)(params)
        if loop.first_order:
            grads = {name: g.detach() for name, g in grads.items()}
    return (grads, loss) if with_loss else grads
