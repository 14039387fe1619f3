"""What a task's outputs mean: the loss to train on, the score to report and,
for classification, the probabilities to predict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _squared_error(output: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(output.squeeze(-1), target)


def _r2_parts(output: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    residual = (weight * (target - output.squeeze(-1)).square()).sum(-1)
    # Shifted by the first target, constant targets spread exactly zero
    # (their rounded mean need not equal them).
    shifted = target - target[..., :1]
    mean = (weight * shifted).sum(-1, keepdim=True) / weight.sum(-1, keepdim=True)
    total = (weight * (shifted - mean).square()).sum(-1)
    return torch.stack([total - residual, total], dim=-1)


def _cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(logits, target)


def _accuracy_parts(logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    correct = (logits.argmax(-1) == target).to(weight.dtype)
    accuracy = (weight * correct).sum(-1) / weight.sum(-1)
    # argmax of NaN logits is an index like any other: keep the NaN visible.
    diverged = logits.isnan().flatten(-2).any(-1)
    accuracy = accuracy.masked_fill(diverged, torch.nan)
    return torch.stack([accuracy, torch.ones_like(accuracy)], dim=-1)


@dataclass(frozen=True)
class TaskKind:
    """The loss an inner loop minimizes and how episodes are scored.

    ``score_parts(output, target, weight)`` gives each episode a numerator
    and a denominator (``weight`` weighs the query samples); the
    score of many episodes is ``sum(numerators) / sum(denominators)``. For
    accuracy that is the mean accuracy. For regression it is R² with each
    query set measured against its own task's mean, ``1 - ΣSSE / ΣSST``: a
    mean of per-episode R² would be ruled by near-constant tasks, whose R²
    runs to minus infinity.
    """

    loss: Callable[[Tensor, Tensor], Tensor]
    score_parts: Callable[[Tensor, Tensor, Tensor], Tensor]
    target_dtype: torch.dtype
    name: str


REGRESSION = TaskKind(_squared_error, _r2_parts, torch.float32, "regression")
CLASSIFICATION = TaskKind(_cross_entropy, _accuracy_parts, torch.long, "classification")


def combine_scores(parts: np.ndarray) -> float:
    """The score of many episodes from their ``score_parts`` rows.

    Query sets whose targets are all constant have no variance to explain
    (denominators of zero); as scikit-learn's ``r2_score``, they score 1.0
    when predicted exactly and 0.0 otherwise.
    """
    numerator, denominator = parts[:, 0].sum(), parts[:, 1].sum()
    if denominator == 0 and np.isfinite(numerator):
        return 1.0 if numerator == 0 else 0.0
    return float(numerator / denominator)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities: the softmax of each row of ``logits`` (shifted by
    its maximum, so that large logits do not overflow)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
