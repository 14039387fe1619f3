"""The task families' tasks as gymnasium environments, written in numpy.

:class:`BanditEnv`, :class:`TabularMDPEnv` and :class:`Navigation2DEnv` are
one task of a built-in family as a plain numpy ``gymnasium.Env``, written
the way a gymnasium user would write it: one environment, one step at a
time. They follow the convention of pytorch-maml-rl: ``sample_tasks(n_tasks)``,
a list of ``n_tasks`` tasks drawn with the environment's ``np_random``, and
``reset_task(task)``, which sets the task it runs. :func:`env_of_task` (or
``task_set.make_env(i)``) builds the one of task ``i`` of a task set. One
built without a task draws its own with its ``np_random``, unseeded then.

gymnasium is an optional dependency (the ``rl`` extra): this module imports
without it, and building an environment then raises ImportError.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor

from .._validation import check_int
from ._tasks import (
    BanditTasks,
    BanditTaskSet,
    Navigation2DTasks,
    Navigation2DTaskSet,
    TabularMDPTasks,
    TabularMDPTaskSet,
    TaskSet,
)

try:  # the optional "rl" extra; the environments' base class is needed when they are defined
    import gymnasium
except ImportError:
    gymnasium = None

if TYPE_CHECKING:
    from gymnasium import Env, spaces

__all__ = ["BanditEnv", "Navigation2DEnv", "TabularMDPEnv", "env_of_task"]


def _require_gymnasium():
    if gymnasium is None:
        raise ImportError(
            "gymnasium environments need the gymnasium package: "
            'pip install "sklearn-meta[rl]" (or pip install gymnasium).'
        )
    return gymnasium


_EnvBase = object if gymnasium is None else gymnasium.Env


def _task_array(task: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in task:
        raise KeyError(f"The task has no {key!r}: got a task with keys {list(task)}.")
    array = np.asarray(task[key], dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"task[{key!r}] must have shape {shape}, got {array.shape}.")
    return array


def _check_discrete_action(space: spaces.Discrete, action) -> int:
    if not space.contains(action):
        raise ValueError(f"The action must be an int in [0, {space.n}), got {action!r}.")
    return int(action)


# ---------------------------------------------------------------------------
# One task of a built-in family, in numpy


class BanditEnv(_EnvBase):
    """A Bernoulli bandit: the gymnasium environment of one task of :class:`BanditTasks`.

    Pulling arm ``a`` pays 1 with probability ``arm_means[a]``, else 0. The
    observation is a constant 0 of shape (1,).

    Parameters
    ----------
    n_arms : int, default=5
    horizon : int, default=1
        Pulls per episode (the family's: one).
    task : dict, default=None
        ``{"arm_means": array of shape (n_arms,)}``. None draws one with
        :meth:`sample_tasks` (means uniform in [0, 1]).

    Attributes
    ----------
    arm_means : ndarray of shape (n_arms,)
        The task's.

    Examples
    --------
    >>> from sklearn_meta.rl import BanditEnv
    >>> env = BanditEnv(n_arms=2, task={"arm_means": [0.0, 1.0]})
    >>> observation, info = env.reset(seed=0)
    >>> env.step(1)
    (array([0.], dtype=float32), 1.0, False, True, {})
    >>> len(env.sample_tasks(3)), env.sample_tasks(1)[0]["arm_means"].shape
    (3, (2,))
    """

    metadata = {"render_modes": []}

    def __init__(self, n_arms: int = 5, horizon: int = BanditTasks.horizon, task=None):
        gym = _require_gymnasium()
        self.n_arms = check_int("n_arms", n_arms, 1)
        self.horizon = check_int("horizon", horizon, 1)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(self.n_arms)
        self.reset_task(self.sample_tasks(1)[0] if task is None else task)
        self._t = 0

    def sample_tasks(self, n_tasks: int) -> list[dict]:
        """``n_tasks`` bandits, arm means uniform in [0, 1], drawn with ``np_random``."""
        means = self.np_random.uniform(size=(check_int("n_tasks", n_tasks, 1), self.n_arms))
        return [{"arm_means": row} for row in means]

    def reset_task(self, task: dict) -> None:
        """Play the bandit ``task`` from now on."""
        self.arm_means = _task_array(task, "arm_means", (self.n_arms,))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode of the current task: ``(observation, info)``."""
        super().reset(seed=seed)
        self._t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        """Take ``action``: ``(observation, reward, terminated, truncated, info)``,
        truncated after ``horizon`` steps (never terminated)."""
        arm = _check_discrete_action(self.action_space, action)
        reward = float(self.np_random.random() < self.arm_means[arm])
        self._t += 1
        return np.zeros(1, np.float32), reward, False, self._t >= self.horizon, {}


class TabularMDPEnv(_EnvBase):
    """A finite MDP: the gymnasium environment of one task of :class:`TabularMDPTasks`.

    Every episode starts in state 0; the observation is the state, one-hot.
    Action ``a`` in state ``s`` moves to a state drawn from
    ``transitions[s, a]`` and pays ``mean_rewards[s, a]`` plus unit Gaussian
    noise.

    Parameters
    ----------
    n_states : int, default=10
    n_actions : int, default=5
    horizon : int, default=10
        Steps per episode.
    task : dict, default=None
        ``{"transitions": array (n_states, n_actions, n_states),
        "mean_rewards": array (n_states, n_actions)}``. None draws one with
        :meth:`sample_tasks` (Dirichlet(1) transitions, N(1, 1) mean rewards).

    Attributes
    ----------
    transitions : ndarray of shape (n_states, n_actions, n_states)
    mean_rewards : ndarray of shape (n_states, n_actions)
        The task's.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.rl import TabularMDPEnv
    >>> transitions = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])  # one action: 0 -> 1 -> 0
    >>> task = {"transitions": transitions, "mean_rewards": [[1.0], [2.0]]}
    >>> env = TabularMDPEnv(n_states=2, n_actions=1, task=task)
    >>> env.reset(seed=0)
    (array([1., 0.], dtype=float32), {})
    >>> observation, reward, terminated, truncated, info = env.step(0)
    >>> observation
    array([0., 1.], dtype=float32)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        n_states: int = 10,
        n_actions: int = 5,
        horizon: int = TabularMDPTasks.horizon,
        task=None,
    ):
        gym = _require_gymnasium()
        self.n_states = check_int("n_states", n_states, 1)
        self.n_actions = check_int("n_actions", n_actions, 1)
        self.horizon = check_int("horizon", horizon, 1)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n_states,), np.float32)
        self.action_space = gym.spaces.Discrete(self.n_actions)
        self.reset_task(self.sample_tasks(1)[0] if task is None else task)
        self._state, self._t = 0, 0

    def sample_tasks(self, n_tasks: int) -> list[dict]:
        """``n_tasks`` MDPs, drawn with ``np_random``."""
        shape = (check_int("n_tasks", n_tasks, 1), self.n_states, self.n_actions)
        transitions = self.np_random.dirichlet(np.ones(self.n_states), size=shape)
        mean_rewards = self.np_random.normal(1.0, 1.0, size=shape)
        return [
            {"transitions": p, "mean_rewards": r}
            for p, r in zip(transitions, mean_rewards, strict=True)
        ]

    def reset_task(self, task: dict) -> None:
        """Run the MDP ``task`` from now on."""
        shape = (self.n_states, self.n_actions)
        transitions = _task_array(task, "transitions", (*shape, self.n_states))
        if np.any(transitions < 0) or not np.allclose(transitions.sum(-1), 1.0, atol=1e-4):
            raise ValueError("task['transitions'] must hold probabilities that sum to 1.")
        self.transitions = transitions / transitions.sum(-1, keepdims=True)
        self.mean_rewards = _task_array(task, "mean_rewards", shape)

    def _observe(self) -> np.ndarray:
        observation = np.zeros(self.n_states, np.float32)
        observation[self._state] = 1.0
        return observation

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode of the current task: ``(observation, info)``."""
        super().reset(seed=seed)
        self._state, self._t = 0, 0
        return self._observe(), {}

    def step(self, action):
        """Take ``action``: ``(observation, reward, terminated, truncated, info)``,
        truncated after ``horizon`` steps (never terminated)."""
        action = _check_discrete_action(self.action_space, action)
        reward = self.mean_rewards[self._state, action] + self.np_random.standard_normal()
        probabilities = self.transitions[self._state, action]
        self._state = int(self.np_random.choice(self.n_states, p=probabilities))
        self._t += 1
        return self._observe(), float(reward), False, self._t >= self.horizon, {}


class Navigation2DEnv(_EnvBase):
    """A point robot that must reach a goal: the gymnasium environment of one
    task of :class:`Navigation2DTasks`.

    The robot starts at the origin; an action is a velocity, clipped to
    [-0.1, 0.1] per coordinate; the reward is minus the distance to the goal
    after the move. The observation is the position (float32), followed by
    the goal if ``goal_in_observation``.

    Parameters
    ----------
    horizon : int, default=100
        Steps per episode.
    goal_in_observation : bool, default=False
    task : dict, default=None
        ``{"goal": array of shape (2,)}``. None draws one with
        :meth:`sample_tasks` (uniform in [-0.5, 0.5]²).

    Attributes
    ----------
    goal : ndarray of shape (2,), float32
        The task's.

    Examples
    --------
    >>> from sklearn_meta.rl import Navigation2DEnv
    >>> env = Navigation2DEnv(task={"goal": [0.1, 0.5]})
    >>> env.reset(seed=0)
    (array([0., 0.], dtype=float32), {})
    >>> observation, reward, terminated, truncated, info = env.step([0.3, 0.0])
    >>> observation, round(reward, 4)
    (array([0.1, 0. ], dtype=float32), -0.5)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        horizon: int = Navigation2DTasks.horizon,
        goal_in_observation: bool = False,
        task=None,
    ):
        gym = _require_gymnasium()
        self.horizon = check_int("horizon", horizon, 1)
        if not isinstance(goal_in_observation, bool):
            raise TypeError(f"goal_in_observation must be a bool, got {goal_in_observation!r}.")
        self.goal_in_observation = goal_in_observation
        self.max_speed = Navigation2DTasks.max_speed
        size = 4 if goal_in_observation else 2
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.action_space = gym.spaces.Box(-self.max_speed, self.max_speed, (2,), np.float32)
        self.reset_task(self.sample_tasks(1)[0] if task is None else task)
        self._position, self._t = np.zeros(2, np.float32), 0

    def sample_tasks(self, n_tasks: int) -> list[dict]:
        """``n_tasks`` goals uniform in [-0.5, 0.5]², drawn with ``np_random``."""
        bound = Navigation2DTasks.goal_bound
        goals = self.np_random.uniform(-bound, bound, size=(check_int("n_tasks", n_tasks, 1), 2))
        return [{"goal": goal} for goal in goals]

    def reset_task(self, task: dict) -> None:
        """Aim for ``task["goal"]`` from now on."""
        self.goal = _task_array(task, "goal", (2,)).astype(np.float32)

    def _observe(self) -> np.ndarray:
        if self.goal_in_observation:
            return np.concatenate([self._position, self.goal])
        return self._position.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode of the current task: ``(observation, info)``."""
        super().reset(seed=seed)
        self._position, self._t = np.zeros(2, np.float32), 0
        return self._observe(), {}

    def step(self, action):
        """Take ``action``: ``(observation, reward, terminated, truncated, info)``,
        truncated after ``horizon`` steps (never terminated)."""
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (2,):
            raise ValueError(f"The action must have shape (2,), got {action.shape}.")
        self._position = self._position + np.clip(action, -self.max_speed, self.max_speed)
        reward = -float(np.linalg.norm(self._position - self.goal))
        self._t += 1
        return self._observe(), reward, False, self._t >= self.horizon, {}


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def check_task_index(task_set: TaskSet, index) -> None:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"index must be an int, got {index!r}.")
    if not -len(task_set) <= index < len(task_set):
        raise IndexError(f"index {index} is out of range for {len(task_set)} tasks.")


def env_of_task(task_set: TaskSet, index: int = 0) -> Env:
    """Task ``index`` of ``task_set`` as a ``gymnasium.Env``.

    A task of a built-in family becomes a :class:`BanditEnv`,
    :class:`TabularMDPEnv` or :class:`Navigation2DEnv` with the family's
    settings and the task's parameters (as numpy arrays). (A task set of a
    ``GymnasiumTasks`` family hands out copies of its own environments from
    its ``make_env``.)

    Examples
    --------
    >>> from sklearn_meta.rl import TabularMDPTasks
    >>> from sklearn_meta.rl._envs import env_of_task
    >>> tasks = TabularMDPTasks(n_states=3, n_actions=2).sample(4, random_state=0)
    >>> env = env_of_task(tasks, 2)  # or tasks.make_env(2)
    >>> env.reset(seed=0)
    (array([1., 0., 0.], dtype=float32), {})
    """
    _require_gymnasium()
    check_task_index(task_set, index)
    family = task_set.family
    if isinstance(task_set, BanditTaskSet):
        task = {"arm_means": _numpy(task_set.arm_means[index])}
        return BanditEnv(family.n_arms, family.horizon, task)
    if isinstance(task_set, TabularMDPTaskSet):
        task = {
            "transitions": _numpy(task_set.transitions[index]),
            "mean_rewards": _numpy(task_set.mean_rewards[index]),
        }
        return TabularMDPEnv(family.n_states, family.n_actions, family.horizon, task)
    if isinstance(task_set, Navigation2DTaskSet):
        task = {"goal": _numpy(task_set.goals[index])}
        return Navigation2DEnv(family.horizon, family.goal_in_observation, task)
    raise TypeError(f"No gymnasium environment is known for {type(task_set).__name__}.")
