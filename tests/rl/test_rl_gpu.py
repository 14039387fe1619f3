"""The meta-RL learners with ``device="cuda"``: skipped on machines without CUDA."""

import numpy as np
import pytest
import torch

from sklearn_meta import load
from sklearn_meta.rl import BanditTasks, MAMLPolicy, Navigation2DTasks, RL2Policy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize(
    ("make", "family"),
    [
        (lambda: RL2Policy(hidden_size=16, max_iter=3, meta_batch_size=16), BanditTasks()),
        (
            lambda: MAMLPolicy(hidden_layer_sizes=(16,), max_iter=2, meta_batch_size=4),
            Navigation2DTasks(horizon=10, n_episodes=4),
        ),
    ],
)
def test_learners_train_adapt_and_load_on_the_gpu(make, family, tmp_path):
    learner = make().set_params(device="cuda", random_state=0, n_eval_tasks=10).fit(family)
    assert learner.device_.type == "cuda" and next(learner.policy_.parameters()).is_cuda
    assert np.isfinite(learner.score(family))
    action, _ = learner.adapt(family.sample(1, random_state=1)).predict(
        np.zeros(family.observation_size)
    )
    assert np.isfinite(action).all()
    learner.save(tmp_path / "policy.pt")
    assert load(tmp_path / "policy.pt").device_.type == "cuda"
