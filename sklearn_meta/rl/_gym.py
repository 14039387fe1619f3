"""Task families of users' gymnasium environments, stepped one by one.

:class:`GymnasiumTasks` is a task family of any environment that follows
the convention of pytorch-maml-rl: an environment that stands for a
distribution of tasks has ``sample_tasks(n_tasks)``, a list of ``n_tasks``
tasks drawn with its ``np_random``, and ``reset_task(task)``, which sets the
task it runs. Its task sets step their environments one by one in a Python
loop, so every learner and ``run_trial`` runs on them unchanged, more slowly
than on a family stepped as tensors.

gymnasium is an optional dependency (the ``rl`` extra): this module imports
without it, and building a family then raises ImportError.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int
from ._envs import _numpy, _require_gymnasium, check_task_index, gymnasium
from ._tasks import TaskFamily, TaskSet

if TYPE_CHECKING:
    from gymnasium import Env, spaces

__all__ = ["EnvState", "EnvTaskSet", "GymnasiumTasks", "env_task_set"]


def _space_size(space: spaces.Space, what: str) -> int:
    gym = _require_gymnasium()
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise TypeError(f"GymnasiumTasks supports Box and Discrete {what} spaces, got {space}.")


def _check_convention(env: Env) -> None:
    missing = [
        name
        for name in ("sample_tasks", "reset_task")
        if not callable(getattr(env.unwrapped, name, None))
    ]
    if missing:
        raise TypeError(
            f"{type(env.unwrapped).__name__} has no {' and no '.join(missing)}: GymnasiumTasks "
            "needs an environment that follows the pytorch-maml-rl convention, with "
            "env.unwrapped.sample_tasks(n_tasks) returning a list of n_tasks tasks and "
            "env.unwrapped.reset_task(task) setting the task it runs."
        )


@dataclass(frozen=True)
class GymnasiumTasks(TaskFamily):
    """Tasks of a gymnasium environment, stepped one environment at a time.

    The environment follows the pytorch-maml-rl convention:
    ``env.unwrapped.sample_tasks(n_tasks)`` returns a list of ``n_tasks``
    tasks, drawn with its ``np_random``, and ``env.unwrapped.reset_task(task)``
    sets the task it runs. ``sample(n_tasks, random_state)`` draws the tasks
    on a prototype environment seeded from ``random_state`` and sets one
    environment per task; the task set's ``reset`` and ``step`` loop over
    these environments (each ``reset`` seeded from the generator, so runs are
    reproducible) and stack their results into tensors, so every learner and
    ``run_trial`` works on it as on a built-in family.

    Observations are flattened (Box) or one-hot (Discrete); actions are
    Discrete (``n_actions``) or Box (``action_size``: the flattened size,
    actions clipped to the box). An episode that an environment ends before
    ``horizon`` steps (terminated or truncated) goes on until ``horizon``
    with its last observation and reward 0.

    Parameters
    ----------
    env : gymnasium.Env or callable
        The environment, deep-copied once per task; or a function of no
        argument that returns a new one, called once per task.
    n_episodes : int
        Episodes per trial.
    horizon : int
        Steps per episode.

    Attributes
    ----------
    observation_size : int
        The flattened size of a Box observation, the ``n`` of a Discrete one.
    n_actions : int or None
        The ``n`` of a Discrete action space, else None.
    action_size : int or None
        The flattened size of a Box action space, else None.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditEnv, GymnasiumTasks
    >>> family = GymnasiumTasks(BanditEnv(n_arms=3), n_episodes=10, horizon=1)
    >>> family.n_actions, family.observation_size
    (3, 1)
    >>> tasks = family.sample(4, random_state=0)
    >>> generator = torch.Generator().manual_seed(0)
    >>> observation, state = tasks.reset(generator)
    >>> observation, reward, state = tasks.step(state, torch.zeros(4, dtype=torch.long), generator)
    >>> reward.shape
    torch.Size([4])
    """

    env: Any
    n_episodes: int
    horizon: int

    def __post_init__(self):
        super().__post_init__()
        gym = _require_gymnasium()
        prototype = self.new_env()
        self._check_prototype(prototype)
        object.__setattr__(
            self, "observation_size", _space_size(prototype.observation_space, "observation")
        )
        action_size = _space_size(prototype.action_space, "action")
        discrete = isinstance(prototype.action_space, gym.spaces.Discrete)
        object.__setattr__(self, "n_actions" if discrete else "action_size", action_size)

    def _check_prototype(self, env: Env) -> None:
        _check_convention(env)

    def new_env(self) -> Env:
        """A new environment: a deep copy of ``env``, or what ``env()`` returns."""
        gym = _require_gymnasium()
        if isinstance(self.env, gym.Env):
            return copy.deepcopy(self.env)
        if not callable(self.env):
            raise TypeError(
                "env must be a gymnasium.Env or a function of no argument that returns one, "
                f"got {self.env!r}."
            )
        env = self.env()
        if not isinstance(env, gym.Env):
            raise TypeError(f"env() must return a gymnasium.Env, got {env!r}.")
        return env

    def _sample(self, n_tasks: int, generator: torch.Generator) -> EnvTaskSet:
        prototype = self.new_env()
        prototype.reset(seed=int(torch.randint(2**31, (), generator=generator)))
        tasks = list(prototype.unwrapped.sample_tasks(n_tasks))
        if len(tasks) != n_tasks:
            raise ValueError(f"sample_tasks({n_tasks}) returned {len(tasks)} tasks.")
        envs = []
        for task in tasks:
            env = self.new_env()
            env.unwrapped.reset_task(task)
            envs.append(env)
        return EnvTaskSet(self, tuple(envs))


@dataclass(frozen=True)
class _OneEnvironment(GymnasiumTasks):
    """The family of one environment already set to its task: what ``adapt``
    runs on (it needs no ``sample_tasks`` or ``reset_task``)."""

    def _check_prototype(self, env: Env) -> None:
        pass


def env_task_set(env, n_episodes: int, horizon: int) -> EnvTaskSet:
    """``env``, already set to its task, as a task set of one, run with the
    fitted family's ``n_episodes`` and ``horizon``."""
    gym = _require_gymnasium()
    if not isinstance(env, gym.Env):
        raise TypeError(
            "adapt takes one task of a task family (task_set[i]) or a gymnasium.Env set "
            f"to its task, got {type(env).__name__}."
        )
    family = _OneEnvironment(env, n_episodes=n_episodes, horizon=horizon)
    return EnvTaskSet(family, (env,))


class EnvState(NamedTuple):
    """The state of an :class:`EnvTaskSet` between steps (the environments hold the rest)."""

    observation: Tensor  # (n_tasks, observation_size): each environment's last observation
    done: Tensor  # (n_tasks,) bool: its episode has ended before the horizon


def _flat_observation(space: spaces.Space, observation) -> np.ndarray:
    if isinstance(space, gymnasium.spaces.Discrete):
        one_hot = np.zeros(space.n, np.float32)
        one_hot[int(observation) - int(space.start)] = 1.0
        return one_hot
    return np.asarray(observation, dtype=np.float32).reshape(-1)


def _env_action(space: spaces.Space, action: np.ndarray):
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(action) + int(space.start)
    return np.clip(action.reshape(space.shape), space.low, space.high).astype(space.dtype)


def _positions(index, n_tasks: int) -> np.ndarray:
    if isinstance(index, Tensor):
        index = _numpy(index)
    return np.atleast_1d(np.arange(n_tasks)[index])


@dataclass(frozen=True)
class EnvTaskSet(TaskSet):
    """Tasks of a :class:`GymnasiumTasks` family: one environment per task.

    ``reset`` and ``step`` loop over the environments; the state is an
    :class:`EnvState`. Indexing and ``repeat_interleave`` deep-copy the
    environments, so that no two tasks of a set share one.
    """

    envs: tuple
    device: torch.device = torch.device("cpu")

    @property
    def n_tasks(self) -> int:
        return len(self.envs)

    def _with_envs(self, envs: Iterable[Env]) -> EnvTaskSet:
        return dataclasses.replace(self, envs=tuple(copy.deepcopy(env) for env in envs))

    def to(self, device) -> EnvTaskSet:
        return dataclasses.replace(self, device=torch.device(device))

    def __getitem__(self, index) -> EnvTaskSet:
        """The tasks at ``index`` (an int, a slice or an index array), as a set."""
        return self._with_envs(self.envs[i] for i in _positions(index, self.n_tasks))

    def make_env(self, index: int = 0) -> Env:
        """A deep copy of task ``index``'s environment."""
        check_task_index(self, index)
        return copy.deepcopy(self.envs[index])

    def repeat_interleave(self, repeats: int) -> EnvTaskSet:
        """Each task ``repeats`` times in a row, each repeat a copy of the environment."""
        check_int("repeats", repeats, 1)
        return self._with_envs(env for env in self.envs for _ in range(repeats))

    def reset(self, generator: torch.Generator) -> tuple[Tensor, EnvState]:
        seeds = torch.randint(2**31, (self.n_tasks,), generator=generator, device=generator.device)
        observations = [
            _flat_observation(env.observation_space, env.reset(seed=seed)[0])
            for env, seed in zip(self.envs, seeds.tolist(), strict=True)
        ]
        observation = torch.as_tensor(np.stack(observations), device=self.device)
        done = torch.zeros(self.n_tasks, dtype=torch.bool, device=self.device)
        return observation, EnvState(observation, done)

    def step(
        self, state: EnvState, action: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, EnvState]:
        actions = _numpy(self.check_action(action))
        observation = _numpy(state.observation).copy()
        done = _numpy(state.done).copy()
        reward = np.zeros(self.n_tasks, np.float32)
        for i in np.flatnonzero(~done):
            env = self.envs[i]
            step = env.step(_env_action(env.action_space, actions[i]))
            next_observation, reward[i], terminated, truncated, _ = step
            observation[i] = _flat_observation(env.observation_space, next_observation)
            done[i] = terminated or truncated
        observation = torch.as_tensor(observation, device=self.device)
        done = torch.as_tensor(done, device=self.device)
        return observation, torch.as_tensor(reward, device=self.device), EnvState(observation, done)
