r"""Latent-variable models: the ELBO, the IWAE bound, exact small models and the VAE.

A latent-variable model :math:`p_\theta(x, z) = p_\theta(x \mid z)\, p(z)` has a marginal
:math:`p_\theta(x) = \int p_\theta(x \mid z) p(z)\, dz` that is rarely tractable. With a
proposal :math:`q(z \mid x)` and :math:`z_i \sim q`, the log-weights

.. math:: \log w_i = \log p_\theta(x \mid z_i) + \log p(z_i) - \log q(z_i \mid x)

give every quantity of the chapter (DESIGN section 3, the latent-variable contract):

- the ELBO, :math:`\mathbb E_q[\log w] \le \log p_\theta(x)` (Jensen);
- the IWAE bound, :math:`\mathbb E\left[\log \frac1k \sum_{i=1}^k w_i\right]`, rising with
  :math:`k` towards :math:`\log p_\theta(x)`;
- the importance-sampled estimate of :math:`\log p_\theta(x)`: the same log-mean-exp with
  many samples (:func:`dgm_lib.probability.log_importance_estimate` gives its error bar).

The pure functions here take log-weights (or their three parts) with the **sample axis first**,
shape ``(k, ...)``; everything is in nats. Two models small enough to integrate exactly (a
mixture of Bernoulli products and a linear-Gaussian model) check the bounds, and
:class:`VAE` is the thin NNX module of the chapter: Gaussian encoder, Bernoulli decoder on
logits, standard normal prior.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import lax

from . import probability as prob
from ._checks import check_array, check_broadcastable, check_key, check_positive_int

Array = jax.Array
_LOG_2PI = math.log(2.0 * math.pi)

__all__ = [
    "IWAE_SETUP",
    "VAE",
    "ElboTerms",
    "LinearGaussianVAE",
    "bernoulli_mixture_log_joint",
    "bernoulli_mixture_log_marginal",
    "bernoulli_mixture_log_posterior",
    "elbo",
    "elbo_terms",
    "elbo_terms_analytic",
    "iwae_bound",
    "iwae_learning_rate",
    "iwae_loss",
    "iwae_surrogate",
    "kl_full_normal",
    "linear_gaussian_elbo",
    "linear_gaussian_log_joint",
    "linear_gaussian_log_marginal",
    "linear_gaussian_posterior",
    "log_weights",
    "reparameterisation_gradients",
    "score_function_gradients",
    "vae_loss",
]


# --------------------------------------------------------------------------------------------
# Objectives from samples
# --------------------------------------------------------------------------------------------


class ElboTerms(NamedTuple):
    """The ELBO and its two parts, each of shape ``(...)`` (nats):
    ``elbo = reconstruction - kl`` with ``reconstruction`` :math:`= \\mathbb E_q \\log p(x|z)`
    and ``kl`` :math:`= \\mathrm{KL}(q(z|x) \\| p(z))`."""

    elbo: Array
    reconstruction: Array
    kl: Array


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
    gradient), and the weights must not be differentiated — they are the chain rule's
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


# --------------------------------------------------------------------------------------------
# Gradient estimators for E_{z ~ N(mu, diag sigma^2)}[f(z)]
# --------------------------------------------------------------------------------------------


def _check_gradient_args(where: str, key: Array, mean: Array, log_var: Array, n: int) -> tuple:
    key = check_key(where, key)
    mean = check_array(where, "mean", mean, shape=("D",))
    log_var = check_array(where, "log_var", log_var, shape=mean.shape)
    return key, mean, log_var, check_positive_int(where, "n", n)


def score_function_gradients(
    key: Array, f: Callable[[Array], Array], mean: Array, log_var: Array, n: int
) -> tuple[Array, Array]:
    r"""Per-sample score-function (REINFORCE) estimates of :math:`\nabla_\phi \mathbb
    E_{q_\phi}[f(z)]`, :math:`q_\phi = \mathcal N(\mu, \operatorname{diag}\sigma^2)`,
    :math:`\phi = (\mu, \log\sigma^2)`:

    .. math:: \hat g_i = f(z_i)\, \nabla_\phi \log q_\phi(z_i), \qquad z_i \sim q_\phi .

    Needs only values of :math:`f` (no derivative), so it works for discrete :math:`z` and
    non-differentiable :math:`f`; its variance is usually large.

    Args:
        key: a ``jax.random.key``.
        f: the integrand of **one** draw, ``(D,) -> ()``; a static argument (reuse the object).
        mean, log_var: :math:`\mu` and :math:`\log\sigma^2`, shape ``(D,)``.
        n: number of draws.

    Returns:
        ``(grads_mean, grads_log_var)``, each ``(n, D)``: one unbiased estimate per draw.
    """
    args = _check_gradient_args("score_function_gradients", key, mean, log_var, n)
    return _score_function(f, *args)


@partial(jax.jit, static_argnums=(0, 4))
def _score_function(f: Callable, key: Array, mean: Array, log_var: Array, n: int) -> tuple:
    z = lax.stop_gradient(prob.sample_diag_normal(key, jnp.broadcast_to(mean, (n, *mean.shape)),
                                                  log_var))
    score = jax.vmap(jax.grad(lambda m, lv, zi: prob.log_diag_normal(zi, m, lv), (0, 1)),
                     in_axes=(None, None, 0))(mean, log_var, z)
    fz = jax.vmap(f)(z)[:, None]
    return fz * score[0], fz * score[1]


def reparameterisation_gradients(
    key: Array, f: Callable[[Array], Array], mean: Array, log_var: Array, n: int
) -> tuple[Array, Array]:
    r"""Per-sample reparameterisation (pathwise) estimates of the same gradient as
    :func:`score_function_gradients`:

    .. math:: z = \mu + \sigma \odot \epsilon,\ \epsilon \sim \mathcal N(0, I), \qquad
              \hat g_i = \nabla_\phi f(\mu + \sigma\odot\epsilon_i).

    Needs a differentiable :math:`f` and a reparameterisable :math:`q`; its variance is
    usually far smaller, which is why VAEs train with it.

    Args and returns as in :func:`score_function_gradients`.
    """
    args = _check_gradient_args("reparameterisation_gradients", key, mean, log_var, n)
    return _reparameterisation(f, *args)


@partial(jax.jit, static_argnums=(0, 4))
def _reparameterisation(f: Callable, key: Array, mean: Array, log_var: Array, n: int) -> tuple:
    eps = jax.random.normal(key, (n, *mean.shape), mean.dtype)
    grad = jax.grad(lambda m, lv, e: f(m + jnp.exp(0.5 * lv) * e), (0, 1))
    return jax.vmap(grad, in_axes=(None, None, 0))(mean, log_var, eps)


# --------------------------------------------------------------------------------------------
# Exact models: a mixture of Bernoulli products and a linear-Gaussian model
# --------------------------------------------------------------------------------------------


def _check_bernoulli_mixture(where: str, x: Array, logits_z: Array, logits_x: Array) -> tuple:
    x = check_array(where, "x", x, shape=("batch", "D"), kind="number")
    logits_z = check_array(where, "logits_z", logits_z, shape=("K",))
    logits_x = check_array(where, "logits_x", logits_x, shape=(logits_z.shape[0], x.shape[1]))
    return x.astype(jnp.float32), logits_z, logits_x


def bernoulli_mixture_log_joint(x: Array, logits_z: Array, logits_x: Array) -> Array:
    r"""Log-joint of a mixture of Bernoulli products, :math:`z \in \{1..K\}`:

    .. math:: \log p(x, z{=}k) = \log\operatorname{softmax}(\text{logits}_z)_k
              + \sum_d \log \operatorname{Bern}(x_d; \sigma(\ell_{kd}))

    Args:
        x: binary vectors, shape ``(batch, D)``.
        logits_z: prior logits over the component, shape ``(K,)``.
        logits_x: pixel logits :math:`\ell` of each component, shape ``(K, D)``.

    Returns:
        shape ``(batch, K)``, nats.
    """
    x, lz, lx = _check_bernoulli_mixture("bernoulli_mixture_log_joint", x, logits_z, logits_x)
    return jax.nn.log_softmax(lz) + jnp.sum(prob.log_bernoulli(x[:, None, :], lx), axis=-1)


def bernoulli_mixture_log_marginal(x: Array, logits_z: Array, logits_x: Array) -> Array:
    r"""Exact :math:`\log p(x) = \log\sum_k p(x, z{=}k)` by summing out :math:`z`; shapes as in
    :func:`bernoulli_mixture_log_joint`; returns ``(batch,)``, nats."""
    x, lz, lx = _check_bernoulli_mixture("bernoulli_mixture_log_marginal", x, logits_z, logits_x)
    return jax.nn.logsumexp(bernoulli_mixture_log_joint(x, lz, lx), axis=-1)


def bernoulli_mixture_log_posterior(x: Array, logits_z: Array, logits_x: Array) -> Array:
    r"""Exact posterior :math:`\log p(z{=}k \mid x) = \log p(x, z{=}k) - \log p(x)`; shapes as
    in :func:`bernoulli_mixture_log_joint`; returns ``(batch, K)``, nats."""
    x, lz, lx = _check_bernoulli_mixture("bernoulli_mixture_log_posterior", x, logits_z, logits_x)
    joint = bernoulli_mixture_log_joint(x, lz, lx)
    return joint - jax.nn.logsumexp(joint, axis=-1, keepdims=True)


def _check_linear_gaussian(where: str, w: Array, b: Array, log_var: Array) -> tuple:
    w = check_array(where, "w", w, shape=("D", "L"))
    b = check_array(where, "b", b, shape=(w.shape[0],))
    log_var = check_array(where, "log_var", log_var, shape=())
    return w, b, log_var


def linear_gaussian_log_joint(x: Array, z: Array, w: Array, b: Array, log_var: Array) -> Array:
    r"""Log-joint of the linear-Gaussian model :math:`z \sim \mathcal N(0, I_L)`,
    :math:`x \mid z \sim \mathcal N(Wz + b, \sigma^2 I_D)`:

    .. math:: \log p(x, z) = \log\mathcal N(x; Wz + b, \sigma^2 I) + \log\mathcal N(z; 0, I)

    Args:
        x: data, shape ``(..., D)``.
        z: latents, shape ``(..., L)``; leading axes broadcast with ``x``'s.
        w: ``(D, L)``; b: ``(D,)``; log_var: :math:`\log\sigma^2`, shape ``()``.

    Returns:
        The broadcast leading shape ``(...)``, nats.
    """
    where = "linear_gaussian_log_joint"
    w, b, log_var = _check_linear_gaussian(where, w, b, log_var)
    x = check_array(where, "x", x, shape=(..., w.shape[0]))
    z = check_array(where, "z", z, shape=(..., w.shape[1]))
    check_broadcastable(where, x=x[..., 0], z=z[..., 0])
    mean = z @ w.T + b
    log_px = prob.log_diag_normal(x, mean, jnp.broadcast_to(log_var, mean.shape))
    return log_px + prob.log_diag_normal(z, jnp.zeros_like(z), jnp.zeros_like(z))


def linear_gaussian_log_marginal(x: Array, w: Array, b: Array, log_var: Array) -> Array:
    r"""Exact :math:`\log p(x) = \log\mathcal N(x; b, WW^\top + \sigma^2 I)` of the
    linear-Gaussian model (a Cholesky factorisation, no sampling).

    Args:
        x: data, shape ``(batch, D)``; w, b, log_var as in :func:`linear_gaussian_log_joint`.

    Returns:
        shape ``(batch,)``, nats.
    """
    where = "linear_gaussian_log_marginal"
    w, b, log_var = _check_linear_gaussian(where, w, b, log_var)
    x = check_array(where, "x", x, shape=("batch", w.shape[0]))
    cov = w @ w.T + jnp.exp(log_var) * jnp.eye(w.shape[0])
    chol = jnp.linalg.cholesky(cov)
    r = jax.scipy.linalg.solve_triangular(chol, (x - b).T, lower=True)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    return -0.5 * (jnp.sum(r**2, axis=0) + log_det + w.shape[0] * _LOG_2PI)


def linear_gaussian_posterior(x: Array, w: Array, b: Array, log_var: Array) -> tuple[Array, Array]:
    r"""Exact posterior of the linear-Gaussian model, :math:`p(z \mid x) = \mathcal N(m, S)`:

    .. math:: S = \left(I + W^\top W / \sigma^2\right)^{-1}, \qquad
              m = S\, W^\top (x - b) / \sigma^2 .

    Args:
        x: data, shape ``(batch, D)``; w, b, log_var as in :func:`linear_gaussian_log_joint`.

    Returns:
        ``(mean (batch, L), cov (L, L))``; the covariance does not depend on ``x``.
    """
    where = "linear_gaussian_posterior"
    w, b, log_var = _check_linear_gaussian(where, w, b, log_var)
    x = check_array(where, "x", x, shape=("batch", w.shape[0]))
    precision = jnp.eye(w.shape[1]) + w.T @ w * jnp.exp(-log_var)
    cov = jnp.linalg.inv(precision)
    mean = (x - b) @ w @ cov * jnp.exp(-log_var)
    return mean, 0.5 * (cov + cov.T)


def linear_gaussian_elbo(
    x: Array, mean_q: Array, cov_q: Array, w: Array, b: Array, log_var: Array
) -> Array:
    r"""Exact ELBO of the linear-Gaussian model for a Gaussian :math:`q = \mathcal N(m, S)`:

    .. math:: \mathcal L(q) = \log\mathcal N(x; Wm + b, \sigma^2 I)
              - \frac{\operatorname{tr}(W S W^\top)}{2\sigma^2}
              - \mathrm{KL}(\mathcal N(m, S) \,\|\, \mathcal N(0, I))

    (the expected Gaussian log-likelihood is the log-density at the mean minus the spread of
    :math:`Wz` under :math:`q`). No sampling: it meets :math:`\log p(x)` exactly at the
    posterior, :math:`\log p(x) - \mathcal L(q) = \mathrm{KL}(q \| p(z|x))`.

    Args:
        x: data, shape ``(batch, D)``.
        mean_q: means of :math:`q`, shape ``(batch, L)``; cov_q: its covariance ``(L, L)``.
        w, b, log_var: as in :func:`linear_gaussian_log_joint`.

    Returns:
        shape ``(batch,)``, nats.
    """
    where = "linear_gaussian_elbo"
    w, b, log_var = _check_linear_gaussian(where, w, b, log_var)
    x = check_array(where, "x", x, shape=("batch", w.shape[0]))
    mean_q = check_array(where, "mean_q", mean_q, shape=(x.shape[0], w.shape[1]))
    cov_q = check_array(where, "cov_q", cov_q, shape=(w.shape[1], w.shape[1]))
    mean_x = mean_q @ w.T + b
    expected = prob.log_diag_normal(x, mean_x, jnp.broadcast_to(log_var, mean_x.shape))
    spread = 0.5 * jnp.trace(w @ cov_q @ w.T) * jnp.exp(-log_var)
    eye = jnp.eye(w.shape[1])
    return expected - spread - kl_full_normal(mean_q, cov_q, jnp.zeros_like(mean_q), eye)


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


# --------------------------------------------------------------------------------------------
# The VAE
# --------------------------------------------------------------------------------------------

IWAE_SETUP = {
    "hidden": (200, 200),
    "latent_dim": 50,
    "activation": "tanh",
    "batch_size": 20,
    "epochs": 3280,
}
"""The one-stochastic-layer configuration of Burda et al. (2016): 784-200-200-50 with tanh,
minibatches of 20, 3280 epochs (papers.md section 1c)."""


def iwae_learning_rate(steps_per_epoch: int) -> optax.Schedule:
    r"""The IWAE paper's schedule as described by Burda et al. (2016): learning rate
    :math:`10^{-3}\cdot 10^{-i/7}` for :math:`3^i` epochs, :math:`i = 0, \dots, 7` (3280 epochs
    in all), as a function of the step. The 3280 epochs are checked against the authors' code;
    the rates are as remembered from the paper, not re-checked (papers.md section 1c)."""
    steps_per_epoch = check_positive_int("iwae_learning_rate", "steps_per_epoch", steps_per_epoch)
    boundaries, total = {}, 0
    for i in range(7):
        total += 3**i * steps_per_epoch
        boundaries[total] = 10.0 ** (-1.0 / 7.0)
    return optax.piecewise_constant_schedule(1e-3, boundaries)


_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "softplus": jax.nn.softplus}


class _MLP(nnx.Module):
    def __init__(self, sizes: Sequence[int], activation: str, *, rngs: nnx.Rngs) -> None:
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)]
        )
        self.activation = activation

    def __call__(self, h: Array) -> Array:
        act = _ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            h = act(layer(h))
        return self.layers[-1](h)


class VAE(nnx.Module):
    r"""A variational autoencoder for binary vectors (Kingma and Welling; Rezende et al.).

    - prior :math:`p(z) = \mathcal N(0, I_L)`;
    - decoder :math:`p_\theta(x \mid z) = \prod_d \operatorname{Bern}(x_d; \sigma(\ell_d(z)))`,
      an MLP that outputs the logits :math:`\ell(z)`;
    - encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu(x), \operatorname{diag}\sigma^2(x))`, an
      MLP that outputs :math:`\mu` and :math:`\log\sigma^2`.

    The bounds follow the latent-variable contract: ``elbo(key, x)``, ``iwae_bound(key, x, k)``
    and ``log_prob_is(key, x, k)``, each ``(batch,)`` in nats for ``x`` of shape
    ``(batch, D)``. All ``k`` samples are drawn and decoded in one batched pass.

    Args:
        data_dim: D.
        latent_dim: L.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them).
        activation: ``"tanh"`` (the IWAE paper), ``"relu"`` or ``"softplus"``.
        rngs: ``nnx.Rngs`` for the initial weights.
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (200, 200),
        activation: str = "tanh",
        *,
        rngs: nnx.Rngs,
    ) -> None:
        where = "VAE"
        d = check_positive_int(where, "data_dim", data_dim)
        latent = check_positive_int(where, "latent_dim", latent_dim)
        widths = [check_positive_int(where, "hidden", h) for h in hidden]
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"{where}: argument 'activation' must be one of {sorted(_ACTIVATIONS)}; "
                f"got {activation!r}"
            )
        self.data_dim, self.latent_dim = d, latent
        self.encoder = _MLP([d, *widths, 2 * latent], activation, rngs=rngs)
        self.decoder = _MLP([latent, *widths[::-1], d], activation, rngs=rngs)

    def _x(self, where: str, x: Array) -> Array:
        return check_array(where, "x", x, shape=("batch", self.data_dim), kind="number").astype(
            jnp.float32
        )

    def _k(self, where: str, k: int) -> int:
        return check_positive_int(where, "k", k)

    def encode(self, x: Array) -> tuple[Array, Array]:
        """The encoder's ``(mean, log_var)`` of :math:`q(z|x)`, each ``(batch, L)``."""
        h = self.encoder(self._x("VAE.encode", x))
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def decode(self, z: Array) -> Array:
        """The decoder's pixel logits :math:`\\ell(z)`: ``(..., D)`` for ``z`` ``(..., L)``."""
        z = check_array("VAE.decode", "z", z, shape=(..., self.latent_dim))
        return self.decoder(z)

    def _log_weights(self, key: Array, x: Array, k: int) -> tuple[Array, Array, Array, Array]:
        """``(log p(x|z), log p(z), log q(z|x), (mean, log_var))`` at k draws: ``(k, batch)``."""
        mean, log_var = self.encode(x)
        z = prob.sample_diag_normal(key, jnp.broadcast_to(mean, (k, *mean.shape)), log_var)
        log_px = jnp.sum(prob.log_bernoulli(x, self.decode(z)), axis=-1)
        log_pz = prob.log_diag_normal(z, jnp.zeros_like(z), jnp.zeros_like(z))
        log_qz = prob.log_diag_normal(z, mean, log_var)
        return log_px, log_pz, log_qz, (mean, log_var)

    def elbo(self, key: Array, x: Array) -> Array:
        r"""One-sample ELBO :math:`\log p(x|z) + \log p(z) - \log q(z|x)`, :math:`z \sim q`;
        ``(batch,)``, nats. Equals ``iwae_bound(key, x, 1)`` for the same key."""
        key = check_key("VAE.elbo", key)
        x = self._x("VAE.elbo", x)
        return elbo(*self._log_weights(key, x, 1)[:3])

    def elbo_terms(self, key: Array, x: Array, k: int = 1) -> ElboTerms:
        """The ELBO with the KL in closed form (:func:`elbo_terms_analytic`) from ``k`` draws:
        reconstruction, KL and their difference, each ``(batch,)``, nats."""
        where = "VAE.elbo_terms"
        key = check_key(where, key)
        x, k = self._x(where, x), self._k(where, k)
        log_px, _, _, (mean, log_var) = self._log_weights(key, x, k)
        return elbo_terms_analytic(log_px, mean, log_var)

    def iwae_bound(self, key: Array, x: Array, k: int) -> Array:
        """The k-sample bound :func:`iwae_bound` from one batched pass; ``(batch,)``, nats."""
        where = "VAE.iwae_bound"
        key = check_key(where, key)
        x, k = self._x(where, x), self._k(where, k)
        return iwae_bound(log_weights(*self._log_weights(key, x, k)[:3]))

    def log_prob_is(self, key: Array, x: Array, k: int, chunk: int = 500) -> Array:
        r"""Importance-sampled :math:`\log p(x) \approx \log\frac1k\sum_{i=1}^k w_i` with
        :math:`q(z|x)` as proposal (the IWAE protocol uses :math:`k = 5000`); ``(batch,)``.

        The draws are made ``chunk`` at a time inside ``lax.scan`` with a running
        log-sum-exp, so memory is bounded by ``chunk * batch * D`` whatever ``k`` is; the
        result is the same estimator as ``iwae_bound(key, x, k)`` (a lower bound in
        expectation, tight as ``k`` grows).
        """
        where = "VAE.log_prob_is"
        key = check_key(where, key)
        x, k = self._x(where, x), self._k(where, k)
        c = min(check_positive_int(where, "chunk", chunk), k)
        n_chunks = -(-k // c)

        def body(acc: Array, i: Array) -> tuple[Array, None]:
            lw = log_weights(*self._log_weights(jax.random.fold_in(key, i), x, c)[:3])
            keep = (i * c + jnp.arange(c)) < k  # the last chunk may run past k
            lse = jax.nn.logsumexp(jnp.where(keep[:, None], lw, -jnp.inf), axis=0)
            return jnp.logaddexp(acc, lse), None

        start = jnp.full((x.shape[0],), -jnp.inf, jnp.float32)
        total, _ = lax.scan(body, start, jnp.arange(n_chunks))
        return total - math.log(k)

    def sample(self, key: Array, n: int) -> Array:
        """``n`` binary vectors by ancestral sampling, :math:`z \\sim p(z)` then
        :math:`x \\sim p(x|z)`; shape ``(n, D)``, float32."""
        where = "VAE.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        kz, kx = jax.random.split(key)
        z = jax.random.normal(kz, (n, self.latent_dim))
        return prob.sample_bernoulli(kx, self.decode(z)).astype(jnp.float32)

    def reconstruct(self, x: Array) -> Array:
        r"""Pixel probabilities :math:`\sigma(\ell(\mu(x)))` decoded at the encoder's mean;
        ``(batch, D)`` in ``[0, 1]`` (for display)."""
        mean, _ = self.encode(self._x("VAE.reconstruct", x))
        return jax.nn.sigmoid(self.decode(mean))


def vae_loss(model: VAE, batch: Array, key: Array) -> Array:
    """The loss for :func:`dgm_lib.train.fit`: minus the mean one-sample ELBO with analytic KL
    over the batch, in nats."""
    return -jnp.mean(model.elbo_terms(key, batch).elbo)


def iwae_loss(k: int) -> Callable[[VAE, Array, Array], Array]:
    """The loss ``(model, batch, key) -> -mean IWAE bound`` with ``k`` samples, differentiated
    through :func:`iwae_surrogate`; make it once per run so ``fit`` compiles once."""
    k = check_positive_int("iwae_loss", "k", k)

    def loss(model: VAE, batch: Array, key: Array) -> Array:
        parts = model._log_weights(key, model._x("iwae_loss", batch), k)[:3]
        return -jnp.mean(iwae_surrogate(log_weights(*parts)))

    return loss


class LinearGaussianVAE(nnx.Module):
    r"""The linear-Gaussian model with a linear amortised encoder: a VAE small enough to
    integrate, so the gap :math:`\log p_\theta(x) - \mathcal L(\theta, \phi; x)` is exact.

    - decoder :math:`p_\theta(x \mid z) = \mathcal N(Wz + b, \sigma^2 I_D)`, prior
      :math:`\mathcal N(0, I_L)` (see :func:`linear_gaussian_log_joint`);
    - encoder :math:`q_\phi(z \mid x) = \mathcal N(Ax + c, \operatorname{diag} e^{s})`.

    The exact posterior has a mean linear in :math:`x` and a covariance free of :math:`x`, so a
    diagonal :math:`q_\phi` can close the gap exactly when :math:`L = 1` (and when the
    posterior covariance is diagonal). ``elbo(key, x, train=...)`` is the one-sample
    reparameterised ELBO; ``train="encoder"`` or ``"decoder"`` stops the gradient of the other
    half, to watch each half's effect on the bound.

    Args:
        data_dim: D; latent_dim: L; rngs: ``nnx.Rngs`` for the initial weights.
    """

    def __init__(self, data_dim: int, latent_dim: int, *, rngs: nnx.Rngs) -> None:
        d = check_positive_int("LinearGaussianVAE", "data_dim", data_dim)
        latent = check_positive_int("LinearGaussianVAE", "latent_dim", latent_dim)
        self.data_dim, self.latent_dim = d, latent
        self.w = nnx.Param(jax.random.normal(rngs.params(), (d, latent)) * 0.5)
        self.b = nnx.Param(jnp.zeros((d,)))
        self.log_var = nnx.Param(jnp.zeros(()))
        self.a = nnx.Param(jnp.zeros((latent, d)))
        self.c = nnx.Param(jnp.zeros((latent,)))
        self.log_var_q = nnx.Param(jnp.zeros((latent,)))

    def _x(self, where: str, x: Array) -> Array:
        return check_array(where, "x", x, shape=("batch", self.data_dim))

    def decoder_params(self) -> tuple[Array, Array, Array]:
        """``(W (D, L), b (D,), log sigma^2 ())``."""
        return self.w[...], self.b[...], self.log_var[...]

    def encode(self, x: Array) -> tuple[Array, Array]:
        """``(mean (batch, L), log_var (L,))`` of :math:`q_\\phi(z|x)`."""
        x = self._x("LinearGaussianVAE.encode", x)
        return x @ self.a[...].T + self.c[...], self.log_var_q[...]

    def elbo(self, key: Array, x: Array, train: str = "both") -> Array:
        """One-sample reparameterised ELBO, ``(batch,)``, nats; ``train`` in ``"both"``,
        ``"encoder"``, ``"decoder"`` says which half the gradient reaches."""
        where = "LinearGaussianVAE.elbo"
        key, x = check_key(where, key), self._x(where, x)
        if train not in ("both", "encoder", "decoder"):
            raise ValueError(
                f"{where}: argument 'train' must be 'both', 'encoder' or 'decoder'; got {train!r}"
            )
        mean, log_var_q = self.encode(x)
        dec = self.decoder_params()
        if train == "encoder":
            dec = lax.stop_gradient(dec)
        if train == "decoder":
            mean, log_var_q = lax.stop_gradient((mean, log_var_q))
        z = mean + jnp.exp(0.5 * log_var_q) * jax.random.normal(key, mean.shape)
        log_q = prob.log_diag_normal(z, mean, jnp.broadcast_to(log_var_q, mean.shape))
        return linear_gaussian_log_joint(x, z, *dec) - log_q

    def exact_elbo(self, x: Array) -> Array:
        """The ELBO without sampling (:func:`linear_gaussian_elbo`), ``(batch,)``, nats."""
        mean, log_var_q = self.encode(self._x("LinearGaussianVAE.exact_elbo", x))
        return linear_gaussian_elbo(x, mean, jnp.diag(jnp.exp(log_var_q)), *self.decoder_params())

    def log_prob(self, x: Array) -> Array:
        """Exact :math:`\\log p_\\theta(x)` (:func:`linear_gaussian_log_marginal`), ``(batch,)``."""
        x = self._x("LinearGaussianVAE.log_prob", x)
        return linear_gaussian_log_marginal(x, *self.decoder_params())
