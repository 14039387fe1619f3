"""The policy-gradient core both learners share: action distributions,
advantages, and the REINFORCE and clipped-surrogate losses.

Tensors are time-major: ``(n_steps, n_tasks, ...)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


class ActionHead(nn.Module):
    """Features to an action distribution: categorical logits for discrete
    actions, a Gaussian with a learned state-independent log-std otherwise."""

    def __init__(self, n_features: int, n_actions: int | None, action_size: int | None):
        super().__init__()
        self.discrete = n_actions is not None
        self.linear = nn.Linear(n_features, n_actions if self.discrete else action_size)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(action_size))

    def forward(self, features: Tensor) -> Tensor:
        return self.linear(features)


def head_log_prob(
    head_output: Tensor, log_std: Tensor | None, action: Tensor, discrete: bool
) -> Tensor:
    """log π(action) under the head's output (logits, or the Gaussian's mean)."""
    if discrete:
        return torch.log_softmax(head_output, -1).gather(-1, action[..., None])[..., 0]
    variance = torch.exp(2 * log_std)
    squared = (action - head_output) ** 2 / variance
    return -0.5 * (squared + 2 * log_std + math.log(2 * math.pi)).sum(-1)


def head_entropy(head_output: Tensor, log_std: Tensor | None, discrete: bool) -> Tensor:
    if discrete:
        log_p = torch.log_softmax(head_output, -1)
        return -(log_p.exp() * log_p).sum(-1)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()
    return entropy.expand(head_output.shape[:-1])


def head_sample(
    head_output: Tensor,
    log_std: Tensor | None,
    discrete: bool,
    generator: torch.Generator,
    deterministic: bool = False,
) -> Tensor:
    if discrete:
        if deterministic:
            return head_output.argmax(-1)
        flat = torch.softmax(head_output.reshape(-1, head_output.shape[-1]), -1)
        return torch.multinomial(flat, 1, generator=generator).reshape(head_output.shape[:-1])
    if deterministic:
        return head_output
    noise = torch.randn(head_output.shape, generator=generator, device=head_output.device)
    return head_output + noise * log_std.exp()


def observation_rows(observation, size: int, device) -> tuple[Tensor, bool]:
    """What an adapted policy's ``predict`` is given, as rows of a float32
    tensor, and whether it was a single observation."""
    rows = np.asarray(observation, dtype=np.float32)
    single = rows.ndim == 1
    rows = np.atleast_2d(rows)
    if rows.ndim != 2 or rows.shape[1] != size:
        raise ValueError(
            f"Expected an observation of size {size} (or rows of them), got shape "
            f"{np.shape(observation)}."
        )
    return torch.as_tensor(rows, device=device), single


def discounted_returns(rewards: Tensor, gamma: float, horizon: int | None = None) -> Tensor:
    """Reward-to-go, Σ_{t'≥t} γ^(t'-t) r_t', cut at episode ends every ``horizon`` steps."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        if horizon is not None and (t + 1) % horizon == 0:
            running = torch.zeros_like(running)
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def generalized_advantages(
    rewards: Tensor, values: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """GAE(γ, λ) over a trial that ends after its last step (Schulman et al. 2016).

    Returns the advantages and the value targets (advantages + values).
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    next_value = torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def normalized(advantages: Tensor, dim=None) -> Tensor:
    """Advantages with mean 0 and standard deviation 1 (over ``dim``, default all;
    a single advantage becomes 0)."""
    mean = advantages.mean(dim, keepdim=True)
    spread = advantages.std(dim, keepdim=True, correction=0)
    return (advantages - mean) / (spread + 1e-8)


def reinforce_loss(log_probs: Tensor, advantages: Tensor) -> Tensor:
    """The REINFORCE surrogate: its gradient is the policy-gradient estimate
    -E[∇ log π(a|s) A]; ``advantages`` are taken as constants."""
    return -(log_probs * advantages.detach()).mean()


def clipped_surrogate(
    log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, clip: float
) -> Tensor:
    """PPO's clipped surrogate loss (Schulman et al. 2017), to minimize."""
    ratio = torch.exp(log_probs - old_log_probs.detach())
    advantages = advantages.detach()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    return -torch.minimum(unclipped, clipped).mean()


def linear_feature_baseline(
    observations: Tensor, returns: Tensor, horizon: int, ridge: float = 1e-5
) -> Tensor:
    """The value baseline of Duan et al. (2016) and the MAML paper: per task,
    a ridge regression of the return on [s, s², t, t², t³, 1].

    ``observations`` is (n_steps, n_tasks, n_episodes, size) and ``returns``
    (n_steps, n_tasks, n_episodes); the fit is per task, over its episodes.
    """
    n_steps = observations.shape[0]
    time = (torch.arange(n_steps, device=observations.device) % horizon).float() / 100
    time = time[:, None, None, None].expand(*observations.shape[:-1], 1)
    clipped = observations.clamp(-10, 10)
    features = torch.cat(
        [clipped, clipped**2, time, time**2, time**3, torch.ones_like(time)], dim=-1
    )
    per_task = features.permute(1, 0, 2, 3).flatten(1, 2)  # (n_tasks, rows, n_features)
    targets = returns.permute(1, 0, 2).flatten(1, 2)[..., None]
    gram = per_task.transpose(1, 2) @ per_task
    eye = torch.eye(gram.shape[-1], device=gram.device)
    weights = torch.linalg.solve(gram + ridge * eye, per_task.transpose(1, 2) @ targets)
    fitted = (per_task @ weights)[..., 0]
    return fitted.reshape(returns.shape[1], n_steps, -1).permute(1, 0, 2)
