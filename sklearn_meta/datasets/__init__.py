"""Task families and datasets that need no download."""

from ._labeled import tasks_from_labeled
from ._omniglot import load_omniglot
from ._sinusoid import make_sinusoid_tasks
from ._synthetic import make_few_shot_classification

__all__ = [
    "load_omniglot",
    "make_few_shot_classification",
    "make_sinusoid_tasks",
    "tasks_from_labeled",
]
