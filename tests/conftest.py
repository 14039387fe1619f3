import numpy as np
import pytest
import torch

from sklearn_meta.datasets import make_sinusoid_tasks

# The test networks are tiny: a second torch thread gains nothing and, on a
# busy machine, slows them many times over.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def fits_keep_the_first_path():
    """Fits keep the default path (vmap) instead of timing the candidates:
    which path wins a timing differs between runs, and the paths round
    differently, so tests that compare two fits would be flaky.
    ``tests/test_paths.py`` tests the timing itself."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sklearn_meta._training.MIN_STEPS_TO_MEASURE", 10**9)
        yield


@pytest.fixture(scope="session")
def sinusoid():
    """60 small sine tasks: X, y, groups."""
    return make_sinusoid_tasks(60, 20, random_state=0)


@pytest.fixture(scope="session")
def blobs_classes():
    """A 12-class pool: well separated Gaussian blobs in 6-D, 30 samples per class."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(12, 6))
    y = np.repeat(np.arange(12), 30)
    X = centers[y] + rng.normal(size=(len(y), 6))
    return X.astype(np.float64), y


def omniglot_ink(alphabet: int, character: int, drawer: int, size: int = 20) -> np.ndarray:
    """A distinct, asymmetric pattern of ink (True) for one drawing."""
    rng = np.random.default_rng([alphabet, character, drawer])
    ink = rng.random((size, size)) < 0.15
    ink[2 + character, 1 : 5 + drawer] = True  # a stroke set by character and drawer
    return ink


def write_omniglot(
    root,
    subset="background",
    alphabets=("Latin", "Greek"),
    n_characters=3,
    n_drawers=2,
    size=20,
):
    """Made-up Omniglot files in the official layout under ``root``:
    ``images_<subset>/<alphabet>/<character>/<id>_<drawer>.png``, black (0)
    ink on white (1) in mode "1" as the real files, the ink of
    :func:`omniglot_ink`. Returns ``root``."""
    image = pytest.importorskip("PIL.Image")
    for a, alphabet in enumerate(alphabets):
        for c in range(1, n_characters + 1):
            folder = root / f"images_{subset}" / alphabet / f"character{c:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for d in range(1, n_drawers + 1):
                ink = omniglot_ink(a, c, d, size)
                image.fromarray(~ink).save(folder / f"{c:02d}{a:02d}_{d:02d}.png")
    return root


@pytest.fixture(scope="session")
def omniglot_files():
    """:func:`write_omniglot` and :func:`omniglot_ink`, for tests that make Omniglot files."""
    return write_omniglot, omniglot_ink
