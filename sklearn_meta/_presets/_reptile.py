"""``ReptileRegressor`` and ``ReptileClassifier``: presets of :class:`~sklearn_meta.Reptile`
with its parameters flat."""

from __future__ import annotations

from .._estimators import MetaClassifier, MetaRegressor
from .._params import document_parameters
from .._reptile import Reptile

_REPTILE_PARAMETER_DOCS = {
    "n_queries": (
        "int",
        "Further samples per task (or per class). The inner loop of "
        "meta-training steps through them after the support; ``score`` "
        "adapts to the support and scores them.",
    ),
    "meta_lr": (
        "float",
        "Learning rate of the outer Adam optimizer, which takes θ − φ (the "
        "initialization minus the adapted weights, averaged over the meta-batch) "
        "as its gradient.",
    ),
}


@document_parameters
class ReptileRegressor(MetaRegressor):
    """Reptile for regression (Nichol, Achiam & Schulman 2018).

    Meta-trains an initialization θ so that a few steps of SGD fit a new task
    from a handful of examples. Each outer step adapts θ to every episode of
    the meta-batch with ``inner_steps`` SGD steps of size ``inner_lr``,
    giving weights φ, and moves θ toward the mean φ. No gradient flows
    through the inner loop (Reptile is first order), so its cost is that of
    ``inner_steps`` ordinary training steps.

    As in the paper, the inner loop cycles through the task's data in
    minibatches: here the episode's support set, then windows of as many
    query rows, and so on. Its steps thus see as many rows as the support
    sets that ``score`` and ``adapt`` fit with full-batch SGD, and the
    initialization is learned for steps of that size. Adapting to fewer
    rows than ``n_shots`` may need a smaller ``inner_lr`` (``set_params``
    before ``adapt``): the loss of fewer rows tends to be more curved.

    The move is made by an Adam optimizer (``meta_lr``) on the surrogate loss
    ``½‖θ − stopgrad(φ)‖²``, whose gradient is ``θ − φ``: a variant the
    paper suggests, treating θ − φ as a gradient for Adam. Its plain update
    θ ← θ + ε(φ − θ) is SGD on the same surrogate with learning rate ε.
    ``loss_curve_`` records the mean loss of the episodes after adaptation,
    on all the rows they were adapted to.

    The inner loop's defaults follow the authors' sine-wave demonstration:
    SGD steps of size 0.02 on minibatches of 10 points, 5 per task (the
    paper used Adam in the inner loop for few-shot classification). The
    default ``meta_lr`` is three times MAML's: on sine tasks it fit better
    after as many outer steps. The paper evaluated with more steps than it
    trained with (50 against 5 to 8 for few-shot classification);
    ``eval_inner_steps`` sets the steps of ``score`` and ``adapt``.

    Each group in ``fit`` is one task; ``groups=None`` makes all the data one
    task.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned network (``learner_.model``: backbone and head).
    {fitted_attributes}

    See Also
    --------
    ReptileClassifier : The same for classification.
    MAMLRegressor : Meta-gradients through the inner loop.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn_meta import ReptileRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(50, 20, random_state=0)
    >>> reptile = ReptileRegressor(max_iter=20, device="cpu", random_state=0)
    >>> reptile = reptile.fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=1)
    >>> task = reptile.adapt(X_new[:5], y_new[:5], inner_steps=10)
    >>> task.predict(X_new[5:]).shape
    (10,)
    """

    _parameter_docs = _REPTILE_PARAMETER_DOCS

    _preset = Reptile

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        inner_steps=5,
        inner_lr=0.02,
        meta_lr=0.003,
        meta_batch_size=25,
        vectorize="auto",
        n_threads="auto",
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        eval_inner_steps=None,
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
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.n_threads = n_threads
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.eval_inner_steps = eval_inner_steps
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose


@document_parameters
class ReptileClassifier(MetaClassifier):
    """Reptile for classification (Nichol, Achiam & Schulman 2018).

    An episode draws ``n_way`` classes (from one group, when ``groups`` is
    given), ``n_shots + n_queries`` samples of each, with labels shuffled per
    episode. Each outer step adapts the initialization θ to every episode of
    the meta-batch with ``inner_steps`` SGD steps, giving φ, and moves θ
    toward the mean φ with Adam, taking θ − φ as the gradient. The steps
    cycle through the episode in minibatches of ``n_shots`` samples of each
    class, the support set first (see :class:`ReptileRegressor`).
    ``loss_curve_`` records the mean cross-entropy of the episodes after
    adaptation.

    The head starts every class from one shared row (as in Unicorn-MAML, Ye
    & Chao 2022), so ``adapt`` takes any number of classes. The update
    averages the adapted class rows back into that row. The rows' mean does
    not change in the inner loop (a softmax's gradients sum to zero over the
    classes) and the shared row does not change the predictions, so the
    backbone carries what is meta-learned.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned network (``learner_.model``: backbone and head).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The network adapted to the training classes, used by ``predict``.

    See Also
    --------
    ReptileRegressor : The same for regression.
    MAMLClassifier : Meta-gradients through the inner loop.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ReptileClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> reptile = ReptileClassifier(n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> reptile = reptile.fit(X[train], y[train])
    >>> task = reptile.adapt(X[new][:20], y[new][:20], inner_steps=10)
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = _REPTILE_PARAMETER_DOCS

    _preset = Reptile

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
        inner_steps=5,
        inner_lr=0.1,
        meta_lr=0.001,
        meta_batch_size=16,
        vectorize="auto",
        n_threads="auto",
        task_chunk_size=None,
        max_iter=1000,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        validation_interval=10,
        n_eval_episodes=100,
        eval_inner_steps=None,
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
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.n_threads = n_threads
        self.task_chunk_size = task_chunk_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.n_eval_episodes = n_eval_episodes
        self.eval_inner_steps = eval_inner_steps
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
