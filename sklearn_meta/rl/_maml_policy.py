"""MAML for policies (Finn et al. 2017, section 5.3): a meta-learned policy
initialization that a few policy-gradient steps adapt to a new task.

Inner loop: REINFORCE with a per-task linear feature baseline, on
``n_episodes`` episodes of each task run side by side, by the core's
functional gradient steps (first- or second-order) mapped over the tasks
with ``torch.func.vmap``. Outer loop: PPO's clipped surrogate on fresh
episodes of the adapted policies, instead of the paper's TRPO: a clipped
ratio keeps each outer step near the policy that collected the episodes, as
the trust region does, with Adam and no conjugate gradients or line search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .._core._inner import InnerLoop, gradient_steps
from .._params import Param, at_least, document_parameters
from .._validation import check_bool, check_float, check_hidden_layer_sizes
from ._base import RL_PARAMETERS, BaseMetaPolicy
from ._policy_gradient import (
    ActionHead,
    clipped_surrogate,
    discounted_returns,
    head_log_prob,
    head_sample,
    linear_feature_baseline,
    normalized,
    observation_rows,
)
from ._rollout import Trial, run_trial
from ._tasks import TaskSet

Params = dict[str, Tensor]


class PolicyNetwork(nn.Module):
    """An MLP from observations to an action distribution's parameters."""

    def __init__(self, observation_size: int, n_actions, action_size, hidden_layer_sizes):
        super().__init__()
        self.observation_size = observation_size
        layers, width = [], observation_size
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = ActionHead(width, n_actions, action_size)
        self.discrete = n_actions is not None

    def forward(self, observation: Tensor) -> Tensor:
        return self.head(self.body(observation))


def _log_std(params: Params) -> Tensor | None:
    return params.get("head.log_std")


@dataclass
class FeedForwardAgent:
    """A policy with one set of parameters, or one per task (``per_task``),
    for episodes run side by side: ``episodes_per_task`` rows per task."""

    network: PolicyNetwork
    params: Params
    episodes_per_task: int
    per_task: bool = False
    deterministic: bool = False

    def start(self, tasks, generator):
        return None

    def act(self, memory, observation: Tensor, generator) -> Tensor:
        if self.per_task:
            grouped = observation.reshape(-1, self.episodes_per_task, observation.shape[-1])
            output = vmap(self._output)(self.params, grouped).flatten(0, 1)
            log_std = _log_std(self.params)
            if log_std is not None:
                log_std = log_std.repeat_interleave(self.episodes_per_task, 0)
        else:
            output, log_std = self._output(self.params, observation), _log_std(self.params)
        return head_sample(output, log_std, self.network.discrete, generator, self.deterministic)

    def _output(self, params: Params, observation: Tensor) -> Tensor:
        return functional_call(self.network, params, (observation,))

    def observe(self, memory, action, reward, observation, done):
        return None


_MAML_PARAMETERS = {
    **RL_PARAMETERS,
    "hidden_layer_sizes": Param(
        "array-like of shape (n_layers,)",
        "Widths of the policy's hidden ReLU layers.",
        lambda name, value: check_hidden_layer_sizes(value),
    ),
    "inner_lr": Param("float", "Step size of the inner policy-gradient steps.", check_float),
    "inner_steps": Param(
        "int",
        "Policy-gradient steps of the inner loop in meta-training (0 trains one "
        "policy on all tasks: the pretrained baseline).",
        at_least(0),
    ),
    "adapt_steps": Param(
        "int",
        "Policy-gradient steps of ``adapt`` and ``score``, each on ``n_episodes`` "
        "fresh episodes of the task.",
        at_least(0),
    ),
    "first_order": Param(
        "bool", "Drop the second-order terms of the meta-gradient (FOMAML).", check_bool
    ),
    "clip": Param("float", "Clip range of the outer surrogate's ratio.", check_float),
    "n_epochs": Param("int", "Outer gradient steps on each batch of episodes.", at_least(1)),
}


@document_parameters
class MAMLPolicy(BaseMetaPolicy):
    """MAML for policies: an initialization that policy gradients adapt fast.

    A feedforward policy is meta-trained so that ``inner_steps`` REINFORCE
    steps (with a linear feature baseline) on a few episodes of a new task
    give a good policy for it (Finn et al. 2017, section 5.3). The outer step
    maximizes PPO's clipped surrogate on fresh episodes of the adapted
    policies, differentiated through the inner step.

    {parameters}

    Attributes
    ----------
    policy_ : torch.nn.Module
        The meta-learned initialization.
    n_iter_ : int
        Outer steps run.
    train_returns_ : list of float
        Mean episode return of the adapted policies at each outer step.
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
    >>> from sklearn_meta.rl import MAMLPolicy, Navigation2DTasks
    >>> tasks = Navigation2DTasks(horizon=10, n_episodes=4)
    >>> maml = MAMLPolicy(hidden_layer_sizes=(16,), max_iter=2, meta_batch_size=4,
    ...                   random_state=0).fit(tasks)
    >>> policy = maml.adapt(tasks.sample(1, random_state=1))
    >>> action, _ = policy.predict([0.0, 0.0], deterministic=True)
    >>> action.shape
    (2,)
    """

    _parameter_docs = _MAML_PARAMETERS

    def __init__(
        self,
        *,
        hidden_layer_sizes=(100, 100),
        inner_lr=0.1,
        inner_steps=1,
        adapt_steps=1,
        first_order=False,
        max_iter=300,
        meta_batch_size=20,
        learning_rate="constant",
        learning_rate_init=3e-3,
        gamma=0.99,
        clip=0.2,
        n_epochs=3,
        n_eval_tasks=100,
        device="auto",
        n_threads=1,
        random_state=None,
        verbose=False,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.adapt_steps = adapt_steps
        self.first_order = first_order
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.gamma = gamma
        self.clip = clip
        self.n_epochs = n_epochs
        self.n_eval_tasks = n_eval_tasks
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _build_from_spaces(self, spaces: dict) -> PolicyNetwork:
        return PolicyNetwork(
            spaces["observation_size"],
            spaces["n_actions"],
            spaces["action_size"],
            check_hidden_layer_sizes(self.hidden_layer_sizes),
        )

    # ---------------------------------------------------------- episodes
    def _episodes(self, tasks: TaskSet, params: Params, per_task: bool, n_episodes: int, generator):
        """``n_episodes`` episodes of each task side by side; tensors (T, tasks, episodes, ...)."""
        agent = FeedForwardAgent(self.policy_, params, n_episodes, per_task)
        with torch.no_grad():
            trial = run_trial(agent, tasks.repeat_interleave(n_episodes), generator, 1)
        return _grouped(trial, tasks.n_tasks)

    def _advantages(self, trial: Trial) -> Tensor:
        returns = discounted_returns(trial.rewards, self.gamma)
        baseline = linear_feature_baseline(trial.observations, returns, trial.horizon)
        return normalized(returns - baseline, dim=(0, 2))

    def _task_loss(self, params: Params, observations, actions, advantages) -> Tensor:
        """REINFORCE's surrogate on one task's episodes."""
        output = functional_call(self.policy_, params, (observations,))
        log_probs = head_log_prob(output, _log_std(params), actions, self.policy_.discrete)
        return -(log_probs * advantages).mean()

    def _adapted(
        self,
        params: Params,
        trial: Trial,
        advantages: Tensor,
        steps: int,
        first_order: bool,
        per_task: bool = False,
    ) -> Params:
        """Parameters per task after ``steps`` inner steps on ``trial``'s episodes
        (with their ``advantages``), from ``params`` shared by the tasks or, with
        ``per_task``, one set each."""
        # The loss is REINFORCE's, not a supervised task kind's: gradient_steps reads no kind.
        loop = InnerLoop(kind=None, steps=steps, lr=self.inner_lr, first_order=first_order)
        rates = dict.fromkeys(params, self.inner_lr)

        def adapt_one(task_params, observations, actions, task_advantages):
            def loss_of(p):
                return self._task_loss(p, observations, actions, task_advantages)

            return gradient_steps(loss_of, task_params, rates, loop)

        in_dims = (0 if per_task else None, 1, 1, 1)
        return vmap(adapt_one, in_dims=in_dims)(
            params, trial.observations, trial.actions, advantages
        )

    # ------------------------------------------------------ meta-training
    def _meta_step(self, tasks: TaskSet) -> float:
        n_episodes = tasks.family.n_episodes
        params = dict(self.policy_.named_parameters())
        frozen = {name: p.detach() for name, p in params.items()}
        inner = self._episodes(tasks, frozen, False, n_episodes, self._generator)
        inner_advantages = self._advantages(inner)  # the same at every epoch
        adapted = self._adapted(frozen, inner, inner_advantages, self.inner_steps, True)
        outer = self._episodes(tasks, adapted, True, n_episodes, self._generator)
        outer_advantages = self._advantages(outer)
        old_log_probs = self._log_probs(adapted, outer).detach()
        for _ in range(self.n_epochs):
            params = dict(self.policy_.named_parameters())
            adapted = self._adapted(
                params, inner, inner_advantages, self.inner_steps, self.first_order
            )
            loss = clipped_surrogate(
                self._log_probs(adapted, outer), old_log_probs, outer_advantages, self.clip
            )
            self._optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.policy_.parameters(), 1.0)
            self._optimizer.step()
        return float(outer.rewards.sum(0).mean())

    def _log_probs(self, params: Params, trial: Trial) -> Tensor:
        def one_task(p, observations, actions):
            output = functional_call(self.policy_, p, (observations,))
            return head_log_prob(output, _log_std(p), actions, self.policy_.discrete)

        return vmap(one_task, in_dims=(0, 1, 1), out_dims=1)(
            params, trial.observations, trial.actions
        )

    # --------------------------------------------------------- adaptation
    def _adapt_params(self, tasks: TaskSet, n_episodes: int, generator) -> Params:
        """Per-task parameters after ``adapt_steps`` steps, each on fresh episodes."""
        params = {
            name: p.detach().expand(tasks.n_tasks, *p.shape)
            for name, p in self.policy_.named_parameters()
        }
        for _ in range(self.adapt_steps):
            trial = self._episodes(tasks, params, True, n_episodes, generator)
            advantages = self._advantages(trial)
            adapted = self._adapted(params, trial, advantages, 1, True, per_task=True)
            params = {name: value.detach() for name, value in adapted.items()}
        return params

    def _episode_returns(self, tasks: TaskSet, generator) -> Tensor:
        n_episodes = tasks.family.n_episodes
        params = self._adapt_params(tasks, n_episodes, generator)
        return self._episodes(tasks, params, True, n_episodes, generator).rewards.sum(0)

    def _task_scores(self, episode_returns: np.ndarray) -> np.ndarray:
        return episode_returns.mean(1)

    def _adapt(self, task: TaskSet, n_episodes: int, generator) -> AdaptedPolicy:
        params = self._adapt_params(task, n_episodes, generator)
        return AdaptedPolicy(self.policy_, {k: v[0].detach() for k, v in params.items()}, generator)


def _grouped(trial: Trial, n_tasks: int) -> Trial:
    """A trial of tasks × episodes side by side, with tasks and episodes as two axes."""

    def split(tensor: Tensor) -> Tensor:
        return tensor.reshape(tensor.shape[0], n_tasks, -1, *tensor.shape[2:])

    observations, actions = split(trial.observations), split(trial.actions)
    return Trial(observations, actions, split(trial.rewards), trial.horizon)


class AdaptedPolicy:
    """A policy adapted to one task, with stable-baselines3's ``predict``."""

    def __init__(self, network: PolicyNetwork, params: Params, generator):
        self.network = network
        self.params = params
        self._generator = generator

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        """The action for ``observation`` (one, or a batch of rows).

        Returns ``(action, state)``; this policy has no recurrent state, so
        ``state`` is returned as given and ``episode_start`` is not used.
        """
        device = next(iter(self.params.values())).device
        batch, single = observation_rows(observation, self.network.observation_size, device)
        with torch.no_grad():
            output = functional_call(self.network, self.params, (batch,))
            action = head_sample(
                output, _log_std(self.params), self.network.discrete, self._generator,
                deterministic,
            ).cpu().numpy()
        return (action[0], state) if single else (action, state)
