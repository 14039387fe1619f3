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
as MAML does (running statistics cannot be updated under ``vmap``).
"""

from __future__ import annotations

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
    """``nn.BatchNorm{1,2,3}d`` normalizing every batch with its own statistics."""

    def normalize(self, x: Tensor) -> tuple[Tensor, int]:
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
