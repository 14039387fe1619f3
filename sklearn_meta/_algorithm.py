"""The interface of a learning algorithm: a component of the estimators.

:class:`MetaClassifier` and :class:`MetaRegressor` take the algorithm as an
object with its own parameters, as ``BaggingClassifier`` takes its
estimator: ``MetaClassifier(MAML(inner_lr=0.1))``. An algorithm says what it
builds (a :class:`~sklearn_meta._core._learner.Learner`, the torch module
that adapts to a support set), how it adapts (with or without gradient
steps, stated in ``adapts_with_steps``) and how its parameters are checked.
The estimator does the rest: input validation, episodes, the outer loop,
evaluation, persistence.
"""

from __future__ import annotations

from typing import ClassVar

from sklearn.base import BaseEstimator

from ._core._inner import InnerLoop
from ._core._learner import Learner
from ._core._model import MetaModel
from ._core._tasks import TaskKind
from ._params import Param, validate_parameters

# Every algorithm class by its qualified name (for loading saved estimators),
# and the string shortcuts of the estimators' ``algorithm`` parameter.
_CLASSES: dict[str, type[MetaAlgorithm]] = {}
_SHORTCUTS: dict[str, tuple[type[MetaAlgorithm], dict]] = {}


class MetaAlgorithm(BaseEstimator):
    """Base class of the learning algorithms of :class:`MetaClassifier` and
    :class:`MetaRegressor`.

    A subclass stores its parameters in ``__init__`` (scikit-learn's rule: no
    logic there), describes and checks them in ``_parameters``, and
    implements :meth:`build_learner`; an algorithm that adapts by gradient
    steps sets ``adapts_with_steps`` and implements :meth:`inner_loop`.
    Defining the subclass registers it: its ``shortcuts`` become names the
    estimators' ``algorithm`` parameter accepts, and :func:`sklearn_meta.load`
    finds it (once its module is imported). See the gallery example
    "Writing your own algorithm".

    Attributes
    ----------
    task_kinds : tuple of str
        The task kinds it handles: "classification", "regression" or both.
    adapts_with_steps : bool
        Whether adapting to a task takes gradient steps, so that the
        ``inner_steps`` of ``adapt`` apply.
    pretrains : bool
        Whether meta-training is plain supervised training of a network with
        one head row per training class, on minibatches of the pooled
        classes, instead of episodes (transfer-learning baselines; for
        classification).
    fit_support : {"support memory", "all samples", "trained head"}
        What a classifier's ``predict`` adapts to after ``fit``: the support
        memory (up to ``n_shots + n_queries`` samples per class), every
        training sample, or nothing (the pretrained head already has a row
        per training class). After ``partial_fit`` it is the support memory.
    recommended : dict
        Settings of the estimator this algorithm works best with, per task
        kind (``{"classification": {"meta_batch_size": 4}}``), used where
        :class:`MetaClassifier`'s parameter is None.
    shortcuts : dict
        Names for ``algorithm`` and the parameters each fixes
        (``{"fomaml": {"first_order": True}}``).
    """

    task_kinds: ClassVar[tuple[str, ...]] = ("classification", "regression")
    adapts_with_steps: ClassVar[bool] = False
    pretrains: ClassVar[bool] = False
    fit_support: ClassVar[str] = "support memory"
    recommended: ClassVar[dict[str, dict[str, object]]] = {}
    shortcuts: ClassVar[dict[str, dict[str, object]]] = {}
    _parameters: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES[qualified_name(cls)] = cls
        for name, fixed in cls.__dict__.get("shortcuts", {}).items():
            _SHORTCUTS[name] = (cls, fixed)

    def build_learner(self, model: MetaModel, kind: TaskKind, n_classes: int | None) -> Learner:
        """The torch module that meta-trains and adapts.

        Parameters
        ----------
        model : MetaModel
            A freshly initialized network: ``model.backbone`` (the feature
            extractor) and ``model.head`` (a linear layer with one output
            row; classifiers repeat it per class of a task).
        kind : TaskKind
            ``kind.name`` is "classification" or "regression".
        n_classes : int or None
            The number of training classes (None for regression).

        Returns
        -------
        learner : Learner
            Implements ``adapt`` and, where its state is not the network's
            parameters, ``predict_with`` and ``materialize``.
        """
        raise NotImplementedError

    def inner_loop(self, kind: TaskKind, steps: int | None = None) -> InnerLoop:
        """How a task is adapted; ``steps`` overrides the training steps.

        The default has no steps, for algorithms that adapt in closed form.
        """
        return InnerLoop(kind=kind, steps=0, lr=0.0)

    def evaluation_steps(self) -> int | None:
        """Steps of ``score``, ``adapt`` and early stopping (None: those of training)."""
        return None

    def finish_fit(self, learner: Learner, X) -> None:
        """Called after each fit, before ``predict`` adapts, for statistics of
        the training inputs ``X`` (a float32 tensor on the learner's device):
        every sample of ``fit``; after a classifier's ``partial_fit``, its
        support memory, a uniform sample of every class seen so far."""

    def setting(self, name: str, kind: TaskKind):
        """The value of parameter ``name`` in tasks of ``kind``: what None
        stands for where the best value depends on the kind."""
        value = getattr(self, name)
        return (
            self._parameters[name].resolve(value, kind.name) if name in self._parameters else value
        )

    def validate(self, kind: TaskKind) -> None:
        """Check the parameters, and that the algorithm handles ``kind``."""
        if kind.name not in self.task_kinds:
            raise ValueError(
                f"{type(self).__name__} is for {' and '.join(self.task_kinds)} only, "
                f"not {kind.name}."
            )
        validate_parameters(self.get_params(deep=False), self._parameters)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def algorithm_class(name: str) -> type[MetaAlgorithm]:
    """The algorithm class saved under ``name`` (see ``qualified_name``)."""
    if name not in _CLASSES:
        module = name.rpartition(".")[0]
        raise ValueError(
            f"The file was saved with the algorithm {name!r}, which is not defined here; "
            f"import {module} first."
        )
    return _CLASSES[name]


def resolve_algorithm(algorithm, kind: TaskKind) -> MetaAlgorithm:
    """The component ``algorithm`` is, or that its name (a shortcut for
    ``kind``) stands for; its parameters are checked by ``validate``."""
    if isinstance(algorithm, str):
        names = [name for name, (cls, _) in _SHORTCUTS.items() if kind.name in cls.task_kinds]
        if algorithm not in names:
            raise ValueError(
                f"algorithm must be one of {tuple(names)} or a MetaAlgorithm, got {algorithm!r}."
            )
        cls, fixed = _SHORTCUTS[algorithm]
        return cls(**fixed)
    if isinstance(algorithm, type) and issubclass(algorithm, MetaAlgorithm):
        raise TypeError(
            f"algorithm must be an instance: {algorithm.__name__}(), not the class itself."
        )
    if not isinstance(algorithm, MetaAlgorithm):
        raise TypeError(
            "algorithm must be a name or a MetaAlgorithm such as MAML(), "
            f"got {type(algorithm).__name__}."
        )
    return algorithm
