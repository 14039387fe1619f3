"""Classical baselines of meta-RL: agents designed by hand, not meta-learned.

They bracket what a meta-learned agent should reach on a task family: a
random policy from below; on Bernoulli bandits, UCB1, Thompson sampling and
the Gittins index; on tabular MDPs, posterior sampling (PSRL) and, as an
oracle that knows the task, value iteration on the true MDP (the baselines
of RL², Duan et al. 2016). Each follows the :class:`~._rollout.Agent`
protocol and acts on every task of a set with one tensor operation, so
:func:`~._rollout.run_trial` measures them as it measures learned agents.
All randomness comes from the generator handed to them. This module holds
the random agent and :func:`baseline_agents`; the bandit agents are in
``_bandit_agents.py``, the MDP agents in ``_mdp_agents.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._bandit_agents import UCB1, GittinsIndex, ThompsonSampling
from ._mdp_agents import PosteriorSampling, ValueIteration
from ._rollout import Agent
from ._tasks import BanditTasks, TabularMDPTasks, TaskFamily, TaskSet


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
