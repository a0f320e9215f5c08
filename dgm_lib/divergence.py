r"""The divergence of a vector field, :math:`\nabla \cdot f(x) = \operatorname{tr} \nabla_x f(x)
= \sum_i \partial f_i / \partial x_i`, exactly and by Hutchinson's estimator.

Score matching needs it (:math:`\operatorname{tr} \nabla_x s_\theta`) and so does the change of
variables along an ODE, :math:`\frac{d}{dt} \log p_t(x_t) = -\nabla \cdot f(x_t, t)`. Exactly it
costs one Jacobian-vector product per dimension (:func:`exact_divergence`: ``d`` passes).
Hutchinson's estimator (Hutchinson 1989) needs one: for any random vector :math:`v` with
:math:`\mathbb E[v v^\top] = I`,

.. math:: \mathbb E_v\left[v^\top \nabla_x f(x)\, v\right]
          = \operatorname{tr}\left(\nabla_x f(x)\, \mathbb E[v v^\top]\right)
          = \operatorname{tr} \nabla_x f(x),

and :math:`v^\top (\nabla_x f)\, v` is one forward-mode product :math:`(\nabla_x f) v` and a dot
product. Its variance, with :math:`A` the symmetric part of :math:`\nabla_x f`, is
:math:`2 (\lVert A \rVert_F^2 - \sum_i A_{ii}^2)` for Rademacher probes (entries :math:`\pm 1`)
and :math:`2 \lVert A \rVert_F^2` for Gaussian ones; averaging :math:`m` probes divides it by
:math:`m`.

Fields map a batch ``(n, d)`` to ``(n, d)`` with example ``i``'s output depending on example
``i`` only, so one product with a batch of probes gives every example's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array

from .checks import check_array, check_callable, check_key, check_positive_int

__all__ = ["Field", "ProbeKind", "exact_divergence", "hutchinson_divergence", "probes"]

Field = Callable[[Array], Array]
"""A vector field on a batch, mapping ``(n, d)`` to ``(n, d)`` with each example's value
depending on that example only."""
ProbeKind = Literal["rademacher", "gaussian"]
r"""How a probe's entries are drawn, ``"rademacher"`` (:math:`\pm 1`) or ``"gaussian"``."""


def _exact_divergence(fn: Field, x: Array) -> Array:
    eye = jnp.eye(x.shape[1], dtype=x.dtype)

    def column(e: Array) -> Array:
        tangent = jnp.broadcast_to(e, x.shape)
        return jnp.sum(jax.jvp(fn, (x,), (tangent,))[1] * tangent, axis=-1)

    return jnp.sum(jax.lax.map(column, eye), axis=0)


def _check_field(where: str, fn: Field, x: Array) -> Array:
    check_callable(where, "fn", fn, "a callable (n, d) -> (n, d)")
    return check_array(where, "x", x, shape=("n", "d"))


def exact_divergence(fn: Field, x: Array) -> Array:
    r""":math:`\nabla \cdot f(x_i) = \sum_{j=1}^d \partial f_j(x_i) / \partial x_{ij}` for every
    example, by ``d`` Jacobian-vector products :math:`(\nabla_x f)\, e_j`; shape ``(n,)``.

    Args:
        fn: the field, ``(n, d) -> (n, d)``.
        x: points, shape ``(n, d)``.
    """
    x = _check_field("exact_divergence", fn, x)
    return _exact_divergence(fn, x)


def _probes(key: Array, shape: tuple[int, ...], kind: ProbeKind) -> Array:
    if kind == "rademacher":
        return jax.random.rademacher(key, shape, dtype=jnp.float32)
    return jax.random.normal(key, shape)


def probes(key: Array, num_probes: int, shape: tuple[int, ...], kind: ProbeKind = "rademacher"
           ) -> Array:
    r"""``num_probes`` random vectors with :math:`\mathbb E[v v^\top] = I` for each example, shape
    ``(num_probes, *shape)``: Rademacher (entries :math:`\pm 1` with probability 1/2) or
    standard normal."""
    where = "probes"
    key = check_key(where, key)
    num_probes = check_positive_int(where, "num_probes", num_probes)
    if kind not in ("rademacher", "gaussian"):
        raise ValueError(f"{where}: argument 'kind' must be 'rademacher' or 'gaussian'; got "
                         f"{kind!r}")
    return _probes(key, (num_probes, *shape), kind)


def _hutchinson_divergence(fn: Field, x: Array, v: Array) -> Array:
    def one(probe: Array) -> Array:
        return jnp.sum(jax.jvp(fn, (x,), (probe,))[1] * probe, axis=-1)

    return jnp.mean(jax.lax.map(one, v), axis=0)


def hutchinson_divergence(fn: Field, x: Array, v: Array) -> Array:
    r"""Hutchinson's unbiased estimate of the divergence, :math:`\frac1m \sum_{k=1}^m
    v_k^\top \nabla_x f(x)\, v_k`, for every example, with the given probes (one forward-mode
    product per probe); shape ``(n,)``. Given probes make it deterministic: an ODE solver
    needs the same estimator at every evaluation of its right-hand side.

    Args:
        fn: the field, ``(n, d) -> (n, d)``.
        x: points, shape ``(n, d)``.
        v: probes, shape ``(m, n, d)`` (see :func:`probes`).
    """
    where = "hutchinson_divergence"
    x = _check_field(where, fn, x)
    v = check_array(where, "v", v, shape=("num_probes", *x.shape))
    return _hutchinson_divergence(fn, x, v)
