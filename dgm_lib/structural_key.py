r"""A hashable key that is equal for two Python objects which compute the same thing, so that
equal programs share one compilation.

``jax.jit`` caches a compilation on the identity of the function it wraps. A notebook makes
a new function object every time a cell runs (``lambda m, x, k: ...``, ``partial(cd_loss,
k=5)``, ``optax.adam(1e-3)``, whose update is a fresh closure), so a cache keyed on identity
never hits. :func:`structural_key` keys a callable on what determines its result instead:

- a function: its code, its default arguments, the values in its closure cells and the
  module globals its code (and the code of the functions defined inside it) names, each
  keyed in turn;
- ``functools.partial``: the function, the bound arguments and keywords; a bound method: the
  function and the object;
- tuples, lists, dicts (a ``NamedTuple`` such as optax's ``GradientTransformation``
  included) and dataclass instances: their type and their items or fields;
- numbers, strings, ``None``; NumPy and JAX arrays of at most ``MAX_ARRAY_BYTES`` by dtype,
  shape and a digest of their bytes (a traced function bakes captured arrays in as
  constants, so their values are part of the program);
- modules, classes, builtins, dtypes, enum members, jitted and ``jax.custom_jvp`` functions
  and Flax's parameter filters as themselves; a function of JAX, Flax, optax, NumPy or SciPy
  by its code, defaults and closure but not its globals (those libraries do not reassign
  them; walking them would visit half of JAX).

Anything else (a large array, an ``nnx.Module``, a random generator, any object whose state
could change behind the key) makes the whole key ``None``: "do not cache, compile afresh",
which is always correct. Keys are computed at call time, so a global changed in a later cell
changes the key. What the key cannot see: the attributes of a module or class that a
function reads (``np.pi`` is read as the module ``np``), which code does not reassign.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import types
from collections.abc import Hashable
from typing import Any

import jax
import numpy as np

__all__ = ["MAX_ARRAY_BYTES", "structural_key"]

MAX_ARRAY_BYTES = 1 << 20
"""Captured arrays up to this size are keyed by value; a larger one makes the key None."""


class _Uncacheable(Exception):
    """Raised inside the walk when an object cannot be keyed by what it computes."""


_PLAIN = (type(None), bool, int, str, bytes, type(Ellipsis))
_AS_ITSELF = (types.ModuleType, type, types.BuiltinFunctionType, np.ufunc, np.dtype, enum.Enum)
_LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "diffrax", "equinox")
_MAX_NODES = 20_000  # a walk longer than this gives up (None) rather than take time


def structural_key(obj: Any) -> Hashable | None:
    """A hashable key, equal for two objects that compute the same thing; None when ``obj``
    reaches something that cannot be keyed by value (see the module docstring)."""
    try:
        return _key(obj, set(), [0])
    except _Uncacheable:
        return None


def _array_key(x: Any) -> Hashable:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return ("key", str(x.dtype), _array_key(jax.random.key_data(x)))
    a = np.asarray(x)
    if a.nbytes > MAX_ARRAY_BYTES:
        raise _Uncacheable
    digest = hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
    return ("array", a.dtype.str, a.shape, digest)


def _global_names(code: types.CodeType) -> set[str]:
    """The names a code object (and every code object nested in it) may read as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _function_key(f: types.FunctionType, seen: set[int], count: list[int]) -> Hashable:
    cells = []
    for cell in f.__closure__ or ():
        try:
            cells.append(_key(cell.cell_contents, seen, count))
        except ValueError:  # an empty cell: a closure variable not yet assigned
            cells.append(("empty cell",))
    defaults = _key(f.__defaults__, seen, count), _key(f.__kwdefaults__, seen, count)
    if (f.__module__ or "").split(".")[0] in _LIBRARIES:
        return ("function", f.__code__, defaults, tuple(cells))
    names = sorted(n for n in _global_names(f.__code__) if n in f.__globals__)
    globs = tuple((n, _key(f.__globals__[n], seen, count)) for n in names)
    return ("function", f.__code__, defaults, tuple(cells), globs)


def _is_fixed_object(obj: Any) -> bool:
    """Objects fixed once made, keyed as themselves: jitted and custom-derivative functions,
    Flax's filters."""
    return isinstance(obj, (jax.custom_jvp, jax.custom_vjp)) or type(obj).__module__ in (
        "jaxlib._jax",
        "flax.nnx.filterlib",
    )


def _key(obj: Any, seen: set[int], count: list[int]) -> Hashable:
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise _Uncacheable
    if isinstance(obj, _PLAIN):
        return (type(obj), obj)
    if isinstance(obj, (float, complex)):
        return (type(obj), repr(obj))  # repr tells -0.0 from 0.0
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return _array_key(obj)
    if isinstance(obj, _AS_ITSELF) or _is_fixed_object(obj):
        try:
            hash(obj)
        except TypeError:
            raise _Uncacheable from None
        return ("object", obj)
    if id(obj) in seen:  # a function that names itself (recursion): its key is being built
        return ("recursive", getattr(obj, "__qualname__", type(obj).__name__))
    seen = seen | {id(obj)}
    if isinstance(obj, types.FunctionType):
        return _function_key(obj, seen, count)
    if isinstance(obj, functools.partial):
        parts = obj.func, obj.args, obj.keywords
        return ("partial", *(_key(x, seen, count) for x in parts))
    if isinstance(obj, types.MethodType):
        return ("method", _key(obj.__func__, seen, count), _key(obj.__self__, seen, count))
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_key(x, seen, count) for x in obj))
    if isinstance(obj, dict):
        items = obj.items()
        return (type(obj), tuple((_key(k, seen, count), _key(v, seen, count)) for k, v in items))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = dataclasses.fields(obj)
        return (type(obj), tuple(_key(getattr(obj, f.name), seen, count) for f in fields))
    raise _Uncacheable
