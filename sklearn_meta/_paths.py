"""How meta-training runs on the machine at hand, chosen by timing its first steps.

An outer step can map its episodes with ``vmap`` or a Python loop, with any
number of intra-op CPU threads, and the fastest depends on the network, the
hardware and what else the machine is doing: ``vmap`` is many times faster
for small networks and slower for convolutional ones on a CPU, and torch's
default of one thread per core can turn many times slower when another
process keeps one of the cores busy (every parallel region waits for the
thread that shares the busy core: 3 times on the machine of
``benchmarks/RESULTS.md``, 40 times on another). Where ``vectorize`` or ``n_threads`` is "auto", a
fresh ``fit`` runs its first steps on each candidate in turn and keeps the
fastest, and times them again if that path slows down later; the steps
train the model as any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# A fit shorter than this keeps the first candidate: the trial would cost a
# larger share of it than it could save.
MIN_STEPS_TO_MEASURE = 50
STEPS_PER_CANDIDATE = 3  # the first warms up; the fastest of the others counts
GIVE_UP = 3.0  # a candidate whose step takes this many times the best is dropped at once
WATCH_STEPS = 10  # steps on the chosen path between two checks of its speed
SLOWDOWN = 1.5  # their median this many times the chosen path's time: time them all again


@dataclass(frozen=True)
class ExecutionPath:
    """One way to run an outer step."""

    vectorize: bool
    n_threads: int

    def __str__(self) -> str:
        mapping = "vmap" if self.vectorize else "task loop"
        return f"{mapping}, {self.n_threads} thread{'s' * (self.n_threads > 1)}"


def thread_candidates(n_threads: int | str, device: torch.device) -> list[int]:
    """The thread counts to try: ``n_threads`` itself, or for "auto" torch's
    current setting (one per core unless the caller lowered it) and one."""
    if n_threads != "auto":
        return [n_threads]
    current = torch.get_num_threads()
    if device.type != "cpu":  # the threads only feed the accelerator
        return [current]
    return sorted({current, 1}, reverse=True)


class PathTrial:
    """Runs each candidate path for a few outer steps and keeps the fastest.

    ``path`` is the path of the next step and ``record`` takes that step's
    time. A candidate gets ``STEPS_PER_CANDIDATE`` steps and is scored by the
    fastest but its first (which pays for warming up); one whose step takes
    ``GIVE_UP`` times the best score so far is dropped after that step, so a
    slow candidate costs about one step. The first candidate is the default
    and the only one when ``measure`` is False.

    Once chosen, the path is watched: when the median of ``WATCH_STEPS``
    steps is ``SLOWDOWN`` times its time in the trial (another process took
    cores), the candidates are timed again; until each is, its time from
    the trial before stands in for it.
    """

    def __init__(self, candidates: Sequence[ExecutionPath], measure: bool = True):
        self.candidates = list(candidates) if measure else list(candidates[:1])
        self.seconds: dict[ExecutionPath, list[float]] = {path: [] for path in self.candidates}
        self._index = 0
        self._watched: list[float] = []
        self._earlier: dict[ExecutionPath, list[float]] = {}

    @property
    def measuring(self) -> bool:
        return self._index < len(self.candidates) and len(self.candidates) > 1

    @property
    def path(self) -> ExecutionPath:
        return self.candidates[self._index] if self.measuring else self.best

    @property
    def best(self) -> ExecutionPath:
        """The fastest candidate timed so far (the first before any timing)."""
        timed = [path for path in self.candidates if self._timings(path)]
        return min(timed, key=self._score) if timed else self.candidates[0]

    def record(self, seconds: float) -> None:
        if not self.measuring:
            if len(self.candidates) > 1:
                self._watch(seconds)
            return
        path = self.candidates[self._index]
        others = [self._score(p) for p in self.candidates[: self._index] if self.seconds[p]]
        self.seconds[path].append(seconds)
        too_slow = bool(others) and seconds > GIVE_UP * min(others)
        if too_slow or len(self.seconds[path]) >= STEPS_PER_CANDIDATE:
            self._index += 1

    def _watch(self, seconds: float) -> None:
        self._watched.append(seconds)
        if len(self._watched) < WATCH_STEPS:
            return
        if float(np.median(self._watched)) > SLOWDOWN * self._score(self.best):
            self._earlier = self.seconds
            self.seconds = {path: [] for path in self.candidates}
            self._index = 0
        self._watched = []

    def _timings(self, path: ExecutionPath) -> list[float]:
        return self.seconds[path] or self._earlier.get(path, [])

    def _score(self, path: ExecutionPath) -> float:
        seconds = self._timings(path)
        return min(seconds[1:]) if len(seconds) > 1 else seconds[0]

    def summary(self) -> dict[str, float]:
        """Seconds per step of each candidate timed, by its description."""
        timed = [path for path in self.candidates if self._timings(path)]
        return {str(path): self._score(path) for path in timed}
