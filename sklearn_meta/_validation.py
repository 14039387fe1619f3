"""Checks of hyper-parameters and of ``groups``, with messages that name the problem."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def check_float(name: str, value, *, positive: bool = True, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    if not np.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}.")
    if upper is not None and value >= upper:
        raise ValueError(f"{name} must be < {upper}, got {value}.")
    return float(value)


def check_option(name: str, value, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")
    return value


def check_hidden_layer_sizes(value) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    for size in sizes:
        check_int("each of hidden_layer_sizes", size, 1)
    return sizes


def encode_groups(groups, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (0 .. n_groups-1) and the names of the groups.

    ``groups=None`` puts every sample in one group.
    """
    if groups is None:
        return np.zeros(n_samples, dtype=np.int64), np.array([None], dtype=object)
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be 1-D, got an array of shape {groups.shape}.")
    if len(groups) != n_samples:
        raise ValueError(
            f"groups has {len(groups)} entries but X has {n_samples} samples; "
            "give one group label per sample."
        )
    if groups.dtype.kind == "f" and not np.isfinite(groups).all():
        raise ValueError("groups contains NaN or infinity.")
    try:
        names, codes = np.unique(groups, return_inverse=True)
    except TypeError:  # labels that do not sort, such as numbers mixed with strings or None
        kinds = sorted({type(label).__name__ for label in groups.tolist()})
        raise TypeError(
            "groups must be labels of one kind that sort (all numbers or all strings); "
            f"got a mix of {', '.join(kinds)}."
        ) from None
    return codes.astype(np.int64), names


def check_numeric(name: str, value) -> None:
    """Reject text and other non-numeric values in ``value`` with a message that
    names ``name`` (numeric arrays pass at no cost; check_array does the rest)."""
    if value is None or sp.issparse(value):
        return
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged: check_array reports it
        return
    if array.dtype.kind not in "OSU":
        return
    try:
        array.astype(np.float64)
    except (ValueError, TypeError) as exc:  # text; objects that are not numbers
        raise type(exc)(
            f"{name} must be numeric, but it holds non-numeric values ({exc}). Encode text "
            "and categories as numbers first, for example with OneHotEncoder."
        ) from None


def check_classes(classes) -> np.ndarray:
    """The sorted, distinct ``classes`` of ``partial_fit``: 1-D labels without NaN."""
    classes = check_array(classes, ensure_2d=False, dtype=None, input_name="classes")
    if classes.ndim != 1:
        raise ValueError(f"classes must be 1-D, got an array of shape {classes.shape}.")
    return np.unique(classes)


def merge_classes(known: np.ndarray, new: np.ndarray, name: str) -> np.ndarray:
    """The sorted union of the class labels ``known`` and ``new`` (those of
    ``name``), which must be of one type: numbers, or strings."""
    try:
        merged = np.union1d(known, new)
        one_type = np.isin(known, merged).all() and np.isin(new, merged).all()
    except TypeError:  # object arrays of numbers and strings
        one_type = False
    if not one_type:
        raise TypeError(
            f"{name} has labels {new!r} of another type than the classes so far, {known!r}."
        )
    return merged


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Float32 weights, one per sample; ones when ``sample_weight`` is None."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float32)
    weights = check_array(
        sample_weight, ensure_2d=False, dtype=np.float32, input_name="sample_weight"
    )
    if weights.ndim != 1 or len(weights) != n_samples:
        raise ValueError(
            f"sample_weight has shape {weights.shape}; expected ({n_samples},), one per sample."
        )
    if (weights < 0).any():
        raise ValueError("sample_weight has negative values.")
    return weights


def check_class_weight(name: str, value) -> None:
    if value != "balanced" and not isinstance(value, Mapping):
        raise ValueError(f'{name} must be a dict, "balanced" or None, got {value!r}.')


def check_path(name: str, value) -> None:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path-like, got {value!r}.")


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}.")
    return bool(value)
