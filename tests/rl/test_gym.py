"""The gymnasium environments of the task families, and GymnasiumTasks of such environments."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_meta.rl import BanditTasks, Navigation2DTasks, TabularMDPTasks
from sklearn_meta.rl._envs import BanditEnv, Navigation2DEnv, TabularMDPEnv, env_of_task
from sklearn_meta.rl._gym import EnvTaskSet, GymnasiumTasks
from sklearn_meta.rl._rollout import run_trial
from sklearn_meta.rl._tasks import BanditTaskSet, Navigation2DTaskSet, TabularMDPTaskSet

gymnasium = pytest.importorskip("gymnasium")
check_env = pytest.importorskip("gymnasium.utils.env_checker").check_env

# What check_env says of any environment without a registered spec, and of a
# position that is not bounded: warnings, not failures.
EXPECTED_WARNINGS = ("alternative render modes", "infinity")


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


class RandomAgent:
    """Uniformly random actions (continuous ones in [-0.1, 0.1]), drawn from
    the trial's generator, or from the agent's own if it has a seed."""

    def __init__(self, seed=None):
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def start(self, tasks, generator):
        return tasks

    def act(self, tasks, observation, generator):
        generator = self.generator or generator
        family = tasks.family
        if family.discrete:
            return torch.randint(family.n_actions, (len(tasks),), generator=generator)
        return 0.2 * torch.rand(len(tasks), family.action_size, generator=generator) - 0.1

    def observe(self, tasks, action, reward, observation, done):
        return tasks


class ShortEnv(gymnasium.Env):
    """Discrete observations (the step count, from 2) and an early end: each
    episode terminates after ``task["length"]`` steps; reward = action + 1."""

    def __init__(self):
        self.observation_space = gymnasium.spaces.Discrete(5, start=2)
        self.action_space = gymnasium.spaces.Discrete(3)
        self.length = 2

    def sample_tasks(self, n_tasks):
        return [{"length": int(n)} for n in self.np_random.integers(1, 4, n_tasks)]

    def reset_task(self, task):
        self.length = task["length"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 2, {}

    def step(self, action):
        self.t += 1
        return 2 + self.t, float(action + 1), self.t >= self.length, False, {}


def cycle_mdp(horizon):
    """Deterministic transitions: action a in state s moves to (s + a + 1) % 3."""
    family = TabularMDPTasks(n_states=3, n_actions=2, horizon=horizon)
    states, actions = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    transitions = torch.eye(3)[(states + actions + 1) % 3]
    mean_rewards = torch.tensor(10.0 * states + actions, dtype=torch.float32)
    return TabularMDPTaskSet(family, transitions[None], mean_rewards[None])


# ---------------------------------------------------------------------------
# The environments of the built-in families


@pytest.mark.parametrize(
    "env",
    [
        BanditEnv(horizon=3),  # check_env wants more than one step per episode
        TabularMDPEnv(),
        Navigation2DEnv(),
        Navigation2DEnv(goal_in_observation=True),
        Navigation2DTasks(horizon=5).sample(2, random_state=0).make_env(1),
    ],
    ids=lambda env: type(env).__name__,
)
def test_check_env(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [
        str(w.message) for w in caught if not any(e in str(w.message) for e in EXPECTED_WARNINGS)
    ]
    assert unexpected == []


@pytest.mark.parametrize("goal_in_observation", [False, True])
def test_navigation_env_follows_the_task_set(goal_in_observation):
    family = Navigation2DTasks(horizon=8, goal_in_observation=goal_in_observation)
    tasks = family.sample(3, random_state=0)
    actions = 0.3 * torch.rand(family.horizon, 3, 2, generator=generator()) - 0.15  # some clipped
    observation, state = tasks.reset(generator())
    envs = [tasks.make_env(i) for i in range(3)]
    for i, env in enumerate(envs):
        env_observation, _ = env.reset(seed=i)
        np.testing.assert_array_equal(env_observation, observation[i].numpy())
    for t in range(family.horizon):
        observation, reward, state = tasks.step(state, actions[t], generator())
        for i, env in enumerate(envs):
            env_observation, env_reward, terminated, truncated, _ = env.step(actions[t, i].numpy())
            np.testing.assert_allclose(env_observation, observation[i].numpy(), atol=1e-6)
            assert env_reward == pytest.approx(reward[i].item(), abs=1e-6)
            assert not terminated and truncated == (t == family.horizon - 1)


def test_mdp_env_follows_the_task_set():
    tasks = cycle_mdp(horizon=600)
    env = tasks.make_env(0)
    env_observation, _ = env.reset(seed=0)
    observation, state = tasks.reset(generator())
    np.testing.assert_array_equal(env_observation, observation[0].numpy())
    actions = torch.randint(2, (600,), generator=generator())
    noise = []
    for action in actions:
        mean = tasks.mean_rewards[0, state[0], action].item()
        observation, _, state = tasks.step(state, action[None], generator())
        env_observation, env_reward, _, truncated, _ = env.step(action.item())
        np.testing.assert_array_equal(env_observation, observation[0].numpy())
        noise.append(env_reward - mean)
    assert truncated
    assert np.mean(noise) == pytest.approx(0.0, abs=0.15)
    assert np.std(noise) == pytest.approx(1.0, abs=0.1)


def test_bandit_env_arms_that_never_and_always_pay():
    tasks = BanditTaskSet(BanditTasks(n_arms=2), torch.tensor([[0.0, 1.0]]))
    env = tasks.make_env(0)
    for seed in range(20):
        assert env.reset(seed=seed) == (np.zeros(1, np.float32), {})
        assert env.step(0)[1:4] == (0.0, False, True)
        env.reset()
        assert env.step(1)[1] == 1.0


@pytest.mark.parametrize(
    "env",
    [BanditEnv(n_arms=3), TabularMDPEnv(n_states=3, n_actions=2), Navigation2DEnv()],
    ids=lambda env: type(env).__name__,
)
def test_sample_tasks_and_reset_task(env):
    env.reset(seed=0)
    tasks = env.sample_tasks(4)
    env.reset(seed=0)
    again = env.sample_tasks(4)
    assert len(tasks) == 4
    for task, same in zip(tasks, again, strict=True):
        assert task.keys() == same.keys()
        for key in task:
            np.testing.assert_array_equal(task[key], same[key])
    env.reset_task(tasks[2])
    for key, value in tasks[2].items():
        np.testing.assert_allclose(getattr(env, key), value, rtol=1e-6)
    with pytest.raises(KeyError, match="keys"):
        env.reset_task({"nothing": 0})


def test_env_of_task_builds_the_family_settings():
    mdp = TabularMDPTasks(n_states=3, n_actions=2, horizon=7).sample(2, random_state=0)
    env = env_of_task(mdp, -1)
    assert (env.n_states, env.n_actions, env.horizon) == (3, 2, 7)
    np.testing.assert_allclose(env.mean_rewards, mdp.mean_rewards[1].numpy())
    bandit = BanditTasks(n_arms=4).sample(2, random_state=0).make_env(1)
    assert (bandit.action_space.n, bandit.horizon) == (4, 1)
    with pytest.raises(IndexError):
        env_of_task(mdp, 2)
    with pytest.raises(TypeError):
        env_of_task(mdp, 1.0)


UNNORMALIZED_MDP = {"transitions": np.ones((2, 1, 2)), "mean_rewards": np.zeros((2, 1))}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: BanditEnv().step(5), ValueError),
        (lambda: BanditEnv(horizon=0), ValueError),
        (lambda: TabularMDPEnv(n_states=True), TypeError),
        (lambda: Navigation2DEnv(goal_in_observation=1), TypeError),
        (lambda: Navigation2DEnv().step([0.1, 0.1, 0.1]), ValueError),
        (lambda: Navigation2DEnv(task={"goal": [0.1]}), ValueError),
        (lambda: TabularMDPEnv(2, 1, task=UNNORMALIZED_MDP), ValueError),
    ],
)
def test_env_bad_input(make, error):
    with pytest.raises(error):
        make()


# ---------------------------------------------------------------------------
# GymnasiumTasks: users' environments, stepped one by one


@pytest.mark.parametrize(
    ("env", "shapes"),
    [
        (BanditEnv(n_arms=3), {"n_actions": 3, "action_size": None, "observation_size": 1}),
        (TabularMDPEnv(4, 2, horizon=3), {"n_actions": 2, "observation_size": 4}),
        (Navigation2DEnv(goal_in_observation=True), {"action_size": 2, "observation_size": 4}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_gymnasium_tasks_run_through_run_trial(env, shapes):
    family = GymnasiumTasks(env, n_episodes=3, horizon=4)
    for name, value in shapes.items():
        assert getattr(family, name) == value
    tasks = family.sample(5, random_state=0)
    assert isinstance(tasks, EnvTaskSet) and len(tasks) == 5
    trial = run_trial(RandomAgent(), tasks, generator())
    assert trial.observations.shape == (12, 5, family.observation_size)
    assert trial.rewards.shape == (12, 5) and trial.episode_returns.shape == (5, 3)
    again = run_trial(RandomAgent(), family.sample(5, random_state=0), generator())
    for name in ("observations", "actions", "rewards"):
        assert torch.equal(getattr(trial, name), getattr(again, name))
    other = run_trial(RandomAgent(), family.sample(5, random_state=1), generator())
    assert not torch.equal(trial.rewards, other.rewards)


def test_gymnasium_tasks_step_like_the_vectorized_family():
    family = GymnasiumTasks(lambda: Navigation2DEnv(horizon=6), n_episodes=2, horizon=6)
    looped = family.sample(4, random_state=0)
    goals = torch.tensor(np.stack([env.unwrapped.goal for env in looped.envs]))
    vectorized = Navigation2DTaskSet(Navigation2DTasks(horizon=6, n_episodes=2), goals)
    # the looped resets draw seeds from the trial's generator: the agents draw from their own
    trial = run_trial(RandomAgent(seed=1), looped, generator())
    expected = run_trial(RandomAgent(seed=1), vectorized, generator())
    torch.testing.assert_close(trial.observations, expected.observations)
    torch.testing.assert_close(trial.rewards, expected.rewards)


def test_episodes_that_end_early_hold_their_last_observation():
    family = GymnasiumTasks(ShortEnv, n_episodes=2, horizon=4)
    assert (family.observation_size, family.n_actions) == (5, 3)
    tasks = family.sample(6, random_state=0)
    lengths = torch.tensor([env.length for env in tasks.envs])
    trial = run_trial(RandomAgent(), tasks, generator())
    steps = torch.arange(4).repeat(2)[:, None]  # the step within the episode
    running = steps < lengths
    torch.testing.assert_close(trial.rewards, torch.where(running, trial.actions + 1.0, 0.0))
    held = torch.minimum(steps, lengths)  # the step count seen before each action, from 2
    torch.testing.assert_close(trial.observations, torch.eye(5)[held])


def test_env_task_set_indexing_copies_environments():
    tasks = GymnasiumTasks(BanditEnv(n_arms=2), n_episodes=2, horizon=1).sample(3, random_state=0)
    means = [env.arm_means for env in tasks.envs]
    repeated = tasks.repeat_interleave(2)
    assert len(repeated) == 6 and len({id(env) for env in repeated.envs}) == 6
    for i, env in enumerate(repeated.envs):
        np.testing.assert_array_equal(env.arm_means, means[i // 2])
    for index, rows in [(1, [1]), (-1, [2]), (slice(0, 2), [0, 1]), ([2, 2], [2, 2])]:
        part = tasks[index]
        assert [env.arm_means.tolist() for env in part.envs] == [means[r].tolist() for r in rows]
        assert all(env is not tasks.envs[r] for env, r in zip(part.envs, rows, strict=True))
    assert len(tasks[torch.tensor([True, False, True])]) == 2
    assert tasks.to("cpu").device == torch.device("cpu")
    copy_ = tasks.make_env(1)
    assert copy_ is not tasks.envs[1] and copy_.arm_means.tolist() == means[1].tolist()
    with pytest.raises(ValueError):
        tasks.repeat_interleave(0)


def test_gymnasium_tasks_of_a_factory_and_a_wrapped_env():
    family = GymnasiumTasks(
        lambda: gymnasium.wrappers.TimeLimit(TabularMDPEnv(3, 2), 2), n_episodes=1, horizon=5
    )
    trial = run_trial(RandomAgent(), family.sample(2, random_state=0), generator())
    assert torch.equal(trial.rewards[2:], torch.zeros(3, 2))  # truncated after 2 steps


def test_gymnasium_tasks_errors():
    with pytest.raises(TypeError, match="sample_tasks.*reset_task"):
        GymnasiumTasks(gymnasium.make("CartPole-v1"), n_episodes=2, horizon=10)
    with pytest.raises(TypeError, match="gymnasium.Env"):
        GymnasiumTasks(42, n_episodes=2, horizon=10)
    with pytest.raises(TypeError, match="gymnasium.Env"):
        GymnasiumTasks(lambda: 42, n_episodes=2, horizon=10)
    with pytest.raises(ValueError, match="n_episodes"):
        GymnasiumTasks(BanditEnv(), n_episodes=0, horizon=10)
    with pytest.raises(ValueError, match="horizon"):
        GymnasiumTasks(BanditEnv(), n_episodes=2, horizon=0)
    with pytest.raises(TypeError, match="horizon"):
        GymnasiumTasks(BanditEnv(), n_episodes=2, horizon=True)
    tasks = GymnasiumTasks(BanditEnv(n_arms=2), n_episodes=2, horizon=1).sample(2, random_state=0)
    _, state = tasks.reset(generator())
    with pytest.raises(ValueError):
        tasks.step(state, torch.tensor([0, 2]), generator())
    with pytest.raises(TypeError):
        tasks.step(state, torch.zeros(2), generator())
