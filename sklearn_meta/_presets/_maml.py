"""``MAMLRegressor`` and ``MAMLClassifier``: presets of :class:`~sklearn_meta.MAML`
with its parameters flat."""

from __future__ import annotations

from .._estimators import MetaClassifier, MetaRegressor
from .._maml import MAML
from .._params import document_parameters


@document_parameters
class MAMLRegressor(MetaRegressor):
    """Model-agnostic meta-learning for regression (MAML, Meta-SGD, ANIL).

    Meta-trains an initialization across tasks so that a few gradient steps
    on a handful of examples fit a new task. Each group in ``fit`` is one
    task; ``groups=None`` makes all the data one task. ``inner_steps=0``
    trains one network on the pooled tasks instead: the non-meta baseline.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned network (``learner_.model``: backbone and head), and
        the learned update rule: for "meta-sgd" the inner step sizes
        (``learner_.inner_lrs``), for "lstm" the LSTM (``learner_.update_rule``).
    {fitted_attributes}

    See Also
    --------
    MAMLClassifier : The same for classification.
    MAML : The algorithm, a component of :class:`MetaRegressor`.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn_meta import MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(50, 20, random_state=0)
    >>> maml = MAMLRegressor(max_iter=20, device="cpu", random_state=0)
    >>> maml = maml.fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=1)
    >>> task = maml.adapt(X_new[:5], y_new[:5], inner_steps=10)
    >>> task.predict(X_new[5:]).shape
    (10,)
    """

    _preset = MAML

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        inner_steps=1,
        inner_lr=0.01,
        first_order=False,
        inner_update="sgd",
        adapt_layers="all",
        meta_lr=0.001,
        meta_batch_size=25,
        vectorize="auto",
        n_threads="auto",
        task_chunk_size=None,
        activation_checkpointing=False,
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
        self.first_order = first_order
        self.inner_update = inner_update
        self.adapt_layers = adapt_layers
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.n_threads = n_threads
        self.task_chunk_size = task_chunk_size
        self.activation_checkpointing = activation_checkpointing
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
class MAMLClassifier(MetaClassifier):
    """Model-agnostic meta-learning for classification (MAML, Meta-SGD, ANIL).

    An episode draws ``n_way`` classes (from one group, when ``groups`` is
    given), ``n_shots`` support and ``n_queries`` query samples of each, with
    labels shuffled per episode. The head starts every class from one shared
    meta-learned row (as in Unicorn-MAML, Ye & Chao 2022), so ``adapt`` takes
    any number of classes, new ones included.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned network (``learner_.model``: backbone and head), and
        the learned update rule: for "meta-sgd" the inner step sizes
        (``learner_.inner_lrs``), for "lstm" the LSTM (``learner_.update_rule``).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The network adapted to the training classes, used by ``predict``.

    See Also
    --------
    MAMLRegressor : The same for regression.
    MAML : The algorithm, a component of :class:`MetaClassifier`.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MAMLClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> maml = MAMLClassifier(n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> maml = maml.fit(X[train], y[train])
    >>> task = maml.adapt(X[new][:20], y[new][:20], inner_steps=5)
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = {
        "inner_steps": (
            "int",
            "Gradient steps of the inner loop during meta-training. Every class "
            "starts from the same head row, so the first step moves only the head; "
            "the backbone adapts from the second step on.",
        )
    }

    _preset = MAML

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
        inner_lr=0.4,
        first_order=False,
        inner_update="sgd",
        adapt_layers="all",
        meta_lr=0.001,
        meta_batch_size=16,
        vectorize="auto",
        n_threads="auto",
        task_chunk_size=None,
        activation_checkpointing=False,
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
        self.first_order = first_order
        self.inner_update = inner_update
        self.adapt_layers = adapt_layers
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.n_threads = n_threads
        self.task_chunk_size = task_chunk_size
        self.activation_checkpointing = activation_checkpointing
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
