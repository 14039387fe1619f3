"""One description per parameter, shared by every estimator's docstring.

``@document_parameters`` replaces ``{parameters}`` in a class docstring with a
numpydoc Parameters section listing the class's ``__init__`` parameters, with
their defaults read from the signature. A class documents its own parameters,
or rewords a shared one, in ``_parameter_docs = {name: (type, description)}``.
"""

from __future__ import annotations

import inspect
import textwrap

from ._core._tasks import REGRESSION

PARAMETERS: dict[str, tuple[str, str]] = {
    "hidden_layer_sizes": (
        "array-like of shape (n_layers,)",
        "Widths of the hidden layers of the MLP backbone.",
    ),
    "activation": (
        '{"identity", "logistic", "tanh", "relu"}',
        "Activation of the MLP backbone.",
    ),
    "module": (
        '{"mlp", "conv4"}, torch.nn.Module or callable',
        'The backbone (feature extractor). None or "mlp" builds an MLP from '
        '``hidden_layer_sizes``; "conv4" builds four blocks of 3x3 convolution '
        "(64 filters), batch norm, ReLU and 2x2 max-pooling; a module is "
        "deep-copied at ``fit``; a callable is called as ``module(n_features)`` "
        "and must return a module. It maps ``(n, n_features)`` (or "
        "``(n, *input_shape)``) to ``(n, n_embedding)``. Batch norm layers "
        "normalize each batch (episode) with its own statistics; batch, "
        "instance and layer norms apply their affine parameters as separate "
        "operations, which keeps vectorized second-order gradients exact.",
    ),
    "input_shape": (
        "tuple of int",
        "Shape each row is reshaped to before the backbone, e.g. ``(1, 28, 28)`` "
        'for flattened 28x28 grey images; required by "conv4", ignored by the MLP.',
    ),
    "n_way": ("int", "Classes per episode."),
    "n_shots": (
        "int",
        "Support samples per task (regression) or per class (classification).",
    ),
    "n_queries": ("int", "Query samples per task or per class, on which the meta-loss is taken."),
    "class_weight": (
        'dict, "balanced" or None',
        "Weights of the classes, ``{label: weight}`` naming every class (those "
        "``partial_fit`` brings in too), multiplying ``sample_weight`` "
        "in ``fit``: a class is drawn into episodes in proportion to its mean "
        'sample weight. "balanced" weighs each class by ``n_samples / (n_classes '
        "* count)``, so rare classes are drawn more often. Episodes hold "
        "``n_shots + n_queries`` samples of every class they draw, so they are "
        "balanced within themselves whatever this is; the fine-tuning baseline's "
        "pooled pretraining draws its minibatch rows in proportion to the "
        "weights. None weighs every class the same.",
    ),
    "inner_steps": ("int", "Gradient steps of the inner loop during meta-training."),
    "inner_lr": ("float", "Step size of the inner loop."),
    "first_order": (
        "bool",
        "Drop the second-order terms of the meta-gradient (first-order MAML).",
    ),
    "inner_update": (
        '{"sgd", "meta-sgd", "lstm"}',
        "The inner loop's update rule, meta-learned with the model unless "
        '"sgd": gradient descent with step size ``inner_lr`` (MAML); with one '
        'learned step size per parameter starting at ``inner_lr`` ("meta-sgd", '
        "Meta-SGD); or gradient descent plus a correction of at most "
        "``inner_lr`` per coordinate from a coordinate-wise LSTM fed each "
        'gradient, which starts at zero ("lstm", Andrychowicz et al. 2016; Ravi '
        "& Larochelle 2017).",
    ),
    "adapt_layers": (
        '{"all", "head"}',
        "Which parameters the inner loop moves: all of them (MAML), or only the "
        "linear head on a meta-learned backbone (ANIL).",
    ),
    "meta_lr": ("float", "Learning rate of the outer Adam optimizer."),
    "meta_batch_size": (
        "int",
        "Episodes per outer step, vectorized with ``torch.func.vmap``.",
    ),
    "vectorize": (
        "bool",
        "Map the episodes of a meta-batch with ``torch.func.vmap`` when the "
        "backbone runs under it (``vectorized_`` says whether it did), else "
        "with a Python loop. False always loops: on a CPU, convolutional "
        "backbones such as Conv4 train faster that way (each operation is "
        "already large); small networks train many times faster vectorized. "
        "Decided at the first step of a fresh ``fit``.",
    ),
    "task_chunk_size": (
        "int",
        "Episodes vectorized at a time: each outer step runs the meta-batch in "
        "chunks of this many episodes and adds up their gradients, the same "
        "update in the memory of one chunk. None runs the whole meta-batch at once.",
    ),
    "activation_checkpointing": (
        "bool",
        "Keep no activations of the inner steps for the meta-gradient: the "
        "backward pass runs each inner step again. Second-order memory then "
        "stays nearly flat in ``inner_steps``, for about one more inner step "
        'of compute each. Not with ``inner_update="lstm"``; no effect with '
        '``adapt_layers="head"`` (only the head adapts) or in prediction.',
    ),
    "max_iter": ("int", "Outer steps (meta-batches) per ``fit``."),
    "tol": (
        "float",
        "With ``n_iter_no_change``: stop once the training loss (or, with "
        "``early_stopping``, the validation score) has not improved by more "
        "than ``tol`` in that many checks. None runs ``max_iter`` steps unless "
        "``early_stopping``, which then stops when the validation score has not "
        "improved at all.",
    ),
    "n_iter_no_change": (
        "int",
        "Checks without improvement before stopping: outer steps with ``tol`` "
        "alone (the training loss), validations with ``early_stopping`` (one "
        "every ``validation_interval`` steps).",
    ),
    "early_stopping": (
        "bool",
        "Hold out ``validation_fraction`` of the tasks (groups; classes when "
        "there are no groups, at least two; samples of a single regression "
        "task), score them episodically every ``validation_interval`` steps "
        "and after the last, stop when that score stalls (``n_iter_no_change``, "
        "``tol``) and keep the parameters of the best score.",
    ),
    "validation_fraction": ("float", "Fraction of tasks held out for early stopping."),
    "validation_interval": (
        "int",
        "Outer steps between two validations of ``early_stopping``; each scores "
        "``n_eval_episodes`` episodes, which for learners with an inner loop "
        "costs about as much as a few outer steps.",
    ),
    "n_eval_episodes": ("int", "Episodes drawn by ``score`` and for early stopping."),
    "eval_inner_steps": (
        "int",
        "Inner steps used by ``score``, ``adapt`` and early stopping; None means ``inner_steps``.",
    ),
    "warm_start": ("bool", "Continue from the previous ``fit`` instead of starting afresh."),
    "checkpoint_path": (
        "str or path-like",
        "A file ``fit`` writes a checkpoint to every ``checkpoint_every`` steps, "
        "when interrupted and at the end (weights and state, no pickled code; "
        "see :func:`sklearn_meta.load`). When it already holds a checkpoint of "
        "the same estimator and training data, ``fit`` resumes from it and runs "
        "the remaining steps up to ``max_iter``, with the same result as an "
        "uninterrupted run (without ``tol`` or ``early_stopping``, whose "
        "bookkeeping starts afresh). Delete the file to start over. None "
        "writes no checkpoints.",
    ),
    "checkpoint_every": ("int", "Outer steps between checkpoints."),
    "device": (
        "str",
        'Torch device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", '
        '"cuda:1", ... Resolved at ``fit``.',
    ),
    "precision": (
        '{"float32", "bfloat16", "float16"}',
        "Mixed precision of meta-training: the forward passes of each outer step "
        "run under ``torch.autocast`` in this dtype, while parameters, optimizer "
        "and gradients stay float32; ``adapt`` and ``score`` run in float32, and "
        "the predictions of fitted and adapted estimators in float64 (float32 on "
        "MPS), so that a row's prediction does not depend on the other rows of "
        'its batch. "bfloat16" suits recent GPUs (and runs on CPUs); "float16" '
        "is applied without loss scaling, so small gradients may underflow.",
    ),
    "compile": (
        "bool",
        "Compile the vectorized meta-batch with ``torch.compile`` at the first "
        "step of each ``fit``. Compiling takes from seconds to minutes and then "
        "makes steps faster: worth it for long runs only.",
    ),
    "random_state": (
        "int, RandomState instance or None",
        "Seeds the initialization, the episodes and ``score``'s episodes.",
    ),
    "verbose": ("bool", "Show a progress bar during meta-training."),
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
        Whether episodes run under ``vmap`` (False for modules it cannot handle,
        and with ``vectorize=False``).
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


def document_parameters(cls: type) -> type:
    """Fill ``{parameters}`` and ``{fitted_attributes}`` in ``cls.__doc__``."""
    own = getattr(cls, "_parameter_docs", {})
    lines = ["Parameters", "----------"]
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        kind, text = own.get(name) or PARAMETERS[name]
        lines.append(f"{name} : {kind}, default={parameter.default!r}")
        lines += textwrap.wrap(text, 72, initial_indent="    ", subsequent_indent="    ")
    section = textwrap.indent("\n".join(lines), "    ").lstrip()
    fitted = FITTED_ATTRIBUTES.lstrip()
    if getattr(cls, "_kind", None) is REGRESSION:
        fitted += TARGET_ATTRIBUTES
    doc = cls.__doc__.replace("{parameters}", section)
    cls.__doc__ = doc.replace("{fitted_attributes}", fitted)
    return cls
