"""Classical agents for tabular MDPs: posterior sampling (PSRL) and, as an
oracle that knows the task, value iteration on the true MDP."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ._draws import sample_gamma
from ._rollout import check_family
from ._tasks import TabularMDPTasks, TaskSet


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
        check_family(self, tasks, TabularMDPTasks)
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
        check_family(self, tasks, TabularMDPTasks)
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
