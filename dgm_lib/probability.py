"""The probability core: log-densities, samplers and the Kullback-Leibler divergences of Gaussians.

Conventions used throughout the book:

- every log-density or log-mass is in **nats** (natural logarithms);
- distributions are parametrised by **logits** (``p = sigmoid(logits)``, or ``softmax``) and
  **log-variances** / **log-rates**, never by probabilities or variances that can underflow;
- element-wise functions broadcast their arguments like NumPy;
- randomness only through an explicit ``jax.random.key``, always the first argument;
- inputs are checked once, at trace time, by :mod:`dgm_lib.checks`, and the arithmetic runs in
  a jitted private function, so every public function can also be called inside ``jax.jit``.

The Monte Carlo estimators built on these live in :mod:`dgm_lib.estimators`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, gammaln, xlog1py, xlogy

from .checks import check_array, check_axis, check_broadcastable, check_key, check_positive_int

Array = jax.Array
LOG_2PI = math.log(2.0 * math.pi)
"""log(2 pi), the constant of every Gaussian log-density."""

__all__ = [
    "LOG_2PI",
    "kl_diag_normal",
    "kl_full_normal",
    "log_bernoulli",
    "log_beta",
    "log_binomial",
    "log_categorical",
    "log_diag_normal",
    "log_exponential",
    "log_geometric",
    "log_mean_exp",
    "log_mixture_of_gaussians",
    "log_normal",
    "log_poisson",
    "log_uniform",
    "sample_bernoulli",
    "sample_categorical",
    "sample_diag_normal",
    "sample_mixture_of_gaussians",
]


# --------------------------------------------------------------------------------------------
# Small checks shared by the functions below
# --------------------------------------------------------------------------------------------


def _batch_shape(shape: tuple[int, ...]) -> np.ndarray:
    """A zero-memory array of the given shape, to hand shapes to ``check_broadcastable``."""
    return np.broadcast_to(np.zeros((), np.int8), shape)


def _integer_valued(k: Array) -> Array:
    return k == jnp.floor(k)


# --------------------------------------------------------------------------------------------
# Log-densities and log-mass functions (element-wise unless stated)
# --------------------------------------------------------------------------------------------


def _checked_elementwise(
    where: str, core: Callable[..., Array], counts: tuple[str, ...] = (), **args: Any
) -> Array:
    """Check each argument is an array (floating point; those named in ``counts`` may be ints
    or bools and are cast to the dtype of the last argument), that all broadcast together, and
    return ``core`` applied to them in order."""
    checked = {
        name: check_array(where, name, value, kind="number" if name in counts else "float")
        for name, value in args.items()
    }
    check_broadcastable(where, **checked)
    dtype = list(checked.values())[-1].dtype
    return core(*(a.astype(dtype) if n in counts else a for n, a in checked.items()))


@jax.jit
def _log_bernoulli(x: Array, logits: Array) -> Array:
    # softplus(l) = log(1 + e^l) is computed as logaddexp(l, 0): finite for |l| up to 1e38.
    return x * logits - jax.nn.softplus(logits)


def log_bernoulli(x: Array, logits: Array) -> Array:
    r"""Bernoulli log-mass :math:`\log p(x) = x\,\ell - \log(1 + e^{\ell})`, in nats.

    With :math:`p = \sigma(\ell)` this is :math:`x \log p + (1-x)\log(1-p)`, written in the
    logit :math:`\ell` so it stays exact for :math:`|\ell|` up to ``1e4`` and beyond.

    Args:
        x: outcomes in ``{0, 1}`` (bool, int or float), any shape.
        logits: :math:`\ell = \log p - \log(1-p)`, broadcastable with ``x``.

    Returns:
        Log-probabilities, the broadcast shape of ``x`` and ``logits``.
    """
    return _checked_elementwise("log_bernoulli", _log_bernoulli, ("x",), x=x, logits=logits)


@jax.jit
def _log_categorical(x: Array, logits: Array) -> Array:
    num_classes = logits.shape[-1]
    shape = jnp.broadcast_shapes(x.shape, logits.shape[:-1])
    x = jnp.broadcast_to(x, shape)
    log_probs = jnp.broadcast_to(jax.nn.log_softmax(logits, axis=-1), (*shape, num_classes))
    inside = (x >= 0) & (x < num_classes)
    picked = jnp.take_along_axis(log_probs, jnp.clip(x, 0, num_classes - 1)[..., None], axis=-1)
    return jnp.where(inside, picked[..., 0], -jnp.inf)


def log_categorical(x: Array, logits: Array) -> Array:
    r"""Categorical log-mass :math:`\log p(x) = \ell_x - \log\sum_{j} e^{\ell_j}`, in nats.

    Args:
        x: integer class indices in ``{0, ..., K-1}``, shape ``(...)`` broadcastable with
            ``logits.shape[:-1]``; an index outside the range has log-mass ``-inf``.
        logits: unnormalised log-probabilities, shape ``(..., K)``.

    Returns:
        Log-probabilities, the broadcast shape of ``x`` and ``logits.shape[:-1]``.
    """
    where = "log_categorical"
    x = check_array(where, "x", x, kind="int")
    logits = check_array(where, "logits", logits, shape=(..., "K"))
    check_broadcastable(where, **{"x": x, "logits[..., 0]": _batch_shape(logits.shape[:-1])})
    return _log_categorical(x, logits)


@jax.jit
def _log_normal(x: Array, mean: Array, log_var: Array) -> Array:
    return -0.5 * (LOG_2PI + log_var + jnp.square(x - mean) * jnp.exp(-log_var))


def log_normal(x: Array, mean: Array, log_var: Array) -> Array:
    r"""Univariate Gaussian log-density, element-wise, in nats.

    .. math:: \log \mathcal N(x; \mu, \sigma^2) = -\tfrac12\left(\log 2\pi + \log\sigma^2
              + (x-\mu)^2 / \sigma^2\right)

    Args:
        x, mean, log_var: broadcastable arrays; ``log_var`` is :math:`\log\sigma^2`.

    Returns:
        Log-densities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_normal", _log_normal, x=x, mean=mean, log_var=log_var)


def _check_diag(where: str, **arrays: Any) -> tuple[Array, ...]:
    """Check arrays of shape ``(..., D)`` with one ``D`` (set by the first) and broadcastable."""
    names = list(arrays)
    first = check_array(where, names[0], arrays[names[0]], shape=(..., "D"))
    dim = first.shape[-1]
    out = [first] + [check_array(where, k, arrays[k], shape=(..., dim)) for k in names[1:]]
    check_broadcastable(where, **dict(zip(names, out, strict=True)))
    return tuple(out)


@jax.jit
def _log_diag_normal(x: Array, mean: Array, log_var: Array) -> Array:
    return jnp.sum(_log_normal(x, mean, log_var), axis=-1)


def log_diag_normal(x: Array, mean: Array, log_var: Array) -> Array:
    r"""Log-density of a Gaussian with diagonal covariance, in nats.

    .. math:: \log \mathcal N(x; \mu, \operatorname{diag}\sigma^2)
              = \sum_{d=1}^{D} \log \mathcal N(x_d; \mu_d, \sigma_d^2)

    Args:
        x: points, shape ``(..., D)``.
        mean: means, shape ``(..., D)``, leading axes broadcastable with ``x``.
        log_var: log-variances :math:`\log\sigma_d^2`, shape ``(..., D)``.

    Returns:
        Log-densities summed over the last axis, the broadcast leading shape ``(...)``.
    """
    x, mean, log_var = _check_diag("log_diag_normal", x=x, mean=mean, log_var=log_var)
    return _log_diag_normal(x, mean, log_var)


@jax.jit
def _log_mixture_of_gaussians(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    per_component = _log_diag_normal(x[..., None, :], means, log_vars)  # (..., K)
    return jax.nn.logsumexp(jax.nn.log_softmax(logits) + per_component, axis=-1)


def _check_mixture(
    where: str, logits: Any, means: Any, log_vars: Any, dim: int | str = "D"
) -> tuple[Array, Array, Array]:
    logits = check_array(where, "logits", logits, shape=("K",))
    k = logits.shape[0]
    means = check_array(where, "means", means, shape=(k, dim))
    log_vars = check_array(where, "log_vars", log_vars, shape=(k, means.shape[1]))
    return logits, means, log_vars


def log_mixture_of_gaussians(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    r"""Log-density of a mixture of diagonal Gaussians, in nats.

    .. math:: \log p(x) = \log \sum_{k=1}^{K} \pi_k\, \mathcal N(x; \mu_k,
              \operatorname{diag}\sigma_k^2), \qquad \pi = \operatorname{softmax}(\text{logits})

    computed as a ``logsumexp`` over components of ``log_softmax(logits) + log N``.

    Args:
        x: points, shape ``(..., D)``.
        logits: unnormalised log mixture weights, shape ``(K,)``.
        means: component means, shape ``(K, D)``.
        log_vars: component log-variances, shape ``(K, D)``.

    Returns:
        Log-densities, shape ``(...)``.
    """
    where = "log_mixture_of_gaussians"
    x = check_array(where, "x", x, shape=(..., "D"))
    logits, means, log_vars = _check_mixture(where, logits, means, log_vars, x.shape[-1])
    return _log_mixture_of_gaussians(x, logits, means, log_vars)


@jax.jit
def _log_binomial(k: Array, n: Array, logits: Array) -> Array:
    inside = (k >= 0) & (k <= n) & _integer_valued(k)
    k = jnp.clip(k, 0.0, n)  # keeps the unused branch of `where` (and its gradient) finite
    # log C(n, k) = -log(n + 1) - log B(k + 1, n - k + 1): rounds less than three gammaln terms.
    log_choose = -jnp.log1p(n) - betaln(k + 1.0, n - k + 1.0)
    # k log p + (n - k) log(1 - p), with log p = log_sigmoid(l) and log(1 - p) = log_sigmoid(-l).
    log_p = log_choose + k * jax.nn.log_sigmoid(logits) + (n - k) * jax.nn.log_sigmoid(-logits)
    return jnp.where(inside, log_p, -jnp.inf)


def log_binomial(k: Array, n: Array, logits: Array) -> Array:
    r"""Binomial log-mass of ``k`` successes in ``n`` trials of probability ``sigmoid(logits)``.

    .. math:: \log p(k) = \log\binom{n}{k} + k \log\sigma(\ell) + (n-k)\log\sigma(-\ell)

    with :math:`\log\binom nk = -\log(n+1) - \log B(k+1, n-k+1)`; in nats.
    A ``k`` outside ``{0, ..., n}`` (or not a whole number) has log-mass ``-inf``.

    Args:
        k: counts (int or float), any shape.
        n: numbers of trials, non-negative whole numbers, broadcastable with ``k``.
        logits: :math:`\ell = \operatorname{logit} p`, broadcastable with ``k``.

    Returns:
        Log-probabilities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_binomial", _log_binomial, ("k", "n"), k=k, n=n, logits=logits)


@jax.jit
def _log_geometric(k: Array, logits: Array) -> Array:
    log_p = k * jax.nn.log_sigmoid(-logits) + jax.nn.log_sigmoid(logits)
    return jnp.where((k >= 0) & _integer_valued(k), log_p, -jnp.inf)


def log_geometric(k: Array, logits: Array) -> Array:
    r"""Geometric log-mass of ``k`` **failures before the first success**, ``k = 0, 1, 2, ...``.

    .. math:: \log p(k) = k \log(1-p) + \log p = k\log\sigma(-\ell) + \log\sigma(\ell)

    with success probability :math:`p = \sigma(\ell)`; in nats. This is
    ``scipy.stats.geom(p, loc=-1)`` (scipy's own ``geom`` counts trials, starting at 1).
    A negative or fractional ``k`` has log-mass ``-inf``.

    Args:
        k: numbers of failures (int or float), any shape.
        logits: :math:`\ell = \operatorname{logit} p`, broadcastable with ``k``.

    Returns:
        Log-probabilities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_geometric", _log_geometric, ("k",), k=k, logits=logits)


@jax.jit
def _log_poisson(k: Array, log_rate: Array) -> Array:
    # k log(rate), with 0 * log(rate) = 0 so that k = 0 stays finite when the rate is 0.
    k_log_rate = jnp.where(k == 0, 0.0, k * log_rate)
    log_p = k_log_rate - jnp.exp(log_rate) - gammaln(k + 1.0)
    return jnp.where((k >= 0) & _integer_valued(k), log_p, -jnp.inf)


def log_poisson(k: Array, log_rate: Array) -> Array:
    r"""Poisson log-mass :math:`\log p(k) = k \log\lambda - \lambda - \log\Gamma(k+1)`, in nats.

    ``k = 0`` gives :math:`-\lambda` even when :math:`\log\lambda = -\infty`; a negative or
    fractional ``k`` has log-mass ``-inf``.

    Args:
        k: counts (int or float), any shape.
        log_rate: :math:`\log\lambda`, broadcastable with ``k``.

    Returns:
        Log-probabilities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_poisson", _log_poisson, ("k",), k=k, log_rate=log_rate)


@jax.jit
def _log_uniform(x: Array, low: Array, high: Array) -> Array:
    inside = (x >= low) & (x <= high)
    return jnp.where(inside, -jnp.log(high - low), -jnp.inf)


def log_uniform(x: Array, low: Array, high: Array) -> Array:
    r"""Log-density of the uniform distribution on :math:`[a, b]`: :math:`-\log(b-a)` inside,
    ``-inf`` outside; in nats.

    Args:
        x: points, any shape.
        low, high: the ends :math:`a < b` of the interval, broadcastable with ``x``.

    Returns:
        Log-densities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_uniform", _log_uniform, x=x, low=low, high=high)


@jax.jit
def _log_exponential(x: Array, log_rate: Array) -> Array:
    return jnp.where(x >= 0, log_rate - jnp.exp(log_rate) * x, -jnp.inf)


def log_exponential(x: Array, log_rate: Array) -> Array:
    r"""Exponential log-density :math:`\log p(x) = \log\lambda - \lambda x` for :math:`x \ge 0`
    (``-inf`` for :math:`x < 0`); in nats. The mean is :math:`1/\lambda`.

    Args:
        x: points, any shape.
        log_rate: :math:`\log\lambda`, broadcastable with ``x``.

    Returns:
        Log-densities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_exponential", _log_exponential, x=x, log_rate=log_rate)


@jax.jit
def _log_beta(x: Array, a: Array, b: Array) -> Array:
    inside = (x >= 0) & (x <= 1)
    x = jnp.where(inside, x, 0.5)  # keeps the unused branch of `where` (and its gradient) finite
    # xlogy / xlog1py give 0 * log 0 = 0, so x = 0 with a = 1 (or x = 1 with b = 1) is finite.
    log_p = xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - betaln(a, b)
    return jnp.where(inside, log_p, -jnp.inf)


def log_beta(x: Array, a: Array, b: Array) -> Array:
    r"""Beta log-density on :math:`[0, 1]` (``-inf`` outside), in nats.

    .. math:: \log p(x) = (a-1)\log x + (b-1)\log(1-x) - \log B(a, b)

    Args:
        x: points, any shape.
        a, b: positive concentrations, broadcastable with ``x``.

    Returns:
        Log-densities, the broadcast shape of the arguments.
    """
    return _checked_elementwise("log_beta", _log_beta, x=x, a=a, b=b)


@jax.jit
def _kl_diag_normal(mean_q: Array, log_var_q: Array, mean_p: Array, log_var_p: Array) -> Array:
    ratio = jnp.exp(log_var_q - log_var_p) + jnp.square(mean_q - mean_p) * jnp.exp(-log_var_p)
    return 0.5 * jnp.sum(ratio - 1.0 - (log_var_q - log_var_p), axis=-1)


def kl_diag_normal(mean_q: Array, log_var_q: Array, mean_p: Array, log_var_p: Array) -> Array:
    r"""Analytic :math:`\mathrm{KL}(q \,\|\, p)` between diagonal Gaussians, in nats.

    .. math:: \mathrm{KL} = \frac12 \sum_{d=1}^{D} \left( \frac{\sigma_{q,d}^2
              + (\mu_{q,d} - \mu_{p,d})^2}{\sigma_{p,d}^2} - 1
              - \log\frac{\sigma_{q,d}^2}{\sigma_{p,d}^2} \right)

    Args:
        mean_q, log_var_q: parameters of :math:`q`, shape ``(..., D)``.
        mean_p, log_var_p: parameters of :math:`p`, shape ``(..., D)``; leading axes of all
            four broadcast together.

    Returns:
        The divergence, summed over the last axis, shape ``(...)``; zero iff :math:`q = p`.
    """
    args = _check_diag(
        "kl_diag_normal",
        mean_q=mean_q,
        log_var_q=log_var_q,
        mean_p=mean_p,
        log_var_p=log_var_p,
    )
    return _kl_diag_normal(*args)


@partial(jax.jit, static_argnames="axis")
def _log_mean_exp(a: Array, axis: int) -> Array:
    # logsumexp subtracts the maximum before exponentiating, so inputs near +-1e4 stay finite.
    return jax.nn.logsumexp(a, axis=axis) - math.log(a.shape[axis])


def log_mean_exp(a: Array, axis: int = -1) -> Array:
    r"""Stable :math:`\log \frac1n \sum_{i=1}^n e^{a_i}`, in the unit of ``a`` (nats).

    Computed as :math:`m + \log\frac1n\sum_i e^{a_i - m}` with :math:`m = \max_i a_i`, so it is
    finite and exact to float32 rounding even for inputs near :math:`\pm 10^4`, where
    ``exp`` alone would overflow or underflow. This is how the book averages in probability
    space: mixture ensembles, the importance-sampled log-likelihood, the IWAE bound.

    Args:
        a: log-values, at least one axis.
        axis: the axis to average over (``n = a.shape[axis]``).

    Returns:
        ``a`` with ``axis`` removed.
    """
    where = "log_mean_exp"
    a = check_array(where, "a", a, shape=(..., "n"))
    return _log_mean_exp(a, check_axis(where, "a", a, axis))


# --------------------------------------------------------------------------------------------
# Samplers (key first)
# --------------------------------------------------------------------------------------------


@jax.jit
def _sample_bernoulli(key: Array, logits: Array) -> Array:
    # x = 1[logits + L > 0] with L ~ Logistic(0, 1) has P(x = 1) = sigmoid(logits) exactly,
    # and it never forms sigmoid(logits), which rounds to 0 or 1 for large |logits|.
    noise = jax.random.logistic(key, logits.shape, dtype=logits.dtype)
    return (logits + noise > 0).astype(jnp.float32)


def sample_bernoulli(key: Array, logits: Array) -> Array:
    r"""Draw :math:`x \sim \mathrm{Bernoulli}(\sigma(\ell))`, one draw per logit.

    Args:
        key: a ``jax.random.key``.
        logits: :math:`\ell`, any shape.

    Returns:
        float32 array of zeros and ones, the shape of ``logits``.
    """
    where = "sample_bernoulli"
    key = check_key(where, key)
    logits = check_array(where, "logits", logits)
    return _sample_bernoulli(key, logits)


@partial(jax.jit, static_argnames="shape")
def _sample_categorical(key: Array, logits: Array, shape: tuple[int, ...]) -> Array:
    return jax.random.categorical(key, logits, axis=-1, shape=shape + logits.shape[:-1]).astype(
        jnp.int32
    )


def sample_categorical(key: Array, logits: Array, shape: tuple[int, ...] = ()) -> Array:
    r"""Draw class indices :math:`x \sim \mathrm{Categorical}(\operatorname{softmax}(\ell))`.

    Class indices are returned as **int32** (not float32), so that they index arrays and feed
    :func:`log_categorical` directly.

    Args:
        key: a ``jax.random.key``.
        logits: unnormalised log-probabilities, shape ``(..., K)``.
        shape: the sample shape, prepended to the batch shape ``logits.shape[:-1]``.

    Returns:
        int32 indices in ``{0, ..., K-1}``, shape ``(*shape, *logits.shape[:-1])``.
    """
    where = "sample_categorical"
    key = check_key(where, key)
    logits = check_array(where, "logits", logits, shape=(..., "K"))
    if not isinstance(shape, tuple) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise TypeError(
            f"{where}: argument 'shape' must be a tuple of non-negative ints; got {shape!r}"
        )
    return _sample_categorical(key, logits, tuple(int(s) for s in shape))


@jax.jit
def _sample_diag_normal(key: Array, mean: Array, log_var: Array) -> Array:
    shape = jnp.broadcast_shapes(mean.shape, log_var.shape)
    eps = jax.random.normal(key, shape, dtype=jnp.result_type(mean, log_var))
    return mean + jnp.exp(0.5 * log_var) * eps


def sample_diag_normal(key: Array, mean: Array, log_var: Array) -> Array:
    r"""Reparameterised Gaussian draw :math:`x = \mu + \sigma \odot \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I)`, :math:`\sigma = \exp(\tfrac12 \log\sigma^2)`.

    Differentiable in ``mean`` and ``log_var`` (the reparameterisation trick of the VAE).

    Args:
        key: a ``jax.random.key``.
        mean: :math:`\mu`, any shape.
        log_var: :math:`\log\sigma^2`, broadcastable with ``mean``.

    Returns:
        float32 draws, the broadcast shape of ``mean`` and ``log_var``.
    """
    where = "sample_diag_normal"
    key = check_key(where, key)
    mean = check_array(where, "mean", mean)
    log_var = check_array(where, "log_var", log_var)
    check_broadcastable(where, mean=mean, log_var=log_var)
    return _sample_diag_normal(key, mean, log_var)


@partial(jax.jit, static_argnames="n")
def _sample_mixture_of_gaussians(
    key: Array, logits: Array, means: Array, log_vars: Array, n: int
) -> Array:
    key_component, key_noise = jax.random.split(key)
    component = jax.random.categorical(key_component, logits, shape=(n,))
    return _sample_diag_normal(key_noise, means[component], log_vars[component])


def sample_mixture_of_gaussians(
    key: Array, logits: Array, means: Array, log_vars: Array, n: int
) -> Array:
    r"""Draw ``n`` points from a mixture of diagonal Gaussians (ancestral sampling).

    First the component :math:`k \sim \operatorname{Categorical}(\pi)` with
    :math:`\pi = \operatorname{softmax}(\text{logits})`,
    then :math:`x = \mu_k + \sigma_k \odot \varepsilon`.

    Args:
        key: a ``jax.random.key``.
        logits: unnormalised log mixture weights, shape ``(K,)``.
        means: component means, shape ``(K, D)``.
        log_vars: component log-variances, shape ``(K, D)``.
        n: number of draws.

    Returns:
        float32 draws, shape ``(n, D)``.
    """
    where = "sample_mixture_of_gaussians"
    key = check_key(where, key)
    logits, means, log_vars = _check_mixture(where, logits, means, log_vars)
    n = check_positive_int(where, "n", n)
    return _sample_mixture_of_gaussians(key, logits, means, log_vars, n)


def kl_full_normal(mean_q: Array, cov_q: Array, mean_p: Array, cov_p: Array) -> Array:
    r"""Exact :math:`\mathrm{KL}(\mathcal N(m_q, S_q) \,\|\, \mathcal N(m_p, S_p))`, full
    covariances, in nats:

    .. math:: \tfrac12\left(\operatorname{tr}(S_p^{-1}S_q) + (m_p - m_q)^\top S_p^{-1}
              (m_p - m_q) - L + \log\det S_p - \log\det S_q\right)

    Args:
        mean_q, mean_p: shape ``(..., L)`` (leading axes broadcast).
        cov_q, cov_p: symmetric positive definite, shape ``(L, L)``.

    Returns:
        shape ``(...)``, nats.
    """
    where = "kl_full_normal"
    mean_q = check_array(where, "mean_q", mean_q, shape=(..., "L"))
    dim = mean_q.shape[-1]
    mean_p = check_array(where, "mean_p", mean_p, shape=(..., dim))
    cov_q = check_array(where, "cov_q", cov_q, shape=(dim, dim))
    cov_p = check_array(where, "cov_p", cov_p, shape=(dim, dim))
    check_broadcastable(where, mean_q=mean_q, mean_p=mean_p)
    chol_p = jnp.linalg.cholesky(cov_p)
    solve = partial(jax.scipy.linalg.cho_solve, (chol_p, True))
    diff = mean_p - mean_q
    maha = jnp.sum(diff * solve(diff.reshape(-1, dim).T).T.reshape(diff.shape), axis=-1)
    log_det_p = 2.0 * jnp.sum(jnp.log(jnp.diag(chol_p)))
    log_det_q = 2.0 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(cov_q))))
    return 0.5 * (jnp.trace(solve(cov_q)) + maha - dim + log_det_p - log_det_q)

