"""``FewShotCurveDisplay``: few-shot scores against shots or adaptation steps."""

from __future__ import annotations

import numpy as np

from .._adapter import resolve_meta_estimator
from ._evaluation import confidence_interval, few_shot_curve
from ._metrics import resolve_metric

_AXIS_LABELS = {
    "n_shots": "Shots (n_shots)",
    "inner_steps": "Adaptation steps (inner_steps)",
}


class FewShotCurveDisplay:
    """Few-shot curve: the mean episodic score with its 95% confidence band.

    Made by :meth:`from_estimator` (which runs :func:`few_shot_curve`), or
    from its arrays. All parameters are stored as attributes. To compare a
    meta-learner with its baseline, plot both on one ``ax``.

    Parameters
    ----------
    param_range : array-like of shape (n_values,)
        Shots or adaptation steps evaluated.
    scores : array-like of shape (n_values, n_episodes)
        Each episode's score, one row per value.
    param_name : {"n_shots", "inner_steps"}, default="n_shots"
        What ``param_range`` holds; names the x axis.
    score_name : str, default=None
        Label of the y axis; None uses "Score".
    estimator_name : str, default=None
        Label of the curve in the legend; None draws no legend entry.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.
    lines_ : list of matplotlib Line2D
        The line of mean scores.
    fill_between_ : matplotlib PolyCollection
        The 95% confidence band, ``mean ± 1.96 * std / sqrt(n_episodes)``.

    See Also
    --------
    few_shot_curve : Compute the curve.
    evaluate_few_shot : Scores and confidence intervals at a few shot counts.

    Examples
    --------
    A meta-learner beside the fine-tuning baseline, on classes neither saw:

    >>> import matplotlib.pyplot as plt
    >>> from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
    >>> from sklearn_meta.datasets import make_few_shot_classification
    >>> from sklearn_meta.model_selection import FewShotCurveDisplay
    >>> X, y = make_few_shot_classification(40, 20, random_state=0)
    >>> train, new = y < 20, y >= 20
    >>> proto = ProtoNetClassifier(max_iter=20, device="cpu", random_state=0)
    >>> proto = proto.fit(X[train], y[train])
    >>> baseline = FineTuneClassifier(max_iter=20, inner_steps=10, device="cpu", random_state=0)
    >>> baseline = baseline.fit(X[train], y[train])
    >>> fig, ax = plt.subplots()  # doctest: +SKIP
    >>> for clf in (proto, baseline):  # doctest: +SKIP
    ...     FewShotCurveDisplay.from_estimator(
    ...         clf, X[new], y[new], param_range=[1, 2, 5], n_episodes=50,
    ...         random_state=0, ax=ax)
    """

    def __init__(
        self, *, param_range, scores, param_name="n_shots", score_name=None, estimator_name=None
    ):
        self.param_range = param_range
        self.scores = scores
        self.param_name = param_name
        self.score_name = score_name
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None, score_name=None, line_kw=None, fill_between_kw=None):
        """Plot the mean score and its 95% confidence band.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to plot on; None makes a new figure. Plot several displays on
            one ``ax`` to compare estimators.
        name : str, default=None
            Legend label; None uses ``estimator_name``.
        score_name : str, default=None
            Label of the y axis; None uses ``score_name`` of the display.
        line_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the mean.
        fill_between_kw : dict, default=None
            Keyword arguments of ``ax.fill_between`` for the band.

        Returns
        -------
        display : FewShotCurveDisplay
            The display, with ``ax_``, ``figure_``, ``lines_`` and
            ``fill_between_`` set.
        """
        import matplotlib.pyplot as plt  # optional dependency: the "plot" extra

        if ax is None:
            _, ax = plt.subplots()
        x = np.asarray(self.param_range)
        scores = np.atleast_2d(np.asarray(self.scores, dtype=np.float64))
        if scores.shape[0] != len(x):
            raise ValueError(
                f"scores has {scores.shape[0]} rows but param_range has {len(x)} values; "
                "give one row of episode scores per value."
            )
        mean, half_width = scores.mean(axis=1), confidence_interval(scores)
        name = self.estimator_name if name is None else name
        line_kw = {
            "marker": "o",
            **({"label": name} if name is not None else {}),
            **(line_kw or {}),
        }
        self.lines_ = ax.plot(x, mean, **line_kw)
        band_kw = {"alpha": 0.25, "color": self.lines_[0].get_color(), **(fill_between_kw or {})}
        self.fill_between_ = ax.fill_between(x, mean - half_width, mean + half_width, **band_kw)
        ax.set_xlabel(_AXIS_LABELS.get(self.param_name, self.param_name))
        score_name = self.score_name if score_name is None else score_name
        ax.set_ylabel("Score" if score_name is None else score_name)
        if ax.get_legend_handles_labels()[1]:
            ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        groups=None,
        *,
        param_name="n_shots",
        param_range=(1, 2, 5, 10),
        n_shots=None,
        n_queries=15,
        n_episodes=100,
        n_way=None,
        inner_steps=None,
        scoring=None,
        n_jobs=None,
        random_state=None,
        score_name=None,
        ax=None,
        name=None,
        line_kw=None,
        fill_between_kw=None,
    ):
        """Compute a few-shot curve with :func:`few_shot_curve` and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or
            a :class:`~sklearn.pipeline.Pipeline` ending in one (its
            transformers apply to support and query sets alike).
        X : array-like of shape (n_samples, n_features)
            Held-out tasks' inputs.
        y : array-like of shape (n_samples,)
            Their targets.
        groups : array-like of shape (n_samples,), default=None
            Task labels.
        param_name : {"n_shots", "inner_steps"}, default="n_shots"
            What the curve varies.
        param_range : sequence of int, default=(1, 2, 5, 10)
            Its values.
        n_shots : int, default=None
            Shots of the ``inner_steps`` curve; None uses the estimator's.
        n_queries : int, default=15
            Query samples per class (per task, for regression).
        n_episodes : int, default=100
            Episodes per value.
        n_way : int, default=None
            Classes per episode; None uses the estimator's.
        inner_steps : int, default=None
            Adaptation steps of the ``n_shots`` curve; None uses the
            estimator's ``eval_inner_steps``.
        scoring : str, callable or None, default=None
            As in :func:`evaluate_few_shot`.
        n_jobs : int, default=None
            Joblib workers that share the episodes.
        random_state : int, RandomState instance or None, default=None
            Seeds the draw of the episodes.
        score_name : str, default=None
            Label of the y axis; None names the metric.
        ax : matplotlib Axes, default=None
            Axes to plot on; None makes a new figure.
        name : str, default=None
            Legend label; None uses the estimator's class name.
        line_kw : dict, default=None
            Keyword arguments of ``ax.plot`` for the mean.
        fill_between_kw : dict, default=None
            Keyword arguments of ``ax.fill_between`` for the band.

        Returns
        -------
        display : FewShotCurveDisplay
            The plotted display.
        """
        param_range, scores = few_shot_curve(
            estimator,
            X,
            y,
            groups,
            param_name=param_name,
            param_range=param_range,
            n_shots=n_shots,
            n_queries=n_queries,
            n_episodes=n_episodes,
            n_way=n_way,
            inner_steps=inner_steps,
            scoring=scoring,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        if score_name is None:
            score_name = _score_label(scoring, estimator)
        display = cls(
            param_range=param_range,
            scores=scores,
            param_name=param_name,
            score_name=score_name,
            estimator_name=_estimator_name(estimator) if name is None else name,
        )
        return display.plot(ax, line_kw=line_kw, fill_between_kw=fill_between_kw)


def _estimator_name(estimator) -> str:
    return type(resolve_meta_estimator(estimator).meta).__name__


def _score_label(scoring, estimator) -> str:
    """The y-axis label of a metric: "Accuracy", "Negative log loss", ..."""
    name = resolve_metric(scoring, resolve_meta_estimator(estimator).meta).name
    negative = name.startswith("neg_")
    name = name.removeprefix("neg_").removesuffix("_score").replace("_", " ")
    return f"Negative {name}" if negative else name[:1].upper() + name[1:]
