"""``MetaClassifier`` and ``MetaRegressor``: one estimator, the learner a parameter."""

from __future__ import annotations

import inspect
import json
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._adapter import FewShotAdapter, ResolvedEstimator
from ._base import BaseMetaEstimator
from ._docs import document_parameters
from ._finetune import FineTuneClassifier, FineTuneRegressor
from ._maml import MAMLClassifier, MAMLRegressor
from ._persistence import decode, encode, from_payload, to_payload
from ._protonet import ProtoNetClassifier
from ._reptile import ReptileClassifier, ReptileRegressor
from ._ridge import MetaRidgeClassifier, MetaRidgeRegressor
from ._training import unchanged_on_failure
from ._validation import check_numeric, check_option

_MAML_VARIANTS = {
    "maml": {},
    "fomaml": {"first_order": True},
    "metasgd": {"inner_update": "meta-sgd"},
    "anil": {"adapt_layers": "head"},
    "lstm": {"inner_update": "lstm"},
}
CLASSIFIERS = {
    **{name: (MAMLClassifier, fixed) for name, fixed in _MAML_VARIANTS.items()},
    "reptile": (ReptileClassifier, {}),
    "protonet": (ProtoNetClassifier, {}),
    "ridge": (MetaRidgeClassifier, {}),
    "finetune": (FineTuneClassifier, {}),
}
REGRESSORS = {
    **{name: (MAMLRegressor, fixed) for name, fixed in _MAML_VARIANTS.items()},
    "reptile": (ReptileRegressor, {}),
    "ridge": (MetaRidgeRegressor, {}),
    "finetune": (FineTuneRegressor, {}),
}

_ALGORITHM_TABLE = """\
    ==========  ===========================================================
    algorithm   learner
    ==========  ===========================================================
    "maml"      MAML, second order (``MAMLClassifier``/``MAMLRegressor``)
    "fomaml"    first-order MAML (``first_order=True``)
    "metasgd"   Meta-SGD (``inner_update="meta-sgd"``)
    "anil"      ANIL (``adapt_layers="head"``)
    "lstm"      MAML with a learned LSTM update rule (``inner_update="lstm"``)
    "reptile"   Reptile (``ReptileClassifier``/``ReptileRegressor``)
    "protonet"  prototypical networks (``ProtoNetClassifier``), classifier only
    "ridge"     learned basis, closed-form ridge head (``MetaRidge*``)
    "finetune"  pretrain on pooled data, fine-tune a new head (``FineTune*``)
    ==========  ===========================================================

    Every other parameter is passed to that estimator when it has one, and
    is ignored otherwise: ``inner_steps``, ``inner_lr`` and
    ``eval_inner_steps`` by "protonet" and "ridge" (no inner loop),
    ``eval_inner_steps`` by "finetune" (``inner_steps`` are its adaptation
    steps), ``distance`` by all but "protonet", ``alpha`` by all but "ridge",
    ``head`` by all but "finetune", ``activation_checkpointing`` by all but
    the MAML variants. ``None`` means that estimator's default.
    ``estimator_`` is the fitted estimator; see it for the details."""


def _describe_algorithms(cls: type) -> type:
    cls.__doc__ = cls.__doc__.replace("{algorithms}", _ALGORITHM_TABLE.lstrip())
    return cls


class _FrontDoor(BaseEstimator):
    """Build the estimator that ``algorithm`` names and hand every call to it.

    The front door checks ``X`` itself and hands the learner a plain array,
    so that ``n_features_in_``, ``feature_names_in_`` and the messages about
    the inputs are its own; the learner's other messages use its name too.
    """

    _algorithms: dict[str, tuple[type, dict]]

    def _make_estimator(self):
        check_option("algorithm", self.algorithm, tuple(self._algorithms))
        make, fixed = self._algorithms[self.algorithm]
        accepted = inspect.signature(make.__init__).parameters
        params = {
            name: value
            for name, value in self.get_params(deep=False).items()
            if name in accepted and value is not None
        }
        return self._adopt(make(**params, **fixed))

    def _adopt(self, estimator: BaseMetaEstimator) -> BaseMetaEstimator:
        """``estimator``, made to give this estimator's name in its messages."""
        estimator._public_name = type(self).__name__
        return estimator

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        """``X`` checked in this estimator's name, as the array the learner gets."""
        check_numeric("X", X)
        return validate_data(self, X, reset=reset, dtype=np.float32)

    def _resolved_learner(self) -> ResolvedEstimator:
        """The fitted learner, which adapts for this estimator, behind this
        estimator's check of ``X`` (see ``resolve_meta_estimator``)."""
        return ResolvedEstimator(self.estimator_, (InputCheck(self),))

    def fit(self, X, y, groups=None, sample_weight=None):
        """Meta-train the learner that ``algorithm`` names.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of all tasks.
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Task label of each sample.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes (see the learner's ``fit``).

        Returns
        -------
        self : object
            The meta-trained estimator.
        """
        estimator = self._make_estimator()
        previous = getattr(self, "estimator_", None)
        if not (self.warm_start and type(previous) is type(estimator)):
            with unchanged_on_failure(self):
                X = self._validate_X(X, reset=True)
                self.estimator_ = estimator.fit(X, y, groups, sample_weight=sample_weight)
            return self
        kept = previous.get_params(deep=False)
        try:
            X = self._validate_X(X, reset=False)
            previous.set_params(**estimator.get_params(deep=False))
            previous.fit(X, y, groups, sample_weight=sample_weight)
        except BaseException:  # a failed call leaves the learner's parameters too
            previous.set_params(**kept)
            raise
        return self

    def _partial_fit(self, X, y, groups, **kwargs):
        first = not hasattr(self, "estimator_")
        estimator = self._make_estimator() if first else self.estimator_
        with unchanged_on_failure(self):  # the learner is kept once its first call succeeds
            X = self._validate_X(X, reset=first)
            self.estimator_ = estimator.partial_fit(X, y, groups, **kwargs)
        return self

    def predict(self, X):
        """Predict with the fitted learner (see its ``predict``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predictions.
        """
        check_is_fitted(self)
        return self.estimator_.predict(self._validate_X(X, reset=False))

    def adapt(self, X_support, y_support, *, inner_steps=None):
        """Fit one new task from a few examples (see the learner's ``adapt``).

        Parameters
        ----------
        X_support : array-like of shape (n_support, n_features)
            The new task's examples.
        y_support : array-like of shape (n_support,)
            Their targets or labels.
        inner_steps : int, default=None
            Adaptation steps, for learners with an inner loop.

        Returns
        -------
        adapted : FewShotAdapter
            A fitted estimator for that task.
        """
        return FewShotAdapter(self, inner_steps=inner_steps).fit(X_support, y_support)

    def score(self, X, y, groups=None, sample_weight=None):
        """Episodic few-shot score on held-out tasks (see the learner's ``score``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Held-out tasks' inputs.
        y : array-like of shape (n_samples,)
            Their targets.
        groups : array-like of shape (n_samples,), default=None
            Task labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the query samples.

        Returns
        -------
        score : float
            Accuracy (classifiers) or R² (regressors) over the episodes.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self.estimator_.score(X, y, groups, sample_weight=sample_weight)

    save = BaseMetaEstimator.save  # the file holds the fitted learner inside

    def _fitted_payload(self) -> dict:
        check_is_fitted(self)
        inputs = {name: encode(getattr(self, name)) for name in _INPUTS if hasattr(self, name)}
        return {"estimator": to_payload(self.estimator_), "inputs": json.dumps(inputs)}

    def _restore_payload(self, payload: dict, *, device=None, module=None) -> None:
        estimator = from_payload(payload["estimator"], device=device, module=module)
        self.estimator_ = self._adopt(estimator)
        inputs = json.loads(payload.get("inputs", "{}"))  # none in files of earlier versions
        self.__dict__.update({name: decode(value) for name, value in inputs.items()})

    @property
    def n_iter_(self) -> int:
        return self.estimator_.n_iter_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


# What the front door learns of its inputs in ``fit``, and ``save`` keeps.
_INPUTS = ("n_features_in_", "feature_names_in_")


class InputCheck(NamedTuple):
    """A fitted front door's check of ``X``, in the place of a transformer in
    front of its learner (see ``resolve_meta_estimator``)."""

    front_door: _FrontDoor

    def transform(self, X) -> np.ndarray:
        """``X`` checked as the front door's ``predict`` checks it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of the front door.

        Returns
        -------
        X_checked : ndarray of shape (n_samples, n_features)
            The float32 array its learner gets.
        """
        return self.front_door._validate_X(X, reset=False)


_SHARED_DOCS = {
    "algorithm": ("str", "The learner; see the table above."),
    "distance": (
        '{"euclidean", "cosine"}',
        'Prototypical networks\' distance ("protonet" only).',
    ),
    "alpha": ("float", 'Ridge penalty of the closed-form head ("ridge" only).'),
    "head": ('{"linear", "cosine"}', 'Head of the fine-tuning baseline ("finetune" only).'),
}


@_describe_algorithms
@document_parameters
class MetaClassifier(ClassifierMixin, _FrontDoor):
    """Few-shot classification with the meta-learner named by ``algorithm``.

    One estimator for every learner of the package, so the learner itself can
    be grid-searched by meta-evaluation on held-out classes::

        GridSearchCV(MetaClassifier(), {"algorithm": ["maml", "protonet"]},
                     cv=GroupKFold()).fit(X, y, groups=y)

    {algorithms}

    {parameters}

    Attributes
    ----------
    estimator_ : estimator
        The fitted learner.
    n_iter_ : int
        Outer steps the learner took.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, or so far in ``partial_fit`` (sorted).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MetaClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MetaClassifier("protonet", n_way=3, max_iter=10, device="cpu", random_state=0)
    >>> clf = clf.fit(X[y < 6] / 16, y[y < 6])
    >>> type(clf.estimator_).__name__
    'ProtoNetClassifier'
    """

    _algorithms = CLASSIFIERS
    _parameter_docs = _SHARED_DOCS
    score = _FrontDoor.score  # episodic, not ClassifierMixin's

    def __init__(
        self,
        algorithm="maml",
        *,
        hidden_layer_sizes=None,
        activation=None,
        module=None,
        input_shape=None,
        n_way=None,
        n_shots=None,
        n_queries=None,
        class_weight=None,
        inner_steps=None,
        inner_lr=None,
        eval_inner_steps=None,
        distance=None,
        alpha=None,
        head=None,
        meta_lr=None,
        meta_batch_size=None,
        vectorize=None,
        task_chunk_size=None,
        activation_checkpointing=None,
        max_iter=None,
        tol=None,
        n_iter_no_change=None,
        early_stopping=None,
        validation_fraction=None,
        validation_interval=None,
        n_eval_episodes=None,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=None,
        device="auto",
        precision=None,
        compile=None,
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
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.eval_inner_steps = eval_inner_steps
        self.distance = distance
        self.alpha = alpha
        self.head = head
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.activation_checkpointing = activation_checkpointing
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

    def partial_fit(self, X, y, groups=None, classes=None, sample_weight=None):
        """Continue meta-training on new tasks (see the learner's ``partial_fit``).

        Any call may bring new classes: ``classes_`` grows, and ``predict``
        covers every class seen so far.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels, new ones included.
        groups : array-like of shape (n_samples,), default=None
            Group of each sample.
        classes : array-like of shape (n_classes,), default=None
            Classes to know from this call on besides those in ``y``
            (optional; a later call may add more).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes.

        Returns
        -------
        self : object
            The estimator.
        """
        return self._partial_fit(X, y, groups, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities over the training classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(self._validate_X(X, reset=False))

    @property
    def classes_(self):
        return self.estimator_.classes_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # episodic few-shot score, as the learners'
        return tags


@_describe_algorithms
@document_parameters
class MetaRegressor(RegressorMixin, _FrontDoor):
    """Few-shot regression with the meta-learner named by ``algorithm``.

    The regression counterpart of :class:`MetaClassifier` ("protonet" is for
    classification only).

    {algorithms}

    {parameters}

    Attributes
    ----------
    estimator_ : estimator
        The fitted learner.
    n_iter_ : int
        Outer steps the learner took.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    Examples
    --------
    >>> from sklearn_meta import MetaRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(30, 20, random_state=0)
    >>> reg = MetaRegressor("reptile", max_iter=10, device="cpu", random_state=0)
    >>> type(reg.fit(X, y, groups).estimator_).__name__
    'ReptileRegressor'
    """

    _algorithms = REGRESSORS
    _parameter_docs = _SHARED_DOCS
    score = _FrontDoor.score  # episodic, not RegressorMixin's

    def __init__(
        self,
        algorithm="maml",
        *,
        hidden_layer_sizes=None,
        activation=None,
        module=None,
        input_shape=None,
        n_shots=None,
        n_queries=None,
        inner_steps=None,
        inner_lr=None,
        eval_inner_steps=None,
        alpha=None,
        meta_lr=None,
        meta_batch_size=None,
        vectorize=None,
        task_chunk_size=None,
        activation_checkpointing=None,
        max_iter=None,
        tol=None,
        n_iter_no_change=None,
        early_stopping=None,
        validation_fraction=None,
        validation_interval=None,
        n_eval_episodes=None,
        warm_start=False,
        checkpoint_path=None,
        checkpoint_every=None,
        device="auto",
        precision=None,
        compile=None,
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
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.eval_inner_steps = eval_inner_steps
        self.alpha = alpha
        self.meta_lr = meta_lr
        self.meta_batch_size = meta_batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.activation_checkpointing = activation_checkpointing
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

    def partial_fit(self, X, y, groups=None, sample_weight=None):
        """Continue meta-training on new tasks (see the learner's ``partial_fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Task label of each sample.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes.

        Returns
        -------
        self : object
            The estimator.
        """
        return self._partial_fit(X, y, groups, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # episodic few-shot score, as the learners'
        return tags
