"""The scikit-learn shell of the meta-RL learners: parameters, ``fit``,
``adapt``, ``score``, saving, and the checks of what they are given.

A learner subclass gives ``_build_from_spaces`` (its network),
``_meta_step`` (one outer step on a set of tasks), ``_adapt`` (a policy for
one task), ``_episode_returns`` (each episode's return after adaptation)
and ``_task_scores`` (a task's score from those).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._core._model import own_random_state, resolve_device
from .._core._threads import torch_threads
from .._params import SHELL, Param, at_least, one_of, parameter_table, validate_parameters
from .._persistence import decode, encode, save_estimator, warn_if_unavailable
from .._validation import check_bool, check_float, check_int
from ._tasks import TaskFamily, TaskSet

RL_PARAMETERS: dict[str, Param] = {
    "max_iter": Param("int", "Outer steps (meta-batches of tasks) per ``fit``.", at_least(1)),
    "meta_batch_size": Param(
        "int", "Tasks per outer step, all stepped at once as tensors.", at_least(1)
    ),
    "learning_rate_init": Param(
        "float", "Step size of the outer optimizer (Adam).", check_float
    ),
    "learning_rate": Param(
        '{"constant", "linear"}',
        'Schedule of the step size over a ``fit``: "constant", or "linear" decay '
        "from ``learning_rate_init`` to 0 at the last step (long runs often end "
        "higher with it).",
        one_of("constant", "linear"),
    ),
    "gamma": Param(
        "float",
        "Discount factor of the returns the policy gradient uses.",
        lambda name, value: check_float(name, value, upper=1.0 + 1e-12),
    ),
    "n_eval_tasks": Param(
        "int", "Tasks ``score`` draws when it is given a task family.", at_least(1)
    ),
    "device": SHELL["device"],
    "n_threads": Param(
        "int or None",
        "Torch CPU threads of ``fit``, ``adapt``, ``score`` and ``episode_returns`` "
        "(the caller's setting is restored after each); None keeps the caller's. "
        "One is the default: these small networks gain little from more, and "
        "lose much when other processes share the cores.",
        at_least(1),
        nullable=True,
    ),
    "random_state": Param(
        "int, RandomState instance or None",
        "Seeds the initialization, the tasks, the environments and the actions "
        "drawn in ``fit``; ``score`` draws its tasks from it too.",
        nullable=True,
    ),
    "verbose": Param("bool", "Show a progress bar during meta-training."),
    "warm_start": Param(
        "bool",
        "Continue from the fitted policy at the next ``fit`` instead of starting "
        "afresh, on tasks with the same spaces: a curriculum, such as short "
        "trials first and then long ones.",
        check_bool,
    ),
}


def family_to_json(family: TaskFamily) -> dict | None:
    """A built-in family as its class name and parameters (None for others)."""
    from . import _tasks

    name = type(family).__name__
    if getattr(_tasks, name, None) is not type(family):
        return None
    return {"family": name, "params": dataclasses.asdict(family)}


def family_from_json(data: dict | None) -> TaskFamily | None:
    from . import _tasks

    return None if data is None else getattr(_tasks, data["family"])(**data["params"])


class BaseMetaPolicy(BaseEstimator):
    """What the meta-RL learners share (see the module docstring)."""

    _parameter_docs: dict[str, Param] = RL_PARAMETERS

    # ------------------------------------------------------------- checks
    def _validate_params(self) -> None:
        validate_parameters(self.get_params(deep=False), parameter_table(type(self)))

    def _check_family(self, tasks) -> TaskFamily:
        if isinstance(tasks, TaskSet):
            tasks = tasks.family
        if not isinstance(tasks, TaskFamily):
            raise TypeError(
                f"{type(self).__name__} meta-trains on a task family such as "
                "BanditTasks(), TabularMDPTasks(), Navigation2DTasks() or "
                f"GymnasiumTasks(env), got {type(tasks).__name__}."
            )
        return tasks

    def _check_compatible(self, family: TaskFamily) -> None:
        """``family`` must have the tasks' spaces of the family fitted on."""
        fitted = self.family_spaces_
        spaces = _spaces(family)
        if spaces != fitted:
            raise ValueError(
                f"This {type(self).__name__} was fitted on tasks with {_describe(fitted)}; "
                f"{family!r} has {_describe(spaces)}."
            )

    def _task_set(self, tasks, n_tasks: int, generator) -> TaskSet:
        family = self._check_family(tasks)
        self._check_compatible(family)
        if isinstance(tasks, TaskSet):
            return tasks.to(self.device_)
        return family.sample(n_tasks, generator, self.device_)

    # ---------------------------------------------------------- training
    def fit(self, tasks, y=None):
        """Meta-train on tasks drawn from a task family.

        Parameters
        ----------
        tasks : TaskFamily
            Where the training tasks come from: each outer step draws
            ``meta_batch_size`` fresh tasks.
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        self : object
        """
        self._validate_params()
        family = self._check_family(tasks)
        if self.warm_start and hasattr(self, "policy_"):
            self._check_compatible(family)
        # A failed fit leaves the model as it was; Ctrl-C keeps the steps run.
        before = copy.deepcopy(self.__dict__)
        try:
            if not (self.warm_start and hasattr(self, "policy_")):
                self._initialize(family)
            self.family_ = family
            self.trial_protocol_ = {"n_episodes": family.n_episodes, "horizon": family.horizon}
            with self._threads():
                self._train(family)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def _train(self, family: TaskFamily) -> None:
        progress = tqdm(range(self.max_iter), disable=not self.verbose, desc=type(self).__name__)
        for step in progress:
            decay = 1 - step / self.max_iter if self.learning_rate == "linear" else 1.0
            for group in self._optimizer.param_groups:  # also a warm start's new settings
                group["lr"] = self.learning_rate_init * decay
            task_set = family.sample(self.meta_batch_size, self._task_generator, self.device_)
            mean_return = self._meta_step(task_set)
            if not (math.isfinite(mean_return) and self._policy_is_finite()):
                raise FloatingPointError(
                    f"{type(self).__name__} diverged at outer step {self.n_iter_ + 1}: a "
                    "return or a weight is not finite. Check that the environment's "
                    "rewards are finite, or lower learning_rate_init."
                )
            self.train_returns_.append(mean_return)
            self.n_iter_ += 1
            progress.set_postfix(mean_return=f"{mean_return:.3g}", refresh=False)

    def _policy_is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.policy_.parameters())

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(2**31))

    def _threads(self):
        return torch_threads(self.n_threads)

    def _initialize(self, family: TaskFamily) -> None:
        device = resolve_device(self.device)
        seed = self._seed()
        self.device_ = device
        self.family_spaces_ = _spaces(family)
        self._task_generator = torch.Generator().manual_seed(seed)
        self._generator = torch.Generator(device).manual_seed(seed + 1)
        with own_random_state(device):  # the caller's torch random state is left as it was
            torch.manual_seed(seed)  # the network's initialization
            self.policy_ = self._build_from_spaces(self.family_spaces_).to(device)
        self._optimizer = torch.optim.Adam(self.policy_.parameters(), lr=self.learning_rate_init)
        self.train_returns_ = []
        self.n_iter_ = 0

    # -------------------------------------------------------- adaptation
    def adapt(self, task, n_episodes: int | None = None):
        """A policy for one task, learned from ``n_episodes`` episodes of it.

        Parameters
        ----------
        task : TaskSet of one task, or gymnasium.Env
            The new task: one task of a family (``family.sample(1)``, or
            ``task_set[i]``), or an environment already set to its task.
        n_episodes : int, default=None
            Episodes to learn from; None means the family's ``n_episodes``.

        Returns
        -------
        policy : object
            With stable-baselines3's ``predict(observation, state=None,
            episode_start=None, deterministic=False)``.
        """
        check_is_fitted(self)
        task_set = self._one_task(task)
        n_episodes = _episodes(task_set.family, n_episodes)
        with self._threads():
            return self._adapt(task_set, n_episodes, self._generator)

    def _one_task(self, task) -> TaskSet:
        if not isinstance(task, TaskSet):
            from ._gym import env_task_set

            task = env_task_set(task, **self.trial_protocol_)
        self._check_compatible(task.family)
        if task.n_tasks != 1:
            raise ValueError(
                f"adapt learns one task; got a set of {task.n_tasks}. Pass task_set[i], "
                "or use score for many."
            )
        return task.to(self.device_)

    def score(self, tasks, y=None) -> float:
        """Mean return after adaptation on held-out tasks (higher is better).

        For RL² the total reward of a trial, for MAML the mean return of an
        episode of the adapted policy: the mean over tasks of what
        ``episode_returns`` gives, summed (RL²) or averaged (MAML) over the
        episodes.

        Parameters
        ----------
        tasks : TaskFamily or TaskSet
            A family (``n_eval_tasks`` tasks are drawn from it, the same ones
            at every call under an int ``random_state``) or given tasks.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        returns = self.episode_returns(tasks)
        return float(self._task_scores(returns).mean())

    def episode_returns(self, tasks) -> np.ndarray:
        """The return of each episode on held-out tasks, after adaptation.

        Parameters
        ----------
        tasks : TaskFamily or TaskSet
            As for ``score``.

        Returns
        -------
        returns : ndarray of shape (n_tasks, n_episodes)
            RL²: the episodes of each task's trial, in order (how the
            policy learns within a trial). MAML: episodes of the policy
            adapted by ``adapt_steps`` steps.
        """
        check_is_fitted(self)
        seed = self._seed() + 2
        generator = torch.Generator(self.device_).manual_seed(seed)
        task_set = self._task_set(tasks, self.n_eval_tasks, torch.Generator().manual_seed(seed))
        with self._threads(), torch.no_grad():
            return self._episode_returns(task_set, generator).cpu().numpy()

    # ------------------------------------------------------------ saving
    def save(self, path) -> None:
        """Write the fitted learner to ``path``: weights and JSON, no pickled code.

        Load it with :func:`sklearn_meta.load`.
        """
        check_is_fitted(self)
        save_estimator(self, path)

    def _fitted_payload(self) -> dict:
        fitted = {
            "n_iter_": self.n_iter_,
            "train_returns_": [float(value) for value in self.train_returns_],
            "device_": str(self.device_),
            "family_spaces_": self.family_spaces_,
            "trial_protocol_": self.trial_protocol_,
            "family_": family_to_json(self.family_),
        }
        return {
            "fitted": json.dumps(encode(fitted)),
            "policy": self.policy_.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "generators": [self._task_generator.get_state(), self._generator.get_state()],
        }

    def _restore_payload(self, payload: dict, *, device=None, module=None) -> None:
        fitted = decode(json.loads(payload["fitted"]))
        saved = torch.device(fitted.pop("device_"))
        self.device_ = warn_if_unavailable(saved) if device is None else resolve_device(device)
        self.family_ = family_from_json(fitted.pop("family_"))
        self.__dict__.update(fitted)
        self.policy_ = self._build_from_spaces(self.family_spaces_).to(self.device_)
        self.policy_.load_state_dict(payload["policy"])
        self._optimizer = torch.optim.Adam(self.policy_.parameters(), lr=self.learning_rate_init)
        self._optimizer.load_state_dict(payload["optimizer"])
        task_state, state = payload["generators"]
        self._task_generator = torch.Generator()
        self._task_generator.set_state(task_state)
        self._generator = torch.Generator(self.device_)
        if self.device_.type == saved.type:
            self._generator.set_state(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def _spaces(family: TaskFamily) -> dict:
    return {
        "observation_size": int(family.observation_size),
        "n_actions": None if family.n_actions is None else int(family.n_actions),
        "action_size": None if family.n_actions is not None else int(family.action_size),
    }


def _describe(spaces: dict) -> str:
    actions = (
        f"{spaces['n_actions']} discrete actions"
        if spaces["n_actions"] is not None
        else f"actions of size {spaces['action_size']}"
    )
    return f"observations of size {spaces['observation_size']} and {actions}"


def _episodes(family: TaskFamily, n_episodes) -> int:
    return family.n_episodes if n_episodes is None else check_int("n_episodes", n_episodes, 1)
