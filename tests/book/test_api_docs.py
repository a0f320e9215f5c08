"""Every public name of dgm_lib has a docstring, and the library reference covers every module.

The reference pages (``api/``) are generated from the docstrings by Sphinx autodoc, which leaves
out a member without one; so a public function, class or constant without a docstring would
silently be missing from the reference. The public names are each subpackage's ``__all__`` and
each foundation module's ``__all__`` where it has one (otherwise the functions and classes it
defines, as autodoc documents them). A constant's docstring is the string literal under its
assignment (or ``#:`` comments above it), read from the source as autodoc reads it; a name a
package imports from a submodule is looked up where it is defined.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types

import pytest
import yaml
from book_notebooks import toc_files
from sphinx.pycode import ModuleAnalyzer
from support import ROOT

FOUNDATION = [
    "probability",
    "estimators",
    "checks",
    "masks",
    "nn",
    "train",
    "checkpoints",
    "parallel",
    "structural_key",
    "enumeration",
    "empirical",
    "data",
    "toy2d",
    "metrics",
    "plot",
    "budgets",
    "chapter_times",
    "book",
    "results",
    "files",
    "samplers",
    "ais",
    "score_matching",
    "divergence",
]
SUBPACKAGES = ["background", "autoregressive", "latent", "flows", "adversarial", "energy", "score",
               "diffusion", "evaluation"]
MODULES = [f"dgm_lib.{m}" for m in FOUNDATION + SUBPACKAGES]


def public_names(module: types.ModuleType) -> list[str]:
    """``__all__``, or the public functions and classes the module defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def attribute_doc(module: types.ModuleType, name: str) -> str:
    """The docstring of a module-level constant, as autodoc finds it in the source: in the
    module, or in the submodule it was imported from."""
    candidates = [module.__name__]
    obj_module = getattr(getattr(module, name), "__module__", None)
    if isinstance(obj_module, str) and obj_module.startswith("dgm_lib"):
        candidates.append(obj_module)
    if hasattr(module, "__path__"):  # a package: the constant may come from a submodule
        candidates += [
            sub.__name__
            for sub in vars(module).values()
            if isinstance(sub, types.ModuleType) and sub.__name__.startswith(module.__name__)
        ]
    for candidate in candidates:
        docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        if ("", name) in docs:
            return "\n".join(docs["", name])
    return ""


def docstring(module: types.ModuleType, name: str) -> str:
    """The docstring autodoc shows for ``module.name`` ("" when there is none)."""
    obj = getattr(module, name)
    if isinstance(obj, types.ModuleType):
        return obj.__doc__ or ""
    if inspect.isclass(obj):
        own = vars(obj).get("__doc__") or ""
        # dataclasses and NamedTuples without a docstring get a generated "Name(field, ...)"
        return "" if own.startswith(f"{obj.__name__}(") else own
    if callable(obj):  # a function, or a wrapped one (jax.jit keeps the docstring)
        doc = getattr(obj, "__doc__", None)
        if doc and doc != type(obj).__doc__:
            return doc
        if inspect.isroutine(obj) or hasattr(obj, "__wrapped__"):
            return ""
    return attribute_doc(module, name)


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = public_names(module)
    assert names, f"{module_name}: no public names found"
    missing = [name for name in names if not docstring(module, name).strip()]
    assert not missing, f"{module_name}: public names without a docstring: {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_module_has_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name}: no module docstring"


def test_the_lists_above_name_every_module_of_the_package() -> None:
    package = importlib.import_module("dgm_lib")
    found = {f"dgm_lib.{m.name}" for m in pkgutil.iter_modules(package.__path__)}
    assert found == set(MODULES), f"add to FOUNDATION or SUBPACKAGES: {sorted(found - set(MODULES))}"


def test_reference_documents_every_module() -> None:
    """Every foundation module, subpackage and module of a subpackage has its ``automodule``
    (so ``:mod:`` references to it resolve), on a page that ``_toc.yml`` lists."""
    pages = sorted((ROOT / "api").glob("*.md"))
    assert pages, "no library reference pages in api/"
    documented = {
        m for page in pages for m in re.findall(r"automodule:: (\S+)", page.read_text("utf-8"))
    }
    expected = set(MODULES)
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"dgm_lib.{sub}")
        expected |= {f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)}
    assert expected <= documented, f"not in the reference: {sorted(expected - documented)}"
    listed = set(toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))))
    for page in pages:
        assert f"api/{page.stem}" in listed, f"api/{page.name} is not in _toc.yml (not built)"
