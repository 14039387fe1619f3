"""Gamma and Beta draws from a torch generator (torch's own Gamma, Beta and
Dirichlet samplers take none), for the baselines' posteriors."""

from __future__ import annotations

import torch
from torch import Tensor


def sample_gamma(shape: Tensor, generator: torch.Generator) -> Tensor:
    """Gamma(``shape``, 1) draws, one per entry of ``shape`` (all >= 1).

    Marsaglia & Tsang's (2000) rejection sampler, drawing from ``generator``:
    torch's own Gamma, Beta and Dirichlet samplers take no generator.
    """
    d = (shape - 1 / 3).reshape(-1)
    c = torch.rsqrt(9 * d)
    sample = torch.empty_like(d)
    pending = torch.arange(len(d), device=d.device)
    while len(pending):
        d_p, c_p = d[pending], c[pending]
        x = torch.randn(d_p.shape, generator=generator, device=d.device, dtype=d.dtype)
        u = torch.rand(d_p.shape, generator=generator, device=d.device, dtype=d.dtype)
        v = (1 + c_p * x) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * x**2 + d_p - d_p * v + d_p * torch.log(v))
        sample[pending[accept]] = (d_p * v)[accept]
        pending = pending[~accept]
    return sample.reshape(shape.shape)


def sample_beta(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """Beta(``a``, ``b``) draws (parameters >= 1) from ``generator``: the
    ratio ``X / (X + Y)`` of Gamma(``a``) and Gamma(``b``) draws."""
    x, y = sample_gamma(torch.stack([a, b]), generator)
    return x / (x + y)
