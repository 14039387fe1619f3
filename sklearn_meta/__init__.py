"""Meta-learning with scikit-learn estimators and a PyTorch core."""

from ._adapter import FewShotAdapter
from ._maml import MAMLClassifier, MAMLRegressor

__all__ = ["FewShotAdapter", "MAMLClassifier", "MAMLRegressor"]
__version__ = "0.1.0"
