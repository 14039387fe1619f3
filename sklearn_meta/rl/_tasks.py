"""Task families of meta-RL, stepped as tensors: every task of a set at once.

A *family* (``BanditTasks``, ``TabularMDPTasks``, ``Navigation2DTasks``) is a
distribution over tasks with a trial protocol (episodes per trial, steps per
episode). ``family.sample(n_tasks, random_state)`` draws a :class:`TaskSet`:
the parameters of ``n_tasks`` tasks as tensors, with a functional
environment: ``reset`` and ``step`` advance all of them with one tensor
operation, with no Python loop over environments. Episodes have a fixed
length (``horizon``), so every environment of a set is at the same step.
``task_set.make_env(i)`` hands out task ``i`` as a ``gymnasium.Env``.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int

State = Any  # what a task set's environments keep between steps


def as_generator(random_state, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded torch generator from an int, a numpy RandomState or Generator, or None."""
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(np.random.default_rng().integers(2**63))
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state)
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(2**31))
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**63))
    else:
        raise TypeError(
            "random_state must be None, an int, a numpy RandomState or Generator, or a "
            f"torch.Generator, got {random_state!r}."
        )
    return torch.Generator(device).manual_seed(seed)


class TaskFamily:
    """A distribution over tasks and the trial protocol they are run with.

    Subclasses are frozen dataclasses of their parameters with
    ``observation_size``, ``horizon`` (steps per episode), ``n_episodes``
    (episodes per trial), ``n_actions`` (discrete actions) or ``action_size``
    (continuous ones), and ``_sample``.
    """

    n_actions: int | None = None
    action_size: int | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                check_int(field.name, value, 1)
            elif field.type == "bool" and not isinstance(value, bool):
                raise TypeError(f"{field.name} must be a bool, got {value!r}.")

    @property
    def discrete(self) -> bool:
        return self.n_actions is not None

    def sample(self, n_tasks: int, random_state=None, device="cpu") -> TaskSet:
        """``n_tasks`` tasks drawn from the family, reproducible under ``random_state``."""
        check_int("n_tasks", n_tasks, 1)
        generator = as_generator(random_state)  # tasks are drawn on the CPU: same on any device
        return self._sample(n_tasks, generator).to(device)

    def _sample(self, n_tasks: int, generator: torch.Generator) -> TaskSet:
        raise NotImplementedError


@dataclass(frozen=True)
class TaskSet:
    """Tasks of one family: their parameters as tensors with one row per task."""

    family: TaskFamily

    def _tensor_fields(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if f.name != "family"]

    @property
    def n_tasks(self) -> int:
        return len(getattr(self, self._tensor_fields()[0]))

    @property
    def device(self) -> torch.device:
        return getattr(self, self._tensor_fields()[0]).device

    def __len__(self) -> int:
        return self.n_tasks

    def _map(self, function) -> TaskSet:
        return dataclasses.replace(
            self, **{name: function(getattr(self, name)) for name in self._tensor_fields()}
        )

    def to(self, device) -> TaskSet:
        return self._map(lambda tensor: tensor.to(device))

    def __getitem__(self, index) -> TaskSet:
        """The tasks at ``index`` (an int, a slice or an index array), as a set."""
        if isinstance(index, numbers.Integral):
            index = slice(index, index + 1 if index != -1 else None)
        return self._map(lambda tensor: tensor[index])

    def repeat_interleave(self, repeats: int) -> TaskSet:
        """Each task ``repeats`` times in a row (for episodes run side by side)."""
        return self._map(lambda tensor: tensor.repeat_interleave(repeats, dim=0))

    def reset(self, generator: torch.Generator) -> tuple[Tensor, State]:
        """The first observation of an episode in every task, and the environments' state."""
        raise NotImplementedError

    def step(
        self, state: State, action: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, State]:
        """Apply one action per task: the next observation, the reward and the next state."""
        raise NotImplementedError

    def check_action(self, action: Tensor) -> Tensor:
        shape = (self.n_tasks,) if self.family.discrete else (self.n_tasks, self.family.action_size)
        if tuple(action.shape) != shape:
            raise ValueError(f"Expected actions of shape {shape}, got {tuple(action.shape)}.")
        if self.family.discrete:
            if action.dtype.is_floating_point:
                raise TypeError(f"Discrete actions must be integers, got {action.dtype}.")
            if action.min() < 0 or action.max() >= self.family.n_actions:
                raise ValueError(f"Actions must be in [0, {self.family.n_actions}).")
        return action

    def make_env(self, index: int = 0):
        """Task ``index`` as a ``gymnasium.Env`` (needs the ``gymnasium`` package)."""
        from ._envs import env_of_task

        return env_of_task(self, index)


def _one_hot(index: Tensor, size: int) -> Tensor:
    return torch.nn.functional.one_hot(index, size).to(torch.float32)


# ---------------------------------------------------------------------------
# Bernoulli bandits (Duan et al. 2016; Wang et al. 2016)


@dataclass(frozen=True)
class BanditTasks(TaskFamily):
    """Bernoulli multi-armed bandits with arm means uniform in [0, 1].

    An episode is one pull; a trial is ``n_episodes`` pulls of the same
    bandit (the protocol of RL², Duan et al. 2016). The observation is a
    constant 0: what a policy knows of a task is what it has pulled and won.

    Parameters
    ----------
    n_arms : int, default=5
        Arms per bandit.
    n_episodes : int, default=10
        Pulls per trial.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditTasks
    >>> tasks = BanditTasks(n_arms=3, n_episodes=10).sample(4, random_state=0)
    >>> tasks.arm_means.shape
    torch.Size([4, 3])
    >>> generator = torch.Generator().manual_seed(0)
    >>> observation, state = tasks.reset(generator)
    >>> _, reward, _ = tasks.step(state, torch.zeros(4, dtype=torch.long), generator)
    >>> sorted(set(reward.tolist())) <= [0.0, 1.0]
    True
    """

    n_arms: int = 5
    n_episodes: int = 10

    horizon = 1
    observation_size = 1

    @property
    def n_actions(self) -> int:
        return self.n_arms

    def _sample(self, n_tasks, generator):
        return BanditTaskSet(self, torch.rand(n_tasks, self.n_arms, generator=generator))


@dataclass(frozen=True)
class BanditTaskSet(TaskSet):
    arm_means: Tensor

    def reset(self, generator):
        return torch.zeros(self.n_tasks, 1, device=self.device), torch.zeros(0)

    def step(self, state, action, generator):
        action = self.check_action(action)
        mean = self.arm_means.gather(1, action[:, None])[:, 0]
        reward = (torch.rand(mean.shape, generator=generator, device=self.device) < mean).float()
        return torch.zeros(self.n_tasks, 1, device=self.device), reward, state


# ---------------------------------------------------------------------------
# Random tabular MDPs (Duan et al. 2016, section 4.2)


@dataclass(frozen=True)
class TabularMDPTasks(TaskFamily):
    """Random finite MDPs: Dirichlet(1) transitions, N(1, 1) mean rewards.

    Each (state, action) has a next-state distribution drawn from a flat
    Dirichlet and a mean reward drawn from N(1, 1); a reward is its mean
    plus unit Gaussian noise (the protocol of RL², Duan et al. 2016). Every
    episode starts in state 0 and lasts ``horizon`` steps; the observation
    is the state, one-hot.

    Parameters
    ----------
    n_states : int, default=10
    n_actions : int, default=5
    horizon : int, default=10
        Steps per episode.
    n_episodes : int, default=10
        Episodes per trial.

    Examples
    --------
    >>> from sklearn_meta.rl import TabularMDPTasks
    >>> tasks = TabularMDPTasks().sample(2, random_state=0)
    >>> tasks.transitions.shape, tasks.mean_rewards.shape
    (torch.Size([2, 10, 5, 10]), torch.Size([2, 10, 5]))
    """

    n_states: int = 10
    n_actions: int = 5
    horizon: int = 10
    n_episodes: int = 10

    @property
    def observation_size(self) -> int:
        return self.n_states

    def _sample(self, n_tasks, generator):
        shape = (n_tasks, self.n_states, self.n_actions)
        # Dirichlet(1) is normalized exponentials; torch's Dirichlet takes no generator.
        weights = -torch.log1p(-torch.rand(*shape, self.n_states, generator=generator))
        transitions = weights / weights.sum(-1, keepdim=True)
        mean_rewards = 1.0 + torch.randn(shape, generator=generator)
        return TabularMDPTaskSet(self, transitions, mean_rewards)


@dataclass(frozen=True)
class TabularMDPTaskSet(TaskSet):
    transitions: Tensor  # (n_tasks, n_states, n_actions, n_states)
    mean_rewards: Tensor  # (n_tasks, n_states, n_actions)

    def reset(self, generator):
        state = torch.zeros(self.n_tasks, dtype=torch.long, device=self.device)
        return _one_hot(state, self.family.n_states), state

    def step(self, state, action, generator):
        action = self.check_action(action)
        rows = torch.arange(self.n_tasks, device=self.device)
        mean = self.mean_rewards[rows, state, action]
        noise = torch.randn(mean.shape, generator=generator, device=self.device)
        # Inverse-CDF sampling: five times faster than torch.multinomial here.
        cumulative = self.transitions[rows, state, action].cumsum(-1)
        uniform = torch.rand(self.n_tasks, 1, generator=generator, device=self.device)
        next_state = (cumulative < uniform).sum(-1).clamp_max(self.family.n_states - 1)
        return _one_hot(next_state, self.family.n_states), mean + noise, next_state


# ---------------------------------------------------------------------------
# 2-D navigation (Finn et al. 2017, section 5.3)


@dataclass(frozen=True)
class Navigation2DTasks(TaskFamily):
    """A point robot in the plane that must reach a goal it does not see.

    The robot starts at the origin; an action is a velocity, clipped to
    [-0.1, 0.1] per coordinate; the reward is minus the distance to the
    goal after the move. Goals are uniform in [-0.5, 0.5]² (the MAML
    paper's protocol, Finn et al. 2017). Episodes last ``horizon`` steps
    (they do not end at the goal, so that all tasks step together).

    Parameters
    ----------
    horizon : int, default=100
        Steps per episode.
    n_episodes : int, default=20
        Episodes per task for adaptation (run side by side, not in sequence).
    goal_in_observation : bool, default=False
        Append the goal to the observation: the oracle's view of the task.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import Navigation2DTasks
    >>> tasks = Navigation2DTasks().sample(3, random_state=0)
    >>> generator = torch.Generator().manual_seed(0)
    >>> observation, state = tasks.reset(generator)
    >>> observation.shape
    torch.Size([3, 2])
    """

    horizon: int = 100
    n_episodes: int = 20
    goal_in_observation: bool = False

    max_speed = 0.1
    goal_bound = 0.5
    action_size = 2

    @property
    def observation_size(self) -> int:
        return 4 if self.goal_in_observation else 2

    def _sample(self, n_tasks, generator):
        goals = (2 * torch.rand(n_tasks, 2, generator=generator) - 1) * self.goal_bound
        return Navigation2DTaskSet(self, goals)


@dataclass(frozen=True)
class Navigation2DTaskSet(TaskSet):
    goals: Tensor  # (n_tasks, 2)

    def _observe(self, position: Tensor) -> Tensor:
        if self.family.goal_in_observation:
            return torch.cat([position, self.goals], dim=1)
        return position

    def reset(self, generator):
        position = torch.zeros(self.n_tasks, 2, device=self.device)
        return self._observe(position), position

    def step(self, state, action, generator):
        action = self.check_action(action)
        position = state + action.clamp(-self.family.max_speed, self.family.max_speed)
        reward = -torch.linalg.vector_norm(position - self.goals, dim=1)
        return self._observe(position), reward, position
