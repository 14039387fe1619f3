"""The episodes of episodic evaluation: how they are drawn from held-out
data, and what their queries are.

:class:`~sklearn_meta._evaluation.EpisodicEvaluator` draws a meta-estimator's
episodes with these; estimators with a public ``adapt`` (such as
``SupportSetClassifier``) draw theirs with :func:`sample_episodes` too, so
that the same settings and seed give every estimator the same episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._core._episodes import ClassificationTasks, Episodes, RegressionTasks
from ._core._meta import EpisodeBatch


@dataclass(frozen=True)
class Settings:
    """How episodes are drawn and adapted to."""

    n_shots: int
    n_queries: int
    n_episodes: int
    n_way: int | None = None
    inner_steps: int | None = None


@dataclass(frozen=True)
class EvaluationEpisodes:
    """Episodes drawn from one data set, and what their queries are.

    The data stay whole on the estimator's device; :meth:`span` gathers the
    rows of a run of episodes when they are needed, or slices ``gathered``
    (every episode, gathered when drawn) where it is there. ``y_true`` holds
    the query targets, shape (n_episodes, n_query); for classification
    ``classes[e, k]`` is the label of episode ``e``'s class ``k`` (the
    network's output ``k``). ``query_weights`` weigh the queries in
    :meth:`EpisodicEvaluator.score_parts`; ``tasks`` name what each episode
    was drawn from, for warnings.
    """

    X: torch.Tensor
    y: torch.Tensor
    episodes: Episodes
    n_outputs: int
    y_true: np.ndarray
    classes: np.ndarray | None
    query_weights: torch.Tensor
    tasks: list[str] = field(default_factory=list)
    gathered: EpisodeBatch | None = None

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def batch(self) -> EpisodeBatch:
        """Support and query tensors of every episode."""
        return self.span(0, len(self))

    def span(self, start: int = 0, stop: int | None = None) -> EpisodeBatch:
        """Support and query tensors of episodes ``start:stop``."""
        if self.gathered is not None:
            return self.gathered[start:stop]
        return EpisodeBatch.gather(self.X, self.y, _episode_span(self.episodes, start, stop))


def sample_episodes(
    estimator,
    codes: np.ndarray,
    labels: np.ndarray | None,
    encoded_groups: tuple[np.ndarray, np.ndarray],
    settings: Settings,
    seed: int,
) -> tuple[Episodes, int]:
    """The row indices of ``settings.n_episodes`` episodes, drawn by a
    generator seeded with ``seed``, and the classes of each (1 for regression).

    ``codes`` are class codes into ``labels`` (classification) or the targets
    (regression, ``labels=None``); ``encoded_groups`` is what ``encode_groups``
    gives for the samples' groups. The episodes depend only on the targets,
    the groups, ``settings`` and ``seed`` (and, for ``n_way=None``, on
    ``estimator.n_way``): every estimator with the same settings gets the
    same, those of ``score`` for its own settings and seed.
    """
    group_codes, group_names = encoded_groups
    if labels is None:
        pool = _regression_pool(group_codes, group_names, settings)
    else:
        pool = _classification_pool(estimator, codes, labels, group_codes, group_names, settings)
    episodes = pool.sample(np.random.default_rng(seed), settings.n_episodes)
    return episodes, 1 if labels is None else pool.n_way


def _regression_pool(group_codes, group_names, settings: Settings) -> RegressionTasks:
    return RegressionTasks.of_groups(group_codes, group_names, settings.n_shots, settings.n_queries)


def _classification_pool(
    estimator, codes, labels, group_codes, group_names, settings: Settings
) -> ClassificationTasks:
    """Episodes of ``n_way`` classes of one group.

    ``n_way=None`` takes the estimator's, lowered (with a warning) to the
    classes the smallest group has (at least 2), as ``score`` does.
    """
    return ClassificationTasks.of_groups(
        codes,
        labels,
        group_codes,
        group_names,
        estimator.n_way if settings.n_way is None else settings.n_way,
        settings.n_shots,
        settings.n_queries,
        evaluating=settings.n_way is None,
    )


def episode_classes(codes: np.ndarray, episodes: Episodes) -> np.ndarray:
    """The class code behind each episode-local label: shape (n_episodes, n_way)."""
    n_way = int(episodes.support_labels.max()) + 1
    classes = np.empty((len(episodes), n_way), dtype=codes.dtype)
    rows = np.arange(len(episodes))[:, None]
    classes[rows, episodes.support_labels] = codes[episodes.support]
    return classes


def _episode_span(episodes: Episodes, start: int, stop: int | None) -> Episodes:
    span = slice(start, stop)
    labels = episodes.support_labels is not None
    return Episodes(
        episodes.support[span],
        episodes.query[span],
        episodes.support_labels[span] if labels else None,
        episodes.query_labels[span] if labels else None,
    )


def episode_tasks(codes: np.ndarray, names: np.ndarray, support: np.ndarray) -> list[str]:
    """What each episode was drawn from, for messages: its group, or its number
    when there are no groups."""
    if len(names) == 1 and names[0] is None:
        return [f"episode {e}" for e in range(len(support))]
    named = [names[codes[rows[0]]] for rows in support]
    return [f"group {name.item() if isinstance(name, np.generic) else name!r}" for name in named]
