import numpy as np
import pytest

from sklearn_meta._core._episodes import ClassificationTasks, RegressionTasks


def test_regression_episodes_stay_in_one_task_without_repeats():
    task_ids = np.repeat(np.arange(5), [6, 7, 8, 9, 10])
    pool = RegressionTasks(task_ids, np.arange(5), n_shots=3, n_queries=3)
    episodes = pool.sample(np.random.default_rng(0), 40)
    assert episodes.support.shape == (40, 3) and episodes.query.shape == (40, 3)
    rows = np.concatenate([episodes.support, episodes.query], axis=1)
    for episode in rows:
        assert len(set(episode)) == 6
        assert len(set(task_ids[episode])) == 1


def test_regression_episodes_cover_every_row_of_a_task():
    pool = RegressionTasks(np.zeros(10, dtype=int), np.array([None]), n_shots=2, n_queries=3)
    episodes = pool.sample(np.random.default_rng(1), 200)
    seen = np.unique(np.concatenate([episodes.support, episodes.query], axis=1))
    np.testing.assert_array_equal(seen, np.arange(10))


def test_regression_meta_batch_draws_distinct_tasks_when_possible():
    pool = RegressionTasks(np.repeat(np.arange(8), 4), np.arange(8), n_shots=2, n_queries=2)
    tasks = np.repeat(np.arange(8), 4)[pool.sample(np.random.default_rng(0), 8).support[:, 0]]
    assert sorted(tasks) == list(range(8))


def test_classification_episode_layout_and_labels():
    y = np.repeat(np.arange(6), 5)
    pool = ClassificationTasks(y, np.arange(6), [np.arange(6)], np.array([None]), 3, 2, 3)
    episodes = pool.sample(np.random.default_rng(0), 10)
    assert episodes.support.shape == (10, 6) and episodes.query.shape == (10, 9)
    for e in range(10):
        support, query = episodes.support[e], episodes.query[e]
        assert not set(support) & set(query)
        # one original class per episode label, the same in support and query
        for label in range(3):
            classes = set(y[support[episodes.support_labels[e] == label]])
            classes |= set(y[query[episodes.query_labels[e] == label]])
            assert len(classes) == 1


def test_classification_labels_are_remapped_per_episode():
    y = np.repeat(np.arange(4), 4)
    pool = ClassificationTasks(y, np.arange(4), [np.arange(4)], np.array([None]), 2, 1, 1)
    episodes = pool.sample(np.random.default_rng(0), 50)
    first_class = y[episodes.support[:, 0]]
    assert len(set(first_class)) > 1  # label 0 is not always the same class


def test_classification_episodes_stay_within_a_group():
    y = np.repeat(np.arange(6), 3)
    groups_of_class = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    pool = ClassificationTasks(y, np.arange(6), groups_of_class, np.array(["a", "b"]), 2, 1, 1)
    episodes = pool.sample(np.random.default_rng(0), 30)
    for rows in np.concatenate([episodes.support, episodes.query], axis=1):
        assert len({int(c) // 3 for c in y[rows]}) == 1


def test_sampling_is_reproducible():
    pool = RegressionTasks(np.repeat(np.arange(3), 10), np.arange(3), 4, 4)
    a = pool.sample(np.random.default_rng(7), 5)
    b = pool.sample(np.random.default_rng(7), 5)
    np.testing.assert_array_equal(a.support, b.support)
    np.testing.assert_array_equal(a.query, b.query)


def test_too_small_task_is_named():
    with pytest.raises(ValueError, match=r"Task 'b' has 3 samples.*n_shots \+ n_queries"):
        RegressionTasks(np.repeat([0, 1], [10, 3]), np.array(["a", "b"]), 2, 2)


def test_too_small_class_is_named():
    y = np.repeat(np.arange(3), [5, 5, 1])
    with pytest.raises(ValueError, match="Class 'z' has 1 sample;"):
        ClassificationTasks(y, np.array(["x", "y", "z"]), [np.arange(3)], np.array([None]), 2, 1, 1)


def test_group_with_too_few_classes_is_named():
    y = np.repeat(np.arange(4), 3)
    with pytest.raises(ValueError, match="Group 'g2' has 1 class, fewer than n_way=2"):
        ClassificationTasks(
            y, np.arange(4), [np.arange(3), np.array([3])], np.array(["g1", "g2"]), 2, 1, 1
        )
