"""The sinusoid task family of the MAML paper."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_int


def make_sinusoid_tasks(n_tasks=100, n_samples_per_task=20, random_state=None):
    """Regression tasks y = A sin(x - φ), as in MAML (Finn et al. 2017).

    Each task draws an amplitude A uniformly in [0.1, 5] and a phase φ in
    [0, π]; its inputs x are uniform in [-5, 5].

    Parameters
    ----------
    n_tasks : int, default=100
        Number of tasks (sine functions).
    n_samples_per_task : int, default=20
        Samples of each task.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_tasks * n_samples_per_task, 1)
        Inputs, task after task.
    y : ndarray of shape (n_tasks * n_samples_per_task,)
        Targets.
    groups : ndarray of shape (n_tasks * n_samples_per_task,)
        The task index of each sample.

    Examples
    --------
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(n_tasks=3, n_samples_per_task=4, random_state=0)
    >>> X.shape, y.shape, groups.tolist()
    ((12, 1), (12,), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    """
    check_int("n_tasks", n_tasks, 1)
    check_int("n_samples_per_task", n_samples_per_task, 1)
    rng = check_random_state(random_state)
    amplitude = rng.uniform(0.1, 5.0, size=n_tasks)
    phase = rng.uniform(0.0, np.pi, size=n_tasks)
    x = rng.uniform(-5.0, 5.0, size=(n_tasks, n_samples_per_task))
    y = amplitude[:, None] * np.sin(x - phase[:, None])
    groups = np.repeat(np.arange(n_tasks), n_samples_per_task)
    return x.reshape(-1, 1), y.ravel(), groups
