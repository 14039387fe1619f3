"""Meta-learned features with a closed-form ridge head per task (R2D2).

R2D2 (Bertinetto et al. 2019) and MetaOptNet's ridge head (Lee et al. 2019):
a task's predictor is f(x) = Σ wᵢ gᵢ(x) + b on features g(x) from a
meta-learned backbone; w and b are solved for in closed form by ridge
regression on the support set. The solve is differentiable, so the outer
loop trains the backbone through it. There are no inner gradient steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._algorithm import MetaAlgorithm
from ._core._inner import InnerLoop
from ._core._learner import Learner
from ._core._model import MetaModel, Params, class_indicators
from ._core._tasks import CLASSIFICATION, TaskKind
from ._params import Param, document_parameters
from ._validation import check_float

# Ridge fits one-hot targets, so logit gaps start below 1; R2D2 learns a scale
# to sharpen them. Starting it at 10 spares Adam most of that climb.
_INITIAL_SCALE = 10.0


@dataclass(frozen=True)
class RidgeLoop(InnerLoop):
    """Adaptation by one ridge solve with penalty ``alpha`` (no gradient steps).

    ``alpha`` travels with the loop, as ``lr`` does for MAML, so a changed
    ``alpha`` applies to ``score`` and ``adapt`` of a fitted estimator.
    """

    alpha: float = 1.0


def ridge_solve(features: Tensor, targets: Tensor, alpha: float, prior: Tensor) -> Tensor:
    """``argmin_W ‖features W − targets‖² + alpha ‖W − prior‖²``.

    The Woodbury (dual) form solves an ``n_samples``-square system when there
    are fewer samples than features, the primal form a feature-square one
    otherwise; both run under ``vmap`` and are differentiable.
    """
    n_samples, n_features = features.shape
    residual = targets - features @ prior
    if n_samples < n_features:
        gram = features @ features.T
        identity = torch.eye(n_samples, dtype=gram.dtype, device=gram.device)
        return prior + features.T @ torch.linalg.solve(gram + alpha * identity, residual)
    gram = features.T @ features
    identity = torch.eye(n_features, dtype=gram.dtype, device=gram.device)
    return prior + torch.linalg.solve(gram + alpha * identity, features.T @ residual)


def with_ones(features: Tensor) -> Tensor:
    """Features with a constant column appended: the (penalized) bias feature."""
    return torch.cat([features, torch.ones_like(features[:, :1])], dim=1)


class RidgeLearner(Learner):
    """A meta-learned backbone whose head is a per-task ridge solution.

    Regression shrinks a task's weights toward the meta-learned head (ridge
    around a common mean, Denevi et al. 2018), which is also what ``predict``
    uses before adaptation. Classification regresses one-hot targets with
    weights shrunk toward zero (a prior row shared by the classes would add
    the same logit to every class, so ``model.head`` goes unused) and
    multiplies the logits by a learned scale.
    """

    def __init__(self, model: MetaModel, classification: bool):
        super().__init__()
        self.model = model
        self.log_scale = (
            nn.Parameter(torch.tensor(math.log(_INITIAL_SCALE))) if classification else None
        )

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: RidgeLoop) -> Params:
        """The meta-learned backbone and the ridge head solved on ``(x, y)``."""
        params = dict(self.model.named_parameters())
        features = with_ones(self.model.backbone(x))
        if self.log_scale is None:
            targets = y[:, None]
            prior = torch.cat([params["head.weight"], params["head.bias"][:, None]], dim=1).T
        else:
            targets = class_indicators(y, n_outputs, features.dtype)
            prior = features.new_zeros(features.shape[1], n_outputs)
        weights = ridge_solve(features, targets, loop.alpha, prior)
        if self.log_scale is not None:
            weights = self.log_scale.exp() * weights
        return {**params, "head.weight": weights[:-1].T, "head.bias": weights[-1]}


@document_parameters
class MetaRidge(MetaAlgorithm):
    """Meta-learned features with a closed-form ridge head per task (R2D2).

    A task's prediction is a linear function of features from a backbone,
    plus a bias, whose weights are solved for by ridge regression on the
    task's support set; meta-training backpropagates the query loss through
    the solve (Bertinetto et al. 2019; Lee et al. 2019). Adapting is one
    linear solve: there are no inner steps.

    {parameters}

    See Also
    --------
    MetaRidgeClassifier, MetaRidgeRegressor : The same as estimators with flat parameters.

    Examples
    --------
    >>> from sklearn_meta import MetaClassifier, MetaRidge
    >>> MetaClassifier(MetaRidge(alpha=0.1)).get_params()["algorithm__alpha"]
    0.1
    """

    shortcuts = {"ridge": {}}
    _parameters = {
        "alpha": Param(
            "float",
            "Strength of the ridge penalty on each task's head, weights and bias "
            "alike, as in :class:`~sklearn.linear_model.Ridge` (on the sum of squared "
            "errors). Regression shrinks the head toward the meta-learned one, "
            "classification toward zero. Must be > 0.",
            check_float,
        ),
    }

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def build_learner(
        self, model: MetaModel, kind: TaskKind, n_classes: int | None
    ) -> RidgeLearner:
        return RidgeLearner(model, classification=kind is CLASSIFICATION)

    def inner_loop(self, kind: TaskKind, steps: int | None = None) -> RidgeLoop:
        """One solve: ``steps`` does not apply."""
        return RidgeLoop(kind=kind, steps=0, lr=0.0, alpha=self.alpha)
