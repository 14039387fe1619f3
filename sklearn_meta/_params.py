"""Every parameter of the scikit-learn shell, with its documentation and its check.

A :class:`Param` keeps a parameter's type, text and check side by side; its
default is in the signature of the estimator that takes it. ``SHELL`` holds
the parameters every meta-estimator shares (the network, the episodes, the
outer loop, the device); each algorithm keeps its own in its
``_parameters`` (see :class:`~sklearn_meta.MetaAlgorithm`), built from the
shared ones below where algorithms share a parameter.
``@document_parameters`` writes a class's numpydoc Parameters section from
these tables and its signature.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ._validation import (
    check_bool,
    check_class_weight,
    check_float,
    check_hidden_layer_sizes,
    check_int,
    check_option,
    check_path,
)

Check = Callable[[str, object], object]


@dataclass(frozen=True)
class Param:
    """A parameter's type and description (numpydoc) and its check.

    ``nullable`` lets None through the check. ``by_kind`` says what None
    stands for in each task kind (``{"classification": 5, "regression": 1}``),
    for parameters whose good value depends on it.
    """

    type: str
    doc: str
    check: Check | None = None
    nullable: bool = False
    by_kind: Mapping[str, object] = field(default_factory=dict)

    def validate(self, name: str, value) -> None:
        if value is None and (self.nullable or self.by_kind):
            return
        if self.check is not None:
            self.check(name, value)

    def resolve(self, value, kind: str):
        """``value``, or what None stands for in task kind ``kind``."""
        return self.by_kind.get(kind, value) if value is None else value

    def reworded(self, doc: str) -> Param:
        return replace(self, doc=doc)


def at_least(minimum: int) -> Check:
    return lambda name, value: check_int(name, value, minimum)


def one_of(*options: str) -> Check:
    return lambda name, value: check_option(name, value, options)


def or_auto(check: Check, expected: str) -> Check:
    """``check``, or the string "auto"; the error names both."""

    def check_or_auto(name: str, value) -> None:
        if isinstance(value, str) and value == "auto":
            return
        try:
            check(name, value)
        except (TypeError, ValueError) as error:
            raise type(error)(f'{name} must be {expected} or "auto", got {value!r}.') from None

    return check_or_auto


def validate_parameters(params: Mapping[str, object], table: Mapping[str, Param]) -> None:
    """Check each of ``params`` that ``table`` describes."""
    for name, value in params.items():
        if name in table:
            table[name].validate(name, value)


# Parameters several algorithms share (each may reword the text).
INNER_STEPS = Param("int", "Gradient steps of the inner loop during meta-training.", at_least(0))
INNER_LR = Param("float", "Step size of the inner loop.", check_float)
EVAL_INNER_STEPS = Param(
    "int",
    "Inner steps used by ``score``, ``adapt`` and early stopping; None means ``inner_steps``.",
    at_least(0),
    nullable=True,
)
ADAPT_LAYERS = Param(
    '{"all", "head"}',
    "Which parameters the inner loop moves: all of them (MAML), or only the "
    "linear head on a meta-learned backbone (ANIL).",
    one_of("all", "head"),
)

# Where an algorithm's best value differs, None takes it (``recommended``).
_RECOMMENDED = " Where None, the algorithm's recommended value if it has one (see ``recommended``)."

SHELL: dict[str, Param] = {
    "algorithm": Param(
        "str or MetaAlgorithm",
        "The learning algorithm: a component such as ``MAML(inner_lr=0.1)`` "
        "with its own parameters (searchable as ``algorithm__inner_lr``), or "
        "the name of one with its default settings (see the table above).",
    ),
    "hidden_layer_sizes": Param(
        "array-like of shape (n_layers,)",
        "Widths of the hidden layers of the MLP backbone." + _RECOMMENDED,
        lambda name, value: check_hidden_layer_sizes(value),
        by_kind={"classification": (40, 40), "regression": (40, 40)},
    ),
    "activation": Param(
        '{"identity", "logistic", "tanh", "relu"}',
        "Activation of the MLP backbone.",
        one_of("identity", "logistic", "tanh", "relu"),
    ),
    "module": Param(
        '{"mlp", "conv4"}, torch.nn.Module or callable',
        'The backbone (feature extractor). None or "mlp" builds an MLP from '
        '``hidden_layer_sizes``; "conv4" builds four blocks of 3x3 convolution '
        "(64 filters), batch norm, ReLU and 2x2 max-pooling; a module is deep-"
        "copied at ``fit``; a callable is called as ``module(n_features)`` and "
        "must return a module. It maps ``(n, n_features)`` (or ``(n, "
        "*input_shape)``) to ``(n, n_embedding)``. Batch norm layers normalize "
        "each batch (episode) with its own statistics; batch, instance and "
        "layer norms apply their affine parameters as separate operations, "
        "which keeps vectorized second-order gradients exact.",
        nullable=True,
    ),
    "input_shape": Param(
        "tuple of int",
        "Shape each row is reshaped to before the backbone, e.g. ``(1, 28, "
        '28)`` for flattened 28x28 grey images; required by "conv4", ignored by'
        " the MLP.",
        nullable=True,
    ),
    "n_way": Param(
        "int",
        "Classes per episode.",
        at_least(2),
    ),
    "n_shots": Param(
        "int",
        "Support samples per task (regression) or per class (classification).",
        at_least(1),
    ),
    "n_queries": Param(
        "int",
        "Query samples per task or per class, on which the meta-loss is taken.",
        at_least(1),
    ),
    "class_weight": Param(
        'dict, "balanced" or None',
        "Weights of the classes, ``{label: weight}`` naming every class (those "
        "``partial_fit`` brings in too), multiplying ``sample_weight`` in "
        "``fit``: a class is drawn into episodes in proportion to its mean "
        'sample weight. "balanced" weighs each class by ``n_samples / '
        "(n_classes * count)``, so rare classes are drawn more often. Episodes "
        "hold ``n_shots + n_queries`` samples of every class they draw, so they"
        " are balanced within themselves whatever this is; the fine-tuning "
        "baseline's pooled pretraining draws its minibatch rows in proportion "
        "to the weights. None weighs every class the same.",
        check_class_weight,
        nullable=True,
    ),
    "meta_lr": Param(
        "float",
        "Learning rate of the outer Adam optimizer." + _RECOMMENDED,
        check_float,
        by_kind={"classification": 0.001, "regression": 0.001},
    ),
    "meta_batch_size": Param(
        "int",
        "Episodes per outer step, vectorized with ``torch.func.vmap``." + _RECOMMENDED,
        at_least(1),
        by_kind={"classification": 16, "regression": 25},
    ),
    "vectorize": Param(
        'bool or "auto"',
        "Map the episodes of a meta-batch with ``torch.func.vmap`` (True) or "
        'with a Python loop (False). "auto" times both on the first steps of a '
        "fresh ``fit`` and keeps the faster (see ``n_threads``): on a CPU, "
        "small networks train many times faster vectorized and convolutional "
        "backbones such as Conv4 faster in the loop. Modules that cannot run "
        "under ``vmap`` always loop. ``vectorized_`` says what ``fit`` chose; "
        "pass it back for bit-identical refits, since the two paths round "
        "differently.",
        or_auto(check_bool, "a bool"),
    ),
    "n_threads": Param(
        'int or "auto"',
        "Torch's intra-op CPU threads while this estimator works (``fit``, "
        "``predict``, ``adapt``, ``score``); the caller's setting "
        "(``torch.get_num_threads()``) is back afterwards, also after an "
        'error. "auto" times the caller\'s setting against one thread on the '
        "first steps of a fresh ``fit`` (with ``vectorize``'s two paths) and "
        "keeps the faster (and times them again if its steps slow down by half "
        "later), recorded in ``n_threads_``: one thread per core is "
        "fastest on a quiet machine, while a machine whose cores are busy "
        "with other work can make it many times slower than one thread. "
        "A ``fit`` of fewer than 50 steps, and ``partial_fit``, skip the "
        "timing and use the caller's setting with ``vmap``.",
        or_auto(at_least(1), "an int >= 1"),
    ),
    "task_chunk_size": Param(
        "int",
        "Episodes vectorized at a time: each outer step runs the meta-batch in "
        "chunks of this many episodes and adds up their gradients, the same "
        "update in the memory of one chunk. None runs the whole meta-batch at "
        "once.",
        at_least(1),
        nullable=True,
    ),
    "max_iter": Param(
        "int",
        "Outer steps (meta-batches) per ``fit``.",
        at_least(1),
    ),
    "tol": Param(
        "float",
        "With ``n_iter_no_change``: stop once the training loss (or, with "
        "``early_stopping``, the validation score) has not improved by more "
        "than ``tol`` in that many checks. None runs ``max_iter`` steps unless "
        "``early_stopping``, which then stops when the validation score has not"
        " improved at all.",
        lambda name, value: check_float(name, value, positive=False),
        nullable=True,
    ),
    "n_iter_no_change": Param(
        "int",
        "Checks without improvement before stopping: outer steps with ``tol`` "
        "alone (the training loss), validations with ``early_stopping`` (one "
        "every ``validation_interval`` steps).",
        at_least(1),
    ),
    "early_stopping": Param(
        "bool",
        "Hold out ``validation_fraction`` of the tasks (groups; classes when "
        "there are no groups, at least two; samples of a single regression "
        "task), score them episodically every ``validation_interval`` steps and"
        " after the last, stop when that score stalls (``n_iter_no_change``, "
        "``tol``) and keep the parameters of the best score.",
        check_bool,
    ),
    "validation_fraction": Param(
        "float",
        "Fraction of tasks held out for early stopping.",
        lambda name, value: check_float(name, value, upper=1.0),
    ),
    "validation_interval": Param(
        "int",
        "Outer steps between two validations of ``early_stopping``; each scores"
        " ``n_eval_episodes`` episodes, which for learners with an inner loop "
        "costs about as much as a few outer steps.",
        at_least(1),
    ),
    "n_eval_episodes": Param(
        "int",
        "Episodes drawn by ``score`` and for early stopping.",
        at_least(1),
    ),
    "warm_start": Param(
        "bool",
        "Continue from the previous ``fit`` instead of starting afresh.",
        check_bool,
    ),
    "checkpoint_path": Param(
        "str or path-like",
        "A file ``fit`` writes a checkpoint to every ``checkpoint_every`` "
        "steps, when interrupted and at the end (weights and state, no pickled "
        "code; see :func:`sklearn_meta.load`). When it already holds a "
        "checkpoint of the same estimator and training data, ``fit`` resumes "
        "from it and runs the remaining steps up to ``max_iter``, with the same"
        " result as an uninterrupted run (without ``tol`` or "
        "``early_stopping``, whose bookkeeping starts afresh). Delete the file "
        "to start over. None writes no checkpoints.",
        check_path,
        nullable=True,
    ),
    "checkpoint_every": Param(
        "int",
        "Outer steps between checkpoints.",
        at_least(1),
    ),
    "device": Param(
        "str",
        'Torch device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", '
        '"cuda:1", ... Resolved at ``fit``.',
    ),
    "precision": Param(
        '{"float32", "bfloat16", "float16"}',
        "Mixed precision of meta-training: the forward passes of each outer "
        "step run under ``torch.autocast`` in this dtype, while parameters, "
        "optimizer and gradients stay float32; ``adapt`` and ``score`` run in "
        "float32, and the predictions of fitted and adapted estimators in "
        "float64 (float32 on MPS), so that a row's prediction does not depend "
        'on the other rows of its batch. "bfloat16" suits recent GPUs (and runs'
        ' on CPUs); "float16" is applied without loss scaling, so small '
        "gradients may underflow.",
        one_of("float32", "bfloat16", "float16"),
    ),
    "compile": Param(
        "bool",
        "Compile the vectorized meta-batch with ``torch.compile`` at the first "
        "step of each ``fit``. Compiling takes from seconds to minutes and then"
        " makes steps faster: worth it for long runs only.",
        check_bool,
    ),
    "random_state": Param(
        "int, RandomState instance or None",
        "Seeds the initialization, the episodes and ``score``'s episodes.",
        nullable=True,
    ),
    "verbose": Param(
        "bool",
        "Show a progress bar during meta-training.",
    ),
}

FITTED_ATTRIBUTES = """\
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.
    n_iter_ : int
        Outer steps taken so far.
    loss_curve_ : list of float
        Mean meta-training loss of each outer step.
    validation_scores_ : list of float or None
        Episodic validation scores with ``early_stopping``, one every
        ``validation_interval`` steps and one after the last step of each fit.
    best_validation_score_ : float or None
        Best of ``validation_scores_``, whose parameters are kept.
    vectorized_ : bool
        Whether meta-training maps episodes with ``vmap`` (False for modules
        it cannot handle, with ``vectorize=False``, and when "auto" found the
        task loop faster); ``score`` follows it.
    n_threads_ : int
        Torch's CPU threads that ``fit`` ran with (chosen by timing for
        ``n_threads="auto"``); ``predict``, ``adapt`` and ``score`` use them too.
    path_timings_ : dict
        Seconds per outer step of each path that ``fit`` timed to choose
        ``vectorized_`` and ``n_threads_`` (empty when it timed none).
    device_ : torch.device
        Where the network lives."""

# Regressors standardize their targets; classifiers have no such attributes.
TARGET_ATTRIBUTES = """
    target_mean_ : float
        Mean of the training targets (of the first fit).
    target_scale_ : float
        Their standard deviation (1 for constant targets). The network learns
        and adapts on ``(y - target_mean_) / target_scale_``, so ``inner_lr``
        means the same on any scale of ``y``, and fitting on ``a * y + b``
        (``a > 0``) predicts ``a * p + b``; predictions are in the units of ``y``."""


def parameter_table(cls: type) -> dict[str, Param]:
    """What describes each parameter of ``cls``: its own ``_parameter_docs``,
    then its algorithm's ``_parameters``, then ``SHELL``."""
    algorithm = getattr(cls, "_preset", None) or cls
    table = {**SHELL, **getattr(algorithm, "_parameters", {})}
    for name, text in getattr(cls, "_parameter_docs", {}).items():
        table[name] = text if isinstance(text, Param) else Param(*text)
    return table


def document_parameters(cls: type) -> type:
    """Fill ``{parameters}`` and ``{fitted_attributes}`` in ``cls.__doc__``."""
    table = parameter_table(cls)
    lines = ["Parameters", "----------"]
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        param = table[name]
        text = param.doc
        if parameter.default is None and param.by_kind:
            meanings = " and ".join(
                f"{value!r} for {kind}" for kind, value in param.by_kind.items()
            )
            text += f" None means {meanings}."
        lines.append(f"{name} : {param.type}, default={parameter.default!r}")
        lines += textwrap.wrap(text, 72, initial_indent="    ", subsequent_indent="    ")
    section = textwrap.indent("\n".join(lines), "    ").lstrip()
    fitted = FITTED_ATTRIBUTES.lstrip()
    if getattr(getattr(cls, "_kind", None), "name", None) == "regression":
        fitted += TARGET_ATTRIBUTES
    doc = cls.__doc__.replace("{parameters}", section)
    cls.__doc__ = doc.replace("{fitted_attributes}", fitted)
    return cls
