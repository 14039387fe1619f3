"""Normalization layers whose second-order gradients are right under ``vmap``.

torch's batching rules for the backward of batch, instance and layer norm
give wrong second derivatives with respect to the affine ``weight``
(pytorch/functorch#534): in float64, a two-step MAML meta-gradient through
``BatchNorm1d`` vectorized with ``vmap`` differs from the task loop by 1e-2,
through ``LayerNorm`` by 1e-3. Normalizing without the affine parameters and
applying ``weight`` and ``bias`` as separate elementwise operations gives
the task loop's meta-gradient to rounding. The replacements keep the
parameters' names, so state dicts and saved models are unchanged.

Batch and instance norm always use the statistics of the batch they see,
as MAML does (running statistics cannot be updated under ``vmap``). The one
exception is a support set too large for one batch that passes through the
network in chunks (:class:`SupportStatistics`): batch norm then uses the
statistics of the whole support set, as one batch would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_INSTANCE_NORM_SPATIAL_DIMS = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}


class _SplitAffineNorm(nn.Module):
    """Normalize with torch's kernel, then scale and shift as separate ops."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.eps = norm.eps
        self.register_parameter("weight", norm.weight)
        self.register_parameter("bias", norm.bias)

    def normalize(self, x: Tensor) -> tuple[Tensor, int | None]:
        """The normalized input and the axis of its channels (None: trailing)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        x, channel_axis = self.normalize(x)
        shape = (-1,) + (1,) * (x.ndim - channel_axis - 1) if channel_axis is not None else None
        if self.weight is not None:
            x = x * (self.weight if shape is None else self.weight.view(shape))
        if self.bias is not None:
            x = x + (self.bias if shape is None else self.bias.view(shape))
        return x


class BatchNorm(_SplitAffineNorm):
    """``nn.BatchNorm{1,2,3}d`` normalizing every batch with its own statistics
    (or, inside :func:`support_statistics`, with those of the whole support set)."""

    #: Set only inside :func:`support_statistics`.
    _support_statistics: SupportStatistics | None = None

    def normalize(self, x: Tensor) -> tuple[Tensor, int]:
        if self._support_statistics is not None:
            return self._support_statistics.normalize(self, x), 1
        return F.batch_norm(x, None, None, training=True, eps=self.eps), 1


class InstanceNorm(_SplitAffineNorm):
    """``nn.InstanceNorm{1,2,3}d`` normalizing with every instance's statistics."""

    def __init__(self, norm: nn.Module, spatial_dims: int):
        super().__init__(norm)
        self.spatial_dims = spatial_dims

    def normalize(self, x: Tensor) -> tuple[Tensor, int]:
        if x.ndim == self.spatial_dims + 1:  # one unbatched instance
            return F.instance_norm(x.unsqueeze(0), eps=self.eps).squeeze(0), 0
        return F.instance_norm(x, eps=self.eps), 1


class LayerNorm(_SplitAffineNorm):
    """``nn.LayerNorm``."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__(norm)
        self.normalized_shape = tuple(norm.normalized_shape)

    def normalize(self, x: Tensor) -> tuple[Tensor, None]:
        return F.layer_norm(x, self.normalized_shape, eps=self.eps), None


def split_affine_norms(module: nn.Module) -> nn.Module:
    """``module`` with its batch, instance and layer norms replaced (in place;
    a norm layer given alone is returned replaced)."""
    replacement = _replacement(module)
    if replacement is not None:
        return replacement
    for name, child in module.named_children():
        setattr(module, name, split_affine_norms(child))
    return module


def _replacement(module: nn.Module) -> nn.Module | None:
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return BatchNorm(module)
    if isinstance(module, nn.LayerNorm):
        return LayerNorm(module)
    for kind, spatial_dims in _INSTANCE_NORM_SPATIAL_DIMS.items():
        if isinstance(module, kind):
            return InstanceNorm(module, spatial_dims)
    return None


# -- a support set in chunks -------------------------------------------------
#: ``(start, stop)`` of each chunk of rows.
Chunks = Sequence[tuple[int, int]]


class _Collected(Exception):
    """A statistics pass has what it needs from this chunk: the rest of the
    forward pass is not computed."""


class SupportStatistics:
    """The batch statistics of a whole support set that passes through a
    network in chunks, so that every chunk is normalized as one batch of all
    the rows would be.

    Inside :func:`support_statistics`, the k-th batch-norm call of a forward
    pass normalizes with ``mean[k]`` and ``var[k]`` (biased, as
    ``F.batch_norm``), the statistics of that call's input over all the rows.
    :meth:`collect` computes them call by call, each from the chunks passed
    through the earlier calls with their full-set statistics: a no-grad pass
    over the chunks per batch-norm call, which stops at that call.

    The statistics are functions of the parameters. A chunk's forward pass
    sees them as constants; :meth:`solve_adjoints` computes the gradient of
    the whole objective with respect to each call's statistics (one pass
    over the chunks per call, from the last call to the first), after which
    every forward pass adds to :attr:`surrogate` a term whose value is zero
    and whose gradient is the chunk's share of the gradient through the
    statistics. The gradient of the chunks' objectives plus their surrogates,
    summed over the chunks, is then the gradient of the one-batch objective
    (up to rounding), the path through the batch statistics included.
    """

    def __init__(self) -> None:
        self.mean: list[Tensor] = []
        self.var: list[Tensor] = []
        self.count: list[int] = []
        self.mean_adjoint: list[Tensor | None] = []
        self.var_adjoint: list[Tensor | None] = []
        self.surrogate: Tensor | float = 0.0
        self._call = 0
        self._pending: list[Tensor] | None = None  # count, mean and M2 in float64
        self._dtype = torch.float32  # of the pending call's input

    def start(self) -> None:
        """Start a forward pass of one chunk."""
        self._call, self.surrogate = 0, 0.0

    def normalize(self, norm: BatchNorm, x: Tensor) -> Tensor:
        """``x`` normalized with this call's full-set statistics (the call after
        the last known one collects its chunk's statistics and stops the pass)."""
        call = self._call
        self._call += 1
        dims = [d for d in range(x.ndim) if d != 1]
        if call == len(self.mean):
            self._accumulate(x.detach(), dims)
            raise _Collected
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean, var = self.mean[call], self.var[call]
        adjoint = self.mean_adjoint[call] if call < len(self.mean_adjoint) else None
        if adjoint is not None:
            # Zero, with the gradient of <adjoint, (mean, var)> through this chunk's rows.
            n = self.count[call]
            part = (x.sum(dims) * adjoint).sum() / n
            centered = (x - mean.detach().view(shape)).square()
            part = part + (centered.sum(dims) * self.var_adjoint[call]).sum() / n
            self.surrogate = self.surrogate + (part - part.detach())
        return (x - mean.view(shape)) * torch.rsqrt(var + norm.eps).view(shape)

    def _accumulate(self, x: Tensor, dims: list[int]) -> None:
        """Merge a chunk's mean and sum of squared deviations into the pending
        call's (Chan et al.'s pairwise update, in float64)."""
        var, mean = torch.var_mean(x, dim=dims, correction=0)
        n = x.numel() / x.shape[1]
        mean, m2 = mean.double(), var.double() * n
        if self._pending is None:
            self._pending, self._dtype = [torch.tensor(n, dtype=torch.float64), mean, m2], x.dtype
            return
        total, old_mean, old_m2 = self._pending
        delta = mean - old_mean
        merged = total + n
        self._pending = [
            merged,
            old_mean + delta * (n / merged),
            old_m2 + m2 + delta.square() * (total * n / merged),
        ]

    def collect(self, forward: Callable[[int, int], object], chunks: Chunks) -> None:
        """The full-set statistics of every batch-norm call of ``forward(start,
        stop)`` (the network on those rows), one call at a time, without gradients."""
        self.mean, self.var, self.count = [], [], []
        self.mean_adjoint, self.var_adjoint = [], []
        with torch.no_grad():
            while True:
                self._pending = None
                for start, stop in chunks:
                    self.start()
                    try:
                        forward(start, stop)
                    except _Collected:
                        continue
                    if self._pending is None:  # the pass went past every call
                        return
                    raise RuntimeError("a forward pass called batch norm fewer times than another")
                total, mean, m2 = self._pending
                self.mean.append(mean.to(self._dtype))
                self.var.append((m2 / total).to(self._dtype))
                self.count.append(int(total))

    def solve_adjoints(self, objective: Callable[[int, int], Tensor], chunks: Chunks) -> None:
        """The gradient of ``sum(objective(start, stop) for each chunk)`` with
        respect to every call's statistics, each call's taking in how the
        later calls' statistics depend on it (``objective`` differentiable,
        statistics collected); sets the surrogates of later forward passes."""
        n_calls = len(self.mean)
        self.mean_adjoint, self.var_adjoint = [None] * n_calls, [None] * n_calls
        for call in reversed(range(n_calls)):
            mean = self.mean[call].detach().requires_grad_()
            var = self.var[call].detach().requires_grad_()
            self.mean[call], self.var[call] = mean, var
            totals = [torch.zeros_like(mean, dtype=torch.float64) for _ in range(2)]
            for start, stop in chunks:
                self.start()
                with torch.enable_grad():
                    value = objective(start, stop) + self.surrogate
                    parts = torch.autograd.grad(value, [mean, var], allow_unused=True)
                for total, part in zip(totals, parts, strict=True):
                    if part is not None:
                        total += part
            self.mean[call], self.var[call] = mean.detach(), var.detach()
            self.mean_adjoint[call] = totals[0].to(mean.dtype)
            self.var_adjoint[call] = totals[1].to(var.dtype)


@contextmanager
def support_statistics(module: nn.Module) -> Iterator[SupportStatistics | None]:
    """Make the batch norms of ``module`` normalize with one
    :class:`SupportStatistics` (None, and nothing changed, without batch norm)."""
    norms = [child for child in module.modules() if isinstance(child, BatchNorm)]
    if not norms:
        yield None
        return
    statistics = SupportStatistics()
    for norm in norms:
        norm._support_statistics = statistics
    try:
        yield statistics
    finally:
        for norm in norms:
            del norm._support_statistics
