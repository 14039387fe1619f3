"""Meta-RL on the published protocols, beside the classical baselines of the same run.

* Bernoulli bandits (Duan et al. 2016, RL² table 1): RL² against random,
  UCB1, Thompson sampling and the Gittins index, total reward per trial.
* Tabular MDPs (RL² table 2): RL² against random, PSRL and value iteration
  on the true MDP (an upper bound no learner can pass).
* 2-D navigation (Finn et al. 2017, section 5.3): MAML for policies after
  0, 1 and 3 policy-gradient steps against a policy pretrained on all tasks
  and a random initialization adapted the same way, and an oracle that sees
  the goal; mean return of an episode.
* Environment steps per second, all tasks stepped at once against one
  gymnasium environment per task in a Python loop.

Every learner and baseline is scored on the same held-out tasks, with 95%
confidence intervals over tasks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..rl import (
    BanditTasks,
    MAMLPolicy,
    Navigation2DTasks,
    RL2Policy,
    TabularMDPTasks,
    baseline_agents,
    run_trial,
)
from ._report import Progress, markdown_table, mean_ci, seconds_text
from ._rl_envs import env_steps_per_second

#: (episodes per trial, arms) of the bandit rows.
BANDITS = ((10, 5), (100, 5))
#: Published totals per trial (Duan et al. 2016, tables 1 and 2).
PAPER_BANDITS = {
    (10, 5): {"random": 5.0, "Gittins": 6.6, "Thompson": 5.7, "UCB1": 6.7, "RL²": 6.7},
    (100, 5): {"random": 49.9, "Gittins": 78.3, "Thompson": 74.7, "UCB1": 78.0, "RL²": 78.7},
}
PAPER_MDP = {"random": 100.1, "PSRL": 138.1, "RL²": 156.2}
#: RL²'s settings besides its defaults: on bandits of 100 pulls (300 steps)
#: these reached 73.6 against 70.4 for the defaults' entropy bonus of 0.01
#: at a constant step size (benchmarks/RESULTS.md, "Meta-RL").
RL2_SETTINGS = {"entropy_coef": 0.001, "learning_rate": "linear"}
#: The step size of RL² on bandits of 100 pulls, continued (``warm_start``)
#: from the policy of the 10-pull row: a curriculum over trial length.
CURRICULUM_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class RLSettings:
    """Outer steps of each learner and the held-out tasks."""

    rl2_steps: dict  # episodes per trial -> outer steps of RL² on bandits
    mdp_steps: int
    maml_steps: int
    n_eval_tasks: int
    n_navigation_tasks: int
    env_tasks: int
    env_steps: int | None = None  # None: as many as last about a second


DEFAULT = RLSettings(
    rl2_steps={10: 300, 100: 200},
    mdp_steps=400,
    maml_steps=300,
    n_eval_tasks=1000,
    n_navigation_tasks=100,
    env_tasks=1000,
)
QUICK = RLSettings(
    rl2_steps={10: 20, 100: 5},
    mdp_steps=5,
    maml_steps=5,
    n_eval_tasks=100,
    n_navigation_tasks=10,
    env_tasks=100,
)


def run_rl(
    *,
    settings: RLSettings = DEFAULT,
    max_iter: int | None = None,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Train and evaluate every row; return the markdown section.

    ``max_iter`` replaces every learner's outer steps when given.
    """

    def steps(default: int) -> int:
        return default if max_iter is None else max_iter

    common = dict(device=device, random_state=random_state)
    parts = ["## Meta-RL", ""]
    learner = None
    for n_episodes, n_arms in BANDITS:
        family = BanditTasks(n_arms=n_arms, n_episodes=n_episodes)
        progress(f"bandits n={n_episodes}, k={n_arms}")
        if learner is None:
            learner = RL2Policy(
                max_iter=steps(settings.rl2_steps[n_episodes]), **RL2_SETTINGS, **common
            )
        else:  # a curriculum: long trials continue from the policy of short ones
            learner.set_params(
                warm_start=True,
                max_iter=steps(settings.rl2_steps[n_episodes]),
                learning_rate_init=CURRICULUM_LEARNING_RATE,
            )
        rows = _trial_rows(family, learner, settings, random_state, progress)
        paper = PAPER_BANDITS[(n_episodes, n_arms)]
        parts += _trial_table(f"Bandits, n = {n_episodes}, k = {n_arms}", rows, paper, learner)
    progress("tabular MDPs n=10")
    family = TabularMDPTasks(n_episodes=10)
    learner = RL2Policy(max_iter=steps(settings.mdp_steps), **RL2_SETTINGS, **common)
    rows = _trial_rows(family, learner, settings, random_state, progress)
    title = "Tabular MDPs (10 states, 5 actions, horizon 10), n = 10"
    parts += _trial_table(title, rows, PAPER_MDP, learner)
    parts += _navigation(steps(settings.maml_steps), settings, common, progress)
    parts += _env_speed(settings.env_tasks, settings.env_steps, random_state, progress)
    return "\n".join(parts)


def _ci(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), 1.96 * float(values.std(ddof=1)) / np.sqrt(len(values))


def _trial_rows(family, learner, settings, random_state, progress) -> list[tuple]:
    """(name, mean, ci, seconds) of RL² and each baseline on the same held-out tasks."""
    tasks = family.sample(settings.n_eval_tasks, random_state=random_state + 1000)
    start = time.perf_counter()
    learner.fit(family)
    seconds = time.perf_counter() - start
    rows = [("RL²", *_ci(learner.episode_returns(tasks).sum(1)), seconds)]
    progress(f"  RL² {rows[0][1]:.2f} after {seconds:.0f} s")
    for name, agent in baseline_agents(family).items():
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(random_state)
        returns = run_trial(agent, tasks, generator).returns.numpy()
        rows.append((name, *_ci(returns), time.perf_counter() - start))
    return rows


def _trial_table(title: str, rows, paper: dict, learner) -> list[str]:
    body = [
        [name, mean_ci(mean, ci, digits=2), _paper(paper.get(name)), seconds_text(seconds)]
        for name, mean, ci, seconds in rows
    ]
    header = ["agent", "total reward per trial", "published", "time"]
    settings = ", ".join(f"{k}={v!r}" for k, v in learner.get_params().items() if k in _SHOWN)
    note = (
        f"RL²: `RL2Policy({settings})`, the other parameters at their defaults"
        + (", continued from the policy of the table above" if learner.warm_start else "")
        + ". Time: RL²'s meta-training (of this row); each baseline's trials on the "
        "held-out tasks."
    )
    return [f"### {title}", "", markdown_table(header, body), "", note, ""]


_SHOWN = (
    "max_iter",
    "entropy_coef",
    "learning_rate",
    "learning_rate_init",
    "warm_start",
    "random_state",
)


def _paper(value) -> str:
    return "–" if value is None else f"{value:g}"


def _navigation(max_iter: int, settings, common: dict, progress) -> list[str]:
    """MAML, the pretrained policy, a random initialization and the oracle on the
    same held-out goals, after 0, 1 and 3 adaptation steps."""
    family = Navigation2DTasks()
    oracle_family = Navigation2DTasks(goal_in_observation=True)
    seed = common["random_state"] + 1000
    tasks = family.sample(settings.n_navigation_tasks, random_state=seed)
    oracle_tasks = oracle_family.sample(settings.n_navigation_tasks, random_state=seed)
    contestants = {
        "MAML": (MAMLPolicy(max_iter=max_iter, **common), family, tasks),
        "pretrained (one policy on all tasks)": (
            MAMLPolicy(inner_steps=0, max_iter=max_iter, **common),
            family,
            tasks,
        ),
        # One step at a negligible step size: the initialization, as fitted estimators go.
        "random initialization": (
            MAMLPolicy(max_iter=1, learning_rate_init=1e-12, **common),
            family,
            tasks,
        ),
        "oracle (sees the goal)": (
            MAMLPolicy(inner_steps=0, max_iter=max_iter, **common),
            oracle_family,
            oracle_tasks,
        ),
    }
    rows = []
    for name, (learner, training, held_out) in contestants.items():
        progress(f"navigation: {name}")
        start = time.perf_counter()
        learner.fit(training)
        seconds = time.perf_counter() - start
        cells = []
        for adapt_steps in (0, 1, 3):
            returns = learner.set_params(adapt_steps=adapt_steps).episode_returns(held_out)
            cells.append(mean_ci(*_ci(returns.mean(1)), digits=1))
        rows.append([name, *cells, seconds_text(seconds)])
    header = ["policy", "0 steps", "1 step", "3 steps", "training time"]
    title = "2-D navigation: mean return of an episode after adaptation steps (20 episodes each)"
    return [f"### {title}", "", markdown_table(header, rows), ""]


def _env_speed(n_tasks: int, n_steps: int | None, random_state: int, progress) -> list[str]:
    rows = []
    for family in (BanditTasks(), TabularMDPTasks(), Navigation2DTasks()):
        progress(f"environment steps: {type(family).__name__}")
        speed = env_steps_per_second(family, n_tasks, n_steps, random_state)
        rows.append(
            [
                type(family).__name__,
                f"{speed['vectorized_steps_per_second']:,.0f}",
                f"{speed['loop_steps_per_second']:,.0f}",
                f"{speed['ratio']:.0f}×",
            ]
        )
    header = ["tasks", "vectorized (steps/s)", "gymnasium, one by one (steps/s)", "ratio"]
    title = f"Environment steps per second, {n_tasks} tasks"
    return [f"### {title}", "", markdown_table(header, rows), ""]
