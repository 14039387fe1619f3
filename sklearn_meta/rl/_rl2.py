"""RL² (Duan et al. 2016; Wang et al. 2016): a recurrent policy whose hidden
state carries over the episodes of a trial, so that learning a task is what
its recurrence does. Trained across tasks with PPO's clipped surrogate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from .._params import Param, at_least, document_parameters
from .._validation import check_float
from ._base import RL_PARAMETERS, BaseMetaPolicy
from ._policy_gradient import (
    ActionHead,
    clipped_surrogate,
    generalized_advantages,
    head_entropy,
    head_log_prob,
    head_sample,
    normalized,
    observation_rows,
)
from ._rollout import run_trial
from ._tasks import TaskSet


class RecurrentPolicy(nn.Module):
    """A GRU over (observation, previous action, reward, done) with a policy
    head and a value head."""

    def __init__(self, observation_size: int, n_actions, action_size, hidden_size: int):
        super().__init__()
        self.observation_size = observation_size
        self.n_actions, self.action_size = n_actions, action_size
        self.action_width = n_actions if n_actions is not None else action_size
        self.gru = nn.GRU(observation_size + self.action_width + 2, hidden_size)
        self.head = ActionHead(hidden_size, n_actions, action_size)
        self.value = nn.Linear(hidden_size, 1)
        # The value head predicts returns in units of this running scale, so
        # that its loss weighs the same against the policy's on short trials
        # (returns near 1) as on long ones (returns in the hundreds).
        self.register_buffer("value_scale", torch.ones(()))

    @property
    def discrete(self) -> bool:
        return self.n_actions is not None

    @property
    def log_std(self) -> Tensor | None:
        return None if self.discrete else self.head.log_std

    def inputs(self, observation: Tensor, action: Tensor, reward: Tensor, done: Tensor) -> Tensor:
        """One step's input; ``action``, ``reward``, ``done`` are the previous step's."""
        if self.discrete:
            action = nn.functional.one_hot(action, self.n_actions).float()
        return torch.cat([observation, action, reward[..., None], done[..., None]], -1)

    def forward(self, inputs: Tensor, hidden: Tensor | None = None):
        """Head outputs, values and the last hidden state over a (time, tasks) sequence."""
        features, hidden = self.gru(inputs, hidden)
        return self.head(features), self.value(features)[..., 0] * self.value_scale, hidden


@dataclass
class TrialMemory:
    """What RL² carries through a trial (and, when recording, what it saw)."""

    hidden: Tensor | None
    inputs: Tensor  # the next step's input, without its observation
    record: bool
    seen: list = field(default_factory=list)
    log_probs: list = field(default_factory=list)
    values: list = field(default_factory=list)


@dataclass
class RecurrentAgent:
    """RL²'s policy as an agent of :func:`~sklearn_meta.rl._rollout.run_trial`."""

    policy: RecurrentPolicy
    record: bool = False
    deterministic: bool = False
    last_memory: TrialMemory | None = field(default=None, init=False)

    def start(self, tasks: TaskSet, generator) -> TrialMemory:
        n, device = tasks.n_tasks, tasks.device
        previous = torch.zeros(n, self.policy.action_width + 2, device=device)
        self.last_memory = TrialMemory(None, previous, self.record)
        return self.last_memory

    def act(self, memory: TrialMemory, observation: Tensor, generator) -> Tensor:
        step_input = torch.cat([observation, memory.inputs], -1)[None]
        output, value, memory.hidden = self.policy(step_input, memory.hidden)
        action = head_sample(
            output[0], self.policy.log_std, self.policy.discrete, generator, self.deterministic
        )
        if memory.record:
            memory.seen.append(step_input[0])
            memory.log_probs.append(
                head_log_prob(output[0], self.policy.log_std, action, self.policy.discrete)
            )
            memory.values.append(value[0])
        return action

    def observe(self, memory, action, reward, observation, done) -> TrialMemory:
        done_flag = torch.full_like(reward, float(done))
        step = self.policy.inputs(observation, action, reward, done_flag)
        memory.inputs = step[:, observation.shape[-1] :]
        return memory


_RL2_PARAMETERS = {
    **RL_PARAMETERS,
    "hidden_size": Param("int", "Units of the GRU.", at_least(1)),
    "gae_lambda": Param(
        "float",
        "λ of the generalized advantage estimates over a trial (Schulman et al. 2016).",
        lambda name, value: check_float(name, value, upper=1.0 + 1e-12),
    ),
    "clip": Param("float", "Clip range of PPO's surrogate ratio.", check_float),
    "n_epochs": Param("int", "Passes of PPO over each outer step's trials.", at_least(1)),
    "batch_size": Param(
        "int", "Trials per gradient step of a pass (at most ``meta_batch_size``).", at_least(1)
    ),
    "entropy_coef": Param(
        "float",
        "Weight of the policy's entropy bonus, against early collapse to one action.",
        lambda name, value: check_float(name, value, positive=False),
    ),
}


@document_parameters
class RL2Policy(BaseMetaPolicy):
    """RL²: a recurrent policy that learns a task within its hidden state.

    The policy is a GRU fed the observation, the previous action, reward and
    episode end; its hidden state carries over the episodes of a trial, so
    a trained network explores a new task and exploits what it found
    (Duan et al. 2016, "RL²: Fast reinforcement learning via slow
    reinforcement learning"; Wang et al. 2016). Meta-training maximizes
    the total reward of whole trials with PPO's clipped surrogate and GAE
    advantages; ``adapt`` runs the trial's episodes on the new task.

    {parameters}

    Attributes
    ----------
    policy_ : torch.nn.Module
        The recurrent policy.
    n_iter_ : int
        Outer steps run.
    train_returns_ : list of float
        Mean total reward per trial of each outer step's tasks.
    family_ : TaskFamily or None
        The family meta-trained on (None after ``load`` for a
        ``GymnasiumTasks`` family, whose environment is not saved).
    trial_protocol_ : dict
        Its ``n_episodes`` and ``horizon``, with which ``adapt`` runs a
        gymnasium environment.
    device_ : torch.device
        Where the policy is.

    Examples
    --------
    >>> from sklearn_meta.rl import BanditTasks, RL2Policy
    >>> tasks = BanditTasks(n_arms=2, n_episodes=5)
    >>> rl2 = RL2Policy(hidden_size=16, max_iter=3, meta_batch_size=8, random_state=0)
    >>> rl2 = rl2.fit(tasks)
    >>> policy = rl2.adapt(tasks.sample(1, random_state=1))
    >>> action, state = policy.predict([0.0], deterministic=True)
    >>> int(action) in (0, 1)
    True
    """

    _parameter_docs = _RL2_PARAMETERS

    def __init__(
        self,
        *,
        hidden_size=128,
        max_iter=500,
        meta_batch_size=256,
        learning_rate="constant",
        learning_rate_init=3e-3,
        gamma=0.99,
        gae_lambda=0.3,
        clip=0.2,
        n_epochs=4,
        batch_size=64,
        entropy_coef=0.01,
        n_eval_tasks=500,
        device="auto",
        n_threads=1,
        random_state=None,
        verbose=False,
        warm_start=False,
    ):
        self.hidden_size = hidden_size
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.clip = clip
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.entropy_coef = entropy_coef
        self.n_eval_tasks = n_eval_tasks
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _build_from_spaces(self, spaces: dict) -> RecurrentPolicy:
        return RecurrentPolicy(
            spaces["observation_size"], spaces["n_actions"], spaces["action_size"], self.hidden_size
        )

    def _meta_step(self, tasks: TaskSet) -> float:
        agent = RecurrentAgent(self.policy_, record=True)
        with torch.no_grad():
            trial = run_trial(agent, tasks, self._generator)
        memory = agent.last_memory
        inputs = torch.stack(memory.seen)
        old_log_probs = torch.stack(memory.log_probs)
        values = torch.stack(memory.values)
        advantages, targets = generalized_advantages(
            trial.rewards, values, self.gamma, self.gae_lambda
        )
        advantages = normalized(advantages)
        policy = self.policy_
        policy.value_scale.lerp_(targets.std() + 1e-3, 0.1)
        batch = (inputs, trial.actions, old_log_probs, advantages, targets)
        for _ in range(self.n_epochs):
            order = torch.randperm(tasks.n_tasks, generator=self._task_generator)
            for rows in order.split(self.batch_size):
                self._ppo_step(*(tensor[:, rows.to(tensor.device)] for tensor in batch))
        return float(trial.returns.mean())

    def _ppo_step(self, inputs, actions, old_log_probs, advantages, targets) -> None:
        policy = self.policy_
        output, values, _ = policy(inputs)
        log_probs = head_log_prob(output, policy.log_std, actions, policy.discrete)
        entropy = head_entropy(output, policy.log_std, policy.discrete).mean()
        value_error = (values - targets) / policy.value_scale
        loss = (
            clipped_surrogate(log_probs, old_log_probs, advantages, self.clip)
            + 0.5 * value_error.pow(2).mean()
            - self.entropy_coef * entropy
        )
        self._optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        self._optimizer.step()

    def _episode_returns(self, tasks: TaskSet, generator) -> Tensor:
        return run_trial(RecurrentAgent(self.policy_), tasks, generator).episode_returns

    def _task_scores(self, episode_returns: np.ndarray) -> np.ndarray:
        return episode_returns.sum(1)  # the total reward of a trial (RL²'s measure)

    def _adapt(self, task: TaskSet, n_episodes: int, generator) -> AdaptedRecurrentPolicy:
        agent = RecurrentAgent(self.policy_)
        with torch.no_grad():
            run_trial(agent, task, generator, n_episodes)
        return AdaptedRecurrentPolicy(self.policy_, agent.last_memory, generator)


class AdaptedRecurrentPolicy:
    """RL²'s policy after a trial's episodes on one task.

    ``predict`` follows stable-baselines3's recurrent policies: ``state`` is
    what the previous call returned (None: the end of the adaptation), and
    ``episode_start`` marks the first step of an episode. The state holds
    the GRU's hidden state and the last action taken.

    Without ``reward``, the policy acts on what the adaptation learned: it
    starts from where the adaptation left it, whatever the state passed, so
    stable-baselines3's ``evaluate_policy`` works unchanged. With ``reward``
    (what the previous call's action earned), it goes on from the state
    passed, as in RL²'s trials, and keeps learning: call it first without
    ``reward``, then with the reward of each action.
    """

    def __init__(self, policy: RecurrentPolicy, memory: TrialMemory, generator):
        self.policy = policy
        self._hidden = memory.hidden[0].clone()  # (1, hidden_size)
        self._inputs = memory.inputs.clone()  # the adaptation's last action, reward, done
        self._generator = generator

    def predict(
        self, observation, state=None, episode_start=None, deterministic=False, reward=None
    ):
        """The action for ``observation`` and the next recurrent state.

        Parameters
        ----------
        observation : array-like of shape (observation_size,) or (n_envs, observation_size)
        state : ndarray, default=None
            What the previous call returned; None starts from the end of
            the adaptation.
        episode_start : bool or array-like of bool, default=None
            Whether this is the first step of an episode.
        deterministic : bool, default=False
            Take the most likely action instead of drawing one.
        reward : float or array-like, default=None
            The reward the previous call's action earned: the policy learns
            from it as RL² does within a trial. None acts from the end of the
            adaptation, whatever ``state`` is.

        Returns
        -------
        action : ndarray
        state : ndarray of shape (n_envs, hidden_size + action width)
        """
        observation, single = observation_rows(
            observation, self.policy.observation_size, self._hidden.device
        )
        n = len(observation)
        hidden, last_action = self._unpack(state, n)
        if reward is None:
            hidden = self._hidden.expand(n, -1)
            previous = self._inputs.expand(n, -1).clone()
        else:
            previous = torch.cat([last_action, torch.zeros(n, 2, device=hidden.device)], -1)
            previous[:, -2] = self._column(reward, n)
        if episode_start is not None:
            previous[:, -1] = self._column(episode_start, n)
        with torch.no_grad():
            output, _, next_hidden = self.policy(
                torch.cat([observation, previous], -1)[None], hidden[None].contiguous()
            )
            action = head_sample(
                output[0], self.policy.log_std, self.policy.discrete, self._generator,
                deterministic,
            )
            zeros = torch.zeros(n, device=hidden.device)
            taken = self.policy.inputs(observation, action, zeros, zeros)
        taken = taken[:, observation.shape[-1] : -2]
        state = torch.cat([next_hidden[0], taken], -1).cpu().numpy()
        action = action.cpu().numpy()
        return (action[0], state) if single else (action, state)

    def _column(self, values, n: int) -> Tensor:
        values = np.broadcast_to(np.asarray(values, dtype=np.float32), (n,)).copy()
        return torch.as_tensor(values, device=self._hidden.device)

    def _unpack(self, state, n: int) -> tuple[Tensor, Tensor]:
        width = self._hidden.shape[-1]
        action_width = self.policy.action_width
        if state is None:
            return self._hidden.expand(n, -1), self._inputs[:, :action_width].expand(n, -1)
        state = torch.as_tensor(np.asarray(state, dtype=np.float32), device=self._hidden.device)
        if state.ndim != 2 or state.shape[1] != width + action_width:
            raise ValueError(
                "state must be the state a previous predict returned, of shape "
                f"(n_envs, {width + action_width}); got {tuple(state.shape)}."
            )
        return state[:, :width], state[:, width:]
