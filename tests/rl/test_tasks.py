"""The task families stepped as tensors, against hand-computed transitions and rewards."""

import numpy as np
import pytest
import torch

from sklearn_meta.rl import BanditTasks, Navigation2DTasks, TabularMDPTasks
from sklearn_meta.rl._rollout import run_trial
from sklearn_meta.rl._tasks import BanditTaskSet, Navigation2DTaskSet, TabularMDPTaskSet

FAMILIES = [
    BanditTasks(n_arms=3, n_episodes=4),
    TabularMDPTasks(n_states=4, n_actions=3, horizon=5, n_episodes=3),
    Navigation2DTasks(horizon=6, n_episodes=3),
    Navigation2DTasks(horizon=6, n_episodes=3, goal_in_observation=True),
]


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def parameters(tasks):
    return [getattr(tasks, name) for name in tasks._tensor_fields()]


class ConstantAgent:
    """Always the same action; counts the ends of episodes it is told of."""

    def __init__(self, action):
        self.action = torch.as_tensor(action)

    def start(self, tasks, generator):
        self.memory = {"tasks": tasks, "dones": [], "observations": []}
        return self.memory

    def act(self, memory, observation, generator):
        return self.action.expand(len(memory["tasks"]), *self.action.shape)

    def observe(self, memory, action, reward, observation, done):
        memory["dones"].append(done)
        memory["observations"].append(observation)
        return memory


# ---------------------------------------------------------------------------
# Bandits


def test_bandit_rewards_are_bernoulli_with_the_arm_means():
    family = BanditTasks(n_arms=3)
    tasks = BanditTaskSet(family, torch.tensor([[0.0, 1.0, 0.3]])).repeat_interleave(20_000)
    observation, state = tasks.reset(generator())
    assert torch.equal(observation, torch.zeros(20_000, 1))
    rewards = {}
    for arm in range(3):
        action = torch.full((20_000,), arm)
        observation, rewards[arm], state = tasks.step(state, action, generator(arm))
        assert torch.equal(observation, torch.zeros(20_000, 1))
    assert rewards[0].eq(0).all() and rewards[1].eq(1).all()
    assert set(rewards[2].unique().tolist()) == {0.0, 1.0}
    assert rewards[2].mean().item() == pytest.approx(0.3, abs=0.015)


def test_bandit_arm_means_are_uniform():
    arm_means = BanditTasks(n_arms=4).sample(5000, random_state=0).arm_means
    assert arm_means.shape == (5000, 4)
    assert arm_means.min() >= 0 and arm_means.max() < 1
    assert arm_means.mean().item() == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------------------
# Tabular MDPs


def cycle_mdp(n_tasks=1, horizon=4):
    """3 states, 2 actions: action a in state s moves to (s + a + 1) % 3 and
    pays 10 s + a on average."""
    family = TabularMDPTasks(n_states=3, n_actions=2, horizon=horizon)
    states, actions = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    transitions = torch.eye(3)[(states + actions + 1) % 3]
    mean_rewards = torch.tensor(10.0 * states + actions, dtype=torch.float32)
    return TabularMDPTaskSet(family, transitions[None], mean_rewards[None]).repeat_interleave(
        n_tasks
    )


def test_mdp_steps_follow_hand_computed_transitions_and_rewards():
    tasks = cycle_mdp(n_tasks=4000)
    observation, state = tasks.reset(generator())
    assert torch.equal(observation, torch.tensor([1.0, 0.0, 0.0]).expand(4000, 3))
    assert torch.equal(state, torch.zeros(4000, dtype=torch.long))
    # 0 --a=1--> 2 --a=0--> 0 --a=0--> 1 --a=1--> 0
    expected = [(1, 2, 1.0), (0, 0, 20.0), (0, 1, 0.0), (1, 0, 11.0)]
    for action, next_state, mean in expected:
        observation, reward, state = tasks.step(state, torch.full((4000,), action), generator())
        assert state.eq(next_state).all()
        assert torch.equal(observation, torch.eye(3)[next_state].expand(4000, 3))
        noise = reward - mean
        assert noise.mean().item() == pytest.approx(0.0, abs=0.06)
        assert noise.std().item() == pytest.approx(1.0, abs=0.05)


def test_mdp_transitions_are_dirichlet_one_and_mean_rewards_normal():
    tasks = TabularMDPTasks(n_states=5, n_actions=3).sample(2000, random_state=0)
    transitions, mean_rewards = tasks.transitions, tasks.mean_rewards
    assert transitions.shape == (2000, 5, 3, 5) and mean_rewards.shape == (2000, 5, 3)
    assert transitions.min() >= 0
    torch.testing.assert_close(transitions.sum(-1), torch.ones(2000, 5, 3))
    assert transitions.mean().item() == pytest.approx(1 / 5, abs=1e-6)  # rows sum to 1
    # each coordinate of a flat Dirichlet over S states is Beta(1, S - 1): mean 1/S, and
    # variance (S - 1) / (S^2 (S + 1))
    assert transitions[..., 0].mean().item() == pytest.approx(1 / 5, abs=0.005)
    assert transitions[..., 0].var().item() == pytest.approx(4 / 150, rel=0.05)
    assert mean_rewards.mean().item() == pytest.approx(1.0, abs=0.02)
    assert mean_rewards.std().item() == pytest.approx(1.0, abs=0.02)


# ---------------------------------------------------------------------------
# 2-D navigation


def test_navigation_moves_are_clipped_and_rewarded_by_the_distance():
    goal = torch.tensor([0.2, 0.3])
    tasks = Navigation2DTaskSet(Navigation2DTasks(horizon=3), goal[None])
    observation, state = tasks.reset(generator())
    assert torch.equal(observation, torch.zeros(1, 2))
    moves = [((0.3, -0.05), (0.1, -0.05)), ((-1.0, 1.0), (0.0, 0.05)), ((0.02, 0.0), (0.02, 0.05))]
    for action, position in moves:
        observation, reward, state = tasks.step(state, torch.tensor([action]), generator())
        position = torch.tensor([position])
        torch.testing.assert_close(observation, position)
        torch.testing.assert_close(reward, -torch.linalg.vector_norm(position - goal, dim=1))


def test_navigation_goal_in_observation():
    goals = torch.tensor([[0.2, 0.3], [-0.4, 0.1]])
    tasks = Navigation2DTaskSet(Navigation2DTasks(goal_in_observation=True), goals)
    observation, state = tasks.reset(generator())
    torch.testing.assert_close(observation, torch.cat([torch.zeros(2, 2), goals], 1))
    observation, _, _ = tasks.step(state, torch.tensor([[0.3, 0.0], [0.0, -0.05]]), generator())
    torch.testing.assert_close(observation[:, :2], torch.tensor([[0.1, 0.0], [0.0, -0.05]]))
    torch.testing.assert_close(observation[:, 2:], goals)
    assert Navigation2DTasks(goal_in_observation=True).observation_size == 4


def test_navigation_goals_are_uniform_in_the_square():
    goals = Navigation2DTasks().sample(5000, random_state=0).goals
    assert goals.shape == (5000, 2)
    assert goals.abs().max() <= 0.5 and goals.abs().max() > 0.49
    torch.testing.assert_close(goals.mean(0), torch.zeros(2), atol=0.02, rtol=0)


# ---------------------------------------------------------------------------
# Every family: determinism, indexing, trials


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_same_random_state_same_tasks(family):
    first, again = family.sample(6, random_state=3), family.sample(6, random_state=3)
    other = family.sample(6, random_state=4)
    for a, b, c in zip(parameters(first), parameters(again), parameters(other), strict=True):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
    from_numpy = family.sample(6, random_state=np.random.default_rng(0))
    assert from_numpy.n_tasks == 6


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_indexing_and_repeat_interleave(family):
    tasks = family.sample(5, random_state=0)
    assert len(tasks) == 5 and tasks.device == torch.device("cpu")
    cases = [(1, [1]), (-1, [4]), (slice(1, 4), [1, 2, 3]), ([0, 2, 2], [0, 2, 2])]
    for index, rows in cases:
        for part, whole in zip(parameters(tasks[index]), parameters(tasks), strict=True):
            assert torch.equal(part, whole[rows])
    mask = torch.tensor([True, False, True, False, False])
    assert len(tasks[mask]) == 2
    for part, whole in zip(parameters(tasks.repeat_interleave(3)), parameters(tasks), strict=True):
        assert torch.equal(part, whole[[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]])


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_run_trial_bookkeeping(family):
    tasks = family.sample(3, random_state=0)
    action = [0.05, -0.02] if family.action_size else 1
    agent = ConstantAgent(action)
    trial = run_trial(agent, tasks, generator())
    n_steps = family.n_episodes * family.horizon
    assert trial.observations.shape == (n_steps, 3, family.observation_size)
    assert trial.actions.shape == (n_steps, 3, *np.shape(action))
    assert trial.rewards.shape == (n_steps, 3)
    assert trial.episode_returns.shape == (3, family.n_episodes)
    torch.testing.assert_close(trial.returns, trial.episode_returns.sum(1))
    dones = [t % family.horizon == family.horizon - 1 for t in range(n_steps)]
    assert agent.memory["dones"] == dones
    starts = trial.observations[:: family.horizon]  # every episode starts afresh
    assert torch.equal(starts, trial.observations[0].expand_as(starts))
    # observe sees where each step led, also the last step of an episode;
    # the next act sees the next episode's first observation
    seen = torch.stack(agent.memory["observations"])
    within = [t for t in range(n_steps - 1) if not dones[t]]
    torch.testing.assert_close(seen[within], trial.observations[[t + 1 for t in within]])
    if isinstance(family, Navigation2DTasks):  # the robot moved at the episode's last step
        last = family.horizon - 1
        assert not torch.equal(seen[last], trial.observations[last + 1])


def test_navigation_constant_action_earns_the_same_return_every_episode():
    goal = torch.tensor([[0.3, 0.1]])
    family = Navigation2DTasks(horizon=4, n_episodes=3)
    tasks = Navigation2DTaskSet(family, goal)
    trial = run_trial(ConstantAgent([0.2, 0.0]), tasks, generator())
    positions = torch.tensor([[0.1 * k, 0.0] for k in range(1, 5)])
    episode_return = -torch.linalg.vector_norm(positions - goal, dim=1).sum()
    torch.testing.assert_close(trial.episode_returns, episode_return.expand(1, 3))
    first_episode = torch.cat([torch.zeros(1, 2), positions[:3]])
    torch.testing.assert_close(trial.observations[:4, 0], first_episode)


def test_run_trial_n_episodes_overrides_the_family():
    tasks = BanditTasks(n_arms=2, n_episodes=4).sample(2, random_state=0)
    trial = run_trial(ConstantAgent(0), tasks, generator(), n_episodes=7)
    assert trial.episode_returns.shape == (2, 7)


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("family", "action", "error"),
    [
        (FAMILIES[0], torch.zeros(2, dtype=torch.long), ValueError),  # 2 actions for 3 tasks
        (FAMILIES[0], torch.zeros(3, 1, dtype=torch.long), ValueError),
        (FAMILIES[0], torch.zeros(3), TypeError),  # float actions of a discrete family
        (FAMILIES[0], torch.full((3,), 3), ValueError),  # arm 3 of 3
        (FAMILIES[1], torch.full((3,), -1), ValueError),
        (FAMILIES[1], torch.full((3,), 0.5), TypeError),
        (FAMILIES[2], torch.zeros(3), ValueError),
        (FAMILIES[2], torch.zeros(3, 3), ValueError),
    ],
)
def test_bad_actions(family, action, error):
    tasks = family.sample(3, random_state=0)
    _, state = tasks.reset(generator())
    with pytest.raises(error):
        tasks.step(state, action, generator())


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: BanditTasks(n_episodes=0), ValueError),
        (lambda: BanditTasks(n_arms=0), ValueError),
        (lambda: TabularMDPTasks(horizon=0), ValueError),
        (lambda: Navigation2DTasks(n_episodes=-1), ValueError),
        (lambda: BanditTasks(n_arms=True), TypeError),
        (lambda: TabularMDPTasks(n_states=2.0), TypeError),
        (lambda: Navigation2DTasks(goal_in_observation=1), TypeError),
        (lambda: BanditTasks().sample(0), ValueError),
        (lambda: BanditTasks().sample(True), TypeError),
        (lambda: BanditTasks().sample(2, random_state="0"), TypeError),
        (lambda: BanditTasks().sample(2, random_state=True), TypeError),
    ],
)
def test_bad_parameters(make, error):
    with pytest.raises(error):
        make()
