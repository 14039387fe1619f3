"""Task families and datasets that need no download."""

from ._sinusoid import make_sinusoid_tasks

__all__ = ["make_sinusoid_tasks"]
