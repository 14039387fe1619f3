"""Environment steps per second of the meta-RL task families: every task of a
set stepped at once as tensors, against one gymnasium environment per task
stepped in a Python loop (needs gymnasium)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from .._validation import check_int
from ..rl._envs import env_of_task
from ..rl._tasks import TaskFamily, TaskSet, as_generator

#: Seconds of warm-up of each path, which also sizes its measurement.
WARMUP_SECONDS = 0.2
#: Seconds each measurement lasts at least when ``n_steps`` is None.
MIN_SECONDS = 1.0


def env_steps_per_second(
    family: TaskFamily, n_tasks: int = 1000, n_steps: int | None = None, random_state=0
) -> dict:
    """Environment steps per second of ``n_tasks`` tasks of ``family``, stepped two ways.

    * vectorized: ``TaskSet.step`` on the whole set, with one uniformly random
      action per task drawn with torch at every step, and ``TaskSet.reset``
      every ``horizon`` steps;
    * loop: the same tasks as gymnasium environments (``env_of_task`` for each),
      a Python loop that steps each environment with its entry of a numpy array
      of random actions of the same kind, drawn once per step, and resets it
      when it says its episode is truncated.

    A step is one step of every task. Each way is warmed up for
    ``WARMUP_SECONDS`` (``time.perf_counter``), then timed over ``n_steps``
    steps; None takes as many as last about ``MIN_SECONDS``, estimated from the
    warm-up.

    Parameters
    ----------
    family : BanditTasks, TabularMDPTasks or Navigation2DTasks
    n_tasks : int, default=1000
    n_steps : int, default=None
        Steps of the set timed in each way.
    random_state : int, default=0
        Seeds the tasks and the random actions.

    Returns
    -------
    dict
        ``family`` (the family's class name), ``n_tasks``,
        ``vectorized_steps_per_second`` and ``loop_steps_per_second`` (of
        environment steps: ``n_tasks`` per step of the set), and ``ratio``
        (vectorized over loop).
    """
    check_int("n_tasks", n_tasks, 1)
    if n_steps is not None:
        check_int("n_steps", n_steps, 1)
    tasks = family.sample(n_tasks, random_state)
    generator = as_generator(random_state)
    rng = np.random.default_rng(random_state)
    vectorized = _steps_per_second(_vectorized_stepper(tasks, generator), n_steps) * n_tasks
    loop = _steps_per_second(_loop_stepper(tasks, rng), n_steps) * n_tasks
    return {
        "family": type(family).__name__,
        "n_tasks": n_tasks,
        "vectorized_steps_per_second": vectorized,
        "loop_steps_per_second": loop,
        "ratio": vectorized / loop,
    }


def _steps_per_second(step: Callable[[], None], n_steps: int | None) -> float:
    """Steps of the set per second: ``step`` run for ``n_steps`` after a warm-up."""
    warmup_steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < WARMUP_SECONDS:
        step()
        warmup_steps += 1
    if n_steps is None:
        seconds_per_step = (time.perf_counter() - start) / warmup_steps
        n_steps = math.ceil(MIN_SECONDS / seconds_per_step)
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps / (time.perf_counter() - start)


def _vectorized_stepper(tasks: TaskSet, generator: torch.Generator) -> Callable[[], None]:
    family = tasks.family
    _, state = tasks.reset(generator)
    t = 0

    def step() -> None:
        nonlocal state, t
        if family.discrete:
            action = torch.randint(family.n_actions, (tasks.n_tasks,), generator=generator)
        else:
            action = torch.rand(tasks.n_tasks, family.action_size, generator=generator)
            action = (2 * action - 1) * family.max_speed
        _, _, state = tasks.step(state, action, generator)
        t += 1
        if t == family.horizon:
            _, state = tasks.reset(generator)
            t = 0

    return step


def _loop_stepper(tasks: TaskSet, rng: np.random.Generator) -> Callable[[], None]:
    family = tasks.family
    envs = [env_of_task(tasks, i) for i in range(tasks.n_tasks)]
    for i, env in enumerate(envs):
        env.reset(seed=i)

    def step() -> None:
        if family.discrete:
            actions = rng.integers(family.n_actions, size=len(envs))
        else:
            actions = rng.uniform(-family.max_speed, family.max_speed, (len(envs), 2))
            actions = actions.astype(np.float32)
        for env, action in zip(envs, actions, strict=True):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    return step
