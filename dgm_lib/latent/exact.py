r"""Latent-variable models small enough to integrate exactly: a mixture of Bernoulli products
and the linear-Gaussian model, whose marginals, posteriors and ELBOs are closed-form, so the
chapter's bounds can be checked against the exact :math:`\log p_\theta(x)`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import probability as prob
from ..checks import check_array, check_broadcastable

Array = jax.Array

__all__ = [
    "bernoulli_mixture_log_joint",
    "bernoulli_mixture_log_marginal",
    "bernoulli_mixture_log_posterior",
    "linear_gaussian_elbo",
    "linear_gaussian_log_joint",
    "linear_gaussian_log_marginal",
    "linear_gaussian_posterior",
]


def _check_bernoulli_mixture(where: str, x: Array, logits_z: Array, logits_x: Array) -> tuple:
    x = check_array(where, "x", x, shape=("batch", "D"), kind="number")
    logits_z = check_array(where, "logits_z", logits_z, shape=("K",))
    logits_x = check_array(where, "logits_x", logits_x, shape=(logits_z.shape[0], x.shape[1]))
    return x.astype(jnp.float32), logits_z, logits_x


def _bernoulli_mixture_log_joint(x: Array, logits_z: Array, logits_x: Array) -> Array:
    return jax.nn.log_softmax(logits_z) + jnp.sum(
        prob.log_bernoulli(x[:, None, :], logits_x), axis=-1
    )


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
    return _bernoulli_mixture_log_joint(x, lz, lx)


def bernoulli_mixture_log_marginal(x: Array, logits_z: Array, logits_x: Array) -> Array:
    r"""Exact :math:`\log p(x) = \log\sum_k p(x, z{=}k)` by summing out :math:`z`; shapes as in
    :func:`bernoulli_mixture_log_joint`; returns ``(batch,)``, nats."""
    x, lz, lx = _check_bernoulli_mixture("bernoulli_mixture_log_marginal", x, logits_z, logits_x)
    return jax.nn.logsumexp(_bernoulli_mixture_log_joint(x, lz, lx), axis=-1)


def bernoulli_mixture_log_posterior(x: Array, logits_z: Array, logits_x: Array) -> Array:
    r"""Exact posterior :math:`\log p(z{=}k \mid x) = \log p(x, z{=}k) - \log p(x)`; shapes as
    in :func:`bernoulli_mixture_log_joint`; returns ``(batch, K)``, nats."""
    x, lz, lx = _check_bernoulli_mixture("bernoulli_mixture_log_posterior", x, logits_z, logits_x)
    joint = _bernoulli_mixture_log_joint(x, lz, lx)
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
    return -0.5 * (jnp.sum(r**2, axis=0) + log_det + w.shape[0] * prob.LOG_2PI)


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
    return expected - spread - prob.kl_full_normal(mean_q, cov_q, jnp.zeros_like(mean_q), eye)

