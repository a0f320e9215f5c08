r"""Distributions read off samples: the empirical CDF and PMF, and how far they may stray.

The empirical CDF of n samples converges to the true CDF uniformly (Glivenko-Cantelli), and the
Dvoretzky-Kiefer-Wolfowitz inequality says how fast: a band of half-width
:math:`\sqrt{\log(2 / \alpha) / (2 n)}` around it holds the true CDF everywhere with probability
at least :math:`1 - \alpha`. That band is the tolerance of the book's checks of a sampler against
a known CDF.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from .checks import check_array, check_positive_int

__all__ = [
    "dkw_epsilon",
    "empirical_cdf",
    "empirical_pmf",
    "ks_distance",
]


@jax.jit
def _empirical_cdf(samples: jax.Array, x: jax.Array) -> jax.Array:
    count = jnp.searchsorted(jnp.sort(samples), x, side="right")
    return (count / samples.shape[0]).astype(jnp.float32)


def empirical_cdf(samples: jax.Array, x: jax.Array) -> jax.Array:
    r"""The empirical CDF of ``samples`` evaluated at ``x``:

    .. math::

        F_n(x) = \frac1n \#\{i : s_i \le x\},

    where :math:`s_i` is ``samples[i]``: a right-continuous step function that jumps by
    :math:`1/n` at each sample.

    Args:
      samples: float array of shape ``(n,)``.
      x: float array of any shape, the points to evaluate at.

    Returns:
      float32 array shaped like ``x``, probabilities in [0, 1].
    """
    samples = check_array("empirical_cdf", "samples", samples, shape=("n",))
    x = check_array("empirical_cdf", "x", x)
    return _empirical_cdf(samples, x)


_sort = jax.jit(jnp.sort)


@jax.jit
def _ks_from_sorted_cdf(f: jax.Array) -> jax.Array:
    n = f.shape[0]
    rank = jnp.arange(1, n + 1, dtype=jnp.float32)
    above = jnp.max(rank / n - f)  # the jump up to i/n at the i-th sample
    below = jnp.max(f - (rank - 1) / n)  # just before that jump, F_n = (i - 1)/n
    return jnp.maximum(above, below).astype(jnp.float32)


def ks_distance(samples: jax.Array, cdf: Callable[[jax.Array], jax.Array]) -> jax.Array:
    r"""The Kolmogorov-Smirnov distance between the empirical CDF and a continuous CDF ``F``:

    .. math::

        D_n = \sup_x |F_n(x) - F(x)|
            = \max_i \max\Big(\frac in - F(s_{(i)}),\ F(s_{(i)}) - \frac{i - 1}n\Big),

    where :math:`s_{(1)} \le \dots \le s_{(n)}` are the sorted samples: the supremum is reached
    at a jump.

    Args:
      samples: float array of shape ``(n,)``.
      cdf: maps a float array of shape ``(n,)`` to the CDF values, shape ``(n,)``.

    Returns:
      float32 scalar in [0, 1].
    """
    samples = check_array("ks_distance", "samples", samples, shape=("n",))
    if not callable(cdf):
        raise TypeError(f"ks_distance: argument 'cdf' must be a callable; got {type(cdf).__name__}")
    ordered = _sort(samples)
    f = check_array("ks_distance", "cdf(samples)", cdf(ordered), shape=ordered.shape)
    return _ks_from_sorted_cdf(f)


def dkw_epsilon(n: int, alpha: float) -> float:
    r"""Half-width of the Dvoretzky-Kiefer-Wolfowitz band (with Massart's tight constant).

    For :math:`n` i.i.d. samples from any continuous CDF ``F``,

    .. math::

        P\Big(\sup_x |F_n(x) - F(x)| > \epsilon\Big) \le 2 e^{-2 n \epsilon^2},

    so setting the right side to ``alpha`` gives
    :math:`\epsilon = \sqrt{\log(2 / \alpha) / (2 n)}`.

    Args:
      n: the number of samples.
      alpha: the allowed probability of leaving the band, in (0, 1).

    Returns:
      :math:`\epsilon`, a probability (Python float).
    """
    n = check_positive_int("dkw_epsilon", "n", n)
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"dkw_epsilon: argument 'alpha' must lie in (0, 1); got {alpha!r}")
    return math.sqrt(math.log(2.0 / float(alpha)) / (2.0 * n))


@partial(jax.jit, static_argnames=("num_values",))
def _empirical_pmf(samples: jax.Array, num_values: int) -> jax.Array:
    inside = (samples >= 0) & (samples < num_values)
    counts = (
        jnp.zeros(num_values, jnp.float32)
        .at[jnp.where(inside, samples, 0)]
        .add(inside.astype(jnp.float32))
    )
    return counts / samples.shape[0]


def empirical_pmf(samples: jax.Array, num_values: int) -> jax.Array:
    r"""The empirical PMF of integer ``samples`` on ``{0, ..., num_values - 1}``:

    .. math::

        p_n(k) = \frac1n \#\{i : s_i = k\},

    where :math:`s_i` is ``samples[i]``. Samples outside that range are counted in ``n`` but in
    no bin, so the result then sums to less than one.

    Args:
      samples: integer array of shape ``(n,)``.
      num_values: the number of values, a positive int.

    Returns:
      float32 array of shape ``(num_values,)``, frequencies in [0, 1].
    """
    samples = check_array("empirical_pmf", "samples", samples, shape=("n",), kind="int")
    num_values = check_positive_int("empirical_pmf", "num_values", num_values)
    return _empirical_pmf(samples, num_values)
