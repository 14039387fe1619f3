"""Sphinx configuration of the sklearn-meta documentation.

Build with ``python -m sphinx -W --keep-going -b html doc doc/_build/html``
(install the ``doc`` extra first: ``pip install -e ".[doc]"``). Nothing is
fetched at build time: no intersphinx, and the gallery examples make or read
only local data.
"""

import os
import re

# The examples run at build time on the CPU with one torch thread, so that
# the build takes about the same time on a laptop, a loaded CI machine or a
# GPU box (set before torch is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sklearn_meta  # noqa: E402

project = "sklearn-meta"
author = "the sklearn-meta developers"
copyright = "the sklearn-meta developers"  # noqa: A001 (Sphinx's name)
release = sklearn_meta.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.md5"]

# -- autodoc / autosummary / numpydoc -------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # the numpydoc docstrings give the types
# numpydoc: no member tables (the class template lists the methods), no
# cross-referencing of parameter types (they are prose such as
# "array-like of shape (n_samples,)"), and no validation beyond the build.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- MyST -----------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- sphinx-gallery -------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "doc_module": ("sklearn_meta",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sklearn_meta": None},
}

# -- HTML -----------------------------------------------------------------
html_theme = "furo"
html_title = f"sklearn-meta {release}"
html_static_path = []


# -- scikit-learn's generated docstrings ------------------------------------
# set_fit_request, set_score_request, ... are made by scikit-learn, whose
# docstrings point into scikit-learn's own glossary and user guide; this
# site has neither, so those references become plain text and a link.
SKLEARN_ROUTING_GUIDE = "https://scikit-learn.org/stable/metadata_routing.html"


def _sklearn_references(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        line = re.sub(r":term:`([^`<]+?)(?: <[^`]+>)?`", r"\1", line)
        line = re.sub(
            r":ref:`([^`<]+?) <metadata_routing>`", rf"`\1 <{SKLEARN_ROUTING_GUIDE}>`__", line
        )
        lines[i] = line


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_references)
