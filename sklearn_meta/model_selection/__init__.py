"""Meta-evaluation: episodic scorers, few-shot evaluation with confidence
intervals, and few-shot curves."""

from ._evaluation import FewShotEvaluation, evaluate_few_shot, few_shot_curve
from ._plot import FewShotCurveDisplay
from ._scorer import make_episodic_scorer

__all__ = [
    "FewShotCurveDisplay",
    "FewShotEvaluation",
    "evaluate_few_shot",
    "few_shot_curve",
    "make_episodic_scorer",
]
