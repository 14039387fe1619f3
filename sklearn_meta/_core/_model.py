"""Networks, devices and the conversion between modules and parameter dicts."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import chain

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ._norms import split_affine_norms

Params = dict[str, Tensor]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` into a usable device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or 'mps'."
        ) from exc
    if not is_available(resolved):
        raise ValueError(f"device={device!r} was requested but is not available here.")
    return resolved


def is_available(device: torch.device) -> bool:
    if device.type == "cuda":
        index = device.index or 0
        return torch.cuda.is_available() and index < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return device.type == "cpu"


def own_random_state(device: torch.device) -> AbstractContextManager:
    """Restore torch's random state (of the CPU, and of ``device``) on leaving."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in evaluation mode (dropout off), its own mode restored on leaving."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def build_mlp(n_features: int, hidden_layer_sizes: Sequence[int], activation: str) -> nn.Module:
    """The default backbone: dense layers with ``activation`` after each."""
    layers: list[nn.Module] = []
    width = n_features
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
        width = size
    return nn.Sequential(*layers)


class MetaModel(nn.Module):
    """A backbone (feature extractor) followed by a linear head.

    The head has one output row. Regression uses it as is; a classification
    episode with ``n`` classes repeats that row ``n`` times before adapting, so
    one meta-learned initialization serves any number of classes and any
    order of labels (the shared-row head of Unicorn-MAML, Ye & Chao 2022).
    """

    def __init__(self, backbone: nn.Module, n_features: int):
        super().__init__()
        self.backbone = backbone
        with torch.no_grad(), evaluation_mode(backbone):
            try:
                probe = backbone(torch.zeros(2, n_features, device=_device_of(backbone)))
            except RuntimeError as exc:
                raise ValueError(
                    f"module failed on a batch of shape (2, {n_features}): {exc}"
                ) from exc
        if probe.ndim != 2:
            raise ValueError(
                "module must map (n_samples, n_features) to (n_samples, n_embedding); "
                f"it returned shape {tuple(probe.shape)}."
            )
        self.head = nn.Linear(probe.shape[1], 1, device=probe.device)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def _device_of(module: nn.Module) -> torch.device:
    tensor = next(module.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def build_conv4(input_shape: Sequence[int], width: int = 64) -> nn.Module:
    """Conv4, the few-shot literature's backbone: four blocks of 3x3
    convolution, batch norm, ReLU and 2x2 max-pooling, then flattening.

    Batch norm always normalizes with the statistics of the batch it sees
    (``track_running_stats=False``): per episode in the inner loop, on the
    vectorized and the loop path alike, as in the published MAML results.
    """
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for _ in range(4):
        layers += [
            nn.Conv2d(channels, width, kernel_size=3, padding=1),
            nn.BatchNorm2d(width, track_running_stats=False),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        channels = width
    return nn.Sequential(*layers, nn.Flatten())


def build_backbone(
    module: str | nn.Module | Callable[[int], nn.Module] | None,
    n_features: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """A fresh backbone: the MLP, Conv4, a copy of a user module, or a built one.

    With ``input_shape``, rows of ``n_features`` values are first reshaped to
    ``input_shape`` (for example ``(1, 28, 28)``); the MLP ignores it. Batch,
    instance and layer norms are replaced by equivalents whose second-order
    gradients are right under ``vmap``; batch norm then always normalizes
    with the statistics of the batch it sees (see ``_norms``).
    """
    if module is None or module == "mlp":
        return build_mlp(n_features, hidden_layer_sizes, activation)
    shape = _check_input_shape(input_shape, n_features)
    if module == "conv4":
        if shape is None or len(shape) != 3:
            raise ValueError(
                "module='conv4' needs input_shape=(channels, height, width), "
                f"got input_shape={input_shape!r}."
            )
        backbone = build_conv4(shape)
    elif isinstance(module, nn.Module):
        backbone = copy.deepcopy(module)
    elif callable(module) and not isinstance(module, str):
        backbone = module(n_features)
        if not isinstance(backbone, nn.Module):
            raise TypeError(
                f"module(n_features) must return a torch.nn.Module, got {type(backbone).__name__}."
            )
    else:
        raise TypeError(
            "module must be None, 'mlp', 'conv4', a torch.nn.Module or a callable taking "
            f"n_features and returning one; got {module!r}."
        )
    backbone = split_affine_norms(backbone)
    return backbone if shape is None else nn.Sequential(nn.Unflatten(1, shape), backbone)


def _check_input_shape(input_shape, n_features: int) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    shape = tuple(int(d) for d in input_shape)
    if any(d < 1 for d in shape) or math.prod(shape) != n_features:
        raise ValueError(
            f"input_shape={input_shape!r} does not hold the {n_features} features of each row."
        )
    return shape


def class_indicators(y: Tensor, n_classes: int, dtype: torch.dtype) -> Tensor:
    """One-hot rows of the class codes ``y``, shape ``(n, n_classes)``: a
    product with them sums per class without a loop over classes, so it runs
    under ``vmap``."""
    return (y[:, None] == torch.arange(n_classes, device=y.device)).to(dtype)


def with_head_rows(params: Params, n_rows: int) -> Params:
    """Repeat the shared head row ``n_rows`` times (one row per output)."""
    if n_rows == 1:
        return dict(params)
    return {
        **params,
        "head.weight": params["head.weight"].expand(n_rows, -1),
        "head.bias": params["head.bias"].expand(n_rows),
    }


def materialize(model: nn.Module, params: Params) -> nn.Module:
    """A standalone copy of ``model`` holding ``params`` (shapes may differ)."""
    result = copy.deepcopy(model)
    for name, value in params.items():
        owner_name, _, attr = name.rpartition(".")
        owner = result.get_submodule(owner_name)
        setattr(owner, attr, nn.Parameter(value.detach().clone(), requires_grad=False))
    head = getattr(result, "head", None)
    if isinstance(head, nn.Linear):
        head.out_features = head.weight.shape[0]
    return result.eval()


class AdaptedTask:
    """One task's adapted state and a snapshot of the learner's tensors.

    Calling it on inputs runs ``learner.predict_with(state, x)`` with the
    learner's parameters and buffers replaced by the snapshot
    (:func:`torch.func.functional_call`): adapting copies tensors, not
    modules, and later changes to the learner (more meta-training) do not
    reach it. :meth:`materialize` builds the equivalent standalone module
    when one is asked for.
    """

    def __init__(self, learner: nn.Module, state: Params):
        self.learner = learner
        self.tensors = _detached_copies(chain(learner.named_parameters(), learner.named_buffers()))
        self.state = _detached_copies(state.items())
        self._predict = _PredictWith(learner)

    def __call__(self, x: Tensor) -> Tensor:
        """Outputs for ``x``, computed in the dtype of ``x`` (see :func:`run_in_dtype`)."""
        tensors = _cast_floats(self._predict.named(self.tensors), x.dtype)
        return functional_call(self._predict, tensors, (_cast_floats(self.state, x.dtype), x))

    def frozen_learner(self) -> nn.Module:
        """A standalone copy of the learner holding the snapshot."""
        learner = copy.deepcopy(self.learner)
        with torch.no_grad():
            for name, tensor in chain(learner.named_parameters(), learner.named_buffers()):
                tensor.copy_(self.tensors[name])
        return learner

    def materialize(self) -> nn.Module:
        """The standalone module of the learner's ``materialize``."""
        return self.frozen_learner().materialize(self.state)

    def to(self, device: torch.device) -> AdaptedTask:
        """Move the snapshot and the state (in place)."""
        self.tensors = {name: value.to(device) for name, value in self.tensors.items()}
        self.state = {name: value.to(device) for name, value in self.state.items()}
        return self

    def __getstate__(self) -> dict:
        # One copy of the learner, holding the snapshot, on the CPU.
        state = {name: value.cpu() for name, value in self.state.items()}
        return {"learner": self.frozen_learner().cpu(), "state": state}

    def __setstate__(self, pickled: dict) -> None:
        self.__init__(pickled["learner"], pickled["state"])


class _PredictWith(nn.Module):
    """``learner.predict_with`` as a forward pass, for ``functional_call``."""

    def __init__(self, learner: nn.Module):
        super().__init__()
        self.learner = learner

    def forward(self, state: Params, x: Tensor) -> Tensor:
        return self.learner.predict_with(state, x)

    @staticmethod
    def named(tensors: Params) -> Params:
        """The learner's tensors under their names in this module."""
        return {f"learner.{name}": value for name, value in tensors.items()}


def run_in_dtype(module: nn.Module | AdaptedTask, x: Tensor) -> Tensor:
    """``module(x)`` with every floating-point parameter and buffer in the dtype of ``x``.

    Predictions run in float64: float32 products of one row and of a batch
    round differently on each CPU's kernels, and prediction must not depend
    on which other rows share the batch.
    """
    if isinstance(module, AdaptedTask):
        return module(x)
    tensors = dict(chain(module.named_parameters(), module.named_buffers()))
    return functional_call(module, _cast_floats(tensors, x.dtype), (x,))


def _cast_floats(tensors: Params, dtype: torch.dtype) -> Params:
    return {
        name: value.to(dtype) if value.is_floating_point() else value
        for name, value in tensors.items()
    }


def _detached_copies(named_tensors) -> Params:
    return {name: value.detach().clone() for name, value in named_tensors}
