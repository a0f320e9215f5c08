r"""Gaussian data, the oracle: every quantity of a diffusion model in closed form.

For data :math:`x_0 \sim \mathcal N(\mu, s^2 I)` and :math:`x_t = a x_0 + b \varepsilon`, the
pair :math:`(x_0, x_t)` is jointly Gaussian, so the best noise prediction (the minimiser of the
squared error, the posterior mean) is linear,

.. math:: \mathbb E[\varepsilon \mid x_t] = \frac{b\, (x_t - a \mu)}{a^2 s^2 + b^2},

which is :math:`-b\, \nabla \log q_t(x_t)` for the noised density :math:`q_t = \mathcal N(a \mu,
(a^2 s^2 + b^2) I)`: the optimal denoiser gives the closed-form score (Tweedie). Tests and the
chapter use it to check samplers, ELBO terms and schedules without training anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_positive_float
from ..score.sde import broadcast_time
from .continuous import ContinuousEpsFn
from .elbo import EpsFn
from .process import marginal
from .schedule import LogSNR, Schedule

__all__ = ["GaussianData"]


@dataclass(frozen=True)
class GaussianData:
    r"""Data :math:`\mathcal N(\mu, s^2 I)` with scalar ``mean`` :math:`\mu` and ``std``
    :math:`s` (module docstring)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        check_positive_float("GaussianData", "std", self.std)

    def sample(self, key: Array, shape: tuple[int, ...]) -> Array:
        """Draws of the data, ``shape`` with the batch axis first."""
        return self.mean + self.std * jax.random.normal(key, shape)

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log \mathcal N(x; \mu, s^2 I)` per example, summed over all axes but the
        first."""
        z = (x - self.mean) / self.std
        per = -0.5 * jnp.square(z) - math.log(self.std) - 0.5 * math.log(2.0 * math.pi)
        return jnp.sum(per.reshape(x.shape[0], -1), axis=1)

    def optimal_eps(self, x_t: Array, a: Array, b: Array) -> Array:
        r""":math:`\mathbb E[\varepsilon \mid x_t]` for :math:`x_t = a x_0 + b \varepsilon`,
        ``a`` and ``b`` broadcastable against ``x_t``."""
        return b * (x_t - a * self.mean) / (jnp.square(a * self.std) + jnp.square(b))

    def eps_fn(self, schedule: Schedule) -> EpsFn:
        r"""The optimal :math:`\hat\varepsilon(x_t, t)` at integer times of ``schedule``: a
        hashable function, so a compiled sampler reuses its compilation."""
        return _DiscreteEps(self, schedule)

    def continuous_eps_fn(self, log_snr: LogSNR) -> ContinuousEpsFn:
        r"""The optimal :math:`\hat\varepsilon(z_u, u)` under a continuous schedule."""
        return _ContinuousEps(self, log_snr)

    def continuous_loss(self, log_snr_max: float, log_snr_min: float, d: int) -> float:
        r""":math:`L_\infty` of the optimal denoiser of ``d``-dimensional data between the given
        log-SNR end points: :math:`\tfrac d2 \log \frac{1 + \mathrm{SNR}_{\max}s^2}{1 +
        \mathrm{SNR}_{\min} s^2}` (see :mod:`~dgm_lib.diffusion.continuous`)."""
        s2 = self.std**2
        return 0.5 * d * (math.log1p(math.exp(log_snr_max) * s2)
                          - math.log1p(math.exp(log_snr_min) * s2))



@dataclass(frozen=True)
class _DiscreteEps:
    data: GaussianData
    schedule: Schedule

    def __call__(self, x: Array, t: Array) -> Array:
        a, b = (broadcast_time(c, x) for c in marginal(self.schedule, t))
        return self.data.optimal_eps(x, a, b)


@dataclass(frozen=True)
class _ContinuousEps:
    data: GaussianData
    log_snr: LogSNR

    def __call__(self, z: Array, u: Array) -> Array:
        lam = self.log_snr.log_snr(u)
        a, b = (broadcast_time(jnp.sqrt(jax.nn.sigmoid(v)), z) for v in (lam, -lam))
        return self.data.optimal_eps(z, a, b)
