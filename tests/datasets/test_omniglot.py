import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")

from sklearn_meta import ProtoNetClassifier  # noqa: E402
from sklearn_meta.datasets import load_omniglot  # noqa: E402

SIZE = 20  # side of the fixture images (the real ones are 105)
ALPHABETS = ("Latin", "Greek")
N_CHARACTERS, N_DRAWERS = 3, 2


@pytest.fixture(scope="module")
def omniglot_folder(tmp_path_factory, omniglot_files):
    write, _ = omniglot_files
    root = tmp_path_factory.mktemp("folder")
    return write(
        root, alphabets=ALPHABETS, n_characters=N_CHARACTERS, n_drawers=N_DRAWERS, size=SIZE
    )


@pytest.fixture(scope="module")
def omniglot_zip(tmp_path_factory, omniglot_folder):
    """The same images as images_background.zip, entries in scrambled order."""
    root = tmp_path_factory.mktemp("zip")
    files = sorted((omniglot_folder / "images_background").rglob("*.png"))[::-1]
    with zipfile.ZipFile(root / "images_background.zip", "w") as archive:
        for file in files:
            archive.write(file, file.relative_to(omniglot_folder).as_posix())
        archive.writestr("__MACOSX/images_background/Latin/._x.png", b"junk")
    return root


def test_fixture_is_mode_1_black_on_white(omniglot_folder):
    file = omniglot_folder / "images_background/Latin/character01/0100_01.png"
    with Image.open(file) as image:
        assert image.mode == "1" and image.size == (SIZE, SIZE)


def test_shapes_values_targets_and_groups(omniglot_folder, omniglot_files):
    _, ink = omniglot_files
    bunch = load_omniglot(omniglot_folder, image_size=SIZE)
    n = len(ALPHABETS) * N_CHARACTERS * N_DRAWERS
    assert bunch.data.shape == (n, SIZE * SIZE) and bunch.data.dtype == np.float32
    assert bunch.images.shape == (n, SIZE, SIZE)
    np.testing.assert_array_equal(bunch.data, bunch.images.reshape(n, -1))
    # sorted alphabets (Greek before Latin), characters, drawers; ink is 1, background 0
    assert bunch.target[0] == "Greek/character01" and bunch.target[-1] == "Latin/character03"
    np.testing.assert_array_equal(bunch.images[0], ink(1, 1, 1, SIZE).astype(np.float32))
    np.testing.assert_array_equal(bunch.images[-1], ink(0, 3, 2, SIZE).astype(np.float32))
    assert set(np.unique(bunch.data)) == {0.0, 1.0}
    # the same character number in two alphabets is two classes
    assert len(np.unique(bunch.target)) == len(ALPHABETS) * N_CHARACTERS
    assert np.unique(bunch.groups).tolist() == ["Greek", "Latin"]
    for target, group in zip(bunch.target, bunch.groups, strict=True):
        assert target.split("/")[0] == group
    assert "12 images of 6 characters from 2 alphabets" in bunch.DESCR


def test_resized_images(omniglot_folder):
    X, y, groups = load_omniglot(omniglot_folder, image_size=8, return_X_y=True)
    assert X.shape == (12, 64) and y.shape == groups.shape == (12,)
    assert X.min() >= 0.0 and X.max() <= 1.0
    # downsampling keeps where the ink is: ink fraction per image is about the same
    full = load_omniglot(omniglot_folder, image_size=SIZE).data
    np.testing.assert_allclose(X.mean(1), full.mean(1), atol=0.05)


def test_rotations_are_new_classes_of_the_same_alphabet(omniglot_folder):
    plain = load_omniglot(omniglot_folder, image_size=SIZE)
    rotated = load_omniglot(omniglot_folder, image_size=SIZE, rotations=True)
    n = len(plain.target)
    assert rotated.images.shape == (4 * n, SIZE, SIZE)
    assert len(np.unique(rotated.target)) == 4 * len(np.unique(plain.target))
    np.testing.assert_array_equal(rotated.images[:n], plain.images)
    np.testing.assert_array_equal(rotated.groups, np.tile(plain.groups, 4))
    for k, angle in enumerate((90, 180, 270), start=1):
        block = slice(k * n, (k + 1) * n)
        np.testing.assert_array_equal(
            rotated.target[block], [f"{t}/rot{angle}" for t in plain.target]
        )
        np.testing.assert_array_equal(rotated.images[block], np.rot90(plain.images, k, axes=(1, 2)))
    # the rotation is the one PIL makes of the file (counter-clockwise)
    file = omniglot_folder / "images_background/Greek/character01/0101_01.png"
    with Image.open(file) as image:
        by_pil = 1.0 - np.asarray(image.convert("L").rotate(90), dtype=np.float32) / 255
    np.testing.assert_array_equal(rotated.images[n], by_pil)


@pytest.mark.parametrize("image_size", [SIZE, 12])
def test_zip_and_folder_give_the_same_result(omniglot_folder, omniglot_zip, image_size):
    from_folder = load_omniglot(omniglot_folder, image_size=image_size, rotations=True)
    from_zip = load_omniglot(omniglot_zip, image_size=image_size, rotations=True)
    for key in ("data", "images", "target", "groups"):
        np.testing.assert_array_equal(from_folder[key], from_zip[key])
    assert "images_background.zip" in from_zip.DESCR


def test_other_ways_to_point_at_the_files(omniglot_folder, omniglot_zip, tmp_path):
    expected = load_omniglot(omniglot_folder, image_size=SIZE).data
    # the subset folder itself, the zip file itself, a clone with the zip in python/
    (tmp_path / "python").mkdir()
    shutil.copy(omniglot_zip / "images_background.zip", tmp_path / "python")
    for path in [
        omniglot_folder / "images_background",
        omniglot_zip / "images_background.zip",
        str(tmp_path),
    ]:
        np.testing.assert_array_equal(load_omniglot(path, image_size=SIZE).data, expected)


def test_small_subset_names(omniglot_folder, tmp_path):
    shutil.copytree(omniglot_folder / "images_background", tmp_path / "images_background_small1")
    bunch = load_omniglot(tmp_path, subset="background_small1", image_size=SIZE)
    assert bunch.data.shape == (12, SIZE * SIZE)
    with pytest.raises(FileNotFoundError, match="images_background_small2.zip"):
        load_omniglot(tmp_path, subset="background_small2")


def test_missing_files_say_what_is_expected(omniglot_folder, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_omniglot(tmp_path)  # exists, but empty
    message = str(error.value)
    for expected in [
        str(tmp_path / "images_background.zip"),
        str(tmp_path / "images_background"),
        "<alphabet>",
        "<id>_<drawer>.png",
        "https://github.com/brendenlake/omniglot",
        "python/",
        "images_evaluation.zip",
        "images_background_small1.zip",
        "images_background_small2.zip",
        "never downloads",
    ]:
        assert expected in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_omniglot(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="images_evaluation.zip"):
        load_omniglot(omniglot_folder, subset="evaluation")
    with zipfile.ZipFile(tmp_path / "images_background.zip", "w") as archive:
        archive.writestr("Latin/character01/0100_01.png", b"no top folder")
    with pytest.raises(FileNotFoundError, match="holds no images in the official layout"):
        load_omniglot(tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(subset="train"), ValueError, "subset must be one of"),
        (dict(image_size=0), ValueError, "image_size must be >= 1"),
        (dict(image_size=2.5), TypeError, "image_size must be an int"),
        (dict(rotations="yes"), TypeError, "rotations must be a bool"),
        (dict(return_X_y=1), TypeError, "return_X_y must be a bool"),
    ],
)
def test_bad_arguments(omniglot_folder, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_omniglot(omniglot_folder, **kwargs)
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        load_omniglot(None)


def test_without_pillow(omniglot_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-meta\[images\]"'):
        load_omniglot(omniglot_folder)


def test_importing_the_package_does_not_need_pillow():
    code = (
        "import sys; sys.modules['PIL'] = None; "
        "import sklearn_meta, sklearn_meta.datasets; print(sklearn_meta.datasets.load_omniglot)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "load_omniglot" in result.stdout


def test_protonet_on_omniglot_images(omniglot_zip):
    size = 28
    X, y, groups = load_omniglot(omniglot_zip, image_size=size, rotations=True, return_X_y=True)
    model = ProtoNetClassifier(
        n_way=2,
        n_shots=1,
        n_queries=1,
        max_iter=3,
        meta_batch_size=2,
        module="conv4",
        input_shape=(1, size, size),
        device="cpu",
        random_state=0,
    )
    model.fit(X, y, groups=groups)
    assert model.n_iter_ == 3
    task = model.adapt(X[[0, 2]], y[[0, 2]])  # one drawing each of two characters
    assert set(task.classes_) == {y[0], y[2]}
    predicted = task.predict(X[[1, 3]])
    assert predicted.shape == (2,) and set(predicted) <= {y[0], y[2]}
