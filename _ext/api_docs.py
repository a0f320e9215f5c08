"""Sphinx extension for the library reference (``api/``): what autodoc needs to document
``dgm_lib`` the way it is written, every public name once, under the package that exports it
(``dgm_lib.flows.Planar``), while code and docstrings live in modules (``dgm_lib.flows.planar``).

- Constants: a package's exported constant (a name in its ``__all__``) has its docstring, the
  string under the assignment, in the module that defines it, and autodoc reads such docstrings
  only from the module it documents, so it would leave the constant out. It is looked up there.
- References: a cross-reference written as the module's own code sees names fails when the
  name is documented under the package: ``:func:`soft_clamp``` in ``dgm_lib.flows.coupling``,
  the defining path ``:func:`dgm_lib.flows.bijector.soft_clamp```, or, in the docstring of an
  exported class, a function of the class's own module. Such a reference is resolved to the
  documented name (``dgm_lib.flows.soft_clamp``), or for an inherited method to the base class
  that defines and documents it, when, and only when, that one exists; any other missing target
  still fails the build. A type variable of a signature (``T`` in
  ``pick(*, smoke: T, ...) -> T``) is a placeholder, not an object of the API: it is shown as
  plain text.
- NamedTuple fields are class attributes whose docstring is Python's generated "Alias for field
  number N". Autodoc would list each beside the entry the class docstring's ``Attributes:``
  section makes for it (a duplicate object description, an error under ``-W``); they are
  skipped, so each field is documented once.
- Constructors are read from ``__init__``. Flax NNX modules have a metaclass whose ``__call__``
  takes ``(*args, **kwargs)``, which autodoc would show as the signature of every model; and
  autodoc takes the types of a constructor's arguments from the class's annotations, so an
  argument that is not also a field keeps an unresolved string annotation (``np.ndarray``).
  Here the signature and the argument types come from ``__init__``, evaluated in its module.
"""

from __future__ import annotations

import inspect
import pkgutil
import re
import sys
import types
from typing import Any, TypeVar

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import inspect as sphinx_inspect
from sphinx.util.typing import stringify_annotation

FIELD_ALIAS = re.compile(r"Alias for field number \d+")


def skip_field_aliases(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """Skip a ``NamedTuple`` field whose docstring is Python's generated one."""
    doc = getattr(obj, "__doc__", None)
    if what == "class" and isinstance(doc, str) and FIELD_ALIAS.fullmatch(doc.strip()):
        return True
    return None


def constructor_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, args: str | None, retann: str | None
) -> tuple[str, str | None] | None:
    """Types of a class's constructor arguments from ``__init__``; its signature too when a
    metaclass ``__call__`` would hide it. Runs after autodoc's own recording of type hints."""
    if what not in ("class", "exception") or not isinstance(obj, type):
        return None
    init = obj.__init__
    if init is object.__init__ or not callable(init):
        return None
    try:
        sig = sphinx_inspect.signature(
            init, bound_method=True, type_aliases=app.config.autodoc_type_aliases
        )
    except (TypeError, ValueError):
        return None
    mode = "smart" if app.config.autodoc_typehints_format == "short" else "fully-qualified"
    recorded = app.env.temp_data.setdefault("annotations", {}).setdefault(name, {})
    types = {}
    for param in sig.parameters.values():
        if isinstance(param.annotation, str) and param.name in recorded:
            types[param.name] = recorded[param.name]  # unresolved here, resolved by autodoc
        elif param.annotation is not param.empty:
            types[param.name] = stringify_annotation(param.annotation, mode)
    recorded.clear()
    recorded.update(types)
    if type(obj).__call__ is type.__call__:
        return None  # autodoc already reads the signature from __init__ or __new__
    show = app.config.autodoc_typehints not in ("none", "description")
    return sphinx_inspect.stringify_signature(
        sig, show_annotation=show, show_return_annotation=False
    ), None


def submodules(package: types.ModuleType) -> list[str]:
    """The names of a package's modules, ``[]`` for a plain module."""
    path = getattr(package, "__path__", None)
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(path)] if path else []


def exported_constants(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """When autodoc documents a package, give it the docstrings of the constants it exports
    from its modules (autodoc's analyzer of the package is the one its members are read from)."""
    if what != "module" or not submodules(obj):
        return
    try:
        docs = ModuleAnalyzer.for_module(name).find_attr_docs()
    except PycodeError:
        return
    for member in getattr(obj, "__all__", ()):
        value = getattr(obj, member, None)
        if ("", member) in docs or inspect.isclass(value) or inspect.isroutine(value):
            continue
        for modname in submodules(obj):
            module = sys.modules.get(modname)
            if module is None or getattr(module, member, None) is not value:
                continue
            found = ModuleAnalyzer.for_module(modname).find_attr_docs().get(("", member))
            if found:
                docs["", member] = list(found)
                break


def exported_names(target: str) -> list[str]:
    """``P.m.rest`` as ``P.rest`` when ``m`` is a module of the package ``P`` and the first name
    of ``rest`` is in ``P.__all__``."""
    parts = target.split(".")
    found = []
    for i in range(1, len(parts) - 1):
        package = sys.modules.get(".".join(parts[:i]))
        if package is None or f"{package.__name__}.{parts[i]}" not in submodules(package):
            continue
        if parts[i + 1] in getattr(package, "__all__", ()):
            found.append(".".join(parts[:i] + parts[i + 1 :]))
    return found


def lookup(dotted: str) -> Any:
    """The object a dotted name ``module.attr...`` names, if its module is imported, else None."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None:
            obj: Any = module
            for part in parts[i:]:
                obj = getattr(obj, part, None)
            return obj
    return None


def inherited_names(name: str) -> list[str]:
    """``C.attr`` as ``B.attr`` for the base ``B`` of the class ``C`` that defines ``attr``
    (autodoc documents a method on the class that defines it, not on every subclass)."""
    head, _, attr = name.rpartition(".")
    cls = lookup(head) if head else None
    if not inspect.isclass(cls) or attr in vars(cls):
        return []
    for base in cls.__mro__[1:]:
        if attr in vars(base):
            path = f"{base.__module__}.{base.__qualname__}.{attr}"
            return [path, *exported_names(path)]
    return []


def resolve_exported(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve a Python reference to a name documented under the package that exports it, or
    on the base class that defines it; show a type variable of a signature (``T`` of
    ``pick(*, smoke: T, ...) -> T``) as plain text."""
    if node.get("refdomain") != "py":
        return None
    target, modname, clsname = node["reftarget"], node.get("py:module"), node.get("py:class")
    if isinstance(lookup(target), TypeVar):
        return contnode
    names = [target]
    if modname:
        names += [f"{modname}.{target}"] + ([f"{modname}.{clsname}.{target}"] if clsname else [])
        owner = getattr(sys.modules.get(modname), (clsname or "").split(".")[0], None)
        home = getattr(owner, "__module__", None) if inspect.isclass(owner) else None
        if home and home != modname:  # an exported class's docstring names its module's objects
            names.append(f"{home}.{target}")
    candidates = [c for name in names for c in (name, *exported_names(name))]
    candidates += [c for name in candidates for c in inherited_names(name)]
    domain = env.get_domain("py")
    for candidate in dict.fromkeys(candidates):
        if candidate == target:
            continue  # the reference as written, which failed
        retry = node.deepcopy()
        retry["reftarget"] = candidate
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], candidate, retry, contnode
        )
        if found is not None:
            return found
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-skip-member", skip_field_aliases)
    app.connect("autodoc-process-docstring", exported_constants)
    app.connect("missing-reference", resolve_exported)
    # after sphinx.ext.autodoc.typehints.record_typehints (priority 500), so its record is fixed
    app.connect("autodoc-process-signature", constructor_signature, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
