"""Running agents on task sets: trials of episodes, all tasks stepped at once.

An *agent* is anything with the three methods of :class:`Agent`: the
classical baselines, RL²'s recurrent policy and an adapted MAML policy all
run through :func:`run_trial`, so their returns are measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ._tasks import TaskSet

Memory = Any


class Agent(Protocol):
    """What :func:`run_trial` needs of an agent."""

    def start(self, tasks: TaskSet, generator: torch.Generator) -> Memory:
        """The agent's memory at the start of a trial on ``tasks``."""

    def act(self, memory: Memory, observation: Tensor, generator: torch.Generator) -> Tensor:
        """One action per task."""

    def observe(
        self, memory: Memory, action: Tensor, reward: Tensor, observation: Tensor, done: bool
    ) -> Memory:
        """The memory after ``action`` earned ``reward`` and led to ``observation``;
        ``done`` says the step ended an episode (the next ``act`` then sees
        the first observation of the next episode)."""


def check_family(agent: Agent, tasks: TaskSet, family_type: type) -> None:
    """A TypeError unless ``tasks`` are of the family the hand-made ``agent`` is for."""
    if not isinstance(tasks.family, family_type):
        raise TypeError(
            f"{type(agent).__name__} runs on {family_type.__name__} only, got tasks of "
            f"{type(tasks.family).__name__}."
        )


@dataclass(frozen=True)
class Trial:
    """What happened in a trial: time-major tensors, one column per task."""

    observations: Tensor  # (n_steps, n_tasks, observation_size): where each action was taken
    actions: Tensor  # (n_steps, n_tasks) or (n_steps, n_tasks, action_size)
    rewards: Tensor  # (n_steps, n_tasks)
    horizon: int  # steps per episode

    @property
    def episode_returns(self) -> Tensor:
        """(n_tasks, n_episodes): the total reward of each episode."""
        n_steps, n_tasks = self.rewards.shape
        return self.rewards.T.reshape(n_tasks, n_steps // self.horizon, self.horizon).sum(-1)

    @property
    def returns(self) -> Tensor:
        """(n_tasks,): the total reward of the trial."""
        return self.rewards.sum(0)


def run_trial(
    agent: Agent, tasks: TaskSet, generator: torch.Generator, n_episodes: int | None = None
) -> Trial:
    """Run ``agent`` for ``n_episodes`` episodes (default: the family's) on every task."""
    horizon = tasks.family.horizon
    n_episodes = tasks.family.n_episodes if n_episodes is None else n_episodes
    memory = agent.start(tasks, generator)
    observation, state = tasks.reset(generator)
    observations, actions, rewards = [], [], []
    for episode in range(n_episodes):
        for t in range(horizon):
            action = agent.act(memory, observation, generator)
            next_observation, reward, state = tasks.step(state, action, generator)
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            done = t == horizon - 1
            memory = agent.observe(memory, action, reward, next_observation, done)
            observation = next_observation
            if done and episode < n_episodes - 1:
                observation, state = tasks.reset(generator)
    return Trial(torch.stack(observations), torch.stack(actions), torch.stack(rewards), horizon)
