"""What torch's wrong second derivatives through batch norm cost a MAML fit.

torch's batching rule for the batch norm backward gives wrong second
derivatives with respect to the affine weight under ``vmap``
(pytorch/functorch#534); the library's backbones apply the affine
parameters as separate operations instead (``sklearn_meta/_core/_norms.py``).
This script fits the same vectorized second-order Conv4 MAMLClassifier with
the library's layers and with torch's own ``BatchNorm2d`` (the layers before
the fix), from the same seeds, and reports:

- the relative error of the vectorized meta-gradient against the task
  loop's at the fitted parameters (float32, one meta-batch of 8; the
  largest over the seeds);
- the 4-way 1-shot accuracy (%) on held-out classes, over 600 episodes.

Data: scikit-learn's 8x8 digits, classes 0-5 to meta-train, 6-9 to test;
Conv4 on (1, 8, 8), 5-way 1-shot with 5 queries per class, two inner steps
of 0.4 (the second moves the backbone, so batch norm's weights get
second-order terms), meta-batches of 8, 500 outer steps, seeds 0-2.

Usage: ``python benchmarks/norm_layers.py``
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from sklearn.datasets import load_digits

from sklearn_meta import MAMLClassifier
from sklearn_meta._benchmarks._speed import Prepared
from sklearn_meta._core import _model
from sklearn_meta._core._meta import map_episodes
from sklearn_meta._core._norms import split_affine_norms
from sklearn_meta.model_selection import evaluate_few_shot

LAYERS = {
    "split affine (the library)": split_affine_norms,
    "torch's BatchNorm2d (before the fix)": torch.func.replace_all_batch_norm_modules_,
}


def estimator(seed: int) -> MAMLClassifier:
    return MAMLClassifier(
        module="conv4",
        input_shape=(1, 8, 8),
        n_way=5,
        n_shots=1,
        n_queries=5,
        inner_steps=2,
        inner_lr=0.4,
        meta_batch_size=8,
        max_iter=500,
        device="cpu",
        random_state=seed,
    )


def gradient_error(clf: MAMLClassifier, X, y) -> float:
    """Relative error of the vectorized meta-gradient against the loop's."""
    prepared = Prepared.of(clf, X, y)
    batch = prepared.batch(np.random.default_rng(0), 8)
    loss = partial(
        clf.learner_.episode_loss, n_outputs=clf._n_outputs(prepared.pool), loop=clf._inner_loop()
    )
    params = list(clf.learner_.parameters())

    def meta_gradient(vectorize: bool) -> torch.Tensor:
        grads = torch.autograd.grad(map_episodes(loss, batch, vectorize).sum(), params)
        return torch.cat([g.flatten() for g in grads])

    vectorized, looped = meta_gradient(True), meta_gradient(False)
    return float((vectorized - looped).norm() / looped.norm())


def main() -> None:
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    train, test = y < 6, y >= 6
    print("| norm layers | meta-gradient error | accuracy, seeds 0 / 1 / 2 | mean |")
    print("|---|---|---|---|")
    for name, replace_norms in LAYERS.items():
        _model.split_affine_norms = replace_norms
        errors, accuracies = [], []
        for seed in range(3):
            clf = estimator(seed).fit(X[train], y[train])
            errors.append(gradient_error(clf, X[train], y[train]))
            result = evaluate_few_shot(
                clf, X[test], y[test], n_shots=1, n_way=4, n_episodes=600, random_state=0
            )
            accuracies.append(100 * result.mean[0])
        print(
            f"| {name} | {max(errors):.1e} | "
            + " / ".join(f"{a:.1f}" for a in accuracies)
            + f" | {np.mean(accuracies):.1f} |"
        )


if __name__ == "__main__":
    main()
