"""``ProtoNetClassifier``: presets of :class:`~sklearn_meta.ProtoNet`
with its parameters flat."""

from __future__ import annotations

from .._estimators import MetaClassifier
from .._params import document_parameters
from .._protonet import ProtoNet


@document_parameters
class ProtoNetClassifier(MetaClassifier):
    """Prototypical networks for few-shot classification (Snell et al. 2017).

    The backbone is an embedding, meta-trained on episodes as for
    :class:`MAMLClassifier`: ``n_way`` classes (from one group, when
    ``groups`` is given), ``n_shots`` support and ``n_queries`` query
    samples of each. Each class's prototype is the mean embedding of its
    support samples; the queries' logits are their negative squared
    Euclidean distances (or scaled cosine similarities) to the prototypes,
    and the meta-loss is their cross-entropy.

    Adapting to a task takes no gradient steps: ``adapt`` embeds the support
    set and averages it per class, so a new task with any number of classes
    is fitted in one forward pass (its ``inner_steps`` is ignored). After
    ``fit``, ``predict`` uses prototypes of the training classes computed
    from all the training samples; after ``partial_fit``, from the support
    memory of every class seen so far (see ``partial_fit``).

    {parameters}

    Attributes
    ----------
    learner_ : torch.nn.Module
        The meta-learned embedding (``learner_.embedding``) and, for
        "cosine", the logit scale (``learner_.logits.log_scale``).
    {fitted_attributes}
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    adapted_module_ : torch.nn.Module
        The embedding with the prototypes of the training classes, used by
        ``predict``.

    See Also
    --------
    MAMLClassifier : Adapts a meta-learned network with gradient steps.
    FewShotAdapter : Adaptation to one new task as a clonable estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> proto = ProtoNetClassifier(n_way=3, max_iter=20, device="cpu", random_state=0)
    >>> proto = proto.fit(X[train], y[train])
    >>> task = proto.adapt(X[new][:20], y[new][:20])
    >>> sorted(task.classes_.tolist())
    [6, 7, 8, 9]
    """

    _parameter_docs = {
        "hidden_layer_sizes": (
            "array-like of shape (n_layers,)",
            "Widths of the hidden layers of the MLP embedding; the last is the "
            "embedding's dimension.",
        ),
    }

    _preset = ProtoNet

    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        activation="relu",
        *,
        module=None,
        input_shape=None,
        distance="euclidean",
        n_way=5,
        n_shots=5,
        n_queries=15,
        class_weight=None,
        meta_lr=0.001,
        meta_batch_size=4,
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
        self.distance = distance
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
