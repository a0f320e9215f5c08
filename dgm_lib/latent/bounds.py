r"""Objectives from samples: the ELBO, its terms, the IWAE bound and its gradient surrogate.

With a proposal :math:`q(z \mid x)` and :math:`z_i \sim q`, the log-weights

.. math:: \log w_i = \log p_\theta(x \mid z_i) + \log p(z_i) - \log q(z_i \mid x)

give the ELBO, :math:`\mathbb E_q[\log w] \le \log p_\theta(x)` (Jensen), and the IWAE bound
:math:`\mathbb E\left[\log \frac1k \sum_{i=1}^k w_i\right]`, rising with :math:`k` towards
:math:`\log p_\theta(x)`. The functions take log-weights (or their three parts) with the
**sample axis first**, shape ``(k, ...)``; everything is in nats.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .. import probability as prob
from ..checks import check_array, check_broadcastable

Array = jax.Array

__all__ = [
    "ElboTerms",
    "elbo",
    "elbo_terms",
    "elbo_terms_analytic",
    "iwae_bound",
    "iwae_surrogate",
    "log_weights",
]


class ElboTerms(NamedTuple):
    r"""The ELBO and its two parts, each of shape ``(...)`` (nats):
    ``elbo = reconstruction - kl`` with ``reconstruction`` :math:`= \mathbb E_q \log p(x \mid z)`
    and ``kl`` :math:`= \mathrm{KL}(q(z \mid x) \,\|\, p(z))`."""

    elbo: Array
    """The ELBO, ``reconstruction - kl``."""
    reconstruction: Array
    r""":math:`\mathbb E_q \log p(x \mid z)`, the expected log-likelihood of the data."""
    kl: Array
    r""":math:`\mathrm{KL}(q(z \mid x) \,\|\, p(z))`, the cost of the code."""


def _samples_first(where: str, name: str, a: Array) -> Array:
    """Check a float array with a leading sample axis, shape ``(k, ...)``."""
    a = check_array(where, name, a)
    if a.ndim < 1:
        raise ValueError(
            f"{where}: argument '{name}' must have shape (k, ...) with the sample axis first; "
            f"got shape {tuple(a.shape)}"
        )
    return a


def _check_parts(where: str, log_px_given_z: Array, log_pz: Array, log_qz: Array) -> tuple:
    a = _samples_first(where, "log_px_given_z", log_px_given_z)
    b = _samples_first(where, "log_pz", log_pz)
    c = _samples_first(where, "log_qz", log_qz)
    check_broadcastable(where, log_px_given_z=a, log_pz=b, log_qz=c)
    return a, b, c


def log_weights(log_px_given_z: Array, log_pz: Array, log_qz: Array) -> Array:
    r"""Importance log-weights :math:`\log w = \log p(x \mid z) + \log p(z) - \log q(z \mid x)`.

    Args:
        log_px_given_z, log_pz, log_qz: the three log-densities at the same draws
            :math:`z_i \sim q(z \mid x)`, sample axis first, shapes ``(k, ...)`` that broadcast.

    Returns:
        The log-weights in nats, the broadcast shape ``(k, ...)``.
    """
    a, b, c = _check_parts("log_weights", log_px_given_z, log_pz, log_qz)
    return a + b - c


def elbo(log_px_given_z: Array, log_pz: Array, log_qz: Array) -> Array:
    r"""Monte Carlo ELBO :math:`\frac1k\sum_{i=1}^k \log w_i` (see :func:`log_weights`), nats.

    Unbiased for :math:`\mathbb E_q[\log p(x,z) - \log q(z|x)] \le \log p(x)`.
    Shapes as in :func:`log_weights`; returns ``(...)`` (the sample axis averaged out).
    """
    a, b, c = _check_parts("elbo", log_px_given_z, log_pz, log_qz)
    return jnp.mean(a + b - c, axis=0)


def elbo_terms(log_px_given_z: Array, log_pz: Array, log_qz: Array) -> ElboTerms:
    r"""The ELBO split as reconstruction minus KL, both estimated from the same draws:

    .. math:: \mathrm{ELBO} \approx \underbrace{\tfrac1k\textstyle\sum_i \log p(x|z_i)}_{
              \text{reconstruction}} - \underbrace{\tfrac1k\textstyle\sum_i
              (\log q(z_i|x) - \log p(z_i))}_{\text{KL}}

    Shapes as in :func:`log_weights`; each field has shape ``(...)``, nats.
    """
    a, b, c = jnp.broadcast_arrays(*_check_parts("elbo_terms", log_px_given_z, log_pz, log_qz))
    rec, kl = jnp.mean(a, axis=0), jnp.mean(c - b, axis=0)
    return ElboTerms(rec - kl, rec, kl)


def elbo_terms_analytic(log_px_given_z: Array, mean: Array, log_var: Array) -> ElboTerms:
    r"""The ELBO with the KL term in closed form, for :math:`q = \mathcal N(\mu,
    \operatorname{diag}\sigma^2)` and the prior :math:`p(z) = \mathcal N(0, I)`:

    .. math:: \mathrm{ELBO} \approx \frac1k\sum_i \log p(x|z_i)
              - \frac12\sum_d \left(\sigma_d^2 + \mu_d^2 - 1 - \log\sigma_d^2\right)

    Only the reconstruction is sampled, so this estimate has less variance than
    :func:`elbo`; both have the same expectation.

    Args:
        log_px_given_z: :math:`\log p(x|z_i)` at draws from :math:`q`, shape ``(k, ...)``.
        mean, log_var: parameters of :math:`q`, shape ``(..., L)``.

    Returns:
        :class:`ElboTerms`, each of shape ``(...)``, nats.
    """
    where = "elbo_terms_analytic"
    log_px_given_z = _samples_first(where, "log_px_given_z", log_px_given_z)
    mean = check_array(where, "mean", mean, shape=(..., "L"))
    log_var = check_array(where, "log_var", log_var, shape=(..., mean.shape[-1]))
    zeros = jnp.zeros_like(mean)
    kl = prob.kl_diag_normal(mean, log_var, zeros, zeros)
    check_broadcastable(where, log_px_given_z=log_px_given_z[0], kl=kl)
    rec, kl = jnp.broadcast_arrays(jnp.mean(log_px_given_z, axis=0), kl)
    return ElboTerms(rec - kl, rec, kl)


def iwae_bound(log_w: Array) -> Array:
    r"""The importance-weighted bound :math:`\log \frac1k \sum_{i=1}^k w_i` (Burda et al.).

    Its expectation is :math:`\mathcal L_k \le \log p(x)`, with :math:`\mathcal L_1` the ELBO,
    :math:`\mathcal L_k \le \mathcal L_{k+1}` and :math:`\mathcal L_k \to \log p(x)`.
    Computed by :func:`dgm_lib.probability.log_mean_exp`, finite for log-weights near
    :math:`\pm 10^4`.

    Args:
        log_w: log-weights, sample axis first, shape ``(k, ...)``.

    Returns:
        shape ``(...)``, nats.
    """
    log_w = _samples_first("iwae_bound", "log_w", log_w)
    return prob.log_mean_exp(log_w, axis=0)


def iwae_surrogate(log_w: Array) -> Array:
    r"""A surrogate whose value is the IWAE bound and whose gradient is written out:

    .. math:: \nabla \log \frac1k\sum_i w_i = \sum_i \tilde w_i\, \nabla \log w_i, \qquad
              \tilde w_i = \frac{w_i}{\sum_j w_j},

    computed as :math:`\sum_i \operatorname{sg}(\tilde w_i) \log w_i` plus a constant
    (``sg`` = ``lax.stop_gradient``) that restores the bound's value. Why write it out: it
    shows that the IWAE gradient is the ELBO gradient with each sample weighted by its
    normalised importance weight (at :math:`k=1`, :math:`\tilde w_1 = 1` and it *is* the ELBO
    gradient), and the weights must not be differentiated: they are the chain rule's
    coefficients, not part of the objective. For reparameterised log-weights its gradient
    equals autodiff of :func:`iwae_bound` (a test checks it).

    Args:
        log_w: log-weights, sample axis first, shape ``(k, ...)``.

    Returns:
        shape ``(...)``, nats (numerically equal to :func:`iwae_bound`).
    """
    log_w = _samples_first("iwae_surrogate", "log_w", log_w)
    w_tilde = lax.stop_gradient(jax.nn.softmax(log_w, axis=0))
    weighted = jnp.sum(w_tilde * log_w, axis=0)
    return weighted + lax.stop_gradient(prob.log_mean_exp(log_w, axis=0) - weighted)
