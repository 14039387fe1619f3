"""Saving fitted estimators as weights and configuration, with no pickled code.

A file is a ``torch.save`` of plain containers: tensors (the network, the
optimizer's state, the state ``predict`` uses) and one JSON string holding
the estimator's class name, parameters and fitted attributes. It is read
back with ``torch.load(weights_only=True)``, which refuses anything else, and
the estimator is rebuilt from its parameters: loading never runs code taken
from the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

_FORMAT = "sklearn-meta"
_VERSION = 1
_ENTRIES = ("version", "class", "params")  # besides "format", in every saved estimator
_CUSTOM_MODULE = "custom module"


def _estimator_classes() -> dict[str, type]:
    import sklearn_meta  # the public estimators; imported here to avoid a cycle

    return {name: getattr(sklearn_meta, name) for name in sklearn_meta.__all__}


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
    from ._core._model import is_available

    if is_available(device):
        return device
    warnings.warn(
        f"This model was fitted on {device}, which is not available here; it runs on the CPU.",
        stacklevel=3,
    )
    return torch.device("cpu")
