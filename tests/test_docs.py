"""The API reference (doc/api.rst) lists every public name, and only those.

Sphinx builds one page per name listed in an ``autosummary`` of
``doc/api.rst``; a name added to a package's ``__all__`` but not there would
have no page. This reads the reference source, so it needs no Sphinx.
"""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_meta

API_REFERENCE = Path(__file__).resolve().parents[1] / "doc" / "api.rst"


def public_packages() -> list[str]:
    """``sklearn_meta`` and every subpackage or module not named ``_private``."""
    names = ["sklearn_meta"]
    for module in pkgutil.iter_modules(sklearn_meta.__path__, "sklearn_meta."):
        if not module.name.rsplit(".", 1)[1].startswith("_"):
            names.append(module.name)
    return names


def documented_names(text: str) -> set[str]:
    """Fully qualified names listed in the ``autosummary`` directives of ``text``,
    each in the module of the ``currentmodule`` directive before it."""
    names, module, in_autosummary = set(), None, False
    for line in text.splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module, in_autosummary = match[1], False
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line.strip() and not line.startswith(" "):
            in_autosummary = False  # the directive's content ended
        elif in_autosummary and line.strip() and not line.strip().startswith(":"):
            name = line.strip()
            names.add(name if name.startswith("sklearn_meta.") else f"{module}.{name}")
    return names


def public_names() -> set[str]:
    names = set()
    for package in public_packages():
        module = importlib.import_module(package)
        names.update(f"{package}.{name}" for name in module.__all__)
    return names


def test_parser_reads_currentmodule_and_autosummary():
    text = """
.. currentmodule:: pkg

.. autosummary::
   :toctree: generated/

   Foo
   bar

Not listed
----------

   indented prose after the directive ended

.. currentmodule:: pkg.sub

.. autosummary::

   Baz
"""
    assert documented_names(text) == {"pkg.Foo", "pkg.bar", "pkg.sub.Baz"}


def test_public_packages_are_found():
    packages = public_packages()
    assert {"sklearn_meta.datasets", "sklearn_meta.model_selection"} <= set(packages)
    assert not any(name.split(".")[-1].startswith("_") for name in packages)


@pytest.mark.parametrize("package", public_packages())
def test_package_has_all(package):
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package} has no __all__: list its public names"
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which it lacks"


def test_every_public_name_is_in_the_api_reference():
    missing = sorted(public_names() - documented_names(API_REFERENCE.read_text("utf-8")))
    assert not missing, (
        f"add these public names to an autosummary in {API_REFERENCE.name}: {missing}"
    )


def test_api_reference_lists_only_public_names():
    extra = sorted(documented_names(API_REFERENCE.read_text("utf-8")) - public_names())
    assert not extra, f"{API_REFERENCE.name} lists names that no __all__ exports: {extra}"
