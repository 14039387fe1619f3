"""Model selection on a Dask cluster through joblib, as doc/user_guide/scaling.md shows."""

import logging

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import MetaClassifier
from sklearn_meta._core._threads import torch_threads

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask")


def _search() -> GridSearchCV:
    estimator = MetaClassifier(
        n_way=3,
        n_shots=2,
        n_queries=3,
        max_iter=5,
        n_eval_episodes=20,
        device="cpu",
        random_state=0,
    )
    grid = {"algorithm": ["protonet", "maml"]}
    return GridSearchCV(estimator, grid, cv=GroupKFold(2), refit=False, error_score="raise")


def test_grid_search_on_a_dask_cluster_scores_as_a_local_one(blobs_classes):
    X, y = blobs_classes
    with torch_threads(1):  # as the workers: the same arithmetic, the same scores
        local = _search().fit(X, y, groups=y)
    # Worker processes: torch.func transforms are not thread-safe.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={"OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as tasks,
        joblib.parallel_backend("dask"),
    ):
        remote = _search().fit(X, y, groups=y)
        workers = set(client.scheduler_info()["workers"])

    ran_on = {task["worker"] for task in tasks.data}
    assert ran_on and ran_on <= workers  # the fits ran on the cluster
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert np.isfinite(local.cv_results_["mean_test_score"]).all()
    assert (local.cv_results_["mean_test_score"] > 1 / 3).all()  # better than 3-way chance
