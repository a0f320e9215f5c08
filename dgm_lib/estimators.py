"""Monte Carlo estimators with standard errors: plain Monte Carlo, importance sampling,
self-normalised importance sampling, the importance-sampled log-likelihood and the effective
sample size. Each returns an :class:`Estimate` (mean, standard error, number of samples), so a
chapter can print an error bar beside every Monte Carlo number it shows."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .checks import (
    check_array,
    check_axis,
    check_key,
    check_positive_int,
    check_samples,
)
from .probability import log_mean_exp

Array = jax.Array

__all__ = [
    "Estimate",
    "effective_sample_size",
    "estimate_from_samples",
    "importance_sampling",
    "log_importance_estimate",
    "monte_carlo",
    "self_normalised_importance_sampling",
]

class Estimate(NamedTuple):
    """A Monte Carlo estimate with its standard error.

    Attributes:
        mean: the estimate (an array; element-wise when the estimated quantity is a vector).
        stderr: its estimated standard error, same shape as ``mean``.
        n: the number of samples it used.
    """

    mean: Array
    stderr: Array
    n: int

    def interval(self, z: float = 1.96) -> tuple[Array, Array]:
        """The normal-approximation interval ``(mean - z * stderr, mean + z * stderr)``.

        ``z = 1.96`` gives about 95% coverage when the central limit theorem applies.
        """
        return self.mean - z * self.stderr, self.mean + z * self.stderr


@partial(jax.jit, static_argnames="axis")
def _mean_and_stderr(values: Array, axis: int) -> tuple[Array, Array]:
    n = values.shape[axis]
    mean = jnp.mean(values, axis=axis)
    return mean, jnp.std(values, axis=axis, ddof=1) / math.sqrt(n)


def estimate_from_samples(values: Array, axis: int = 0) -> Estimate:
    r"""Sample mean and its standard error :math:`s / \sqrt n`.

    .. math:: \hat\mu = \frac1n\sum_i v_i, \qquad
              \widehat{\mathrm{se}} = \frac{1}{\sqrt n}
              \sqrt{\frac{1}{n-1}\sum_i (v_i - \hat\mu)^2}

    Args:
        values: i.i.d. samples (float, int or bool), ``n >= 2`` of them along ``axis``; other
            axes are estimated element-wise.
        axis: the sample axis (default: the leading one).

    Returns:
        An :class:`Estimate` whose ``mean`` and ``stderr`` have ``values``' shape without
        ``axis``.
    """
    where = "estimate_from_samples"
    values = check_array(where, "values", values, shape=(..., "n"), kind="number")
    axis = check_samples(where, "values", values, axis)
    mean, stderr = _mean_and_stderr(values.astype(jnp.float32), axis)
    return Estimate(mean, stderr, values.shape[axis])


def _draw(where: str, sampler: Callable[[Array, int], Array], key: Array, n: int) -> Array:
    xs = sampler(key, n)
    leading = [leaf.shape[:1] for leaf in jax.tree.leaves(xs)]
    if not leading or any(s != (n,) for s in leading):
        raise ValueError(
            f"{where}: the sampler must return n = {n} samples stacked on a leading axis, "
            f"shape (n, ...); got leading shapes {leading}"
        )
    return xs


@partial(jax.jit, static_argnames=("sampler", "g", "n"))
def _monte_carlo_values(key: Array, sampler: Callable, g: Callable, n: int) -> Array:
    return jax.vmap(g)(_draw("monte_carlo", sampler, key, n))


def monte_carlo(
    key: Array,
    sampler: Callable[[Array, int], Array],
    g: Callable[[Array], Array],
    n: int,
) -> Estimate:
    r"""Plain Monte Carlo estimate of :math:`\mathbb E_{p}[g(X)]` with its standard error.

    .. math:: \hat\mu_n = \frac1n \sum_{i=1}^n g(x_i), \quad x_i \sim p, \qquad
              \operatorname{Var}\hat\mu_n = \operatorname{Var}_p[g(X)] / n

    The estimator is unbiased and its error shrinks like :math:`1/\sqrt n`.

    Args:
        key: a ``jax.random.key``.
        sampler: ``sampler(key, n)`` returns ``n`` draws from :math:`p`, shape ``(n, ...)``.
        g: the function of **one** draw (it is ``vmap``-ed over the draws); a vector-valued
            ``g`` is estimated element-wise.
        n: number of draws, at least 2.

    Returns:
        An :class:`Estimate`. ``sampler`` and ``g`` are static arguments of the jitted work:
        reuse the same function objects to avoid recompiling.
    """
    where = "monte_carlo"
    key = check_key(where, key)
    n = check_positive_int(where, "n", n)
    values = _monte_carlo_values(key, sampler, g, n)
    return estimate_from_samples(values)


@partial(jax.jit, static_argnames=("proposal_sampler", "log_q", "log_p", "g", "n"))
def _importance_terms(
    key: Array,
    proposal_sampler: Callable,
    log_q: Callable,
    log_p: Callable,
    g: Callable,
    n: int,
) -> tuple[Array, Array]:
    """Log-weights ``log p(x) - log q(x)`` and ``g(x)`` at ``n`` draws from ``q``."""
    xs = _draw("importance_sampling", proposal_sampler, key, n)
    log_w = jax.vmap(log_p)(xs) - jax.vmap(log_q)(xs)
    return log_w, jax.vmap(g)(xs)


def _broadcast_weights(log_w: Array, values: Array) -> Array:
    return log_w.reshape(log_w.shape + (1,) * (values.ndim - 1))


def importance_sampling(
    key: Array,
    proposal_sampler: Callable[[Array, int], Array],
    log_q: Callable[[Array], Array],
    log_p: Callable[[Array], Array],
    g: Callable[[Array], Array],
    n: int,
) -> Estimate:
    r"""Importance-sampling estimate of :math:`\mathbb E_{p}[g(X)]` for a **normalised** ``p``.

    .. math:: \mathbb E_p[g(X)] = \mathbb E_q\!\left[g(X)\,\frac{p(X)}{q(X)}\right]
              \approx \frac1n \sum_{i=1}^n w_i\, g(x_i), \quad x_i \sim q, \quad
              w_i = \exp(\log p(x_i) - \log q(x_i))

    Unbiased whenever :math:`q > 0` wherever :math:`g\,p \ne 0`; the standard error is that of
    the i.i.d. terms :math:`w_i g(x_i)`. The variance is zero for the optimal proposal
    :math:`q \propto |g|\,p` when :math:`g \ge 0`, and can be huge (or infinite, making the
    reported standard error meaningless) when :math:`q` has lighter tails than :math:`g\,p`.

    Args:
        key: a ``jax.random.key``.
        proposal_sampler: ``proposal_sampler(key, n)`` returns ``n`` draws from :math:`q`.
        log_q, log_p: log-densities of **one** draw (``vmap``-ed), in nats.
        g: the function of one draw.
        n: number of draws, at least 2.

    Returns:
        An :class:`Estimate`.
    """
    where = "importance_sampling"
    key = check_key(where, key)
    n = check_positive_int(where, "n", n)
    log_w, values = _importance_terms(key, proposal_sampler, log_q, log_p, g, n)
    return estimate_from_samples(jnp.exp(_broadcast_weights(log_w, values)) * values)


@jax.jit
def _self_normalised(log_w: Array, values: Array) -> tuple[Array, Array]:
    weights = jax.nn.softmax(log_w)  # w_i / sum_j w_j, computed in log space
    weights = _broadcast_weights(weights, values)
    mean = jnp.sum(weights * values, axis=0)
    stderr = jnp.sqrt(jnp.sum(jnp.square(weights * (values - mean)), axis=0))
    return mean, stderr


def self_normalised_importance_sampling(
    key: Array,
    proposal_sampler: Callable[[Array, int], Array],
    log_q: Callable[[Array], Array],
    log_p_tilde: Callable[[Array], Array],
    g: Callable[[Array], Array],
    n: int,
) -> Estimate:
    r"""Self-normalised importance sampling: :math:`\mathbb E_p[g(X)]` when only an
    unnormalised :math:`\tilde p = Z p` is known.

    .. math:: \tilde\mu = \frac{\sum_i w_i\, g(x_i)}{\sum_i w_i}, \quad x_i \sim q, \quad
              w_i = \tilde p(x_i) / q(x_i)

    :math:`Z` cancels in the ratio. The estimator is consistent but biased (the bias is
    :math:`O(1/n)`). Its standard error comes from the delta method applied to the ratio of
    the two means (Owen, *Monte Carlo theory, methods and examples*, ch. 9):

    .. math:: \widehat{\mathrm{se}}^2 = \sum_i \bar w_i^2\,(g(x_i) - \tilde\mu)^2,
              \qquad \bar w_i = w_i / \textstyle\sum_j w_j

    The normalised weights :math:`\bar w = \operatorname{softmax}(\log w)` are formed in log
    space, so log-weights of any size are safe.

    Args:
        key: a ``jax.random.key``.
        proposal_sampler: ``proposal_sampler(key, n)`` returns ``n`` draws from :math:`q`.
        log_q: log-density of :math:`q` at one draw, in nats.
        log_p_tilde: unnormalised log-density :math:`\log\tilde p` at one draw, in nats.
        g: the function of one draw.
        n: number of draws, at least 2.

    Returns:
        An :class:`Estimate`.
    """
    where = "self_normalised_importance_sampling"
    key = check_key(where, key)
    n = check_positive_int(where, "n", n)
    log_w, values = _importance_terms(key, proposal_sampler, log_q, log_p_tilde, g, n)
    mean, stderr = _self_normalised(log_w, values.astype(jnp.float32))
    return Estimate(mean, stderr, n)


@partial(jax.jit, static_argnames="axis")
def _log_importance_estimate(log_w: Array, axis: int) -> tuple[Array, Array]:
    n = log_w.shape[axis]
    log_z = log_mean_exp(log_w, axis)
    relative = jnp.exp(log_w - jnp.expand_dims(log_z, axis))  # w_i / Z_hat, no overflow
    relative_std = jnp.sqrt(jnp.sum(jnp.square(relative - 1.0), axis=axis) / (n - 1))
    return log_z, relative_std / math.sqrt(n)


def log_importance_estimate(log_weights: Array, axis: int = 0) -> Estimate:
    r"""Estimate :math:`\log Z` from importance log-weights, with a delta-method error bar.

    With :math:`x_i \sim q` and :math:`\log w_i = \log\tilde p(x_i) - \log q(x_i)`, the mean
    weight :math:`\hat Z = \frac1n\sum_i w_i` is an unbiased estimate of
    :math:`Z = \int \tilde p`, so

    .. math:: \log\hat Z = \operatorname{log\_mean\_exp}(\log w)

    (computed stably). By the delta method, :math:`\operatorname{Var}\log\hat Z \approx
    \operatorname{Var}\hat Z / Z^2`, so the standard error is the relative spread of the
    weights over :math:`\sqrt n`:

    .. math:: \widehat{\mathrm{se}} = \frac{1}{\sqrt n}
              \sqrt{\frac{1}{n-1}\sum_i \left(\frac{w_i}{\hat Z} - 1\right)^2}

    (the ratios :math:`w_i/\hat Z = \exp(\log w_i - \log\hat Z)` never overflow). By Jensen's
    inequality :math:`\mathbb E[\log\hat Z] \le \log Z`: this is a stochastic lower bound, the
    importance-weighted bound of the VAE chapter, with a bias of about
    :math:`\widehat{\mathrm{se}}^2/2` that vanishes as :math:`n` grows.

    Args:
        log_weights: log importance weights in nats, ``n >= 2`` of them along ``axis``
            (e.g. shape ``(n,)``, or ``(n, batch)`` for one estimate per example).
        axis: the sample axis (default: the leading one).

    Returns:
        An :class:`Estimate` of :math:`\log Z` in nats, shape of ``log_weights`` without
        ``axis``.
    """
    where = "log_importance_estimate"
    log_weights = check_array(where, "log_weights", log_weights, shape=(..., "n"))
    axis = check_samples(where, "log_weights", log_weights, axis)
    log_z, stderr = _log_importance_estimate(log_weights, axis)
    return Estimate(log_z, stderr, log_weights.shape[axis])


@partial(jax.jit, static_argnames="axis")
def _effective_sample_size(log_w: Array, axis: int) -> Array:
    return jnp.exp(
        2.0 * jax.nn.logsumexp(log_w, axis=axis) - jax.nn.logsumexp(2.0 * log_w, axis=axis)
    )


def effective_sample_size(log_weights: Array, axis: int = 0) -> Array:
    r"""Kish's effective sample size of importance weights, :math:`(\sum_i w_i)^2 / \sum_i w_i^2`.

    It is ``n`` for equal weights and ``1`` when one weight dominates; computed from the
    log-weights as :math:`\exp(2\operatorname{logsumexp}(\log w) -
    \operatorname{logsumexp}(2\log w))`, so it never overflows.

    Args:
        log_weights: log importance weights, ``n`` of them along ``axis``.
        axis: the sample axis (default: the leading one).

    Returns:
        A value in ``[1, n]``, shape of ``log_weights`` without ``axis``.
    """
    where = "effective_sample_size"
    log_weights = check_array(where, "log_weights", log_weights, shape=(..., "n"))
    return _effective_sample_size(log_weights, check_axis(where, "log_weights", log_weights, axis))
