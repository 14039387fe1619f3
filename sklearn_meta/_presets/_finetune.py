"""``FineTuneClassifier`` and ``FineTuneRegressor``: presets of :class:`~sklearn_meta.FineTune`
with its parameters flat."""

from __future__ import annotations

from .._estimators import MetaClassifier, MetaRegressor
from .._finetune import FineTune
from .._params import document_parameters

_SHARED_DOCS = {
    "meta_lr": ("float", "Learning rate of the Adam optimizer that pretrains the network."),
    "max_iter": ("int", "Pretraining steps (minibatches) per ``fit``."),
}


@document_parameters
class FineTuneClassifier(MetaClassifier):
    """Pretrain on all training classes, then fit a new head per task
    (Baseline and Baseline++ of Chen et al. 2019, "A Closer Look at Few-shot
    Classification").

    ``fit`` trains the backbone and a head with one row per training class
    by ordinary minibatch cross-entropy on all samples with their real
    labels (no episodes): each step fits ``meta_batch_size`` random
    minibatches of ``n_way * (n_shots + n_queries)`` samples, as many as a
    meta-batch of episodes. ``predict`` uses that pretrained network
    directly. ``partial_fit`` with new classes (and a ``warm_start`` fit with
    more classes) grows the head by a row per new class; as a head trained on
    the latest calls forgets the classes absent from them, ``predict`` after
    ``partial_fit`` fits a fresh head to the support memory of every class
    seen, as ``adapt`` would (see ``partial_fit``). For a new task
    (``adapt``, ``score``) a fresh head for the task's classes, starting at
    zero (at the class mean directions for the cosine head), takes
    ``inner_steps`` gradient steps on the support set, with the backbone
    frozen (``adapt_layers="head"``) or fine-tuned too (``"all"``).
    ``groups`` only shape the episodes of ``score`` and of early stopping.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The pretrained network (``learner_.model``: backbone and a head with
        one row per training class).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The pretrained network as a standalone module, used by ``predict``
        (after ``partial_fit``, with a head fitted to the support memory).

    See Also
    --------
    FineTuneRegressor : The same for regression.
    MAMLClassifier : Meta-learning instead of pretraining.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import FineTuneClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> clf = FineTuneClassifier(max_iter=50, device="cpu", random_state=0)
    >>> clf = clf.fit(X[train], y[train])
    >>> bool((clf.predict(X[train]) == y[train]).mean() > 0.8)
    True
    >>> task = clf.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = {
        **_SHARED_DOCS,
        "n_way": ("int", "Classes per episode of ``score``; sets the pretraining minibatch size."),
        "meta_batch_size": (
            "int",
            "Minibatches of ``n_way * (n_shots + n_queries)`` samples per pretraining "
            "step, vectorized with ``torch.func.vmap``.",
        ),
    }

    _preset = FineTune

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        head="linear",
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        inner_steps=100,
        inner_lr=0.05,
        adapt_layers="head",
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
        self.head = head
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.class_weight = class_weight
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.adapt_layers = adapt_layers
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
class FineTuneRegressor(MetaRegressor):
    """Pretrain one network on the pooled tasks, then fine-tune it per task.

    ``fit`` is the pooled training of ``MAMLRegressor(inner_steps=0)``: each
    step fits the ``n_queries`` query samples of ``meta_batch_size`` tasks
    with the same network. For a new task (``adapt``, ``score``) the
    network takes ``inner_steps`` gradient steps on the support set,
    all layers (``adapt_layers="all"``) or only the linear head on the frozen
    backbone (``"head"``). ``predict`` uses the pretrained network.

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The pretrained network (``learner_.model``: backbone and head).
    {fitted_attributes}

    See Also
    --------
    FineTuneClassifier : The same for classification.
    MAMLRegressor : Meta-learning instead of pretraining.

    Examples
    --------
    >>> from sklearn_meta import FineTuneRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(50, 20, random_state=0)
    >>> reg = FineTuneRegressor(max_iter=20, device="cpu", random_state=0)
    >>> reg = reg.fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoid_tasks(1, 15, random_state=1)
    >>> task = reg.adapt(X_new[:5], y_new[:5], inner_steps=10)
    >>> task.predict(X_new[5:]).shape
    (10,)
    """

    _parameter_docs = {
        **_SHARED_DOCS,
        "meta_batch_size": (
            "int",
            "Tasks per pretraining step, vectorized with ``torch.func.vmap``.",
        ),
    }

    _preset = FineTune

    def __init__(
        self,
        hidden_layer_sizes=(40, 40),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        n_shots=10,
        n_queries=10,
        inner_steps=10,
        inner_lr=0.01,
        adapt_layers="all",
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
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.adapt_layers = adapt_layers
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
