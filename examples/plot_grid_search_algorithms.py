"""
===========================================
Choosing the learner with ``GridSearchCV``
===========================================

:class:`~sklearn_meta.MetaClassifier` builds any of the learners from one set
of parameters, so the algorithm is an ordinary hyper-parameter that
:class:`~sklearn.model_selection.GridSearchCV` can pick.

The split is what makes this *meta*-evaluation: ``GroupKFold`` with
``groups=y`` keeps every class of a test fold out of its training folds, so
each candidate is scored (episodically, by its ``score``) on classes it has
never seen. The budgets are tiny so that the example runs in seconds; the
ranking can change with longer training (see ``benchmarks/RESULTS.md`` in
the repository).
"""

# %%
# Many classes with a shared structure
# ------------------------------------
# ``make_few_shot_classification`` draws classes whose features come from
# one hidden map, so what is learned on some classes carries over to others.
import matplotlib.pyplot as plt
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import MetaClassifier
from sklearn_meta.datasets import make_few_shot_classification

torch.set_num_threads(1)

X, y = make_few_shot_classification(n_classes=30, n_samples_per_class=20, random_state=0)

# %%
# Search over the learners
# ------------------------
# Parameters that a learner does not have (``inner_steps`` for the
# prototypical network, say) are ignored by it. Every test fold holds 10
# classes none of the candidates saw in its training folds.
algorithms = ["maml", "reptile", "protonet", "ridge", "finetune"]
search = GridSearchCV(
    MetaClassifier(n_way=5, n_shots=5, n_queries=5, max_iter=30, device="cpu", random_state=0),
    {"algorithm": algorithms},
    cv=GroupKFold(n_splits=3),
)
search.fit(X, y, groups=y)

print(f"best: {search.best_params_['algorithm']} ({search.best_score_:.3f})")
for algorithm, mean, std, seconds in zip(
    search.cv_results_["param_algorithm"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    search.cv_results_["mean_fit_time"],
    strict=True,
):
    print(f"{algorithm:>9}: accuracy {mean:.3f} ± {std:.3f}, fit {seconds:.2f} s")

# %%
# Accuracy on unseen classes against training time
# ------------------------------------------------
# The refitted best estimator is an ordinary fitted ``MetaClassifier``; the
# learner it built is ``best_estimator_.estimator_``.
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(
    search.cv_results_["mean_fit_time"],
    search.cv_results_["mean_test_score"],
    yerr=search.cv_results_["std_test_score"],
    fmt="o",
)
for x_, y_, name in zip(
    search.cv_results_["mean_fit_time"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["param_algorithm"],
    strict=True,
):
    ax.annotate(name, (x_, y_), textcoords="offset points", xytext=(6, 4))
ax.set(xlabel="fit time (s)", ylabel="5-way 5-shot accuracy, unseen classes")
fig.tight_layout()
print(type(search.best_estimator_.estimator_).__name__)
plt.show()
