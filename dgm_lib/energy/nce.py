r"""Noise-contrastive estimation (Gutmann and Hyvarinen 2010): learn an unnormalised model by
telling data from noise.

Draw :math:`\nu` noise points from a density :math:`q` we can evaluate and sample for every
data point, and let the model :math:`\log p_\theta(x) = -E_\theta(x) - c`, with the log
normaliser :math:`c` a free parameter, classify them by Bayes' rule: the posterior that
:math:`x` is data is :math:`\sigma(G_\theta(x))` with

.. math:: G_\theta(x) = \log p_\theta(x) - \log(\nu\, q(x)).

Logistic regression maximises

.. math:: \mathcal L(\theta) = \mathbb E_{x \sim p}\left[\log \sigma(G_\theta(x))\right] +
          \nu\, \mathbb E_{y \sim q}\left[\log \sigma(-G_\theta(y))\right],

whose maximiser over all functions is :math:`\log p_\theta = \log p` wherever :math:`q > 0`:
the classifier can only be Bayes-optimal if the model is the data density, normalised. So
:math:`c` converges to :math:`\log Z`, and no sample from the model is ever needed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import check_array, check_callable, check_positive_int

__all__ = ["NCEModel", "nce_loss", "nce_objective"]


def nce_objective(
    log_model_data: Array,
    log_noise_data: Array,
    log_model_noise: Array,
    log_noise_noise: Array,
) -> Array:
    r"""The NCE loss :math:`-\mathcal L(\theta)` (module docstring), to be minimised.

    With :math:`n` data points and :math:`m` noise points, :math:`\nu = m / n`.

    Args:
        log_model_data: :math:`\log p_\theta(x_i)` (with its learned normaliser), ``(n,)``.
        log_noise_data: :math:`\log q(x_i)`, ``(n,)``.
        log_model_noise: :math:`\log p_\theta(y_j)` at the noise points, ``(m,)``.
        log_noise_noise: :math:`\log q(y_j)`, ``(m,)``.

    Returns:
        The scalar loss in nats per data point.
    """
    where = "nce_objective"
    log_model_data = check_array(where, "log_model_data", log_model_data, shape=("n",))
    log_noise_data = check_array(
        where, "log_noise_data", log_noise_data, shape=(log_model_data.shape[0],)
    )
    log_model_noise = check_array(where, "log_model_noise", log_model_noise, shape=("m",))
    log_noise_noise = check_array(
        where, "log_noise_noise", log_noise_noise, shape=(log_model_noise.shape[0],)
    )
    log_nu = jnp.log(log_model_noise.shape[0] / log_model_data.shape[0])
    g_data = log_model_data - log_noise_data - log_nu
    g_noise = log_model_noise - log_noise_noise - log_nu
    nu = log_model_noise.shape[0] / log_model_data.shape[0]
    return -(jnp.mean(jax.nn.log_sigmoid(g_data)) + nu * jnp.mean(jax.nn.log_sigmoid(-g_noise)))


class NCEModel(nnx.Module):
    """An energy model (any module with ``energy(x)``, e.g.
    :class:`dgm_lib.energy.MLPEnergy`) with a learned log normaliser ``log_z``, a parameter
    started at ``log_z_init``: :math:`\\log p_\\theta(x) = -E_\\theta(x) - c`."""

    def __init__(self, model: nnx.Module, *, log_z_init: float = 0.0):
        self.model = model
        self.log_z = nnx.Param(jnp.asarray(log_z_init, jnp.float32))

    def log_density(self, x: Array) -> Array:
        """:math:`-E_\\theta(x) - c`: a log-density only once NCE has learned :math:`c \\approx
        \\log Z_\\theta`; shape ``(n,)``."""
        return -self.model.energy(x) - self.log_z[...]


def nce_loss(
    model: NCEModel,
    batch: Array,
    key: Array,
    *,
    noise_sample: Callable[[Array, int], Array],
    noise_log_prob: Callable[[Array], Array],
    nu: int = 1,
) -> Array:
    r"""The NCE loss of an :class:`NCEModel` on a batch, for :func:`dgm_lib.train.fit`: draws
    ``nu * batch_size`` noise points with ``noise_sample(key, n)`` and scores both sets with
    :func:`nce_objective`. ``noise_log_prob`` maps ``(n, ...)`` to ``(n,)``, normalised."""
    where = "nce_loss"
    check_callable(where, "noise_sample", noise_sample, "a callable (key, n) -> (n, ...)")
    check_callable(where, "noise_log_prob", noise_log_prob, "a callable (n, ...) -> (n,)")
    nu = check_positive_int(where, "nu", nu)
    noise = noise_sample(key, nu * batch.shape[0])
    return nce_objective(
        model.log_density(batch),
        noise_log_prob(batch),
        model.log_density(noise),
        noise_log_prob(noise),
    )
