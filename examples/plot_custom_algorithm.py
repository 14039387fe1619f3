"""
==========================
Writing your own algorithm
==========================

The learning algorithm of :class:`~sklearn_meta.MetaClassifier` and
:class:`~sklearn_meta.MetaRegressor` is a component, a
:class:`~sklearn_meta.MetaAlgorithm` with its own parameters, and one
defined outside the package works as the built-in ones do. The estimator
keeps everything else: input checks, episodes, the outer loop, ``adapt``,
``score``, ``predict``, cloning and searches.

Here the new algorithm is a nearest-class-mean classifier on a meta-learned
embedding, whose logits are minus the squared distances to the class means
divided by a temperature that is learned with the embedding. It takes three
pieces: a torch ``Learner`` (how a support set is turned into a state, and
how that state predicts), a ``MetaAlgorithm`` subclass that builds it, and a
``Param`` that documents and checks its one parameter.
"""

# %%
# The learner: the torch side
# ---------------------------
# ``adapt`` turns one support set into a state, a dict of tensors: here the
# mean embedding of each class. ``predict_with`` gives logits for new inputs
# from that state, and ``materialize`` a standalone module holding it (what
# ``predict`` and ``adapt`` of the fitted estimator run). Meta-training
# minimizes the cross-entropy of the queries after ``adapt``, so the
# embedding and the temperature are learned through it. Every method runs
# under ``torch.func.vmap`` over the episodes of a meta-batch: no loops or
# branches that depend on the data.
import copy
import math
import numbers

import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, GroupKFold
from torch import nn

from sklearn_meta import Learner, MetaAlgorithm, MetaClassifier, Param
from sklearn_meta.model_selection import evaluate_few_shot

torch.set_num_threads(1)


class NearestMeanLearner(Learner):
    """A meta-learned embedding, class means and a learned temperature."""

    def __init__(self, embedding, temperature):
        super().__init__()
        self.embedding = embedding
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))

    @property
    def backbone(self):
        return self.embedding

    def adapt(self, x, y, n_outputs, loop):
        # A one-hot matrix product rather than a loop over classes (vmap-friendly).
        members = (y[:, None] == torch.arange(n_outputs, device=y.device)).to(x.dtype)
        counts = members.sum(0).clamp(min=1)
        return {"means": members.mT @ self.embedding(x) / counts[:, None]}

    def predict_with(self, state, x):
        distances = torch.cdist(self.embedding(x), state["means"]).square()
        return -distances / self.log_temperature.exp()

    def materialize(self, state):
        return AdaptedNearestMean(self, state)


class AdaptedNearestMean(nn.Module):
    """A frozen copy of the learner with one task's class means: inputs to logits."""

    def __init__(self, learner, state):
        super().__init__()
        self.learner = copy.deepcopy(learner).requires_grad_(False)
        self.register_buffer("means", state["means"].detach().clone())

    def forward(self, x):
        return self.learner.predict_with({"means": self.means}, x)


# %%
# The algorithm: the scikit-learn side
# ------------------------------------
# ``__init__`` only stores the parameters, as in any scikit-learn estimator,
# so ``get_params``, ``set_params`` and ``clone`` work. ``_parameters``
# describes and checks each one (the check runs at ``fit``);
# ``build_learner`` receives a freshly initialized network (``model.backbone``
# is the MLP or the ``module`` of the estimator, ``model.head`` a linear head
# this algorithm does not use). With no gradient steps to take,
# ``adapts_with_steps`` keeps its default, False. Defining the class
# registers its ``shortcuts`` as names of ``algorithm``.
def check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}.")


class NearestMean(MetaAlgorithm):
    """Nearest class mean on a meta-learned embedding, with a learned temperature."""

    task_kinds = ("classification",)
    shortcuts = {"nearest_mean": {}}
    _parameters = {
        "temperature": Param(
            "float",
            "Initial temperature dividing the squared distances (learned from there).",
            check_positive,
        ),
    }

    def __init__(self, temperature=1.0):
        self.temperature = temperature

    def build_learner(self, model, kind, n_classes):
        return NearestMeanLearner(model.backbone, self.temperature)


# %%
# Meta-training on some digits, adapting to others
# ------------------------------------------------
# The digits 0-5 are the training classes; 6-9 are kept for the end, as
# classes the estimator never saw. The component goes into ``MetaClassifier``
# like ``MAML()`` or ``ProtoNet()``, and its parameter shows up in
# ``get_params`` as ``algorithm__temperature``.
X, y = load_digits(return_X_y=True)
X = X / 16
train, new = y < 6, y >= 6

clf = MetaClassifier(
    NearestMean(),
    hidden_layer_sizes=(64, 64),
    n_way=3,
    n_shots=5,
    n_queries=5,
    meta_batch_size=4,
    max_iter=100,
    device="cpu",
    random_state=0,
)
print({k: v for k, v in clf.get_params().items() if k.startswith("algorithm")})

# %%
# Searching over its parameter
# ----------------------------
# ``GridSearchCV`` sets ``algorithm__temperature`` on clones, as it would
# ``algorithm__inner_lr`` of ``MAML``. ``GroupKFold`` with ``groups=y`` keeps
# the classes of each test fold out of its training folds, so every
# candidate is scored (episodically, by its ``score``) on digits it was not
# trained on.
search = GridSearchCV(
    clf,
    {"algorithm__temperature": [1.0, 10.0, 100.0]},
    cv=GroupKFold(n_splits=2),
)
search.fit(X[train], y[train], groups=y[train])
for temperature, score in zip(
    search.cv_results_["param_algorithm__temperature"],
    search.cv_results_["mean_test_score"],
    strict=True,
):
    print(f"temperature starting at {temperature:>5}: accuracy {score:.3f}")
best = search.best_estimator_
print(f"learned temperature: {best.learner_.log_temperature.exp().item():.2f}")

# %%
# Few-shot evaluation on the new digits
# -------------------------------------
# The refitted best estimator is scored on 4-way episodes of the digits 6-9.
# The built-in prototypical network (the shortcut ``"protonet"``), trained
# with the same settings, is scored on the same episodes (same
# ``random_state``), so the comparison is paired. Its logits are minus the
# squared distances to the prototypes: the rule above with the temperature
# fixed at 1: the two differ by the temperature alone.
protonet = clone(clf).set_params(algorithm="protonet").fit(X[train], y[train])
for name, model in [("nearest mean", best), ("protonet", protonet)]:
    result = evaluate_few_shot(
        model, X[new], y[new], n_way=4, n_shots=(1, 5), n_episodes=200, random_state=0
    )
    print(name)
    print(result.summary())

# %%
# An adapted task is an ordinary fitted estimator:
task = best.adapt(X[new][:20], y[new][:20])
print("classes:", task.classes_, "accuracy:", task.score(X[new][20:], y[new][20:]))
