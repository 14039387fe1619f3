"""Warnings of sklearn-meta, for ``warnings.filterwarnings`` and ``pytest.warns``."""

from sklearn.exceptions import ConvergenceWarning

__all__ = ["AdaptationWarning", "SingleTaskWarning"]


class AdaptationWarning(ConvergenceWarning):
    """Adapting to a task diverged: its support loss became non-finite or rose
    far above where adaptation started, and the last good step was kept.

    Lower ``inner_lr`` or ``inner_steps`` (or scale the inputs) when it appears.
    """


class SingleTaskWarning(UserWarning):
    """A meta-regressor was fitted on a single task, so it learned one function,
    not how to adapt: usually ``groups`` did not reach ``fit``."""
