import numpy as np
import pytest

from sklearn_meta.model_selection import FewShotCurveDisplay, few_shot_curve

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_meta_learner_beside_its_baseline_on_one_ax(few_shot_classes, protonet, finetune):
    X, y, train = few_shot_classes
    fig, ax = plt.subplots()
    kwargs = dict(param_range=[1, 2, 5], n_episodes=30, random_state=0, ax=ax)
    proto = FewShotCurveDisplay.from_estimator(protonet, X[~train], y[~train], **kwargs)
    base = FewShotCurveDisplay.from_estimator(
        finetune, X[~train], y[~train], name="baseline", **kwargs
    )
    assert proto.ax_ is base.ax_ is ax and proto.figure_ is fig
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "ProtoNetClassifier",
        "baseline",
    ]
    assert ax.get_xlabel() == "Shots (n_shots)" and ax.get_ylabel() == "Accuracy"
    # the line is the mean, the band the 95% confidence interval, of the episodes
    _, scores = few_shot_curve(
        protonet, X[~train], y[~train], param_range=[1, 2, 5], n_episodes=30, random_state=0
    )
    np.testing.assert_array_equal(proto.scores, scores)
    x, mean = proto.lines_[0].get_data()
    np.testing.assert_array_equal(x, [1, 2, 5])
    np.testing.assert_allclose(mean, scores.mean(axis=1))
    half_width = 1.96 * scores.std(axis=1, ddof=1) / np.sqrt(30)
    band = proto.fill_between_.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([band.min(), band.max()], [
        (scores.mean(axis=1) - half_width).min(),
        (scores.mean(axis=1) + half_width).max(),
    ])  # fmt: skip
    assert proto.fill_between_.get_facecolor()[0][:3] == pytest.approx(
        matplotlib.colors.to_rgb(proto.lines_[0].get_color())
    )


def test_step_curve_of_a_regressor(sine_split, maml_regressor):
    X, y, groups, train = sine_split
    display = FewShotCurveDisplay.from_estimator(
        maml_regressor, X[~train], y[~train], groups[~train], param_name="inner_steps",
        param_range=[0, 3], n_queries=10, n_episodes=20, random_state=0,
    )  # fmt: skip
    assert display.ax_.get_xlabel() == "Adaptation steps (inner_steps)"
    assert display.ax_.get_ylabel() == "Mean squared error"
    assert display.scores.shape == (2, 20)


def test_display_from_arrays():
    scores = np.array([[0.4, 0.6, 0.5], [0.7, 0.9, 0.8]])
    display = FewShotCurveDisplay(param_range=[1, 5], scores=scores, score_name="Accuracy")
    display.plot(line_kw={"color": "red"})
    assert display.ax_.get_legend() is None  # no name, no legend
    assert display.ax_.get_ylabel() == "Accuracy"
    assert display.lines_[0].get_color() == "red"
    np.testing.assert_allclose(display.lines_[0].get_ydata(), [0.5, 0.8])
    display.plot(name="again", score_name="Acc.")
    assert display.ax_.get_legend().get_texts()[0].get_text() == "again"
    with pytest.raises(ValueError, match="one row of episode scores per value"):
        FewShotCurveDisplay(param_range=[1, 2, 5], scores=scores).plot()


def test_curve_of_a_pipeline_is_its_last_steps_on_transformed_inputs(
    unscaled_classes, maml_pipeline
):
    X, y, train = unscaled_classes
    kwargs = dict(param_range=[1, 3], n_episodes=20, random_state=0)
    display = FewShotCurveDisplay.from_estimator(maml_pipeline, X[~train], y[~train], **kwargs)
    X_seen = maml_pipeline[:-1].transform(X[~train])
    _, scores = few_shot_curve(maml_pipeline[-1], X_seen, y[~train], **kwargs)
    np.testing.assert_allclose(display.scores, scores, atol=1e-6)
    assert display.estimator_name == "MAMLClassifier"
    assert display.ax_.get_ylabel() == "Accuracy"
