"""Omniglot (Lake et al. 2015) read from a local copy of its official files."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._validation import check_bool, check_int, check_option

SUBSETS = ("background", "evaluation", "background_small1", "background_small2")
URL = "https://github.com/brendenlake/omniglot"
_ROTATIONS = (90, 180, 270)

# (alphabet, character, file name) of each image, and a function opening one of them.
_Listing = list[tuple[str, str, str]]
_Opener = Callable[[str, str, str], io.BufferedIOBase]


def load_omniglot(path, *, subset="background", image_size=28, rotations=False, return_X_y=False):
    """Load Omniglot, 1623 handwritten characters of 50 alphabets, from local files.

    Omniglot (Lake et al. 2015) is the standard few-shot image benchmark:
    each character was drawn once by each of 20 people, as a 105x105 black
    and white image. This reads the official distribution from a folder
    that holds its zip files or the folders they unpack to; it never
    downloads anything. Get the files from
    https://github.com/brendenlake/omniglot (folder ``python/``):
    ``images_background.zip`` (964 characters of 30 alphabets, the usual
    meta-training set), ``images_evaluation.zip`` (659 characters of 20
    other alphabets), and the smaller ``images_background_small1.zip`` and
    ``images_background_small2.zip``. Zip files are read directly, without
    unpacking. Requires Pillow (``pip install "sklearn-meta[images]"``).

    Parameters
    ----------
    path : str or path-like
        The folder holding ``images_<subset>.zip`` or the folder
        ``images_<subset>/<alphabet>/<character>/<id>_<drawer>.png``; a
        clone of the repository (with the files in its ``python/`` folder),
        or the zip file or subset folder itself, works too. When both the
        folder and the zip file are there, the folder is read.
    subset : {"background", "evaluation", "background_small1", \
"background_small2"}, default="background"
        Which of the official image sets to read.
    image_size : int, default=28
        Images are resized to ``image_size`` x ``image_size`` pixels
        (Lanczos filter; 28 is the few-shot literature's usual size). At 105,
        the original size, pixels are exactly 0 or 1.
    rotations : bool, default=False
        Whether to add each character rotated by 90, 180 and 270 degrees
        (counter-clockwise, as :func:`numpy.rot90`) as three new characters of
        the same alphabet, the usual augmentation (Santoro et al. 2016). The
        rotated copies follow the originals, one block per angle.
    return_X_y : bool, default=False
        Whether to return ``(data, target, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : ndarray of shape (n_images, image_size * image_size), float32
            Flattened images: 1.0 is ink, 0.0 is background.
        images : ndarray of shape (n_images, image_size, image_size), float32
            The same pixels as images (``data`` is a view of them).
        target : ndarray of shape (n_images,), str
            The character, unique across alphabets: ``"Latin/character01"``,
            with ``"/rot90"``, ``"/rot180"`` or ``"/rot270"`` appended for
            rotated copies.
        groups : ndarray of shape (n_images,), str
            The alphabet, e.g. ``"Latin"``: pass it as ``groups`` so that an
            episode's classes come from one alphabet.
        DESCR : str
            A short description of what was loaded.

    (data, target, groups) : tuple of ndarrays
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        When the files are not under ``path``; the message lists what is
        expected.
    ImportError
        When Pillow is not installed.

    Notes
    -----
    Images are listed in sorted order of alphabet, character and file name,
    so the result does not depend on the file system or the zip file.

    Examples
    --------
    A made-up folder in the official layout, two characters drawn twice
    (a black bar on white):

    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from sklearn_meta.datasets import load_omniglot
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name in ["Latin/character01/0001_01.png", "Latin/character01/0001_02.png",
    ...              "Greek/character01/0002_01.png", "Greek/character01/0002_02.png"]:
    ...     file = Path(folder.name, "images_background", name)
    ...     file.parent.mkdir(parents=True, exist_ok=True)
    ...     image = Image.new("1", (105, 105), color=1)
    ...     image.paste(0, (40, 0, 65, 105))
    ...     image.save(file)
    >>> omniglot = load_omniglot(folder.name, image_size=28)
    >>> omniglot.data.shape, omniglot.images[0, 14, [0, 14]].tolist()
    ((4, 784), [0.0, 1.0])
    >>> omniglot.target.tolist()
    ['Greek/character01', 'Greek/character01', 'Latin/character01', 'Latin/character01']
    >>> X, y, groups = load_omniglot(folder.name, rotations=True, return_X_y=True)
    >>> X.shape, np.unique(y).size, np.unique(groups).tolist()
    ((16, 784), 8, ['Greek', 'Latin'])
    >>> folder.cleanup()
    """
    check_option("subset", subset, SUBSETS)
    image_size = check_int("image_size", image_size, 1)
    rotations = check_bool("rotations", rotations)
    return_X_y = check_bool("return_X_y", return_X_y)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}.")
    image_module = _import_pillow()
    source = _find_source(Path(path).expanduser(), subset)
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            listing, opener = _zip_listing(archive, f"images_{subset}")
            images = _read_images(listing, opener, image_module, image_size, source, subset)
    else:
        listing, opener = _folder_listing(source)
        images = _read_images(listing, opener, image_module, image_size, source, subset)
    target = np.array([f"{alphabet}/{character}" for alphabet, character, _ in listing])
    groups = np.array([alphabet for alphabet, _, _ in listing])
    if rotations:
        images = np.concatenate(
            [images] + [np.rot90(images, angle // 90, axes=(1, 2)) for angle in _ROTATIONS]
        )
        target = np.concatenate([target] + [np.char.add(target, f"/rot{a}") for a in _ROTATIONS])
        groups = np.tile(groups, 1 + len(_ROTATIONS))
    data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target, groups
    descr = (
        f"Omniglot (Lake et al. 2015), subset {subset!r}, read from {source}: "
        f"{len(images)} images of {len(np.unique(target))} characters from "
        f"{len(np.unique(groups))} alphabets"
        + (", with rotations by 90, 180 and 270 degrees as new characters" if rotations else "")
        + f"; {image_size}x{image_size} pixels, ink 1.0 on background 0.0."
    )
    return Bunch(data=data, images=images, target=target, groups=groups, DESCR=descr)


def _import_pillow():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            'load_omniglot needs Pillow to read images: pip install "sklearn-meta[images]"'
        ) from error
    return Image


def _find_source(path: Path, subset: str) -> Path:
    """The subset's folder or zip file under ``path``."""
    top = f"images_{subset}"
    if not path.exists():
        raise _not_found(path, subset, f"The path {path} does not exist")
    if path.is_dir() and path.name == top:
        return path
    if path.is_file() and path.name == f"{top}.zip":
        return path
    for base in (path, path / "python"):
        if (base / top).is_dir():
            return base / top
        if (base / f"{top}.zip").is_file():
            return base / f"{top}.zip"
    raise _not_found(path, subset, f"Neither {top}.zip nor the folder {top} is in {path}")


def _not_found(path: Path, subset: str, reason: str) -> FileNotFoundError:
    top = f"images_{subset}"
    official = ", ".join(f"images_{name}.zip" for name in SUBSETS)
    return FileNotFoundError(
        f"{reason}. load_omniglot reads the Omniglot {subset!r} subset from local files and "
        f"never downloads them. Expected the zip file {path / (top + '.zip')} or the folder "
        f"it unpacks to, {path / top}{os.sep}<alphabet>{os.sep}<character>{os.sep}"
        f"<id>_<drawer>.png (a clone of the repository, with the zip files in its python "
        f"folder, works too). The official files ({official}) are published at {URL}, "
        "in its python/ folder."
    )


def _visible(name: str) -> bool:
    return not name.startswith((".", "__MACOSX"))


def _folder_listing(root: Path) -> tuple[_Listing, _Opener]:
    listing = [
        (alphabet.name, character.name, file.name)
        for alphabet in sorted(root.iterdir())
        if alphabet.is_dir() and _visible(alphabet.name)
        for character in sorted(alphabet.iterdir())
        if character.is_dir() and _visible(character.name)
        for file in sorted(character.iterdir())
        if file.suffix.lower() == ".png" and _visible(file.name) and file.is_file()
    ]
    return listing, lambda *parts: open(root.joinpath(*parts), "rb")


def _zip_listing(archive: zipfile.ZipFile, top: str) -> tuple[_Listing, _Opener]:
    listing = []
    for name in archive.namelist():
        parts = name.split("/")
        if (
            len(parts) == 4
            and parts[0] == top
            and parts[3].lower().endswith(".png")
            and all(_visible(part) for part in parts)
        ):
            listing.append(tuple(parts[1:]))
    listing.sort()
    # One read per member: PNG decoding from a zip stream makes many small reads.
    return listing, lambda *parts: io.BytesIO(archive.read("/".join((top, *parts))))


def _read_images(
    listing: _Listing, opener: _Opener, image_module, image_size: int, source: Path, subset: str
) -> np.ndarray:
    """Decoded, resized images of ``listing``: ink 1.0, background 0.0."""
    if not listing:
        raise _not_found(source.parent, subset, f"{source} holds no images in the official layout")
    size = (image_size, image_size)
    images = np.empty((len(listing), image_size, image_size), dtype=np.float32)
    for index, parts in enumerate(listing):
        with opener(*parts) as file, image_module.open(file, formats=("PNG",)) as image:
            grey = image.convert("L")
        if grey.size != size:
            grey = grey.resize(size, image_module.Resampling.LANCZOS)
        images[index] = np.asarray(grey, dtype=np.float32)
    np.subtract(255.0, images, out=images)
    images /= 255.0
    return images
