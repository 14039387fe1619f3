"""``MetaRidgeRegressor`` and ``MetaRidgeClassifier``: presets of :class:`~sklearn_meta.MetaRidge`
with its parameters flat."""

from __future__ import annotations

from .._estimators import MetaClassifier, MetaRegressor
from .._params import document_parameters
from .._ridge import MetaRidge


@document_parameters
class MetaRidgeRegressor(MetaRegressor):
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

    _preset = MetaRidge

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
        self.n_threads = n_threads
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
class MetaRidgeClassifier(MetaClassifier):
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

    _preset = MetaRidge

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
        self.n_threads = n_threads
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
