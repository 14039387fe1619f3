import functools

import numpy as np
import pytest
import torch

from sklearn_meta.rl import BanditTasks, Navigation2DTasks, TabularMDPTasks
from sklearn_meta.rl._bandit_agents import (
    UCB1,
    GittinsIndex,
    ThompsonSampling,
    _ArmCounts,
    gittins_indices,
)
from sklearn_meta.rl._baselines import RandomAgent, baseline_agents
from sklearn_meta.rl._draws import sample_beta, sample_gamma
from sklearn_meta.rl._mdp_agents import (
    PosteriorSampling,
    ValueIteration,
    finite_horizon_q_values,
)
from sklearn_meta.rl._rollout import run_trial
from sklearn_meta.rl._tasks import BanditTaskSet, TabularMDPTaskSet


def _mean_return(agent, tasks, seed=0, **kwargs):
    return run_trial(agent, tasks, torch.Generator().manual_seed(seed), **kwargs).returns.mean()


# -- random --------------------------------------------------------------------


def test_random_agent_on_each_family():
    generator = torch.Generator().manual_seed(0)
    bandits = BanditTasks(n_arms=4, n_episodes=500).sample(20, random_state=0)
    actions = run_trial(RandomAgent(), bandits, generator).actions
    assert torch.bincount(actions.flatten(), minlength=4).min() > 0.2 * actions.numel()

    navigation = Navigation2DTasks(horizon=50).sample(20, random_state=0)
    actions = run_trial(RandomAgent(), navigation, generator, n_episodes=1).actions
    assert actions.shape == (50, 20, 2)
    assert actions.abs().max() <= 0.1 and actions.abs().max() > 0.09


def test_random_returns_match_the_task_distributions():
    bandits = BanditTasks(n_arms=5, n_episodes=10).sample(1000, random_state=0)
    assert abs(_mean_return(RandomAgent(), bandits) - 5.0) < 0.3
    mdps = TabularMDPTasks(n_episodes=10).sample(500, random_state=0)
    assert abs(_mean_return(RandomAgent(), mdps) - 100.0) < 5.0


# -- bandits -------------------------------------------------------------------


def _bandit(arm_means, n_episodes):
    family = BanditTasks(n_arms=len(arm_means[0]), n_episodes=n_episodes)
    return BanditTaskSet(family, torch.tensor(arm_means))


def test_ucb1_pulls_each_arm_once_in_order_then_the_best():
    # means of 0 and 1 make the rewards certain
    tasks = _bandit([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], n_episodes=50)
    actions = run_trial(UCB1(), tasks, torch.Generator().manual_seed(0)).actions
    assert actions[:3].T.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert actions[3].tolist() == [1, 0]
    assert (actions[:, 0] == 1).sum() > 40 and (actions[:, 1] == 0).sum() > 40


def test_ucb1_score_by_hand():
    # arm 0: 3 wins in 4 pulls; arm 1: 0 in 1; t = 5
    memory = _ArmCounts(torch.tensor([[3.0, 0.0]]), torch.tensor([[4.0, 1.0]]), n_episodes=10)
    # c = sqrt(2): 0.75 + 0.90 < 0 + 1.79; c = 0.5: 0.75 + 0.32 > 0 + 0.63
    assert UCB1().act(memory, torch.zeros(1, 1), None).item() == 1
    assert UCB1(c=0.5).act(memory, torch.zeros(1, 1), None).item() == 0


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (3.0, 5.0), (200.0, 100.0)])
def test_beta_draws_have_the_beta_moments(a, b):
    generator = torch.Generator().manual_seed(0)
    n = 100_000
    draws = sample_beta(torch.full((n,), a), torch.full((n,), b), generator)
    mean, variance = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert abs(draws.mean().item() - mean) < 5 * (variance / n) ** 0.5
    assert abs(draws.var().item() / variance - 1) < 0.03
    assert draws.min() > 0 and draws.max() < 1


def test_gamma_draws_have_the_gamma_moments():
    shape = torch.tensor([1.0, 2.0, 7.0, 50.0]).repeat(50_000, 1)
    draws = sample_gamma(shape, torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), shape[0], rtol=0.02)
    assert torch.allclose(draws.var(0), shape[0], rtol=0.05)


def test_bandit_agents_are_reproducible():
    tasks = BanditTasks(n_arms=5, n_episodes=30).sample(50, random_state=0)
    for agent in baseline_agents(tasks.family).values():
        first = run_trial(agent, tasks, torch.Generator().manual_seed(1)).actions
        again = run_trial(agent, tasks, torch.Generator().manual_seed(1)).actions
        assert torch.equal(first, again)


def test_bandit_baselines_beat_random_on_100_pulls():
    tasks = BanditTasks(n_arms=5, n_episodes=100).sample(500, random_state=0)
    random = _mean_return(RandomAgent(), tasks)
    thompson = _mean_return(ThompsonSampling(), tasks)
    gittins = _mean_return(GittinsIndex(), tasks)
    assert abs(random - 50) < 2.5
    assert _mean_return(UCB1(), tasks) > 60
    assert thompson > 65 and gittins > 65
    assert gittins > thompson  # RL²'s table: 78.3 and 74.7


def test_gittins_index_handles_longer_trials():
    tasks = BanditTasks(n_arms=2, n_episodes=5).sample(10, random_state=0)
    trial = run_trial(GittinsIndex(), tasks, torch.Generator().manual_seed(0), n_episodes=12)
    assert trial.actions.shape == (12, 10)


# -- Gittins indices -----------------------------------------------------------


def _brute_force_index(discount, a, b, depth):
    """Bisection on the retirement reward λ, by plain recursion over the
    posterior states below (a, b), cut at depth ``depth``."""

    def pull_minus_retire(level):
        retire = level / (1 - discount)

        @functools.cache
        def value(x, y):
            if x + y >= a + b + depth:
                return max(retire, x / (x + y) / (1 - discount))
            return max(retire, pull(x, y))

        def pull(x, y):
            p = x / (x + y)
            return p + discount * (p * value(x + 1, y) + (1 - p) * value(x, y + 1))

        return pull(a, b) - retire

    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if pull_minus_retire(middle) > 0 else (low, middle)
    return (low + high) / 2


@pytest.mark.parametrize(("discount", "depth"), [(0.5, 30), (0.9, 80)])
def test_gittins_indices_match_a_brute_force_calibration(discount, depth):
    indices = gittins_indices(discount, 6)
    for successes, failures in [(0, 0), (1, 0), (0, 1), (3, 2)]:
        expected = _brute_force_index(discount, 1 + successes, 1 + failures, depth)
        assert indices[successes, failures] == pytest.approx(expected, abs=2e-5)


def test_gittins_index_of_a_fresh_arm_matches_gittins_tables():
    assert gittins_indices(0.9, 1)[0, 0] == pytest.approx(0.7029, abs=1e-4)


def test_gittins_indices_are_monotone_and_above_the_posterior_mean():
    n = 40
    indices = gittins_indices(0.95, n)
    successes, failures = np.indices((n, n))
    inside = successes + failures < n - 1  # where both neighbours are in the table
    assert (indices[1:, :-1] > indices[:-1, :-1])[inside[:-1, :-1]].all()
    assert (indices[:-1, 1:] < indices[:-1, :-1])[inside[:-1, :-1]].all()
    posterior_mean = (1 + successes) / (2 + successes + failures)
    assert (indices > posterior_mean)[successes + failures < n].all()


# -- tabular MDPs --------------------------------------------------------------

# Two states, two actions. Action 0 stays; action 1 moves from state 1 to 0,
# and from state 0 to 1 with probability 3/4.
TRANSITIONS = torch.tensor(
    [[[1.0, 0.0], [0.25, 0.75]], [[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64
)
REWARDS = torch.tensor([[0.0, 0.5], [2.0, 1.0]], dtype=torch.float64)


def test_value_iteration_by_hand():
    q_values = finite_horizon_q_values(TRANSITIONS[None], REWARDS[None], horizon=2)[0]
    # last step: the rewards; first: the reward plus the best value of where it leads
    # (values 0.5 in state 0, 2 in state 1)
    expected = torch.tensor(
        [[[0.5, 0.5 + 0.25 * 0.5 + 0.75 * 2], [2.0 + 2.0, 1.0 + 0.5]], REWARDS.tolist()],
        dtype=torch.float64,
    )
    torch.testing.assert_close(q_values, expected)


def test_value_iteration_agent_acts_on_the_true_q_values():
    family = TabularMDPTasks(n_states=2, n_actions=2, horizon=2, n_episodes=20)
    tasks = TabularMDPTaskSet(family, TRANSITIONS[None].float(), REWARDS[None].float())
    trial = run_trial(ValueIteration(), tasks, torch.Generator().manual_seed(0))
    first, second = trial.actions[0::2, 0], trial.actions[1::2, 0]
    states = trial.observations[1::2, 0].argmax(1)
    assert (first == 1).all()  # 2.125 > 0.5
    assert torch.equal(second, 1 - states)  # 0.5 > 0 in state 0; 2 > 1 in state 1
    assert 0 < (states == 0).sum() < 20


def test_mdp_baselines_are_ordered():
    tasks = TabularMDPTasks(n_episodes=10).sample(200, random_state=0)
    oracle = _mean_return(ValueIteration(), tasks)
    psrl = _mean_return(PosteriorSampling(), tasks)
    random = _mean_return(RandomAgent(), tasks)
    assert oracle > psrl + 40  # about 218 and 133
    assert psrl > random + 15  # random: 100


class _Recorder:
    """An agent that keeps the memory of the agent it wraps."""

    def __init__(self, agent):
        self.agent = agent

    def start(self, tasks, generator):
        self.memory = self.agent.start(tasks, generator)
        return self.memory

    def act(self, memory, observation, generator):
        return self.agent.act(memory, observation, generator)

    def observe(self, memory, action, reward, observation, done):
        self.memory = self.agent.observe(memory, action, reward, observation, done)
        return self.memory


def test_psrl_counts_what_it_sees():
    tasks = TabularMDPTasks(horizon=4, n_episodes=3).sample(5, random_state=0)
    recorder = _Recorder(PosteriorSampling())
    trial = run_trial(recorder, tasks, torch.Generator().manual_seed(0))
    posterior = recorder.memory.posterior
    assert posterior.visits.sum((1, 2)).tolist() == [12] * 5
    assert posterior.transition_counts.sum((1, 2, 3)).tolist() == [12] * 5
    torch.testing.assert_close(posterior.reward_sums.sum((1, 2)), trial.returns)
    visited = trial.observations.argmax(2)[:, 0]
    assert posterior.visits[0].sum(1)[visited].min() > 0


def test_mdp_agents_are_reproducible():
    tasks = TabularMDPTasks(n_episodes=3).sample(20, random_state=0)
    first = run_trial(PosteriorSampling(), tasks, torch.Generator().manual_seed(1)).actions
    again = run_trial(PosteriorSampling(), tasks, torch.Generator().manual_seed(1)).actions
    assert torch.equal(first, again)


# -- by family; bad input ------------------------------------------------------


def test_baseline_agents_by_family():
    assert list(baseline_agents(BanditTasks())) == ["random", "UCB1", "Thompson", "Gittins"]
    assert list(baseline_agents(TabularMDPTasks())) == [
        "random",
        "PSRL",
        "value iteration (true MDP)",
    ]
    assert list(baseline_agents(Navigation2DTasks())) == ["random"]


@pytest.mark.parametrize("agent", [UCB1(), ThompsonSampling(), GittinsIndex()])
def test_bandit_agents_reject_other_families(agent):
    tasks = TabularMDPTasks().sample(2, random_state=0)
    name = type(agent).__name__
    with pytest.raises(TypeError, match=f"{name} runs on BanditTasks only.*TabularMDPTasks"):
        agent.start(tasks, torch.Generator())


@pytest.mark.parametrize("agent", [PosteriorSampling(), ValueIteration()])
def test_mdp_agents_reject_other_families(agent):
    tasks = BanditTasks().sample(2, random_state=0)
    with pytest.raises(TypeError, match="runs on TabularMDPTasks only.*BanditTasks"):
        agent.start(tasks, torch.Generator())


def test_bad_parameters():
    for c in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="c must be"):
            UCB1(c=c)
    with pytest.raises(TypeError, match="c must be a number"):
        UCB1(c="2")
    for discount in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="discount must be"):
            GittinsIndex(discount=discount)
