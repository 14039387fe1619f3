import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_meta import FineTuneClassifier, FineTuneRegressor, MAMLRegressor
from sklearn_meta._core._episodes import PooledClasses
from sklearn_meta._core._inner import InnerLoop
from sklearn_meta._core._meta import EpisodeBatch, map_episodes
from sklearn_meta._core._model import MetaModel, build_mlp
from sklearn_meta._core._tasks import CLASSIFICATION
from sklearn_meta._finetune import COSINE_SCALE, Baseline, CosineHead
from sklearn_meta.datasets import make_sinusoid_tasks

FAST = dict(
    n_way=4,
    n_queries=5,
    max_iter=100,
    meta_batch_size=8,
    n_eval_episodes=16,
    inner_steps=30,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def pretrained(blobs_classes):
    """Classifiers of each head pretrained on classes 0-7 of the blobs; 8-11 are held out."""
    X, y = blobs_classes
    train = y < 8
    return {
        head: FineTuneClassifier(head=head, **FAST).fit(X[train], y[train])
        for head in ("linear", "cosine")
    }


def _backbone(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.backbone.parameters()]


# -- it learns -------------------------------------------------------------------


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_pretraining_learns_the_training_classes(pretrained, blobs_classes, head):
    X, y = blobs_classes
    train = y < 8
    clf = pretrained[head]
    assert np.mean(clf.loss_curve_[-10:]) < 0.2 * clf.loss_curve_[0]
    assert (clf.predict(X[train]) == y[train]).mean() > 0.95
    assert clf.predict_proba(X[train]).shape == (train.sum(), 8)


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_few_shot_on_held_out_classes_beats_chance(pretrained, blobs_classes, head):
    X, y = blobs_classes
    new = y >= 8
    assert pretrained[head].score(X[new], y[new]) > 0.85  # 4-way: chance is 0.25


def test_pretraining_finds_the_features_new_classes_share():
    # 16 classes that differ in 3 of 20 dimensions; the other 17 are loud noise.
    rng = np.random.default_rng(0)
    centers = np.zeros((16, 20))
    centers[:, :3] = rng.normal(scale=3.0, size=(16, 3))
    y = np.repeat(np.arange(16), 30)
    X = centers[y] + rng.normal(size=(len(y), 20)) * np.r_[np.full(3, 0.5), np.full(17, 2.0)]
    train, new = y < 10, y >= 10
    settings = {**FAST, "n_way": 5, "inner_steps": 50}
    pretrained = FineTuneClassifier(**settings).fit(X[train], y[train])
    untrained = FineTuneClassifier(**{**settings, "max_iter": 1}).fit(X[train], y[train])
    assert pretrained.score(X[new], y[new]) > untrained.score(X[new], y[new]) + 0.2


def test_a_fresh_linear_head_needs_adaptation_steps(pretrained, blobs_classes):
    X, y = blobs_classes
    new = y >= 8
    clf = copy.deepcopy(pretrained["linear"]).set_params(inner_steps=0)
    assert clf.score(X[new], y[new]) == 0.25  # a zero head ties every class


def test_cosine_head_starts_at_the_class_directions(pretrained, blobs_classes):
    X, y = blobs_classes
    new = y >= 8
    clf = copy.deepcopy(pretrained["cosine"]).set_params(inner_steps=0)
    assert isinstance(clf.learner_.model.head, CosineHead)
    assert clf.learner_.model.head.bias is None
    assert clf.score(X[new], y[new]) > 0.85  # imprinted rows: a cosine prototype classifier
    task = clf.adapt(X[new], y[new], inner_steps=5)
    logits = task.module_(torch.tensor(X[new], dtype=torch.float32))
    assert logits.shape == (new.sum(), 4) and logits.abs().max() <= COSINE_SCALE + 1e-4


def test_regressor_pretrains_as_the_pooled_maml_baseline(sinusoid):
    common = dict(max_iter=20, n_eval_episodes=10, device="cpu", random_state=0)
    finetune = FineTuneRegressor(**common).fit(*sinusoid)
    pooled = MAMLRegressor(inner_steps=0, **common).fit(*sinusoid)
    np.testing.assert_array_equal(finetune.loss_curve_, pooled.loss_curve_)
    np.testing.assert_array_equal(finetune.predict(sinusoid[0]), pooled.predict(sinusoid[0]))


def test_regressor_fine_tuning_fits_a_new_task_better(sinusoid):
    reg = FineTuneRegressor(max_iter=100, n_eval_episodes=20, device="cpu", random_state=0)
    reg.fit(*sinusoid)
    X_test, y_test, groups_test = make_sinusoid_tasks(20, 20, random_state=1)
    before = reg.set_params(inner_steps=0).score(X_test, y_test, groups_test)
    after = reg.set_params(inner_steps=20).score(X_test, y_test, groups_test)
    assert after > before + 0.1


# -- what adaptation moves --------------------------------------------------------


@pytest.mark.parametrize("adapt_layers", ["head", "all"])
def test_head_adaptation_freezes_the_backbone_and_all_moves_it(
    pretrained, blobs_classes, adapt_layers
):
    X, y = blobs_classes
    new = y >= 8
    clf = copy.deepcopy(pretrained["linear"]).set_params(adapt_layers=adapt_layers)
    task = clf.adapt(X[new][::10], y[new][::10], inner_steps=5)
    frozen = all(
        torch.equal(a, b)
        for a, b in zip(_backbone(clf.learner_.model), _backbone(task.module_), strict=True)
    )
    assert frozen == (adapt_layers == "head")
    assert task.module_.head.weight.shape[0] == 4
    assert clf.learner_.model.head.weight.shape[0] == 8  # the pretrained head is kept


def test_regressor_head_adaptation_freezes_the_backbone(sinusoid):
    reg = FineTuneRegressor(adapt_layers="head", max_iter=5, device="cpu", random_state=0)
    reg.fit(*sinusoid)
    X, y, _ = sinusoid
    task = reg.adapt(X[:10], y[:10], inner_steps=3).module_
    for (name, pretrained), (_, adapted) in zip(
        reg.learner_.model.named_parameters(), task.named_parameters(), strict=True
    ):
        assert torch.equal(pretrained, adapted) != name.startswith("head."), name


# -- the core pieces ----------------------------------------------------------------


def test_pooled_minibatches_carry_the_global_classes():
    class_ids = np.repeat(np.arange(5), 8)
    pool = PooledClasses(class_ids, 5, n_support=4, n_query=6)
    assert pool.n_way == 5 and pool.n_tasks == 4  # 40 rows in minibatches of 10
    episodes = pool.sample(np.random.default_rng(0), 4)
    assert episodes.support.shape == (4, 4) and episodes.query.shape == (4, 6)
    rows = np.concatenate([episodes.support, episodes.query], axis=1)
    np.testing.assert_array_equal(np.sort(rows.ravel()), np.arange(40))  # one pass, no repeats
    np.testing.assert_array_equal(episodes.support_labels, class_ids[episodes.support])
    np.testing.assert_array_equal(episodes.query_labels, class_ids[episodes.query])


def _baseline(head: str) -> Baseline:
    torch.manual_seed(0)
    return Baseline(MetaModel(build_mlp(3, (16,), "tanh"), 3), 0.1, n_classes=5, head=head)


def _classification_batch(n_classes: int) -> EpisodeBatch:
    g = torch.Generator().manual_seed(0)
    return EpisodeBatch(
        torch.randn(4, 6, 3, generator=g),
        torch.arange(n_classes).repeat(4, 6 // n_classes),
        torch.randn(4, 9, 3, generator=g),
        torch.arange(n_classes).repeat(4, 9 // n_classes),
    )


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_vmap_and_loop_give_the_same_pretraining_gradients(head):
    learner = _baseline(head)
    loop = InnerLoop(CLASSIFICATION, steps=0, lr=0.1)
    batch = _classification_batch(3)
    gradients = []
    for vectorize in (True, False):
        learner.zero_grad()
        loss = map_episodes(
            lambda xs, ys, xq, yq: learner.episode_loss(xs, ys, xq, yq, 5, loop), batch, vectorize
        )
        loss.mean().backward()
        gradients.append([p.grad.clone() for p in learner.parameters() if p.grad is not None])
    for a, b in zip(*gradients, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("head", ["linear", "cosine"])
@pytest.mark.parametrize("head_only", [True, False])
def test_vmap_and_loop_adapt_alike(head, head_only):
    learner = _baseline(head)
    loop = InnerLoop(CLASSIFICATION, steps=3, lr=0.5, head_only=head_only)
    batch = _classification_batch(3)

    def adapt_and_predict(xs, ys, xq):
        return learner.adapt_and_predict(xs, ys, xq, 3, loop)

    with torch.no_grad():
        runs = [
            map_episodes(lambda xs, ys, xq, yq: adapt_and_predict(xs, ys, xq), batch, vectorize)
            for vectorize in (True, False)
        ]
    (vmapped, kept_vmapped), (looped, kept_looped) = runs
    torch.testing.assert_close(vmapped, looped, rtol=1e-4, atol=1e-5)
    assert kept_vmapped.tolist() == kept_looped.tolist() == [3] * len(batch)
    with torch.no_grad():
        outputs, steps_kept = adapt_and_predict(
            batch.x_support[0], batch.y_support[0], batch.x_query[0]
        )
    assert outputs.shape == (9, 3)
    assert steps_kept == 3


# -- scikit-learn behaviour -------------------------------------------------------


def test_pickle_round_trip(pretrained, blobs_classes):
    X, y = blobs_classes
    clf = pretrained["cosine"]
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    task = loaded.adapt(X[y >= 8], y[y >= 8], inner_steps=3)
    np.testing.assert_array_equal(
        task.predict(X), clf.adapt(X[y >= 8], y[y >= 8], inner_steps=3).predict(X)
    )


def test_grid_search_over_adapt_layers_on_held_out_classes(blobs_classes):
    X, y = blobs_classes
    search = GridSearchCV(
        FineTuneClassifier(**{**FAST, "n_way": 3, "max_iter": 30}),
        {"adapt_layers": ["head", "all"], "inner_steps": [0, 30]},
        cv=GroupKFold(2),
        error_score="raise",
    ).fit(X, y, groups=y)
    scores = {
        (params["adapt_layers"], params["inner_steps"]): score
        for params, score in zip(
            search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
        )
    }
    for layers in ("head", "all"):
        assert scores[layers, 30] > 0.8  # 3-way: chance is 1/3
        assert scores[layers, 0] == pytest.approx(1 / 3)  # a zero head ties every class
    assert search.best_params_["inner_steps"] == 30


def test_partial_fit_takes_one_pass_over_the_samples(blobs_classes):
    X, y = blobs_classes
    clf = FineTuneClassifier(**{**FAST, "meta_batch_size": 3})
    clf.partial_fit(X, y, classes=np.arange(12))
    assert clf.n_iter_ == 3  # 360 rows: 9 minibatches of 4 * (5 + 5), three a step
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 6


def test_warm_start_needs_the_same_classes(blobs_classes):
    X, y = blobs_classes
    clf = FineTuneClassifier(warm_start=True, **{**FAST, "max_iter": 3}).fit(X, y)
    clf.fit(X, y)
    assert clf.n_iter_ == 6
    with pytest.raises(ValueError, match="warm_start continues pretraining a head"):
        clf.fit(X[y < 8], y[y < 8])
    assert clf.n_iter_ == 6 and len(clf.classes_) == 12


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(head="dot"), ValueError, "head must be one of"),
        (dict(inner_steps=1.5), TypeError, "inner_steps must be an int"),
        (dict(adapt_layers="body"), ValueError, "adapt_layers must be one of"),
    ],
)
def test_bad_parameters_are_named(blobs_classes, params, error, message):
    with pytest.raises(error, match=message):
        FineTuneClassifier(**{**FAST, **params}).fit(*blobs_classes)
