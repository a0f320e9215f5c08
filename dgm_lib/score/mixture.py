r"""Gaussian mixtures with their scores in closed form, at every noise level: the one family
whose noised densities :math:`p_t` a score model can be checked against exactly.

For :math:`p = \sum_k \pi_k \mathcal N(\mu_k, \operatorname{diag} v_k)` the score is the
responsibility-weighted pull towards each mean,

.. math:: \nabla_x \log p(x) = \sum_k r_k(x)\, \frac{\mu_k - x}{v_k}, \qquad
          r_k(x) = \frac{\pi_k \mathcal N(x; \mu_k, v_k)}{\sum_j \pi_j \mathcal N(x; \mu_j, v_j)},

and the forward SDE's marginal :math:`x_t = \alpha x_0 + \sigma \varepsilon` of a mixture is the
mixture with means :math:`\alpha \mu_k` and variances :math:`\alpha^2 v_k + \sigma^2`: Gaussians
convolved with a Gaussian stay Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array
from ..probability import log_mixture_of_gaussians, sample_mixture_of_gaussians
from ..toy2d import EIGHT_GAUSSIANS_RADIUS, EIGHT_GAUSSIANS_STD
from .sampling import TimeScoreFn
from .sde import SDE, broadcast_time

__all__ = ["GaussianMixture", "eight_gaussians"]


def _score(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    """Closed-form mixture score; ``means``/``log_vars`` ``(K, d)`` or ``(n, K, d)``."""
    diff = means - x[:, None, :]
    inv_var = jnp.exp(-log_vars)
    log_component = -0.5 * jnp.sum(jnp.square(diff) * inv_var + log_vars + math.log(2 * math.pi),
                                   axis=-1)
    r = jax.nn.softmax(jax.nn.log_softmax(logits) + log_component, axis=-1)
    return jnp.sum(r[..., None] * diff * inv_var, axis=-2)


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    r"""A mixture of diagonal Gaussians: weights :math:`\operatorname{softmax}(\text{logits})`
    ``(K,)``, means ``(K, d)``, log-variances ``(K, d)``."""

    logits: Array
    means: Array
    log_vars: Array

    def __post_init__(self) -> None:
        where = "GaussianMixture"
        logits = check_array(where, "logits", self.logits, shape=("K",))
        means = check_array(where, "means", self.means, shape=(logits.shape[0], "d"))
        log_vars = check_array(where, "log_vars", self.log_vars, shape=means.shape)
        object.__setattr__(self, "logits", logits)
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "log_vars", log_vars)

    @property
    def d(self) -> int:
        """The dimension."""
        return int(self.means.shape[1])

    @property
    def weights(self) -> Array:
        r"""The mixture weights :math:`\pi`, shape ``(K,)``."""
        return jax.nn.softmax(self.logits)

    def log_prob(self, x: Array) -> Array:
        """:math:`\\log p(x)` for points ``(n, d)``: ``(n,)`` nats."""
        return log_mixture_of_gaussians(x, self.logits, self.means, self.log_vars)

    def score(self, x: Array) -> Array:
        r""":math:`\nabla_x \log p(x)` in closed form (module docstring), ``(n, d)``."""
        x = check_array("GaussianMixture.score", "x", x, shape=("n", self.d))
        return _score(x, self.logits, self.means, self.log_vars)

    def sample(self, key: Array, n: int) -> Array:
        """``n`` draws, ``(n, d)``."""
        return sample_mixture_of_gaussians(key, self.logits, self.means, self.log_vars, n)

    def noised(self, alpha: float, sigma: float) -> GaussianMixture:
        r"""The law of :math:`\alpha x + \sigma \varepsilon`: means :math:`\alpha \mu_k`,
        variances :math:`\alpha^2 v_k + \sigma^2`."""
        log_vars = jnp.logaddexp(2 * jnp.log(alpha) + self.log_vars, 2 * jnp.log(sigma))
        return GaussianMixture(self.logits, alpha * self.means, log_vars)

    def marginal_score(self, sde: SDE) -> TimeScoreFn:
        r"""The exact score of the forward SDE's marginal :math:`p_t` of this mixture,
        :math:`(x, t) \mapsto \nabla_x \log p_t(x)` for states ``(n, d)`` and times ``(n,)``:
        what a perfectly trained score model would output."""

        def score(x: Array, t: Array) -> Array:
            alpha, sigma = sde.marginal(t)
            a = broadcast_time(alpha, x)[:, None]  # (n, 1, 1)
            s = broadcast_time(sigma, x)[:, None]
            log_vars = jnp.logaddexp(2 * jnp.log(a) + self.log_vars, 2 * jnp.log(s))
            return _score(x, self.logits, a * self.means, log_vars)

        return score


def eight_gaussians(
    radius: float = EIGHT_GAUSSIANS_RADIUS, std: float = EIGHT_GAUSSIANS_STD
) -> GaussianMixture:
    """Eight equal Gaussians of standard deviation ``std`` on a circle of ``radius`` (at angles
    :math:`k\\pi/4`); the defaults are :mod:`dgm_lib.toy2d`'s ``"eight_gaussians"``."""
    angles = jnp.arange(8) * (jnp.pi / 4)
    means = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
    return GaussianMixture(jnp.zeros(8), means, jnp.full((8, 2), 2 * math.log(std)))
