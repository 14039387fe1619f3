"""
=======================================================
Few-shot image classification from a local Omniglot
=======================================================

:func:`~sklearn_meta.datasets.load_omniglot` reads Omniglot (Lake et al.
2015) from a copy of its official files on your disk; it never downloads.
To run this on the real data, get ``images_background.zip`` and
``images_evaluation.zip`` from the ``python/`` folder of
https://github.com/brendenlake/omniglot, put them in one folder and pass
that folder::

    X, y, groups = load_omniglot("~/data/omniglot", return_X_y=True)

So that the gallery builds anywhere, this example first writes a *tiny fake
Omniglot* to a temporary folder, in the official layout
``images_<subset>/<alphabet>/<character>/<id>_<drawer>.png``: made-up
"characters" (a few random strokes each), each drawn by several "drawers"
with a little jitter, as black ink on white like the real files. Everything
after that is what you would run on the real dataset, with budgets cut to
seconds. To keep the build fast this example uses the default MLP
backbone; on the real data use the few-shot literature's four convolution
blocks, ``module="conv4", input_shape=(1, 28, 28)``.
"""

# %%
# A tiny fake Omniglot on disk
# ----------------------------
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_few_shot

torch.set_num_threads(1)

SIZE = 35  # the real images are 105x105; load_omniglot resizes to image_size


def make_character(rng):
    """A few random straight strokes: the template of one character."""
    ink = np.zeros((SIZE, SIZE), dtype=bool)
    for _ in range(rng.integers(2, 4)):
        (r0, c0), (r1, c1) = rng.integers(5, SIZE - 5, size=(2, 2))
        for t in np.linspace(0, 1, 2 * SIZE):
            r, c = round(r0 + t * (r1 - r0)), round(c0 + t * (c1 - c0))
            ink[r - 1 : r + 2, c - 1 : c + 2] = True
    return ink


def draw(template, rng):
    """One drawer's copy: shifted by up to 3 pixels, some ink lost, a stray dot."""
    shifted = np.roll(template, rng.integers(-3, 4, size=2), axis=(0, 1))
    drawing = shifted & (rng.random(shifted.shape) > 0.2)
    r, c = rng.integers(3, SIZE - 3, size=2)
    drawing[r - 2 : r + 2, c - 2 : c + 2] = True
    return drawing


def write_subset(root, subset, alphabets, n_characters, n_drawers, rng):
    for alphabet in alphabets:
        for c in range(1, n_characters + 1):
            template = make_character(rng)
            folder = root / f"images_{subset}" / alphabet / f"character{c:02d}"
            folder.mkdir(parents=True)
            for d in range(1, n_drawers + 1):
                # mode "1", as the official files: black (0) ink on white (1)
                image = Image.fromarray(~draw(template, rng))
                image.save(folder / f"{c:02d}_{d:02d}.png")


root = Path(tempfile.mkdtemp(prefix="fake_omniglot_"))  # removed once loaded
rng = np.random.default_rng(0)
write_subset(root, "background", ["Alpha", "Beta", "Gamma", "Delta"], 10, 8, rng)
write_subset(root, "evaluation", ["Epsilon", "Zeta"], 10, 8, rng)

# %%
# Load it as you would load the real files
# ----------------------------------------
# ``target`` names the character (unique across alphabets) and ``groups``
# the alphabet, so that each episode's classes come from one alphabet.
train = load_omniglot(root, subset="background", image_size=28)
test = load_omniglot(root, subset="evaluation", image_size=28)
shutil.rmtree(root)
print(train.DESCR.replace(str(root), "<tmp>"))
print(test.DESCR.replace(str(root), "<tmp>"))

fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
for ax, i in zip(axes.ravel(), range(0, 16 * 8, 8), strict=True):
    ax.imshow(train.images[i], cmap="gray_r")
    ax.set_title(train.target[i].replace("/character", " "), fontsize=7)
    ax.axis("off")
fig.suptitle("One drawing of each of 16 fake characters")
fig.tight_layout()

# %%
# Meta-train a prototypical network
# ---------------------------------
# 5-way 1-shot episodes; classes of an episode come from one alphabet. On
# the real data, add ``module="conv4", input_shape=(1, 28, 28)``.
model = ProtoNetClassifier(
    n_way=5,
    n_shots=1,
    n_queries=5,
    max_iter=100,
    device="cpu",
    random_state=0,
)
model.fit(train.data, train.target, groups=train.groups)

# %%
# Evaluate on the held-out alphabets
# ----------------------------------
# Characters of the evaluation alphabets were never seen in training. The
# literature reports the mean accuracy over episodes with a 95% confidence
# interval.
result = evaluate_few_shot(
    model,
    test.data,
    test.target,
    test.groups,
    n_shots=(1, 5),
    n_queries=3,
    n_episodes=100,
    random_state=0,
)
print(result)

# %%
# Adapt to one new 5-way task from one drawing of each character
# ----------------------------------------------------------------
# For prototypical networks ``adapt`` is one embedding pass: each class is
# the mean embedding of its support drawings.
characters = np.unique(test.target)[:5]
support = np.array([np.flatnonzero(test.target == c)[0] for c in characters])
query = np.array([i for c in characters for i in np.flatnonzero(test.target == c)[1:]])
task = model.adapt(test.data[support], test.target[support])
print(f"accuracy on the other drawings: {task.score(test.data[query], test.target[query]):.2f}")
plt.show()
