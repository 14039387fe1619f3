"""``MetaClassifier`` and ``MetaRegressor``: the estimator shell, the algorithm a component."""

from __future__ import annotations

from ._classifier import _MetaClassifierBase
from ._params import document_parameters
from ._regressor import _MetaRegressorBase

_ALGORITHM_NOTE = """\
    The algorithm is a :class:`~sklearn_meta.MetaAlgorithm` with its own
    parameters: ``MAML``, ``Reptile``, ``ProtoNet``, ``MetaRidge``,
    ``FineTune``, ``SimpleShot``, ``MatchingNetworks`` or one of your own.
    A name stands for an algorithm's default settings: "maml", "fomaml"
    (``MAML(first_order=True)``), "metasgd" (``MAML(inner_update="meta-sgd")``),
    "anil" (``MAML(adapt_layers="head")``), "lstm"
    (``MAML(inner_update="lstm")``), "reptile", "protonet", "ridge",
    "finetune", "simpleshot", "matching"; an error lists those of this task
    kind. ``GridSearchCV`` searches over algorithms and their parameters::

        GridSearchCV(MetaClassifier(), {"algorithm": [MAML(), ProtoNet()]}, ...)
        GridSearchCV(MetaClassifier(MAML()), {"algorithm__inner_lr": [0.1, 0.4]}, ...)

    A parameter the algorithm does not have cannot be set. The named
    estimators (``MAMLClassifier``, ``ProtoNetClassifier``, ...) are presets
    of this class with the algorithm's parameters flat."""


def _note_algorithms(cls: type) -> type:
    cls.__doc__ = cls.__doc__.replace("{algorithms}", _ALGORITHM_NOTE.lstrip())
    return cls


@_note_algorithms
@document_parameters
class MetaClassifier(_MetaClassifierBase):
    """Few-shot classification with a meta-learning algorithm as a component.

    An episode draws ``n_way`` classes (from one group, when ``groups`` is
    given), ``n_shots`` support and ``n_queries`` query samples of each, with
    labels shuffled per episode; ``adapt`` takes any number of classes, new
    ones included.

    {algorithms}

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned torch module the algorithm built.
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The network prepared for the training classes, used by ``predict``.

    See Also
    --------
    MetaRegressor : The same for regression.
    MetaAlgorithm : The interface of an algorithm.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MetaClassifier, ProtoNet
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MetaClassifier(ProtoNet(), n_way=3, max_iter=10, device="cpu", random_state=0)
    >>> clf = clf.fit(X[y < 6] / 16, y[y < 6])
    >>> clf.get_params()["algorithm__distance"]
    'euclidean'
    """

    def __init__(
        self,
        algorithm="maml",
        *,
        hidden_layer_sizes=None,
        activation="relu",
        module=None,
        input_shape=None,
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        meta_lr=None,
        meta_batch_size=None,
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
        self.algorithm = algorithm
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.class_weight = class_weight
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


@_note_algorithms
@document_parameters
class MetaRegressor(_MetaRegressorBase):
    """Few-shot regression with a meta-learning algorithm as a component.

    Each group in ``fit`` is one task; ``groups=None`` makes all the data one
    task. An episode draws ``n_shots`` support and ``n_queries`` query
    samples of one task.

    {algorithms}

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned torch module the algorithm built.
    {fitted_attributes}

    See Also
    --------
    MetaClassifier : The same for classification.
    MetaAlgorithm : The interface of an algorithm.

    Examples
    --------
    >>> from sklearn_meta import MetaRegressor, Reptile
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(30, 20, random_state=0)
    >>> reg = MetaRegressor(Reptile(inner_steps=3), max_iter=10, device="cpu", random_state=0)
    >>> reg.fit(X, y, groups).n_iter_
    10
    """

    def __init__(
        self,
        algorithm="maml",
        *,
        hidden_layer_sizes=None,
        activation="relu",
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        meta_lr=None,
        meta_batch_size=None,
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
        self.algorithm = algorithm
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.input_shape = input_shape
        self.n_shots = n_shots
        self.n_queries = n_queries
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
