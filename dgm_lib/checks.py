"""Input checks with messages that name the function, the argument and the expected shape.

Shapes and dtypes are static under `jax.jit`, so these checks run once, at trace time, and
cost nothing per call. Every public function of dgm_lib validates its array arguments here.

A shape spec is a tuple whose entries are an int (that exact size), a string (any size; the
string names the axis in the message, e.g. ``"batch"``), or ``...`` (any number of leading
axes, allowed only first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "check_array",
    "check_axis",
    "check_batch",
    "check_broadcastable",
    "check_callable",
    "check_event_shape",
    "check_hidden_sizes",
    "check_host_array",
    "check_int_at_least",
    "check_key",
    "check_order",
    "check_positive_float",
    "check_positive_int",
    "check_rngs",
    "check_samples",
    "format_shape",
]

Kind = Literal["float", "int", "bool", "number", "any"]
ShapeSpec = Sequence[Any]

_KIND_TEST = {
    "float": lambda d: jnp.issubdtype(d, jnp.floating),
    "int": lambda d: jnp.issubdtype(d, jnp.integer),
    "bool": lambda d: jnp.issubdtype(d, jnp.bool_),
    "number": lambda d: jnp.issubdtype(d, jnp.number) or jnp.issubdtype(d, jnp.bool_),
    "any": lambda d: True,
}
_KIND_WORDS = {
    "float": "a floating-point array",
    "int": "an integer array",
    "bool": "a boolean array",
    "number": "a numeric array",
    "any": "an array",
}


def format_shape(spec: ShapeSpec) -> str:
    """Render a shape spec as the reader would write it: ``(..., batch, 784)``."""
    parts = ["..." if s is Ellipsis else str(s) for s in spec]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_host_array(where: str, name: str, x: Any, shape: ShapeSpec) -> np.ndarray:
    """``x`` (NumPy, JAX or nested lists) as a finite float64 NumPy array of the shape spec
    ``shape`` (ints for exact sizes, strings for any size): the input check of the metrics that
    run on the host in float64 (:mod:`dgm_lib.evaluation`)."""
    try:
        a = np.asarray(x)
    except Exception as err:  # a ragged list, ...
        raise TypeError(
            f"{where}: argument '{name}' must be a real array; got {type(x).__name__} that "
            f"cannot be converted ({err})"
        ) from None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(
            f"{where}: argument '{name}' must be a real (float or int) array; got dtype {a.dtype}"
        )
    ok = a.ndim == len(shape) and all(
        isinstance(s, str) or n == s for n, s in zip(a.shape, shape, strict=True)
    )
    if not ok:
        raise ValueError(
            f"{where}: argument '{name}' must have shape {format_shape(shape)}; got shape {a.shape}"
        )
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: argument '{name}' holds NaN or infinite values")
    return a


def _matches(shape: tuple[int, ...], spec: ShapeSpec) -> bool:
    spec = tuple(spec)
    if spec and spec[0] is Ellipsis:
        tail = spec[1:]
        if len(shape) < len(tail):
            return False
        shape = shape[len(shape) - len(tail) :]
        spec = tail
    if len(shape) != len(spec):
        return False
    return all(isinstance(s, str) or s == n for n, s in zip(shape, spec, strict=True))


def check_array(
    where: str,
    name: str,
    x: Any,
    *,
    shape: ShapeSpec | None = None,
    kind: Kind = "float",
) -> jnp.ndarray:
    """Return ``x`` as a JAX array after checking its dtype kind and shape.

    Raises ``TypeError`` for a wrong dtype and ``ValueError`` for a wrong shape; both messages
    name ``where`` (the public function), the argument ``name`` and what was expected.
    """
    if not hasattr(x, "dtype"):
        try:
            x = np.asarray(x)
        except Exception as err:  # a ragged list, a string, ...
            raise TypeError(
                f"{where}: argument '{name}' must be {_KIND_WORDS[kind]}; "
                f"got {type(x).__name__} that cannot be converted ({err})"
            ) from None
        if kind == "float" and np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32)
    if not _KIND_TEST[kind](x.dtype):
        raise TypeError(
            f"{where}: argument '{name}' must be {_KIND_WORDS[kind]}; got dtype {x.dtype}"
            + (". Convert it with x.astype(jnp.float32)." if kind == "float" else ".")
        )
    if shape is not None and not _matches(tuple(x.shape), shape):
        raise ValueError(
            f"{where}: argument '{name}' must have shape {format_shape(shape)}; "
            f"got shape {tuple(x.shape)}"
        )
    return jnp.asarray(x)


def check_batch(where: str, name: str, x: Any) -> jnp.ndarray:
    """Check a float batch of examples of any shape, ``(n, ...)`` with at least one axis after
    the batch axis (``(n, d)`` points, ``(n, H, W)`` images); return it as a JAX array."""
    x = check_array(where, name, x)
    if x.ndim < 2:
        raise ValueError(
            f"{where}: argument '{name}' must have shape (n, ...) with the batch axis first "
            f"and at least one more (e.g. (n, d)); got shape {tuple(x.shape)}"
        )
    return x


def check_broadcastable(where: str, **arrays: Any) -> tuple[int, ...]:
    """Check that the named arrays broadcast together; return the broadcast shape."""
    shapes = {k: tuple(np.shape(v)) for k, v in arrays.items()}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"'{k}' {s}" for k, s in shapes.items())
        raise ValueError(
            f"{where}: arguments must have shapes that broadcast together; got {listed}"
        ) from None


def check_positive_int(where: str, name: str, value: Any) -> int:
    """Check that a size argument is a positive Python int (not a traced value)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: argument '{name}' must be a positive int; got {value!r}")
    return int(value)


def check_key(where: str, key: Any, name: str = "key") -> jax.Array:
    """Return one typed random key: ``jax.random.key(seed)``, or a legacy ``PRNGKey`` wrapped.

    Every random function of dgm_lib takes its key as the first argument and checks it here, so
    a batch of keys, a seed passed as an int or a float array is refused with one clear message.
    """
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape == ():
            return key
    elif isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    got = (
        f"{type(key).__name__} with dtype {key.dtype} and shape {tuple(key.shape)}"
        if hasattr(key, "dtype")
        else f"{type(key).__name__} {key!r}"
    )
    raise TypeError(
        f"{where}: argument '{name}' must be a single random key, jax.random.key(seed), of "
        "shape (); "
        f"got {got}"
    )


def check_int_at_least(where: str, name: str, value: Any, minimum: int) -> int:
    """Check that a size argument is a Python int of at least ``minimum``."""
    value = check_positive_int(where, name, value)
    if value < minimum:
        raise ValueError(f"{where}: argument '{name}' must be at least {minimum}; got {value}")
    return value


def check_hidden_sizes(where: str, hidden_sizes: Any) -> tuple[int, ...]:
    """Check a sequence of hidden widths, e.g. ``(500,)``, or ``()`` for no hidden layer."""
    if isinstance(hidden_sizes, (int, np.integer)) or not isinstance(hidden_sizes, Sequence):
        raise TypeError(
            f"{where}: argument 'hidden_sizes' must be a sequence of positive ints, e.g. (500,) "
            f"or () for no hidden layer; got {hidden_sizes!r}"
        )
    return tuple(check_positive_int(where, "hidden_sizes", h) for h in hidden_sizes)


def check_order(where: str, order: Any, d: int) -> jax.Array:
    """An ordering of ``d`` variables as int32 ``(d,)``: ``None`` is the natural order;
    anything else must be a permutation of ``0..d-1`` (a traced ordering can only have its
    shape and dtype checked)."""
    if order is None:
        return jnp.arange(d, dtype=jnp.int32)
    order = check_array(where, "order", order, shape=(d,), kind="int")
    if isinstance(order, jax.core.Tracer):  # traced (e.g. from a traced mask index)
        return order.astype(jnp.int32)
    if sorted(int(i) for i in order) != list(range(d)):
        raise ValueError(
            f"{where}: argument 'order' must be a permutation of 0, ..., {d - 1}; got {order}"
        )
    return order.astype(jnp.int32)


def check_axis(where: str, name: str, a: Any, axis: Any) -> int:
    """Check that ``axis`` is an int axis of ``a``; return it as a non-negative int."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: argument 'axis' must be an int; got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(
            f"{where}: argument 'axis'={axis} is out of range for '{name}' of shape "
            f"{tuple(a.shape)}"
        )
    return int(axis) % a.ndim


def check_samples(where: str, name: str, a: Any, axis: Any) -> int:
    """The sample axis of ``a``; at least two samples are needed for a standard error."""
    axis = check_axis(where, name, a, axis)
    if a.shape[axis] < 2:
        raise ValueError(
            f"{where}: argument '{name}' needs at least 2 samples along axis {axis} for a "
            f"standard error; got shape {tuple(a.shape)}"
        )
    return axis


def check_rngs(where: str, rngs: Any) -> nnx.Rngs:
    """Check that a constructor's ``rngs`` is a Flax ``nnx.Rngs`` (e.g. ``nnx.Rngs(0)``)."""
    if not isinstance(rngs, nnx.Rngs):
        raise TypeError(
            f"{where}: argument 'rngs' must be an nnx.Rngs, e.g. nnx.Rngs(0); "
            f"got {type(rngs).__name__}"
        )
    return rngs


def check_event_shape(where: str, event_shape: Any, ndim: int | None = None) -> tuple[int, ...]:
    """Check that ``event_shape`` is a tuple (or list) of positive ints, of ``ndim`` entries if
    given, e.g. ``(2,)`` or ``(28, 28, 1)``; return it as a tuple of Python ints."""
    if isinstance(event_shape, (str, bytes)) or not isinstance(event_shape, Sequence):
        raise TypeError(
            f"{where}: argument 'event_shape' must be a tuple of positive ints, e.g. (2,) or "
            f"(28, 28, 1); got {event_shape!r}"
        )
    ok = all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
        for s in event_shape
    )
    if not event_shape or not ok:
        raise ValueError(
            f"{where}: argument 'event_shape' must be a non-empty tuple of positive ints; got "
            f"{tuple(event_shape)!r}"
        )
    if ndim is not None and len(event_shape) != ndim:
        raise ValueError(
            f"{where}: argument 'event_shape' must have {ndim} entries; got "
            f"{tuple(event_shape)!r}"
        )
    return tuple(int(s) for s in event_shape)


def check_positive_float(where: str, name: str, value: Any) -> float:
    """Check that ``value`` is a finite real number greater than zero (a Python or NumPy
    scalar, not a traced value); return it as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: argument '{name}' must be a positive number; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{where}: argument '{name}' must be a finite number > 0; got {value!r}"
        )
    return float(value)


def check_callable(where: str, name: str, fn: Any, what: str = "a callable") -> Any:
    """Check that ``fn`` is callable; ``what`` says what kind, e.g. ``"a callable (n, D) ->
    (n, D)"``."""
    if not callable(fn):
        raise TypeError(f"{where}: argument '{name}' must be {what}; got {type(fn).__name__}")
    return fn
