"""
==================================================
Pipelines and metadata routing of ``groups``
==================================================

A meta-estimator is an ordinary final step of a
:class:`~sklearn.pipeline.Pipeline`. What it needs beyond ``X, y`` is the
task labels, ``groups``: ``fit`` draws each episode from one task, and
``score`` adapts to each held-out task separately. With scikit-learn's
metadata routing, :func:`~sklearn.model_selection.cross_validate` hands
``groups`` to the splitter, to the meta-estimator's ``fit`` and to its
``score``, each with the labels of its own fold. For classes, the splitter
and the episodes need different groups; the last section routes both.

Here the inputs of sine tasks are measured in awkward units (``x`` seconds
around 300 instead of ``x`` in [-5, 5]), so a
:class:`~sklearn.preprocessing.StandardScaler` in front of
:class:`~sklearn_meta.MAMLRegressor` matters. The scaler is fitted on the
training folds only, as in any pipeline.
"""

# %%
# Sine tasks in awkward units
# ---------------------------
import matplotlib.pyplot as plt
import numpy as np
import sklearn
import torch
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLRegressor, ProtoNetClassifier
from sklearn_meta.datasets import make_few_shot_classification, make_sinusoid_tasks
from sklearn_meta.model_selection import evaluate_few_shot

torch.set_num_threads(1)

X, y, groups = make_sinusoid_tasks(n_tasks=150, n_samples_per_task=20, random_state=0)
X = 300.0 + 60.0 * X  # the same tasks, in other units

# %%
# Route ``groups`` to ``fit`` and ``score``
# -----------------------------------------
# With routing enabled, the meta-estimator says which methods want
# ``groups``; ``GroupKFold`` asks for them by default, so every test fold
# holds whole tasks the model never saw in training.
with sklearn.config_context(enable_metadata_routing=True):
    maml = MAMLRegressor(
        meta_batch_size=10, meta_lr=0.01, max_iter=300, device="cpu", random_state=0
    )
    maml.set_fit_request(groups=True).set_score_request(groups=True)
    pipe = make_pipeline(StandardScaler(), maml)
    cv = cross_validate(
        pipe,
        X,
        y,
        cv=GroupKFold(n_splits=3),
        params={"groups": groups},
        return_estimator=True,
        return_indices=True,
    )
print("episodic R² on held-out tasks, per fold:", np.round(cv["test_score"], 2))

# %%
# Scores with confidence intervals on one fold's held-out tasks
# -------------------------------------------------------------
# :func:`~sklearn_meta.model_selection.evaluate_few_shot` takes the fitted
# pipeline too: the scaler transforms the held-out inputs, the
# meta-estimator adapts to each episode's support set. The mean squared
# error falls as the support set grows.
fitted, test = cv["estimator"][0], cv["indices"]["test"][0]
result = evaluate_few_shot(
    fitted,
    X[test],
    y[test],
    groups[test],
    n_shots=(2, 5, 10),
    n_queries=10,
    n_episodes=200,
    random_state=0,
)
print(result)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.errorbar(result.n_shots, result.mean, yerr=result.ci95, fmt="o-", capsize=3)
ax.set(xlabel="support points (n_shots)", ylabel="MSE on the queries", xticks=result.n_shots)
fig.tight_layout()
plt.show()

# %%
# Classes: class-disjoint folds and task groups at once
# -----------------------------------------------------
# Few-shot classification needs two groupings. The splitter wants the class
# labels (``groups=y``), so that every test fold holds classes the model
# never saw; the episodes want the tasks, here four sites that record the
# same twelve classes, each with its own offset. The estimator requests its
# ``groups`` under another name, ``task_groups`` (scikit-learn's aliasing),
# so both travel through the same ``cross_validate`` call. ``GridSearchCV``
# takes them alike: ``search.fit(X, y, groups=y, task_groups=sites)``.
X_cls, y_cls = make_few_shot_classification(n_classes=12, n_samples_per_class=40, random_state=0)
sites = np.tile(np.repeat(np.arange(4), 10), 12)  # 10 samples of each class per site
site_offsets = np.random.default_rng(0).normal(scale=2.0, size=(4, X_cls.shape[1]))
X_cls = X_cls + site_offsets[sites]

with sklearn.config_context(enable_metadata_routing=True):
    proto = ProtoNetClassifier(
        n_way=3, n_shots=2, n_queries=5, max_iter=100, device="cpu", random_state=0
    )
    proto.set_fit_request(groups="task_groups").set_score_request(groups="task_groups")
    cv_classes = cross_validate(
        make_pipeline(StandardScaler(), proto),
        X_cls,
        y_cls,
        cv=GroupKFold(n_splits=3),
        params={"groups": y_cls, "task_groups": sites},  # the splitter's, the estimator's
    )
print("3-way accuracy on unseen classes, per fold:", np.round(cv_classes["test_score"], 2))
