"""
=============================================
Choosing the algorithm with ``GridSearchCV``
=============================================

:class:`~sklearn_meta.MetaClassifier` takes its learning algorithm as a
component, an object with its own parameters such as ``MAML(inner_lr=0.4)``
or ``ProtoNet()``, so the algorithm is an ordinary hyper-parameter that
:class:`~sklearn.model_selection.GridSearchCV` can pick, and the algorithm's
parameters are searched as ``algorithm__<name>``, as those of a
``Pipeline`` step.

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

from sklearn_meta import MAML, FineTune, MetaClassifier, MetaRidge, ProtoNet, Reptile
from sklearn_meta.datasets import make_few_shot_classification

torch.set_num_threads(1)

X, y = make_few_shot_classification(n_classes=30, n_samples_per_class=20, random_state=0)

# %%
# Search over the algorithms
# --------------------------
# Each candidate is an algorithm object with its own settings, here
# first-order MAML to keep the example quick (the string shortcuts
# ``"fomaml"``, ``"protonet"``, ... stand for an algorithm's defaults).
# Every test fold holds 10 classes none of the candidates saw in its
# training folds.
shell = MetaClassifier(n_way=5, n_shots=5, n_queries=5, max_iter=30, device="cpu", random_state=0)
algorithms = [MAML(first_order=True), Reptile(), ProtoNet(), MetaRidge(), FineTune()]
search = GridSearchCV(shell, {"algorithm": algorithms}, cv=GroupKFold(n_splits=3))
search.fit(X, y, groups=y)

names = [type(algorithm).__name__ for algorithm in search.cv_results_["param_algorithm"]]
print(f"best: {search.best_params_['algorithm']} ({search.best_score_:.3f})")
for name, mean, std, seconds in zip(
    names,
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    search.cv_results_["mean_fit_time"],
    strict=True,
):
    print(f"{name:>9}: accuracy {mean:.3f} ± {std:.3f}, fit {seconds:.2f} s")

# %%
# Accuracy on unseen classes against training time
# ------------------------------------------------
# The refitted best estimator is an ordinary fitted ``MetaClassifier``: its
# ``algorithm`` is the winning component, and ``learner_`` the torch module
# that the algorithm built and meta-trained.
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
    names,
    strict=True,
):
    ax.annotate(name, (x_, y_), textcoords="offset points", xytext=(6, 4))
ax.set(xlabel="fit time (s)", ylabel="5-way 5-shot accuracy, unseen classes")
fig.tight_layout()
print(search.best_estimator_.algorithm, type(search.best_estimator_.learner_).__name__)
plt.show()

# %%
# Tuning the parameters of one algorithm
# --------------------------------------
# ``algorithm__<name>`` reaches into the component, here MAML's inner step
# size (``algorithm__inner_steps`` would be its number of steps). A
# parameter the algorithm does not have cannot be set: ``MAML`` has no
# ``distance``, ``ProtoNet`` no ``inner_lr``.
search_maml = GridSearchCV(
    shell.set_params(algorithm=MAML(first_order=True)),
    {"algorithm__inner_lr": [0.1, 0.4]},
    cv=GroupKFold(n_splits=3),
)
search_maml.fit(X, y, groups=y)
print(search_maml.best_params_, f"{search_maml.best_score_:.3f}")
