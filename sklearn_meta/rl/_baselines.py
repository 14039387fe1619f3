"""Classical baselines of meta-RL: agents designed by hand, not meta-learned.

They bracket what a meta-learned agent should reach on a task family: a
random policy from below; on Bernoulli bandits, UCB1, Thompson sampling and
the Gittins index; on tabular MDPs, posterior sampling (PSRL) and, as an
oracle that knows the task, value iteration on the true MDP (the baselines
of RL², Duan et al. 2016). Each follows the :class:`~._rollout.Agent`
protocol and acts on every task of a set with one tensor operation, so
:func:`~._rollout.run_trial` measures them as it measures learned agents.
All randomness comes from the generator handed to them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from .._validation import check_float
from ._rollout import Agent
from ._tasks import BanditTasks, TabularMDPTasks, TaskFamily, TaskSet


def _check_family(agent: Agent, tasks: TaskSet, family_type: type) -> None:
    if not isinstance(tasks.family, family_type):
        raise TypeError(
            f"{type(agent).__name__} runs on {family_type.__name__} only, got tasks of "
            f"{type(tasks.family).__name__}."
        )


def sample_gamma(shape: Tensor, generator: torch.Generator) -> Tensor:
    """Gamma(``shape``, 1) draws, one per entry of ``shape`` (all >= 1).

    Marsaglia & Tsang's (2000) rejection sampler, drawing from ``generator``:
    torch's own Gamma, Beta and Dirichlet samplers take no generator.
    """
    d = (shape - 1 / 3).reshape(-1)
    c = torch.rsqrt(9 * d)
    sample = torch.empty_like(d)
    pending = torch.arange(len(d), device=d.device)
    while len(pending):
        d_p, c_p = d[pending], c[pending]
        x = torch.randn(d_p.shape, generator=generator, device=d.device, dtype=d.dtype)
        u = torch.rand(d_p.shape, generator=generator, device=d.device, dtype=d.dtype)
        v = (1 + c_p * x) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * x**2 + d_p - d_p * v + d_p * torch.log(v))
        sample[pending[accept]] = (d_p * v)[accept]
        pending = pending[~accept]
    return sample.reshape(shape.shape)


def sample_beta(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """Beta(``a``, ``b``) draws (parameters >= 1) from ``generator``: the
    ratio ``X / (X + Y)`` of Gamma(``a``) and Gamma(``b``) draws."""
    x, y = sample_gamma(torch.stack([a, b]), generator)
    return x / (x + y)


# ---------------------------------------------------------------------------
# Any family


@dataclass(frozen=True)
class RandomAgent:
    """Uniformly random actions: the floor of every task family.

    Discrete actions are uniform over ``range(n_actions)``; continuous ones
    are uniform in ``[-max_speed, max_speed]`` per coordinate, or in
    ``[-1, 1]`` for a family without a ``max_speed``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditTasks
    >>> from sklearn_meta.rl import RandomAgent, run_trial
    >>> tasks = BanditTasks(n_arms=5, n_episodes=10).sample(1000, random_state=0)
    >>> trial = run_trial(RandomAgent(), tasks, torch.Generator().manual_seed(0))
    >>> 4.5 < trial.returns.mean().item() < 5.5
    True
    """

    def start(self, tasks: TaskSet, generator: torch.Generator) -> TaskFamily:
        return tasks.family

    def act(self, memory: TaskFamily, observation: Tensor, generator: torch.Generator) -> Tensor:
        n_tasks, device = len(observation), observation.device
        if memory.discrete:
            return torch.randint(memory.n_actions, (n_tasks,), generator=generator, device=device)
        bound = getattr(memory, "max_speed", 1.0)
        uniform = torch.rand(n_tasks, memory.action_size, generator=generator, device=device)
        return (2 * uniform - 1) * bound

    def observe(
        self, memory: TaskFamily, action: Tensor, reward: Tensor, observation: Tensor, done: bool
    ) -> TaskFamily:
        return memory


# ---------------------------------------------------------------------------
# Bernoulli bandits


@dataclass(frozen=True)
class _ArmCounts:
    """What a bandit agent knows of each task: pulls and wins per arm."""

    successes: Tensor  # (n_tasks, n_arms)
    pulls: Tensor  # (n_tasks, n_arms)
    n_episodes: int  # pulls per trial of the family

    @property
    def failures(self) -> Tensor:
        return self.pulls - self.successes


class _BanditAgent:
    def start(self, tasks: TaskSet, generator: torch.Generator) -> _ArmCounts:
        _check_family(self, tasks, BanditTasks)
        zeros = torch.zeros(tasks.n_tasks, tasks.family.n_arms, device=tasks.device)
        return _ArmCounts(zeros, zeros, tasks.family.n_episodes)

    def observe(
        self, memory: _ArmCounts, action: Tensor, reward: Tensor, observation: Tensor, done: bool
    ) -> _ArmCounts:
        pulled = torch.nn.functional.one_hot(action, memory.pulls.shape[1]).to(reward.dtype)
        return replace(
            memory,
            successes=memory.successes + reward[:, None] * pulled,
            pulls=memory.pulls + pulled,
        )


@dataclass(frozen=True)
class UCB1(_BanditAgent):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002) on Bernoulli bandits.

    Pulls each arm once, in order, then the arm of largest
    ``mean + c * sqrt(log(t) / n_pulls)``, with ``t`` the pulls so far.

    Parameters
    ----------
    c : float, default=sqrt(2)
        Weight of the exploration bonus; sqrt(2) is the original UCB1.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditTasks
    >>> from sklearn_meta.rl import UCB1, run_trial
    >>> tasks = BanditTasks(n_arms=3, n_episodes=20).sample(2, random_state=0)
    >>> trial = run_trial(UCB1(), tasks, torch.Generator().manual_seed(0))
    >>> trial.actions[:3].T.tolist()  # each arm once, in order
    [[0, 1, 2], [0, 1, 2]]
    """

    c: float = 2**0.5

    def __post_init__(self):
        check_float("c", self.c)

    def act(self, memory: _ArmCounts, observation: Tensor, generator: torch.Generator) -> Tensor:
        pulls = memory.pulls.clamp(min=1)
        t = memory.pulls.sum(1, keepdim=True).clamp(min=1)
        score = memory.successes / pulls + self.c * torch.sqrt(torch.log(t) / pulls)
        # argmax takes the first maximum: the first arm not pulled yet
        return torch.where(memory.pulls == 0, torch.inf, score).argmax(1)


@dataclass(frozen=True)
class ThompsonSampling(_BanditAgent):
    """Thompson sampling (Thompson 1933) on Bernoulli bandits.

    Each pull draws every arm's mean from its posterior,
    Beta(1 + successes, 1 + failures) (a flat prior), and pulls the arm of
    the largest draw.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditTasks
    >>> from sklearn_meta.rl import ThompsonSampling, run_trial
    >>> tasks = BanditTasks(n_arms=5, n_episodes=100).sample(200, random_state=0)
    >>> trial = run_trial(ThompsonSampling(), tasks, torch.Generator().manual_seed(0))
    >>> trial.returns.mean().item() > 60  # random pulls earn 50
    True
    """

    def act(self, memory: _ArmCounts, observation: Tensor, generator: torch.Generator) -> Tensor:
        return sample_beta(1 + memory.successes, 1 + memory.failures, generator).argmax(1)


def gittins_indices(discount: float, max_pulls: int, n_levels: int = 256) -> np.ndarray:
    """Gittins indices of Bernoulli arms with a flat Beta prior, by calibration.

    The index of an arm with ``s`` successes and ``f`` failures (posterior
    Beta(1 + s, 1 + f)) is the retirement reward per step λ at which
    pulling it once more and retiring forever (for λ per step) are worth the
    same. One backward induction over the posterior states (a, b), run for
    ``n_levels`` values of λ at once, gives for every state the gap between
    pulling and retiring at each λ; the index is where that gap, decreasing
    in λ, crosses zero, interpolated between levels. The induction starts at
    ``a + b = depth``, where an arm's value is taken as that of a known mean
    a / (a + b), a depth at which ``discount ** (depth - max_pulls)`` <= 0.01
    (the truncation then moves indices by less than 1e-6).

    Parameters
    ----------
    discount : float
        Discount factor, in (0, 1).
    max_pulls : int
        The table covers arms pulled fewer than ``max_pulls`` times.
    n_levels : int, default=256
        Values of λ on [0, 1].

    Returns
    -------
    ndarray of shape (max_pulls, max_pulls)
        ``indices[s, f]`` for ``s + f < max_pulls`` (0 elsewhere).
    """
    tail = math.ceil(math.log(1e-2) / math.log(discount))
    depth = max_pulls + 1 + tail
    levels = np.linspace(0.0, 1.0, n_levels)
    retire = levels[:, None] / (1 - discount)  # the value of retiring, per level
    value = np.maximum(retire, np.arange(1, depth) / depth / (1 - discount))
    indices = np.zeros((max_pulls, max_pulls))
    for n in range(depth - 1, 1, -1):  # the states a + b = n, a = 1 .. n - 1
        p = np.arange(1, n) / n
        # pull = p + discount * (p * value(a + 1, b) + (1 - p) * value(a, b + 1)), in place
        pull = np.subtract(value[:, 1:], value[:, :-1])
        pull *= p
        pull += value[:, :-1]
        pull *= discount
        pull += p
        if n - 2 < max_pulls:
            a = np.arange(n - 1)
            indices[a, n - 2 - a] = _crossing(levels, pull - retire)
        value = np.maximum(pull, retire, out=pull)
    return indices


def _crossing(levels: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Per column, where ``gap`` (decreasing down the rows, from > 0 to < 0)
    crosses zero, linearly interpolated between ``levels``."""
    above = (gap > 0).sum(0)
    columns = np.arange(gap.shape[1])
    before, after = gap[above - 1, columns], gap[above, columns]
    return levels[above - 1] + (levels[1] - levels[0]) * before / (before - after)


@functools.lru_cache(maxsize=16)
def _index_table(discount: float, max_pulls: int, device: torch.device) -> Tensor:
    return torch.as_tensor(gittins_indices(discount, max_pulls), dtype=torch.float32).to(device)


def default_discount(n_episodes: int) -> float:
    """The discount :class:`GittinsIndex` uses for trials of ``n_episodes`` pulls."""
    return min(max(1 - 1 / n_episodes, 0.5), 0.998)


@dataclass(frozen=True)
class GittinsIndex(_BanditAgent):
    """The Gittins index policy (Gittins 1979) on Bernoulli bandits.

    Pulls the arm of largest Gittins index of its posterior
    Beta(1 + successes, 1 + failures): the Bayes-optimal policy for
    infinitely many pulls discounted by ``discount`` (see
    :func:`gittins_indices`). On trials of finitely many pulls it is not
    optimal, and the discount is a hyper-parameter (as in RL², Duan et al.
    2016).

    Parameters
    ----------
    discount : float or None, default=None
        Discount factor, in (0, 1). None takes ``1 - 1 / n_episodes`` for
        trials of ``n_episodes`` pulls, clipped to [0.5, 0.998]: among
        discounts from 0.5 to 0.998 on held-out bandits, it was the best or
        within noise of it at 10, 100 and 500 pulls with 5 and 10 arms (a
        discount of 0.99 does as well at 100 pulls and earns 0.3 % less at
        500). The upper clip bounds the cost of the index table, whose
        truncation depth grows as ``1 / (1 - discount)``: 8 s for 500 pulls
        at 0.998.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import BanditTasks
    >>> from sklearn_meta.rl import GittinsIndex, run_trial
    >>> tasks = BanditTasks(n_arms=5, n_episodes=100).sample(200, random_state=0)
    >>> trial = run_trial(GittinsIndex(), tasks, torch.Generator().manual_seed(0))
    >>> trial.returns.mean().item() > 60  # random pulls earn 50
    True
    """

    discount: float | None = None

    def __post_init__(self):
        if self.discount is not None:
            check_float("discount", self.discount, upper=1.0)

    def act(self, memory: _ArmCounts, observation: Tensor, generator: torch.Generator) -> Tensor:
        discount = default_discount(memory.n_episodes) if self.discount is None else self.discount
        # tables cover whole trials; longer runs (run_trial's n_episodes) take the next multiple
        needed = int(memory.pulls.max()) + 1
        size = memory.n_episodes * -(-needed // memory.n_episodes)
        table = _index_table(discount, size, memory.pulls.device)
        return table[memory.successes.long(), memory.failures.long()].argmax(1)


# ---------------------------------------------------------------------------
# Tabular MDPs


def finite_horizon_q_values(transitions: Tensor, rewards: Tensor, horizon: int) -> Tensor:
    """Optimal Q-values of finite-horizon MDPs, by backward induction.

    Parameters
    ----------
    transitions : Tensor of shape (..., n_states, n_actions, n_states)
        Next-state probabilities.
    rewards : Tensor of shape (..., n_states, n_actions)
        Mean rewards.
    horizon : int
        Steps per episode.

    Returns
    -------
    Tensor of shape (..., horizon, n_states, n_actions)
        ``q[..., t, s, a]``: the expected return from step ``t`` on of
        ``a`` in ``s``, then optimal actions.
    """
    values = torch.zeros_like(rewards[..., 0])
    q_values = []
    for _ in range(horizon):
        q = rewards + (transitions @ values[..., None, :, None])[..., 0]
        q_values.append(q)
        values = q.max(-1).values
    return torch.stack(q_values[::-1], dim=-3)


@dataclass(frozen=True)
class _Plan:
    """Q-values to act greedily on during an episode, and the step reached."""

    q_values: Tensor  # (n_tasks, horizon, n_states, n_actions)
    step: int = 0

    def action(self, observation: Tensor) -> Tensor:
        rows = torch.arange(len(observation), device=observation.device)
        return self.q_values[rows, self.step, observation.argmax(1)].argmax(1)

    def advance(self, done: bool) -> _Plan:
        return replace(self, step=0 if done else self.step + 1)


@dataclass(frozen=True)
class ValueIteration:
    """The oracle of tabular MDPs: optimal actions on the true MDP.

    Knows each task's transitions and mean rewards, and acts greedily on
    their finite-horizon Q-values: an upper bound of what any agent
    earns in expectation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import TabularMDPTasks
    >>> from sklearn_meta.rl import RandomAgent, ValueIteration, run_trial
    >>> tasks = TabularMDPTasks().sample(100, random_state=0)
    >>> oracle = run_trial(ValueIteration(), tasks, torch.Generator().manual_seed(0))
    >>> random = run_trial(RandomAgent(), tasks, torch.Generator().manual_seed(0))
    >>> bool(oracle.returns.mean() > random.returns.mean() + 50)
    True
    """

    def start(self, tasks: TaskSet, generator: torch.Generator) -> _Plan:
        _check_family(self, tasks, TabularMDPTasks)
        q_values = finite_horizon_q_values(
            tasks.transitions, tasks.mean_rewards, tasks.family.horizon
        )
        return _Plan(q_values)

    def act(self, memory: _Plan, observation: Tensor, generator: torch.Generator) -> Tensor:
        return memory.action(observation)

    def observe(
        self, memory: _Plan, action: Tensor, reward: Tensor, observation: Tensor, done: bool
    ) -> _Plan:
        return memory.advance(done)


@dataclass(frozen=True)
class _Posterior:
    """PSRL's counts of each task: transitions, rewards and visits."""

    transition_counts: Tensor  # (n_tasks, n_states, n_actions, n_states)
    reward_sums: Tensor  # (n_tasks, n_states, n_actions)
    visits: Tensor  # (n_tasks, n_states, n_actions)

    def update(
        self, state: Tensor, action: Tensor, reward: Tensor, next_state: Tensor
    ) -> _Posterior:
        """The posterior after one more step."""
        index = (torch.arange(len(action), device=action.device), state, action)
        ones = torch.ones_like(reward)
        return _Posterior(
            self.transition_counts.index_put((*index, next_state), ones, accumulate=True),
            self.reward_sums.index_put(index, reward, accumulate=True),
            self.visits.index_put(index, ones, accumulate=True),
        )

    def sample(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Transitions and mean rewards of an MDP per task, drawn from the posterior."""
        weights = sample_gamma(1 + self.transition_counts, generator)  # Dirichlet(1 + counts)
        noise = torch.randn(self.visits.shape, generator=generator, device=self.visits.device)
        # N(1, 1) prior, unit reward noise: the posterior is N((1 + sum) / (1 + n), 1 / (1 + n))
        rewards = (1 + self.reward_sums + noise * torch.sqrt(1 + self.visits)) / (1 + self.visits)
        return weights / weights.sum(-1, keepdim=True), rewards


@dataclass(frozen=True)
class _PSRLMemory:
    posterior: _Posterior
    plan: _Plan  # optimal on the MDP drawn for the current episode
    state: Tensor  # (n_tasks,): where the next action is taken
    horizon: int
    generator: torch.Generator  # observe draws the next episode's MDP


def _sampled_plan(posterior: _Posterior, horizon: int, generator: torch.Generator) -> _Plan:
    return _Plan(finite_horizon_q_values(*posterior.sample(generator), horizon))


@dataclass(frozen=True)
class PosteriorSampling:
    """Posterior sampling for reinforcement learning (PSRL; Osband, Russo
    & Van Roy 2013) on tabular MDPs.

    At the start of each episode, draws an MDP from the posterior (a
    Dirichlet(1 + counts) over each state-action's next state, from the
    tasks' flat Dirichlet prior; a normal posterior over each mean reward,
    from the tasks' N(1, 1) prior and unit reward noise), and acts optimally
    on it for the episode.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.rl import TabularMDPTasks
    >>> from sklearn_meta.rl import PosteriorSampling, run_trial
    >>> tasks = TabularMDPTasks().sample(100, random_state=0)
    >>> trial = run_trial(PosteriorSampling(), tasks, torch.Generator().manual_seed(0))
    >>> trial.returns.mean().item() > 110  # random actions earn 100
    True
    """

    def start(self, tasks: TaskSet, generator: torch.Generator) -> _PSRLMemory:
        _check_family(self, tasks, TabularMDPTasks)
        family = tasks.family
        visits = torch.zeros(tasks.n_tasks, family.n_states, family.n_actions, device=tasks.device)
        counts = torch.zeros(*visits.shape, family.n_states, device=tasks.device)
        posterior = _Posterior(counts, visits, visits)
        return _PSRLMemory(
            posterior,
            _sampled_plan(posterior, family.horizon, generator),
            # every episode of the family starts in state 0
            state=torch.zeros(tasks.n_tasks, dtype=torch.long, device=tasks.device),
            horizon=family.horizon,
            generator=generator,
        )

    def act(self, memory: _PSRLMemory, observation: Tensor, generator: torch.Generator) -> Tensor:
        return memory.plan.action(observation)

    def observe(
        self, memory: _PSRLMemory, action: Tensor, reward: Tensor, observation: Tensor, done: bool
    ) -> _PSRLMemory:
        next_state = observation.argmax(1)
        posterior = memory.posterior.update(memory.state, action, reward, next_state)
        if done:  # the next episode starts in state 0 with a fresh draw of the MDP
            plan = _sampled_plan(posterior, memory.horizon, memory.generator)
            next_state = torch.zeros_like(next_state)
        else:
            plan = memory.plan.advance(done)
        return replace(memory, posterior=posterior, plan=plan, state=next_state)


def baseline_agents(family: TaskFamily) -> dict[str, Agent]:
    """The baselines that apply to ``family``, by name.

    Examples
    --------
    >>> from sklearn_meta.rl import BanditTasks, TabularMDPTasks
    >>> from sklearn_meta.rl import baseline_agents
    >>> list(baseline_agents(BanditTasks()))
    ['random', 'UCB1', 'Thompson', 'Gittins']
    >>> list(baseline_agents(TabularMDPTasks()))
    ['random', 'PSRL', 'value iteration (true MDP)']
    """
    agents: dict[str, Agent] = {"random": RandomAgent()}
    if isinstance(family, BanditTasks):
        agents.update(UCB1=UCB1(), Thompson=ThompsonSampling(), Gittins=GittinsIndex())
    elif isinstance(family, TabularMDPTasks):
        agents.update({"PSRL": PosteriorSampling(), "value iteration (true MDP)": ValueIteration()})
    return agents
