"""
==============================================
Few-shot curves: a meta-learner and a baseline
==============================================

:class:`~sklearn_meta.model_selection.FewShotCurveDisplay` plots the mean
episodic score on held-out classes with its 95% confidence band, against the
number of shots or against the number of adaptation steps. Plotting several
estimators on one axes compares them on the same episodes (same
``random_state``).

Here a meta-learner, :class:`~sklearn_meta.MAMLClassifier`, is set beside the
transfer-learning baseline of Chen et al. (2019),
:class:`~sklearn_meta.FineTuneClassifier`: a network pretrained on the pooled
training classes whose fresh head is fitted to each new task's support set.
Budgets are tiny so that the example runs in seconds.
"""

# %%
# Training and held-out classes
# -----------------------------
import matplotlib.pyplot as plt
import torch

from sklearn_meta import FineTuneClassifier, MAMLClassifier
from sklearn_meta.datasets import make_few_shot_classification, tasks_from_labeled
from sklearn_meta.model_selection import FewShotCurveDisplay

torch.set_num_threads(1)

X, y = make_few_shot_classification(n_classes=40, n_samples_per_class=25, random_state=0)
# disjoint classes: 30 to train on, 10 never seen in training
X_train, X_test, y_train, y_test = tasks_from_labeled(X, y, test_size=10, random_state=0)

# %%
# A meta-learner and the fine-tuning baseline
# -------------------------------------------
# First-order MAML (``first_order=True``) to keep the example quick, and the
# baseline with 50 fine-tuning steps per task.
common = dict(n_way=5, n_shots=5, n_queries=10, max_iter=60, device="cpu", random_state=0)
maml = MAMLClassifier(first_order=True, **common).fit(X_train, y_train)
finetune = FineTuneClassifier(inner_steps=50, **common).fit(X_train, y_train)

# %%
# Accuracy against shots, and against adaptation steps
# ----------------------------------------------------
# Both estimators are scored on the same 5-way episodes. The shot curve
# adapts with each estimator's own ``eval_inner_steps`` (5 for MAML, 50 for
# the baseline). The step curve adapts from 5 shots with 0 to 50 gradient
# steps on the same episodes for every step count: with no step, both
# predict at chance (every class starts from the same head weights); the
# meta-learned initialization gains most of its accuracy within a few
# steps, while the baseline's fresh head climbs slowly.
fig, (ax_shots, ax_steps) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for model in (maml, finetune):
    FewShotCurveDisplay.from_estimator(
        model,
        X_test,
        y_test,
        param_range=[1, 2, 5, 10],
        n_queries=10,
        n_episodes=60,
        random_state=0,
        ax=ax_shots,
    )
    FewShotCurveDisplay.from_estimator(
        model,
        X_test,
        y_test,
        param_name="inner_steps",
        param_range=[0, 1, 5, 20, 50],
        n_shots=5,
        n_queries=10,
        n_episodes=60,
        random_state=0,
        ax=ax_steps,
    )
ax_shots.set_title("5-way accuracy against shots")
ax_steps.set_title("5-way 5-shot accuracy against steps")
fig.tight_layout()
plt.show()
