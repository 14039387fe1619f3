"""The meta-batch: episodes as tensors, mapped with ``vmap`` or a loop, and one outer step.

The outer step can run the meta-batch in chunks (bounded memory, the same
update) and, when ``torch.distributed`` is initialized, split it across
processes: every process draws the same episodes, runs its share, and the
gradients are summed before each process takes the same optimizer step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._episodes import Episodes

EpisodeFn = Callable[..., Tensor]


@dataclass(frozen=True)
class EpisodeBatch:
    """Support and query tensors of a batch of episodes, episodes first."""

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor

    @classmethod
    def gather(cls, X: Tensor, y: Tensor, episodes: Episodes) -> EpisodeBatch:
        """Index rows of ``X`` and ``y`` (already on the device); classification
        episodes take their episode-local labels instead of ``y``."""
        device = X.device
        support = torch.as_tensor(episodes.support, device=device)
        query = torch.as_tensor(episodes.query, device=device)
        if episodes.support_labels is None:
            y_support, y_query = y[support], y[query]
        else:
            y_support = torch.as_tensor(episodes.support_labels, device=device)
            y_query = torch.as_tensor(episodes.query_labels, device=device)
        return cls(X[support], y_support, X[query], y_query)

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.x_support, self.y_support, self.x_query, self.y_query

    def __getitem__(self, episodes: slice) -> EpisodeBatch:
        return EpisodeBatch(*(t[episodes] for t in self.tensors()))

    def chunks(self, size: int | None) -> list[EpisodeBatch]:
        """Consecutive runs of ``size`` episodes (one run for None)."""
        size = size or max(len(self), 1)
        return [self[start : start + size] for start in range(0, len(self), size)]

    def __len__(self) -> int:
        return len(self.x_support)


def map_episodes(fn: EpisodeFn, batch: EpisodeBatch, vectorize: bool) -> Tensor | tuple:
    """``fn`` applied to every episode: one ``vmap`` call, or a Python loop.

    ``fn`` returns a tensor or a tuple of tensors; each comes back stacked
    over episodes.
    """
    tensors = batch.tensors()
    if vectorize:
        return torch.func.vmap(fn, randomness="different")(*tensors)
    results = [fn(*(t[i] for t in tensors)) for i in range(len(batch))]
    if isinstance(results[0], tuple):
        return tuple(torch.stack(parts) for parts in zip(*results, strict=True))
    return torch.stack(results)


def can_vectorize(fn: EpisodeFn, batch: EpisodeBatch) -> bool:
    """Whether ``fn`` runs under ``vmap``: tried on a single episode.

    Modules with data-dependent control flow, ``.item()`` calls or in-place
    updates of buffers cannot be vmapped; they take the loop path.
    """
    one = EpisodeBatch(*(t[:1] for t in batch.tensors()))
    try:
        with torch.no_grad():
            map_episodes(fn, one, vectorize=True)
    except (RuntimeError, NotImplementedError, ValueError):
        return False
    return True


def meta_step(
    episode_loss: EpisodeFn,
    batch: EpisodeBatch,
    optimizer: torch.optim.Optimizer,
    vectorize: bool,
    chunk_size: int | None = None,
    *,
    autocast: torch.dtype | None = None,
    mapper: Callable[[EpisodeFn, EpisodeBatch, bool], Tensor] = map_episodes,
) -> float:
    """One outer update on the mean query loss of the batch; returns that loss.

    ``chunk_size`` episodes are mapped at a time (all of them for None), each
    chunk's gradient added to the others'. ``autocast`` runs the forward
    pass under ``torch.autocast`` in that dtype (parameters and optimizer
    stay float32); ``mapper`` is ``map_episodes`` or a compiled version of it.
    A non-finite loss raises before the update, so the parameters keep
    their last finite values.
    """
    optimizer.zero_grad(set_to_none=True)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    device = params[0].device
    total = torch.zeros((), device=device)
    for chunk in _own_share(batch).chunks(chunk_size):
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            loss = mapper(episode_loss, chunk, vectorize).float().sum() / len(batch)
        loss.backward()
        total += loss.detach()
    if _world_size() > 1:
        _sum_across_processes(total, params)
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"The meta-training loss became {total.item()}; the parameters keep their last "
            "finite values. Lower meta_lr or inner_lr, or scale the inputs."
        )
    optimizer.step()
    return total.item()


def _world_size() -> int:
    distributed = torch.distributed
    return distributed.get_world_size() if distributed.is_initialized() else 1


def is_main_process() -> bool:
    """False in every process but the first of a ``torch.distributed`` run."""
    distributed = torch.distributed
    return not distributed.is_initialized() or distributed.get_rank() == 0


def _own_share(batch: EpisodeBatch) -> EpisodeBatch:
    """The episodes this process runs: every ``world_size``-th from its rank."""
    if _world_size() == 1:
        return batch
    return batch[torch.distributed.get_rank() :: _world_size()]


def _sum_across_processes(total: Tensor, params: list[Tensor]) -> None:
    """Sum the loss and the gradients over processes, in place (one flat all-reduce)."""
    for p in params:
        if p.grad is None:  # a process whose share was empty or did not reach p
            p.grad = torch.zeros_like(p)
    flat = torch.cat([total.reshape(1)] + [p.grad.reshape(-1) for p in params])
    torch.distributed.all_reduce(flat)
    total.copy_(flat[0])
    offset = 1
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
