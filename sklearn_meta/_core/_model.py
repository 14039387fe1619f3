"""Networks, devices and the conversion between modules and parameter dicts."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

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
        with torch.no_grad():
            was_training = backbone.training
            backbone.eval()
            probe = backbone(torch.zeros(2, n_features, device=_device_of(backbone)))
            backbone.train(was_training)
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


def build_backbone(
    module: nn.Module | Callable[[int], nn.Module] | None,
    n_features: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
) -> nn.Module:
    """A fresh backbone: the default MLP, a copy of a user module, or a built one."""
    if module is None:
        return build_mlp(n_features, hidden_layer_sizes, activation)
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    if callable(module):
        built = module(n_features)
        if not isinstance(built, nn.Module):
            raise TypeError(
                f"module(n_features) must return a torch.nn.Module, got {type(built).__name__}."
            )
        return built
    raise TypeError(
        "module must be None, a torch.nn.Module or a callable taking n_features and "
        f"returning one; got {type(module).__name__}."
    )


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
