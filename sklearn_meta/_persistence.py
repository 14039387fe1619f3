"""Saving fitted estimators as weights and configuration, with no pickled code.

A file is a ``torch.save`` of plain containers: tensors (the network, the
optimizer's state, the state ``predict`` uses) and one JSON string holding
the estimator's class name, parameters and fitted attributes. It is read
back with ``torch.load(weights_only=True)``, which refuses anything else, and
the estimator is rebuilt from its parameters: loading never runs code taken
from the file. :class:`PersistenceMixin` gives the estimators their side of
it, and pickling with the tensors moved to the CPU.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._algorithm import MetaAlgorithm, algorithm_class, qualified_name
from ._core._model import is_available, resolve_device

_FORMAT = "sklearn-meta"
_VERSION = 1
_ENTRIES = ("version", "class", "params")  # besides "format", in every saved estimator
_CUSTOM_MODULE = "custom module"


def _estimator_classes() -> dict[str, type]:
    import sklearn_meta  # the public estimators; imported here to avoid a cycle
    import sklearn_meta.rl

    return {
        name: getattr(module, name)
        for module in (sklearn_meta, sklearn_meta.rl)
        for name in module.__all__
    }


def save_estimator(estimator, path) -> None:
    """Write a fitted estimator to ``path`` (atomically: a complete file or none)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save(to_payload(estimator), partial)
    os.replace(partial, path)


def load(path, *, module: nn.Module | None = None, device=None):
    """Load an estimator saved with ``save`` or written as a checkpoint.

    Parameters
    ----------
    path : str or path-like
        The file.
    module : torch.nn.Module or callable, default=None
        The backbone, for an estimator fitted with a custom ``module`` (the
        file holds its weights, not its code); the same architecture as then.
    device : str, default=None
        Where to put the network; None means where it was fitted, or the CPU
        with a warning when that device is not available here.

    Returns
    -------
    estimator : estimator
        The fitted estimator, ready to ``predict``, ``adapt``, ``score`` and
        continue meta-training.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn_meta import MAMLRegressor, load
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(20, 20, random_state=0)
    >>> maml = MAMLRegressor(max_iter=5, device="cpu", random_state=0).fit(X, y, groups)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "maml.pt"
    >>> maml.save(path)
    >>> bool(np.array_equal(load(path).predict(X), maml.predict(X)))
    True
    """
    return from_payload(read_payload(path), module=module, device=device)


def read_payload(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved estimator at {str(path)!r}.")
    payload = _read_archive(path)
    problem = _missing_entries(payload)
    if problem:
        raise ValueError(f"{str(path)!r} is not a file written by sklearn-meta: {problem}.")
    if payload["version"] > _VERSION:
        raise ValueError(
            f"{str(path)!r} was written by a newer sklearn-meta (format {payload['version']}); "
            "upgrade sklearn-meta to read it."
        )
    return payload


def _read_archive(path: Path) -> object:
    """What ``torch.save`` wrote to ``path``, read without running code from it."""
    not_ours = f"{str(path)!r} is not a file written by sklearn-meta"
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{not_ours}: it is not the zip archive that torch.save writes (as save and "
            "checkpoint_path do)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for foreign archives
        raise ValueError(
            f"{not_ours}: torch.load(weights_only=True) cannot read it, so it is not a "
            "torch.save archive or it holds more than tensors and plain containers "
            "(pickled code, for instance)."
        ) from error


def _missing_entries(payload: object) -> str | None:
    """What a loaded archive lacks to be a saved estimator; None when nothing."""
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not the dictionary of a saved estimator"
    if payload.get("format") != _FORMAT:
        return (
            f"it has no 'format': {_FORMAT!r} entry (its keys are "
            f"{', '.join(map(repr, payload)) or 'none'})"
        )
    missing = [key for key in _ENTRIES if key not in payload]
    if missing:
        return f"it lacks the entries {', '.join(map(repr, missing))} of a saved estimator"
    return None


def to_payload(estimator) -> dict:
    """The estimator as tensors and JSON: parameters, fitted state, nested estimator."""
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "class": type(estimator).__name__,
        "params": json.dumps(encoded_params(estimator)),
    }
    return payload | estimator._fitted_payload()


def encoded_params(estimator) -> dict:
    """The estimator's parameters as they are stored (JSON types)."""
    params = estimator.get_params(deep=False)
    return json.loads(json.dumps({name: encode(value) for name, value in params.items()}))


# Parameters that do not change what a step of meta-training does.
_NOT_TRAINING = {"max_iter", "verbose", "device", "warm_start", "n_eval_episodes"}
_NOT_TRAINING |= {"checkpoint_path", "checkpoint_every"}


def same_training(payload: dict, estimator) -> bool:
    """Whether a checkpoint was written by this estimator's kind of meta-training."""
    if payload["class"] != type(estimator).__name__:
        return False
    stored, current = json.loads(payload["params"]), encoded_params(estimator)
    return {k: v for k, v in stored.items() if k not in _NOT_TRAINING} == {
        k: v for k, v in current.items() if k not in _NOT_TRAINING
    }


def from_payload(payload: dict, *, module=None, device=None):
    classes = _estimator_classes()
    name = payload["class"]
    if name not in classes:
        raise ValueError(f"The file holds a {name!r}, which is not a sklearn-meta estimator.")
    params = {key: decode(value) for key, value in json.loads(payload["params"]).items()}
    if params.get("module") == _CUSTOM_MODULE:
        if module is None:
            raise ValueError(
                f"This {name} was fitted with a custom module; the file holds its weights, "
                "not its code. Pass the same architecture: load(path, module=...)."
            )
        params["module"] = module
    estimator = classes[name](**params)
    estimator._restore_payload(payload, device=device, module=module)
    return estimator


def encode(value):
    """A parameter or fitted attribute as JSON (tuples, dicts with any keys,
    arrays and custom modules tagged so that ``decode`` restores them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, MetaAlgorithm):  # rebuilt from its class's name and parameters
        params = value.get_params(deep=False)
        return {"algorithm": qualified_name(type(value)), "params": encode(params)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"array": [encode(v) for v in value.tolist()], "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (torch.device, os.PathLike)):
        return str(value)
    if isinstance(value, np.random.RandomState):
        return None  # its draws so far are in the fitted state, not in the parameter
    if isinstance(value, nn.Module) or callable(value):
        return _CUSTOM_MODULE
    raise TypeError(f"Cannot save a value of type {type(value).__name__}: {value!r}.")


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "array" in value:
        dtype = np.dtype(value["dtype"])
        return np.array(decode(value["array"]), dtype=object if dtype.kind == "O" else dtype)
    if "tuple" in value:
        return tuple(decode(v) for v in value["tuple"])
    if "algorithm" in value:
        return algorithm_class(value["algorithm"])(**decode(value["params"]))
    return {decode(k): decode(v) for k, v in value["dict"]}


def data_fingerprint(*arrays) -> str:
    """A hash of the training arrays: a checkpoint resumes only on the same data."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def warn_if_unavailable(device: torch.device) -> torch.device:
    if is_available(device):
        return device
    warnings.warn(
        f"This model was fitted on {device}, which is not available here; it runs on the CPU.",
        stacklevel=3,
    )
    return torch.device("cpu")


class PersistenceMixin:
    """The fitted state of :class:`~sklearn_meta._base.BaseMetaEstimator` as
    the payload of a saved file and as a pickle (tensors moved to the CPU)."""

    def _fitted_payload(self) -> dict:
        check_is_fitted(self)
        fitted = {name: getattr(self, name) for name in _SAVED_ATTRIBUTES if hasattr(self, name)}
        fitted["rng"] = self._rng.bit_generator.state
        return {
            "fitted": json.dumps({name: encode(value) for name, value in fitted.items()}),
            "learner": self.learner_.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "predict_state": getattr(self, "_predict_state", None),
        }

    def _restore_payload(self, payload: dict, *, device=None, module=None) -> None:
        fitted = {k: decode(v) for k, v in json.loads(payload["fitted"]).items()}
        rng_state = fitted.pop("rng")
        saved_device = torch.device(fitted.pop("device_"))
        device = warn_if_unavailable(saved_device) if device is None else resolve_device(device)
        self.__dict__.update(fitted)  # classes_ first: some learners are built for them
        self._initialize(self.n_features_in_, device)
        self.__dict__.update(fitted)  # the counters _initialize reset
        self.learner_.load_state_dict(payload["learner"])
        self._optimizer.load_state_dict(payload["optimizer"])
        self._rng.bit_generator.state = rng_state
        if payload["predict_state"] is not None:
            self._set_predict_state(
                {name: value.to(device) for name, value in payload["predict_state"].items()}
            )

    def __getstate__(self):
        state = modules_to_cpu(super().__getstate__())
        if "_optimizer" in state:
            state["_optimizer"] = _to_cpu(self._optimizer.state_dict())
        if "_predict_state" in state:
            state["_predict_state"] = _to_cpu(state["_predict_state"])
        return state

    def __setstate__(self, state):
        optimizer_state = state.pop("_optimizer", None)
        super().__setstate__(state)
        if optimizer_state is None:
            return
        self.device_ = warn_if_unavailable(self.device_)
        modules_to_device(self, self.device_)
        if hasattr(self, "_predict_state"):
            self._predict_state = {k: v.to(self.device_) for k, v in self._predict_state.items()}
        self._optimizer = torch.optim.Adam(self.learner_.parameters(), lr=self._setting("meta_lr"))
        self._optimizer.load_state_dict(optimizer_state)


# Fitted attributes ``save`` stores besides the tensors.
_SAVED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "n_iter_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "vectorized_",
    "n_threads_",
    "path_timings_",
    "device_",
    "target_mean_",
    "target_scale_",
    "_data_fingerprint",
)


def modules_to_cpu(state: dict) -> dict:
    """A copy of an estimator's state with its torch modules on the CPU (for pickling)."""
    return {
        name: copy.deepcopy(value).cpu() if isinstance(value, nn.Module) else value
        for name, value in state.items()
    }


def modules_to_device(estimator, device: torch.device) -> None:
    for _name, value in vars(estimator).items():
        if isinstance(value, nn.Module):
            value.to(device)


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
