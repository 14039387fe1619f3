import numpy as np
import pytest

from sklearn_meta._core._episodes import ClassificationTasks, PooledClasses, RegressionTasks


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


def _episode_rows(episodes) -> np.ndarray:
    return np.concatenate([episodes.support, episodes.query], axis=1)


def test_equal_weights_of_any_scale_draw_as_no_weights():
    task_ids = np.repeat(np.arange(5), 8)
    draws = [
        RegressionTasks(task_ids, np.arange(5), 2, 3, weights).sample(np.random.default_rng(0), 9)
        for weights in (None, np.ones(40), np.full(40, 2.5))
    ]
    for episodes in draws[1:]:
        np.testing.assert_array_equal(_episode_rows(episodes), _episode_rows(draws[0]))
    y = np.repeat(np.arange(6), 5)
    draws = [
        ClassificationTasks(
            y, np.arange(6), [np.arange(6)], np.array([None]), 3, 1, 2, weights
        ).sample(np.random.default_rng(0), 9)
        for weights in (None, np.full(30, 0.5))
    ]
    np.testing.assert_array_equal(_episode_rows(draws[1]), _episode_rows(draws[0]))


def test_samples_are_drawn_in_proportion_to_their_weight():
    weights = np.array([1.0, 1.0, 2.0, 4.0])
    pool = RegressionTasks(np.zeros(4, dtype=int), np.array([None]), 1, 1, weights)
    support = pool.sample(np.random.default_rng(0), 20000).support[:, 0]
    # the first of two draws without replacement, so exactly w / sum(w)
    np.testing.assert_allclose(np.bincount(support) / len(support), weights / 8, atol=0.01)


def test_tasks_are_drawn_in_proportion_to_their_mean_weight():
    task_ids = np.repeat([0, 1], [4, 12])  # the size of a task does not matter
    weights = np.where(task_ids == 0, 3.0, 1.0)
    pool = RegressionTasks(task_ids, np.arange(2), 1, 1, weights)
    rng = np.random.default_rng(0)
    tasks = np.concatenate([task_ids[pool.sample(rng, 1).support[:, 0]] for _ in range(4000)])
    assert np.mean(tasks == 0) == pytest.approx(0.75, abs=0.02)


def test_classes_are_drawn_in_proportion_to_their_mean_weight():
    y = np.repeat(np.arange(3), 4)
    weights = np.where(y == 2, 8.0, 1.0)
    pool = ClassificationTasks(y, np.arange(3), [np.arange(3)], np.array([None]), 2, 1, 1, weights)
    episodes = pool.sample(np.random.default_rng(0), 5000)
    has_heavy_class = (y[episodes.support] == 2).any(axis=1)
    # class 2 misses an episode only when both other classes beat it: 2 * (1/10) * (1/9)
    assert np.mean(has_heavy_class) == pytest.approx(1 - 2 / 90, abs=0.01)


def test_pooled_rows_are_drawn_in_proportion_to_their_weight():
    class_ids = np.repeat([0, 1], [90, 10])
    weights = np.where(class_ids == 0, 1 / 90, 1 / 10)  # "balanced"
    pool = PooledClasses(class_ids, 2, n_support=10, n_query=10, weights=weights)
    episodes = pool.sample(np.random.default_rng(0), 100)
    labels = np.concatenate([episodes.support_labels, episodes.query_labels], axis=1)
    assert labels.mean() == pytest.approx(0.5, abs=0.03)  # half the rows, not a tenth


def test_a_task_without_groups_is_named_as_all_samples():
    message = r"^All samples \(one task: no groups given\) have 4 samples; each task needs"
    with pytest.raises(ValueError, match=message):
        RegressionTasks(np.zeros(4, dtype=int), np.array([None]), 2, 3)


def two_groups(sizes: list[int], n_way: int, **kwargs) -> ClassificationTasks:
    """Groups "a" and "b" of ``sizes`` classes, two samples each, episodes of one shot."""
    y = np.repeat(np.arange(sum(sizes)), 2)
    of_group = np.split(np.arange(sum(sizes)), [sizes[0]])
    names = np.array(["a", "b"])
    return ClassificationTasks(y, np.arange(sum(sizes)), of_group, names, n_way, 1, 1, **kwargs)


def test_evaluation_lowers_n_way_to_the_smallest_group_with_a_warning():
    with pytest.warns(UserWarning, match="Group 'b' .* only 2 classes, fewer than n_way=4"):
        pool = two_groups([3, 2], 4, evaluating=True)
    assert pool.n_way == 2
    assert pool.sample(np.random.default_rng(0), 3).support.shape == (3, 2)
    with pytest.raises(ValueError, match="Group 'a' has 3 classes, fewer than n_way=4; lower"):
        two_groups([3, 2], 4)


def test_evaluation_needs_two_classes_in_every_group():
    message = "'b' has 1 class, fewer than the 2 an episode needs; .* already lowered .* n_way=5"
    with pytest.raises(ValueError, match=message) as error:
        two_groups([2, 1], 5, evaluating=True)
    assert "passed as groups" not in str(error.value)  # not every group is one class


@pytest.mark.parametrize("evaluating", [False, True])
def test_groups_of_one_class_each_are_named_as_the_likely_cause(evaluating):
    with pytest.raises(ValueError, match="class labels were probably passed as groups") as error:
        two_groups([1, 1], 3, evaluating=evaluating)
    assert 'set_fit_request(groups="task_groups")' in str(error.value)
