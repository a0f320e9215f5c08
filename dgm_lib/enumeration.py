r"""Exact sums over every outcome of a small binary space.

A model of :math:`d \le 20` binary variables has few enough outcomes (:math:`2^d`) to visit them
all, which turns the questions we usually estimate into finite sums: the total mass (which must
be one), an expectation, the distribution of a statistic such as the number of ones. These
helpers are the brute-force oracle that the book's tests and chapters compare models against.

The callables they take map a batch of binary vectors, a float32 array of shape ``(batch, d)``,
to one value per vector, shape ``(batch,)``; log-masses are in nats. The helpers call them once,
eagerly, on all ``2**d`` outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from .checks import check_array, check_callable, check_positive_int

__all__ = [
    "MAX_BINARY_DIM",
    "BatchFn",
    "all_binary_vectors",
    "expectation_over_binary",
    "log_pushforward_over_binary",
    "log_sum_over_binary",
]

MAX_BINARY_DIM = 20
r"""The largest ``d`` accepted (:math:`2^{20}` rows of 20 float32 entries take 84 MB)."""

BatchFn = Callable[[jax.Array], jax.Array]
"""A function of a batch of binary vectors, shape ``(batch, d)``, with one value per vector."""


def _check_d(where: str, d: int) -> int:
    d = check_positive_int(where, "d", d)
    if d > MAX_BINARY_DIM:
        mb = 2**d * d * 4 / 1e6
        raise ValueError(
            f"{where}: argument 'd' must be at most {MAX_BINARY_DIM}, since enumeration visits "
            f"all 2**d outcomes; got d={d}, which would need 2**{d} rows ({mb:,.0f} MB of "
            "float32). Estimate by sampling instead."
        )
    return d


@partial(jax.jit, static_argnums=0)
def _all_binary_vectors(d: int) -> jax.Array:
    index = jnp.arange(2**d, dtype=jnp.int32)[:, None]
    shifts = jnp.arange(d - 1, -1, -1, dtype=jnp.int32)[None, :]
    return ((index >> shifts) & 1).astype(jnp.float32)


def all_binary_vectors(d: int) -> jax.Array:
    r"""Every binary vector of length ``d``, one per row, in lexicographic order.

    Row ``i`` is the binary expansion of ``i`` with the most significant bit in column 0:

    .. math::

        x_{ij} = \lfloor i / 2^{d - 1 - j} \rfloor \bmod 2,

    so row 0 is all zeros, row 1 is ``(0, ..., 0, 1)`` and row ``2**d - 1`` is all ones.

    Args:
      d: the length of the vectors, ``1 <= d <= 20``.

    Returns:
      float32 array of shape ``(2**d, d)`` with entries in {0, 1}.
    """
    return _all_binary_vectors(_check_d("all_binary_vectors", d))


def _log_masses(where: str, log_prob: BatchFn, d: int) -> tuple[jax.Array, jax.Array]:
    d = _check_d(where, d)
    check_callable(where, "log_prob", log_prob)
    x = all_binary_vectors(d)
    lp = check_array(where, "log_prob(x)", log_prob(x), shape=(2**d,), kind="float")
    return x, lp


def log_sum_over_binary(log_prob: BatchFn, d: int) -> jax.Array:
    r"""The log of the total mass of a model over :math:`\{0, 1\}^d`, in nats:

    .. math::

        \log Z = \log \sum_{x \in \{0,1\}^d} \exp(\operatorname{log\_prob}(x)),

    computed stably with logsumexp. A normalised model gives 0 (total probability one).

    Args:
      log_prob: maps ``(batch, d)`` float32 binary vectors to ``(batch,)`` log-masses (nats).
      d: the number of binary variables, ``1 <= d <= 20``.

    Returns:
      float32 scalar, :math:`\log Z` in nats.
    """
    _, lp = _log_masses("log_sum_over_binary", log_prob, d)
    return jax.nn.logsumexp(lp)


def expectation_over_binary(log_prob: BatchFn, g: BatchFn, d: int) -> jax.Array:
    r"""The exact expectation of ``g(X)`` under a normalised model over :math:`\{0, 1\}^d`:

    .. math::

        \mathbb{E}[g(X)] = \sum_{x \in \{0,1\}^d} \exp(\operatorname{log\_prob}(x))\, g(x).

    ``log_prob`` must be normalised (check with :func:`log_sum_over_binary`); the sum is not
    divided by the total mass.

    Args:
      log_prob: maps ``(batch, d)`` float32 binary vectors to ``(batch,)`` log-probabilities.
      g: maps ``(batch, d)`` float32 binary vectors to ``(batch,)`` real values.
      d: the number of binary variables, ``1 <= d <= 20``.

    Returns:
      float32 scalar, in the units of ``g``.
    """
    where = "expectation_over_binary"
    x, lp = _log_masses(where, log_prob, d)
    check_callable(where, "g", g)
    gx = check_array(where, "g(x)", g(x), shape=(2**d,), kind="number")
    return jnp.sum(jnp.exp(lp) * gx.astype(jnp.float32))


@partial(jax.jit, static_argnums=2)
def _group_logsumexp(lp: jax.Array, y: jax.Array, num_values: int) -> jax.Array:
    peak = jax.ops.segment_max(lp, y, num_segments=num_values)
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)  # an empty group: exp(-inf) sums to 0
    total = jax.ops.segment_sum(jnp.exp(lp - peak[y]), y, num_segments=num_values)
    return jnp.log(total) + peak


def log_pushforward_over_binary(
    log_prob: BatchFn, statistic: BatchFn, d: int, num_values: int
) -> jax.Array:
    r"""The log-PMF of the random variable ``Y = statistic(X)``, by grouping outcomes:

    .. math::

        \log p_Y(y) = \log \sum_{x \in \{0,1\}^d :\, \operatorname{statistic}(x) = y}
            \exp(\operatorname{log\_prob}(x)),

    for ``y = 0, ..., num_values - 1`` (a log-sum-exp within each group). A value no outcome
    maps to gets log-probability ``-inf``. Every outcome must map into ``[0, num_values)``.

    Args:
      log_prob: maps ``(batch, d)`` float32 binary vectors to ``(batch,)`` log-probabilities.
      statistic: maps ``(batch, d)`` float32 binary vectors to ``(batch,)`` integers.
      d: the number of binary variables, ``1 <= d <= 20``.
      num_values: the number of values ``Y`` can take.

    Returns:
      float32 array of shape ``(num_values,)``, log p_Y in nats.
    """
    where = "log_pushforward_over_binary"
    num_values = check_positive_int(where, "num_values", num_values)
    x, lp = _log_masses(where, log_prob, d)
    check_callable(where, "statistic", statistic)
    y = check_array(where, "statistic(x)", statistic(x), shape=(2**d,), kind="int")
    low, high = int(jnp.min(y)), int(jnp.max(y))
    if low < 0 or high >= num_values:
        raise ValueError(
            f"{where}: 'statistic(x)' must take values in [0, {num_values}) for every outcome; "
            f"got values from {low} to {high}. Raise 'num_values' or shift the statistic."
        )
    return _group_logsumexp(lp, y, num_values)
