"""Tasks indexed once into arrays; episodes drawn as index arrays.

A *task pool* is built once per ``fit`` from ``y`` and ``groups``. Drawing a
meta-batch of episodes is a handful of vectorized NumPy calls that return
row indices into ``X``: no per-sample Python.

Sample weights make draws weighted: a task, class or group is drawn in
proportion to the mean weight of its samples, and a sample within its task
or class in proportion to its weight. Equal weights draw exactly as no
weights, whatever their scale.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episodes:
    """Row indices (and episode-local labels) of a batch of episodes.

    ``support`` and ``query`` have shape ``(n_episodes, n_support)`` and
    ``(n_episodes, n_query)``. For classification, ``support_labels`` and
    ``query_labels`` hold each row's class within its episode, ``0 .. n_way-1``.
    """

    support: np.ndarray
    query: np.ndarray
    support_labels: np.ndarray | None = None
    query_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.support)


def _members(ids: np.ndarray, n_ids: int) -> list[np.ndarray]:
    """The rows of each id ``0 .. n_ids-1``, in one sort rather than a scan per id."""
    order = np.argsort(ids, kind="stable")
    return np.split(order, np.cumsum(np.bincount(ids, minlength=n_ids))[:-1])


def _pad(members: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged index lists into a (n_lists, longest) matrix and their sizes."""
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    padded = np.zeros((len(members), max(sizes.max(initial=0), 1)), dtype=np.int64)
    for row, member in enumerate(members):
        padded[row, : len(member)] = member
    return padded, sizes


def _draw_distinct(
    rng: np.random.Generator,
    padded: np.ndarray,
    sizes: np.ndarray,
    rows: np.ndarray,
    k: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """For each entry of ``rows``, ``k`` distinct members of that row, in random order.

    With ``weights`` (padded like ``padded``, positive) a member is drawn with
    probability proportional to its weight: the ``k`` smallest of the
    exponential keys ``-log(1 - u) / w`` (Efraimidis & Spirakis 2006). Those
    keys keep the order of ``u`` when weights are equal.
    """
    keys = rng.random(rows.shape + (padded.shape[1],))
    if weights is not None:
        keys = np.minimum(-np.log1p(-keys) / weights[rows], np.finfo(np.float64).max)
    keys[np.arange(padded.shape[1]) >= sizes[rows][..., None]] = np.inf
    if k < padded.shape[1]:
        chosen = np.argpartition(keys, k - 1, axis=-1)[..., :k]
    else:
        chosen = np.broadcast_to(np.arange(k), keys.shape).copy()
    order = np.argsort(np.take_along_axis(keys, chosen, axis=-1), axis=-1)
    chosen = np.take_along_axis(chosen, order, axis=-1)
    return np.take_along_axis(padded[rows], chosen, axis=-1)


def _choose_rows(
    rng: np.random.Generator, n_rows: int, n_draws: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """``n_draws`` rows out of ``n_rows``: uniformly without repeats while that
    is possible, or independently in proportion to unequal ``weights``
    (drawing without repeats would flatten those proportions)."""
    probabilities = _probabilities(weights)
    if probabilities is None:
        return rng.choice(n_rows, size=n_draws, replace=n_draws > n_rows)
    return rng.choice(n_rows, size=n_draws, p=probabilities)


def _probabilities(weights: np.ndarray | None) -> np.ndarray | None:
    """Weights as probabilities; None for uniform ones, so that equal weights
    take the same random draws as no weights."""
    if weights is None or np.all(weights == weights[0]):
        return None
    return weights / weights.sum()


def _padded_weights(
    weights: np.ndarray | None, members: list[np.ndarray], padded: np.ndarray
) -> np.ndarray | None:
    """Each member's weight in the layout of ``padded`` (1 in the padding)."""
    if weights is None:
        return None
    layout = np.ones(padded.shape)
    for row, member in enumerate(members):
        layout[row, : len(member)] = weights[member]
    return layout


def _mean_weights(weights: np.ndarray | None, members: list[np.ndarray]) -> np.ndarray | None:
    """Mean weight of each member list: how often a task or class is drawn."""
    if weights is None:
        return None
    return np.array([weights[member].mean() for member in members])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")


class RegressionTasks:
    """Each group is one task; an episode is ``n_shots + n_queries`` rows of one task."""

    def __init__(
        self,
        task_ids: np.ndarray,
        task_names: np.ndarray,
        n_shots: int,
        n_queries: int,
        weights: np.ndarray | None = None,
    ):
        needed = n_shots + n_queries
        members = _members(task_ids, len(task_names))
        for name, rows in zip(task_names, members, strict=True):
            if len(rows) < needed:
                raise ValueError(
                    f"{_task_subject(name)} {_plural(len(rows), 'sample')}; each task needs "
                    f"at least n_shots + n_queries = {n_shots} + {n_queries} = {needed}."
                )
        self.padded, self.sizes = _pad(members)
        self.sample_weights = _padded_weights(weights, members, self.padded)
        self.task_weights = _mean_weights(weights, members)
        self.n_shots, self.n_queries = n_shots, n_queries
        self.n_tasks = len(members)
        self.task_names = task_names

    @classmethod
    def of_groups(
        cls,
        group_codes: np.ndarray,
        group_names: np.ndarray,
        n_shots: int,
        n_queries: int,
        weights: np.ndarray | None = None,
    ) -> RegressionTasks:
        """One task per group that ``group_codes`` (codes into ``group_names``) holds."""
        present, task_ids = np.unique(group_codes, return_inverse=True)
        return cls(task_ids, group_names[present], n_shots, n_queries, weights)

    def sample(self, rng: np.random.Generator, n_episodes: int) -> Episodes:
        tasks = _choose_rows(rng, self.n_tasks, n_episodes, self.task_weights)
        needed = self.n_shots + self.n_queries
        rows = _draw_distinct(rng, self.padded, self.sizes, tasks, needed, self.sample_weights)
        return Episodes(rows[:, : self.n_shots], rows[:, self.n_shots :])


class ClassificationTasks:
    """An episode draws ``n_way`` classes of one group, ``n_shots + n_queries`` rows each.

    Without groups all classes form one group. Episode labels are the class's
    position in the draw, so they are remapped at random in every episode.
    With ``evaluating=True`` (held-out data, which may hold fewer classes
    than training did) ``n_way`` is lowered, with a warning, to the fewest
    classes of a group, but not below 2.
    """

    def __init__(
        self,
        class_ids: np.ndarray,
        class_names: np.ndarray,
        group_of_class: list[np.ndarray],
        group_names: np.ndarray,
        n_way: int,
        n_shots: int,
        n_queries: int,
        weights: np.ndarray | None = None,
        *,
        evaluating: bool = False,
    ):
        needed = n_shots + n_queries
        members = _members(class_ids, len(class_names))
        for name, rows in zip(class_names, members, strict=True):
            if len(rows) < needed:
                raise ValueError(
                    f"Class {_label(name)} has {_plural(len(rows), 'sample')}; each class needs "
                    f"at least n_shots + n_queries = {n_shots} + {n_queries} = {needed}."
                )
        n_way = _episode_n_way(n_way, group_of_class, group_names, evaluating)
        self.samples, self.sample_counts = _pad(members)
        self.classes, self.class_counts = _pad(list(group_of_class))
        self.sample_weights = _padded_weights(weights, members, self.samples)
        class_weights = _mean_weights(weights, members)
        self.class_weights = _padded_weights(class_weights, list(group_of_class), self.classes)
        self.group_weights = _mean_weights(
            weights, [np.concatenate([members[c] for c in classes]) for classes in group_of_class]
        )
        self.n_way, self.n_shots, self.n_queries = n_way, n_shots, n_queries
        self.n_tasks = max(1, len(members) // n_way)  # class-disjoint episodes in one pass

    @classmethod
    def of_groups(
        cls,
        codes: np.ndarray,
        labels: np.ndarray,
        group_codes: np.ndarray,
        group_names: np.ndarray,
        n_way: int,
        n_shots: int,
        n_queries: int,
        weights: np.ndarray | None = None,
        *,
        evaluating: bool = False,
    ) -> ClassificationTasks:
        """Episodes of the samples' classes (``codes`` into ``labels``) within
        their groups (``group_codes`` into ``group_names``): a class is a
        (group, label) pair, so episodes never mix groups."""
        units, unit_ids = np.unique(
            np.stack([group_codes, codes], axis=1), axis=0, return_inverse=True
        )
        present = np.unique(units[:, 0])
        group_of_unit = [np.flatnonzero(units[:, 0] == g) for g in present]
        return cls(
            unit_ids.ravel(),
            labels[units[:, 1]],
            group_of_unit,
            group_names[present],
            n_way,
            n_shots,
            n_queries,
            weights,
            evaluating=evaluating,
        )

    def sample(self, rng: np.random.Generator, n_episodes: int) -> Episodes:
        group_probabilities = _probabilities(self.group_weights)
        if group_probabilities is None:
            groups = rng.integers(len(self.classes), size=n_episodes)
        else:
            groups = rng.choice(len(self.classes), n_episodes, p=group_probabilities)
        classes = _draw_distinct(
            rng, self.classes, self.class_counts, groups, self.n_way, self.class_weights
        )
        needed = self.n_shots + self.n_queries
        rows = _draw_distinct(
            rng, self.samples, self.sample_counts, classes, needed, self.sample_weights
        )
        labels = np.broadcast_to(np.arange(self.n_way)[None, :, None], rows.shape).copy()
        support, query = rows[..., : self.n_shots], rows[..., self.n_shots :]
        support_labels, query_labels = labels[..., : self.n_shots], labels[..., self.n_shots :]
        return Episodes(
            *(a.reshape(n_episodes, -1) for a in (support, query, support_labels, query_labels))
        )


def _label(name) -> str:
    return repr(name.item() if isinstance(name, np.generic) else name)


def _task_subject(name) -> str:
    """The start of a message about the size of the task ``name`` (None: no groups)."""
    if name is None:
        return "All samples (one task: no groups given) have"
    return f"Task {_label(name)} has"


def _episode_n_way(
    n_way: int, group_of_class: list[np.ndarray], group_names: np.ndarray, evaluating: bool
) -> int:
    """The classes per episode: ``n_way``, or when ``evaluating`` the fewest
    classes of a group if that is less (but at least 2, with a warning). An
    error when a group holds fewer."""
    sizes = np.array([len(classes) for classes in group_of_class])
    used = max(2, min(n_way, int(sizes.min()))) if evaluating else n_way
    short = np.flatnonzero(sizes < used)
    if len(short):
        message = f"{_group(group_names, short[0])} has {_plural(sizes[short[0]], 'class')}, "
        if not evaluating:
            message += f"fewer than n_way={n_way}; lower n_way or give each episode more "
            message += "classes to draw from."
        elif n_way > 2:
            message += "fewer than the 2 an episode needs; scoring already lowered the "
            message += f"estimator's n_way={n_way} to the fewest classes of a group."
        else:
            message += "fewer than the 2 an episode needs."
        raise ValueError(message + _one_class_groups_hint(sizes))
    if used < n_way:
        if len(sizes) == 1:
            subject, why = "The held-out data hold", ""
        else:
            subject = f"{_group(group_names, int(np.argmin(sizes)))} of the held-out data holds"
            why = " (an episode draws its classes from one group)"
        warnings.warn(
            f"{subject} only {used} classes, fewer than n_way={n_way}: scoring uses "
            f"{used}-way episodes{why}.",
            UserWarning,
            stacklevel=2,
        )
    return used


def _group(group_names: np.ndarray, index: int) -> str:
    """How a message names group ``index``: "The data" when it is the only one."""
    return "The data" if len(group_names) == 1 else f"Group {_label(group_names[index])}"


def _one_class_groups_hint(sizes: np.ndarray) -> str:
    """The likely cause and the fix, when every one of several groups is one class."""
    if len(sizes) < 2 or (sizes != 1).any():
        return ""
    return (
        " Every group holds exactly one class: the class labels were probably passed as "
        "groups, as when a splitter's groups=y also reaches fit and score through "
        "metadata routing. Give the estimator its task groups under another name, "
        'set_fit_request(groups="task_groups").set_score_request(groups="task_groups"), '
        "and pass task_groups=... beside groups=y; or pass no groups to draw the classes "
        "of an episode from all of them."
    )


class PooledClasses:
    """All classes pooled into one supervised task, for pretraining a classifier.

    An "episode" is a random minibatch of ``n_support + n_query`` rows labelled
    with their global class codes ``0 .. n_classes-1``; ``n_way`` is the number
    of classes, so a head has one row per class. A meta-batch draws its rows
    without repeats while the data hold enough of them, and ``n_tasks`` is the
    number of minibatches in one pass over the rows.
    """

    def __init__(
        self,
        class_ids: np.ndarray,
        n_classes: int,
        n_support: int,
        n_query: int,
        weights: np.ndarray | None = None,
    ):
        self.class_ids, self.weights = class_ids, weights
        self.n_way, self.n_support, self.n_query = n_classes, n_support, n_query
        self.n_tasks = max(1, -(-len(class_ids) // (n_support + n_query)))

    def sample(self, rng: np.random.Generator, n_episodes: int) -> Episodes:
        n_rows = n_episodes * (self.n_support + self.n_query)
        rows = _choose_rows(rng, len(self.class_ids), n_rows, self.weights)
        rows = rows.reshape(n_episodes, -1)
        labels = self.class_ids[rows]
        split = self.n_support
        return Episodes(rows[:, :split], rows[:, split:], labels[:, :split], labels[:, split:])
