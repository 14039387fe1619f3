"""The protocols and settings of ``sklearn-meta benchmark speed``, its
targets, and a protocol's estimator prepared for timing outer steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._base import BaseMetaEstimator
from .._core._meta import EpisodeBatch
from .._demo import make_estimators
from .._outer_steps import OuterSteps
from .._presets._maml import MAMLClassifier
from ..datasets import make_sinusoid_tasks

#: Vectorized over loop steps per second (second order), and the adapt +
#: predict latency of a 5-shot MLP task: the targets of the issue on a 2-core CPU.
TARGET_SPEEDUP = {"sinusoid": 8.0, "conv4": 1.3}
TARGET_LATENCY_MS = 3.0
ORDERS = ("second", "first")
PATHS = ("vectorized", "loop")


@dataclass(frozen=True)
class Protocol:
    """A meta-training setting: an estimator and data to draw its episodes from."""

    name: str
    description: str
    estimator: Callable[[str, int], BaseMetaEstimator]
    data: Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def _sinusoid_estimator(device: str, random_state: int) -> BaseMetaEstimator:
    return make_estimators(1, device, random_state, verbose=False)["MAML"]


def _sinusoid_data(n_tasks: int, random_state: int):
    return make_sinusoid_tasks(n_tasks, 50, random_state=random_state)


def _conv4_estimator(device: str, random_state: int) -> BaseMetaEstimator:
    return MAMLClassifier(
        module="conv4",
        input_shape=(1, 28, 28),
        n_way=5,
        n_shots=1,
        n_queries=5,
        inner_steps=1,
        inner_lr=0.4,
        meta_batch_size=8,
        max_iter=1,
        device=device,
        random_state=random_state,
    )


def _conv4_data(n_classes: int, random_state: int):
    """Random 28x28 images, 20 of each class (Omniglot's shape, not its content)."""
    rng = np.random.default_rng(random_state)
    X = rng.random((20 * n_classes, 28 * 28), dtype=np.float32)
    return X, np.repeat(np.arange(n_classes), 20), None


SINUSOID = Protocol(
    "sinusoid",
    "1-40-40-1 MLP, K=10 support + 10 query points, one inner step, 25 tasks a step",
    _sinusoid_estimator,
    _sinusoid_data,
)
CONV4 = Protocol(
    "conv4",
    'Omniglot-shaped: module="conv4" on random 28x28 images, 5-way 1-shot, '
    "5 queries per class, one inner step, 8 tasks a step",
    _conv4_estimator,
    _conv4_data,
)
PROTOCOLS = {protocol.name: protocol for protocol in (SINUSOID, CONV4)}


@dataclass(frozen=True)
class SpeedSettings:
    """Sizes and repeats of a run; :data:`DEFAULT` is the recorded one."""

    repeats: int = 7
    warmup: int = 2
    #: Timed steps per repeat and configuration, per protocol.
    steps: dict[str, int] = field(default_factory=lambda: {"sinusoid": 20, "conv4": 2})
    #: Pool sizes: sinusoid tasks (the sinusoid table's), image classes (a
    #: classifier's fit adapts to all of them at once, a batch of 6 images each).
    pool_size: dict[str, int] = field(default_factory=lambda: {"sinusoid": 20_000, "conv4": 100})
    latency_calls: int = 1000
    sampling_draws: int = 200
    memory_inner_steps: tuple[int, ...] = (1, 2, 5, 10)
    #: (meta_batch_size, task_chunk_size) of the chunking comparison.
    chunking: tuple[int, int] = (32, 4)
    #: meta_batch_size of the Conv4 memory runs (None: the protocol's).
    memory_meta_batch: int | None = None


DEFAULT = SpeedSettings()
QUICK = SpeedSettings(
    repeats=1,
    warmup=1,
    steps={"sinusoid": 2, "conv4": 1},
    pool_size={"sinusoid": 100, "conv4": 10},
    latency_calls=5,
    sampling_draws=5,
    memory_inner_steps=(1, 2),
    chunking=(4, 2),
    memory_meta_batch=2,
)


# -- preparing a protocol ------------------------------------------------------
class Prepared(OuterSteps):
    """An estimator after one outer step, and its episodes as ``fit`` draws them."""

    @classmethod
    def fit(cls, estimator: BaseMetaEstimator, X, y, groups=None) -> Prepared:
        """Fit ``estimator`` (one step) and index its training episodes."""
        return cls.of(estimator.set_params(max_iter=1).fit(X, y, groups), X, y, groups)

    @classmethod
    def of(cls, estimator: BaseMetaEstimator, X, y, groups=None) -> Prepared:
        """Index the training episodes of a fitted ``estimator``."""
        return cls(estimator, X, y, groups)

    def stepper(self, order: str, path: str) -> Callable[[EpisodeBatch], float]:
        """Outer steps of a copy of the estimator, in ``order`` on ``path``."""
        return self.step_function(vectorize=path == "vectorized", first_order=order == "first")


def prepare(
    protocol: Protocol, settings: SpeedSettings, device: str, random_state: int
) -> Prepared:
    """The protocol's estimator after one outer step on its pool of
    ``settings.pool_size``, with its episodes."""
    return Prepared.fit(
        protocol.estimator(device, random_state),
        *protocol.data(settings.pool_size[protocol.name], random_state),
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"
