"""Meta-learning with scikit-learn estimators and a PyTorch core."""

from ._adapter import FewShotAdapter
from ._finetune import FineTuneClassifier, FineTuneRegressor
from ._front_door import MetaClassifier, MetaRegressor
from ._maml import MAMLClassifier, MAMLRegressor
from ._persistence import load
from ._protonet import ProtoNetClassifier
from ._reptile import ReptileClassifier, ReptileRegressor
from ._ridge import MetaRidgeClassifier, MetaRidgeRegressor
from ._support_set import SupportSetClassifier, SupportSetRegressor

__all__ = [
    "FewShotAdapter",
    "FineTuneClassifier",
    "FineTuneRegressor",
    "MAMLClassifier",
    "MAMLRegressor",
    "MetaClassifier",
    "MetaRegressor",
    "MetaRidgeClassifier",
    "MetaRidgeRegressor",
    "ProtoNetClassifier",
    "ReptileClassifier",
    "ReptileRegressor",
    "SupportSetClassifier",
    "SupportSetRegressor",
    "load",
]
__version__ = "0.1.0"
