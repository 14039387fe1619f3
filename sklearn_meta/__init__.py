"""Meta-learning with scikit-learn estimators and a PyTorch core."""

from ._adapter import FewShotAdapter
from ._algorithm import MetaAlgorithm
from ._core._learner import Learner
from ._estimators import MetaClassifier, MetaRegressor
from ._finetune import FineTune
from ._maml import MAML
from ._matching import MatchingNetworks
from ._params import Param
from ._persistence import load
from ._presets._finetune import FineTuneClassifier, FineTuneRegressor
from ._presets._maml import MAMLClassifier, MAMLRegressor
from ._presets._protonet import ProtoNetClassifier
from ._presets._reptile import ReptileClassifier, ReptileRegressor
from ._presets._ridge import MetaRidgeClassifier, MetaRidgeRegressor
from ._protonet import ProtoNet
from ._reptile import Reptile
from ._ridge import MetaRidge
from ._simpleshot import SimpleShot
from ._support_set import SupportSetClassifier, SupportSetRegressor

__all__ = [
    "MAML",
    "FewShotAdapter",
    "FineTune",
    "FineTuneClassifier",
    "FineTuneRegressor",
    "Learner",
    "MAMLClassifier",
    "MAMLRegressor",
    "MatchingNetworks",
    "MetaAlgorithm",
    "MetaClassifier",
    "MetaRegressor",
    "MetaRidge",
    "MetaRidgeClassifier",
    "MetaRidgeRegressor",
    "Param",
    "ProtoNet",
    "ProtoNetClassifier",
    "Reptile",
    "ReptileClassifier",
    "ReptileRegressor",
    "SimpleShot",
    "SupportSetClassifier",
    "SupportSetRegressor",
    "load",
]
__version__ = "0.1.0"
