"""What a task's outputs mean: the loss to train on and the score to report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def _squared_error(output: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(output.squeeze(-1), target)


def _r2(output: Tensor, target: Tensor) -> Tensor:
    residual = (target - output.squeeze(-1)).square().sum(-1)
    total = (target - target.mean(-1, keepdim=True)).square().sum(-1)
    return 1 - residual / total


def _cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(logits, target)


def _accuracy(logits: Tensor, target: Tensor) -> Tensor:
    return (logits.argmax(-1) == target).to(logits.dtype).mean(-1)


@dataclass(frozen=True)
class TaskKind:
    """The loss an inner loop minimizes and the per-episode score (higher is better)."""

    loss: Callable[[Tensor, Tensor], Tensor]
    score: Callable[[Tensor, Tensor], Tensor]
    target_dtype: torch.dtype


REGRESSION = TaskKind(loss=_squared_error, score=_r2, target_dtype=torch.float32)
CLASSIFICATION = TaskKind(loss=_cross_entropy, score=_accuracy, target_dtype=torch.long)
