r"""Two Monte Carlo estimators of :math:`\nabla_\phi \mathbb E_{q_\phi}[f(z)]` for a diagonal
Gaussian :math:`q_\phi`: the score function (REINFORCE) and the reparameterisation gradient."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .. import probability as prob
from ..checks import check_array, check_key, check_positive_int

Array = jax.Array

__all__ = [
    "reparameterisation_gradients",
    "score_function_gradients",
]


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
