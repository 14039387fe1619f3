"""Meta-reinforcement learning: policies that learn a new task from a few episodes.

Task families (bandits, tabular MDPs, 2-D navigation, or gymnasium
environments that can be set to a task) step all their tasks at once as
tensors; the learners (RL², MAML for policies) are scikit-learn estimators
whose ``adapt`` returns a policy with stable-baselines3's ``predict``; the
classical baselines run through the same :func:`run_trial`.
"""

from ._bandit_agents import UCB1, GittinsIndex, ThompsonSampling
from ._baselines import RandomAgent, baseline_agents
from ._envs import BanditEnv, Navigation2DEnv, TabularMDPEnv
from ._gym import GymnasiumTasks
from ._maml_policy import MAMLPolicy
from ._mdp_agents import PosteriorSampling, ValueIteration
from ._rl2 import RL2Policy
from ._rollout import Agent, Trial, run_trial
from ._tasks import (
    BanditTasks,
    Navigation2DTasks,
    TabularMDPTasks,
    TaskFamily,
    TaskSet,
)

__all__ = [
    "UCB1",
    "Agent",
    "BanditEnv",
    "BanditTasks",
    "GittinsIndex",
    "GymnasiumTasks",
    "MAMLPolicy",
    "Navigation2DEnv",
    "Navigation2DTasks",
    "PosteriorSampling",
    "RL2Policy",
    "RandomAgent",
    "TabularMDPEnv",
    "TabularMDPTasks",
    "TaskFamily",
    "TaskSet",
    "ThompsonSampling",
    "Trial",
    "ValueIteration",
    "baseline_agents",
    "run_trial",
]
