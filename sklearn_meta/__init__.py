"""Meta-learning with scikit-learn estimators and a PyTorch core."""

from ._adapter import FewShotAdapter
from ._finetune import FineTuneClassifier, FineTuneRegressor
from ._maml import MAMLClassifier, MAMLRegressor
from ._protonet import ProtoNetClassifier
from ._ridge import MetaRidgeClassifier, MetaRidgeRegressor

__all__ = [
    "FewShotAdapter",
    "FineTuneClassifier",
    "FineTuneRegressor",
    "MAMLClassifier",
    "MAMLRegressor",
    "MetaRidgeClassifier",
    "MetaRidgeRegressor",
    "ProtoNetClassifier",
]
__version__ = "0.1.0"
