"""save / load, pickle and joblib round trips, checkpoints and interrupted fits."""

import pickle
import shutil
import warnings

import joblib
import numpy as np
import pytest
import torch
from torch import nn

import sklearn_meta._training as training
from sklearn_meta import (
    FineTuneRegressor,
    MAMLClassifier,
    MAMLRegressor,
    MetaClassifier,
    MetaRidgeRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
    load,
)

FAST = dict(max_iter=8, n_eval_episodes=10, device="cpu", random_state=0)


def letters(y):
    return np.array(["abcdefghijkl"[label] for label in y])


def small_net(n_features):
    return nn.Sequential(nn.Linear(n_features, 16), nn.Tanh())


REGRESSORS = [
    MAMLRegressor(**FAST),
    FineTuneRegressor(**FAST, adapt_layers="head"),
    MetaRidgeRegressor(**FAST),
]
CLASSIFIERS = [
    MAMLClassifier(n_way=3, inner_update="meta-sgd", class_weight={"a": 2.0}, **FAST),
    ReptileClassifier(n_way=3, **FAST),
    ProtoNetClassifier(n_way=3, distance="cosine", **FAST),
    MetaClassifier("finetune", n_way=3, **FAST),
]


def assert_same_parameters(a, b):
    for (name, left), (_, right) in zip(
        a.learner_.state_dict().items(), b.learner_.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(left, right, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("estimator", REGRESSORS, ids=lambda e: type(e).__name__)
def test_saved_regressor_predicts_adapts_and_trains_on_as_before(estimator, sinusoid, tmp_path):
    X, y, groups = sinusoid
    fitted = estimator.fit(X, y, groups)
    fitted.save(tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt")
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(
        loaded.adapt(X[:5], y[:5]).predict(X[5:20]), fitted.adapt(X[:5], y[:5]).predict(X[5:20])
    )
    assert loaded.score(X, y, groups) == fitted.score(X, y, groups)
    fitted.set_params(warm_start=True).fit(X, y, groups)
    loaded.set_params(warm_start=True).fit(X, y, groups)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.n_iter_ == fitted.n_iter_ == 2 * FAST["max_iter"]


@pytest.mark.parametrize("estimator", CLASSIFIERS, ids=lambda e: type(e).__name__)
def test_saved_classifier_keeps_classes_and_probabilities(estimator, blobs_classes, tmp_path):
    X, y = blobs_classes
    fitted = estimator.fit(X, letters(y))
    fitted.save(tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.get_params() == fitted.get_params()


@pytest.mark.parametrize("roundtrip", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trips_give_identical_predictions(
    roundtrip, blobs_classes, tmp_path
):
    X, y = blobs_classes
    fitted = MAMLClassifier(n_way=3, **FAST).fit(X, y)
    if roundtrip == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_custom_module_must_be_given_again(sinusoid, tmp_path):
    X, y, groups = sinusoid
    fitted = MAMLRegressor(module=small_net, **FAST).fit(X, y, groups)
    fitted.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"custom module.*load\(path, module=\.\.\.\)"):
        load(tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt", module=small_net)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


def test_files_with_pickled_code_or_of_other_kinds_are_refused(tmp_path):
    torch.save({"format": "sklearn-meta", "hook": print}, tmp_path / "code.pt")
    with pytest.raises(ValueError, match="not a file written by sklearn-meta"):
        load(tmp_path / "code.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a file written by sklearn-meta"):
        load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="No saved estimator"):
        load(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "write, problem",
    [
        (lambda path: path.write_text("hello"), "not the zip archive that torch.save writes"),
        (lambda path: path.write_bytes(b""), "not the zip archive that torch.save writes"),
        (lambda path: torch.save(torch.zeros(2), path), "holds a Tensor, not the dictionary"),
        (lambda path: torch.save({"a": 1}, path), "no 'format': 'sklearn-meta' entry.*'a'"),
        (
            lambda path: torch.save({"format": "sklearn-meta", "version": 1}, path),
            "lacks the entries 'class', 'params'",
        ),
    ],
    ids=["text", "empty", "tensor", "other-dict", "incomplete"],
)
def test_a_foreign_file_is_refused_with_what_it_lacks(tmp_path, write, problem):
    path = tmp_path / "file.pt"
    write(path)
    with pytest.raises(ValueError, match=f"not a file written by sklearn-meta: it .*{problem}"):
        load(path)


def test_unfitted_estimators_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MAMLRegressor().save(tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_a_model_from_an_absent_device_loads_on_the_cpu(sinusoid, tmp_path):
    X, y, groups = sinusoid
    fitted = MAMLRegressor(**FAST).fit(X, y, groups)
    fitted.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["fitted"] = payload["fitted"].replace('"device_": "cpu"', '"device_": "cuda:7"')
    torch.save(payload, tmp_path / "moved.pt")
    with pytest.warns(UserWarning, match="cuda:7, which is not available here"):
        loaded = load(tmp_path / "moved.pt")
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


class _InterruptAt:
    """A stand-in for ``meta_step`` that presses Ctrl-C before step ``step``."""

    def __init__(self, step: int):
        self.step, self.calls, self.meta_step = step, 0, training.meta_step

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.step:
            raise KeyboardInterrupt
        return self.meta_step(*args, **kwargs)


def test_an_interrupted_fit_keeps_the_steps_it_completed(sinusoid, monkeypatch):
    X, y, groups = sinusoid
    monkeypatch.setattr(training, "meta_step", _InterruptAt(7))
    with pytest.warns(RuntimeWarning, match="interrupted after 6 steps"):
        interrupted = MAMLRegressor(**{**FAST, "max_iter": 20}).fit(X, y, groups)
    monkeypatch.undo()
    assert interrupted.n_iter_ == 6 and len(interrupted.loss_curve_) == 6
    assert_same_parameters(interrupted, MAMLRegressor(**{**FAST, "max_iter": 6}).fit(X, y, groups))
    assert np.isfinite(interrupted.predict(X)).all()


def test_an_interrupted_early_stopped_fit_keeps_its_best_validated_step(sinusoid, monkeypatch):
    X, y, groups = sinusoid
    monkeypatch.setattr(training, "meta_step", _InterruptAt(26))
    settings = dict(early_stopping=True, validation_interval=5, max_iter=40)
    with pytest.warns(RuntimeWarning, match="after 25 steps .* best validated step"):
        interrupted = MAMLRegressor(**{**FAST, **settings}).fit(X, y, groups)
    assert len(interrupted.validation_scores_) == 5  # steps 5, 10, ..., 25
    assert interrupted.best_validation_score_ == max(interrupted.validation_scores_)


def test_an_interrupted_classifier_is_ready_to_predict(blobs_classes, monkeypatch):
    X, y = blobs_classes
    monkeypatch.setattr(training, "meta_step", _InterruptAt(3))
    with pytest.warns(RuntimeWarning, match="interrupted after 2 steps"):
        clf = MAMLClassifier(n_way=3, **FAST).fit(X, y)
    assert set(clf.predict(X)) <= set(y)


def test_checkpoints_are_written_every_n_steps_and_at_the_end(sinusoid, tmp_path, monkeypatch):
    X, y, groups = sinusoid
    written = []

    def spy(estimator, path):
        written.append(estimator.n_iter_)
        original_save(estimator, path)
        if estimator.n_iter_ == 10:
            shutil.copy(path, tmp_path / "step10.pt")

    original_save = training.save_estimator
    monkeypatch.setattr(training, "save_estimator", spy)
    settings = {**FAST, "max_iter": 20, "checkpoint_every": 5}
    MAMLRegressor(checkpoint_path=tmp_path / "run.pt", **settings).fit(X, y, groups)
    assert written == [5, 10, 15, 20, 20]
    monkeypatch.undo()
    # a crash after step 10: a new process resumes from that checkpoint
    resumed = MAMLRegressor(checkpoint_path=tmp_path / "step10.pt", **settings).fit(X, y, groups)
    uninterrupted = MAMLRegressor(**settings).fit(X, y, groups)
    assert_same_parameters(resumed, uninterrupted)
    assert resumed.loss_curve_ == uninterrupted.loss_curve_ and resumed.n_iter_ == 20


def test_a_resumed_fit_draws_the_dropout_masks_of_an_uninterrupted_one(sinusoid, tmp_path):
    X, y, groups = sinusoid
    layers = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Dropout(0.3), torch.nn.ReLU())
    settings = {**FAST, "max_iter": 12, "module": layers}
    MAMLRegressor(checkpoint_path=tmp_path / "run.pt", **{**settings, "max_iter": 6}).fit(
        X, y, groups
    )
    resumed = MAMLRegressor(checkpoint_path=tmp_path / "run.pt", **settings).fit(X, y, groups)
    uninterrupted = MAMLRegressor(**settings).fit(X, y, groups)
    assert resumed.loss_curve_ == uninterrupted.loss_curve_
    assert_same_parameters(resumed, uninterrupted)


def test_resuming_after_an_interruption_matches_an_uninterrupted_run(
    blobs_classes, tmp_path, monkeypatch
):
    X, y = blobs_classes
    settings = {**FAST, "max_iter": 15, "checkpoint_every": 4}
    path = tmp_path / "run.pt"
    monkeypatch.setattr(training, "meta_step", _InterruptAt(10))
    with pytest.warns(RuntimeWarning, match="interrupted"):
        MetaClassifier("protonet", n_way=3, checkpoint_path=path, **settings).fit(X, y)
    monkeypatch.undo()
    resumed = MetaClassifier("protonet", n_way=3, checkpoint_path=path, **settings).fit(X, y)
    uninterrupted = MetaClassifier("protonet", n_way=3, **settings).fit(X, y)
    assert resumed.n_iter_ == 15
    np.testing.assert_array_equal(resumed.predict_proba(X), uninterrupted.predict_proba(X))
    assert load(path).n_iter_ == 15


def test_a_checkpoint_of_another_fit_is_refused(sinusoid, tmp_path):
    X, y, groups = sinusoid
    path = tmp_path / "run.pt"
    MAMLRegressor(checkpoint_path=path, **FAST).fit(X, y, groups)
    with pytest.raises(ValueError, match="other parameters; delete it"):
        MAMLRegressor(checkpoint_path=path, inner_lr=0.05, **FAST).fit(X, y, groups)
    with pytest.raises(ValueError, match="a fit on other data"):
        MAMLRegressor(checkpoint_path=path, **FAST).fit(X[:-20], y[:-20], groups[:-20])
    # more steps on the same data and settings continue the run
    longer = MAMLRegressor(checkpoint_path=path, **{**FAST, "max_iter": 12}).fit(X, y, groups)
    assert longer.n_iter_ == 12


def test_a_failed_resume_leaves_a_fitted_model_as_it_was(sinusoid, tmp_path):
    X, y, groups = sinusoid
    path = tmp_path / "run.pt"
    MAMLRegressor(checkpoint_path=path, inner_lr=0.05, **FAST).fit(X, y, groups)
    fitted = MAMLRegressor(**FAST).fit(X, y, groups)
    before = fitted.predict(X)
    with pytest.raises(ValueError, match="checkpoint"):
        fitted.set_params(checkpoint_path=path).fit(X, y, groups)
    np.testing.assert_array_equal(fitted.predict(X), before)


def test_a_non_finite_loss_leaves_the_last_finite_parameters_in_the_checkpoint(sinusoid, tmp_path):
    X, y, groups = sinusoid
    path = tmp_path / "run.pt"
    maml = MAMLRegressor(checkpoint_path=path, inner_lr=1e3, meta_lr=10.0, **FAST)
    with warnings.catch_warnings(), pytest.raises(FloatingPointError):
        warnings.simplefilter("ignore")
        maml.set_params(max_iter=500).fit(X, y * 1e6, groups)
    saved = load(path)
    assert saved.n_iter_ == maml.n_iter_
    assert all(torch.isfinite(p).all() for p in saved.learner_.parameters())
    assert_same_parameters(saved, maml)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_model_saved_on_the_gpu_loads_in_a_cpu_only_process(sinusoid, tmp_path):
    import os
    import subprocess
    import sys

    X, y, groups = sinusoid
    fitted = MAMLRegressor(**{**FAST, "device": "cuda"}).fit(X, y, groups)
    fitted.save(tmp_path / "model.pt")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", fitted.predict(X))
    script = (
        "import numpy as np, warnings; from sklearn_meta import load\n"
        "warnings.simplefilter('ignore')\n"
        f"model = load({str(tmp_path / 'model.pt')!r})\n"
        "assert str(model.device_) == 'cpu'\n"
        f"got = model.predict(np.load({str(tmp_path / 'X.npy')!r}))\n"
        f"np.testing.assert_allclose(got, np.load({str(tmp_path / 'expected.npy')!r}), "
        "rtol=1e-4, atol=1e-5)\n"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
