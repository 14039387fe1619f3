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

from ._classifier import _MetaClassifierBase
from ._core._inner import InnerLoop
from ._core._learner import Learner
from ._core._model import MetaModel, Params
from ._core._tasks import CLASSIFICATION
from ._docs import document_parameters
from ._regressor import _MetaRegressorBase
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


class MetaRidge(Learner):
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
            classes = torch.arange(n_outputs, device=y.device)
            targets = (y[:, None] == classes).to(features.dtype)
            prior = features.new_zeros(features.shape[1], n_outputs)
        weights = ridge_solve(features, targets, loop.alpha, prior)
        if self.log_scale is not None:
            weights = self.log_scale.exp() * weights
        return {**params, "head.weight": weights[:-1].T, "head.bias": weights[-1]}


class _MetaRidgeMixin:
    """The ridge head's hooks into the estimator shell."""

    _parameter_docs = {
        "alpha": (
            "float",
            "Strength of the ridge penalty on each task's head, weights and bias "
            "alike, as in :class:`~sklearn.linear_model.Ridge` (on the sum of squared "
            "errors). Regression shrinks the head toward the meta-learned one, "
            "classification toward zero. Must be > 0.",
        ),
    }

    def _build_learner(self, model: MetaModel) -> MetaRidge:
        return MetaRidge(model, classification=self._kind is CLASSIFICATION)

    def _inner_loop(self, steps: int | None = None) -> RidgeLoop:
        """One solve: ``steps`` does not apply."""
        return RidgeLoop(kind=self._kind, steps=0, lr=0.0, alpha=self.alpha)

    def _check_params(self) -> None:
        super()._check_params()
        check_float("alpha", self.alpha)


@document_parameters
class MetaRidgeRegressor(_MetaRidgeMixin, _MetaRegressorBase):
    """Meta-learned features with a closed-form ridge head per task (R2D2).

    A task's prediction is a linear function of features from a backbone,
    plus a bias, whose weights are fit in closed form by ridge regression on
    the task's support set. Meta-training backpropagates the query loss
    through that solve into the backbone and into the head the ridge weights
    are shrunk toward. Adapting to a task is one linear solve: there are no
    inner steps. Each group in ``fit`` is one task; ``groups=None`` makes all
    the data one task.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned network: ``learner_.model`` holds the backbone and
        the head that each task's ridge weights are shrunk toward, which
        ``predict`` uses.
    {fitted_attributes}

    See Also
    --------
    MetaRidgeClassifier : The same for classification.
    MAMLRegressor : Adaptation by gradient steps instead.

    Examples
    --------
    >>> from sklearn_meta import MetaRidgeRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(50, 20, random_state=0)
    >>> ridge = MetaRidgeRegressor(max_iter=20, device="cpu", random_state=0)
    >>> ridge = ridge.fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=1)
    >>> task = ridge.adapt(X_new[:5], y_new[:5])
    >>> task.predict(X_new[5:]).shape
    (10,)
    """

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        alpha=1.0,
        meta_lr=0.001,
        meta_batch_size=25,
        vectorize=True,
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=100,
        device="auto",
        precision="float32",
        compile=False,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.alpha = alpha
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose


@document_parameters
class MetaRidgeClassifier(_MetaRidgeMixin, _MetaClassifierBase):
    """Meta-learned features with a closed-form ridge head per task (R2D2).

    An episode draws ``n_way`` classes (from one group, when ``groups`` is
    given), ``n_shots`` support and ``n_queries`` query samples of each. Its
    head regresses one-hot labels on backbone features (and a bias feature)
    by ridge regression in closed form; the logits are those regressions
    times a meta-learned scale (``learner_.log_scale``, initially log 10),
    as in R2D2 (Bertinetto et al. 2019). Meta-training backpropagates the
    query cross-entropy through the solve into the backbone. ``adapt`` takes
    any number of classes, new ones included.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned backbone (``learner_.model.backbone``) and logit
        scale (``learner_.log_scale``).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The network with a ridge head solved on the training classes, used
        by ``predict``.

    See Also
    --------
    MetaRidgeRegressor : The same for regression.
    MAMLClassifier : Adaptation by gradient steps instead.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MetaRidgeClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> ridge = MetaRidgeClassifier(n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> ridge = ridge.fit(X[train], y[train])
    >>> task = ridge.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        alpha=1.0,
        meta_lr=0.001,
        meta_batch_size=16,
        vectorize=True,
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=100,
        device="auto",
        precision="float32",
        compile=False,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.class_weight = class_weight
        self.alpha = alpha
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
