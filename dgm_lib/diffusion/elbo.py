r"""The evidence lower bound of a diffusion model, term by term (Sohl-Dickstein et al. 2015;
Ho et al. 2020).

A diffusion model is a hierarchical VAE whose encoder :math:`q(x_{1:T} \mid x_0)` is the fixed
forward process and whose decoder is the learned reverse chain :math:`p_\theta(x_{t-1} \mid
x_t) = \mathcal N(\mu_\theta(x_t, t), \sigma_t^2 I)`, started from :math:`p(x_T) = \mathcal
N(0, I)`. Rewriting the ELBO with the posteriors :math:`q(x_{t-1} \mid x_t, x_0)`
(:func:`~dgm_lib.diffusion.process.posterior`) turns it into a sum of KL divergences between
Gaussians, each in closed form given :math:`x_t`:

.. math:: -\mathrm{ELBO}(x_0) = \underbrace{\mathrm{KL}(q(x_T \mid x_0) \,\|\, p(x_T))}_{L_T,
          \text{ prior}} + \sum_{t=2}^{T} \underbrace{\mathbb E_{q(x_t \mid x_0)}\,
          \mathrm{KL}(q(x_{t-1} \mid x_t, x_0) \,\|\, p_\theta(x_{t-1} \mid x_t))}_{L_{t-1},
          \text{ denoising}} \underbrace{- \mathbb E_{q(x_1 \mid x_0)} \log p_\theta(x_0 \mid
          x_1)}_{L_0, \text{ decoder}} .

The mean of the reverse step is the posterior mean with the network's guess of the data in
place of the data, :math:`\mu_\theta(x_t, t) = \tilde\mu_t(x_t, \hat x_0(x_t, t))`, which for a
noise-predicting network is :math:`\frac{1}{\sqrt{\alpha_t}}(x_t - \frac{\beta_t}{\sqrt{1 -
\bar\alpha_t}} \hat\varepsilon)`. Then :math:`\tilde\mu_t - \mu_\theta = \frac{\sqrt{\bar
\alpha_{t-1}}\, \beta_t}{1 - \bar\alpha_t}(x_0 - \hat x_0)` and :math:`x_0 - \hat x_0 =
\sqrt{(1 - \bar\alpha_t)/\bar\alpha_t}\, (\hat\varepsilon - \varepsilon)`, so each term is a
weighted squared error of the noise plus a constant,

.. math:: L_{t-1} = w_t\, \mathbb E \lVert \varepsilon - \hat\varepsilon_\theta(x_t, t)
          \rVert^2 + c_t, \qquad w_t = \frac{\beta_t^2}{2 \sigma_t^2\, \alpha_t\, (1 -
          \bar\alpha_t)},

(:func:`elbo_weights`); Ho et al.'s :math:`L_{\text{simple}}` drops the weights. The reverse
variance is :math:`\sigma_t^2 = \tilde\beta_t` (``"posterior"``, the variance of the true step
back when :math:`x_0` is a point) or :math:`\beta_t` (``"beta"``); the decoder is
:math:`\mathcal N(x_0; \mu_\theta(x_1, 1), \beta_1 I)` in both cases (:math:`\tilde\beta_1 =
0`), a density on continuous data, so dequantised images get a bound in the flows chapter's
units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from ..checks import check_batch, check_callable, check_key
from .process import marginal, posterior, predict_x0
from .schedule import Schedule

__all__ = ["ElboTerms", "EpsFn", "Variance", "check_variance", "elbo_constants", "elbo_terms",
           "elbo_weights", "prior_kl"]

EpsFn = Callable[..., Array]
r"""A noise prediction :math:`\hat\varepsilon(x_t, t, *args)`: states ``(n, ...)``, integer
times ``(n,)`` and any extra arrays (labels) to an array shaped like the states."""

Variance = Literal["posterior", "beta"]
r"""The reverse step's variance :math:`\sigma_t^2`: :math:`\tilde\beta_t` or :math:`\beta_t`."""


def check_variance(where: str, variance: str) -> None:
    """Check a reverse-variance choice (:data:`Variance`)."""
    if variance not in ("posterior", "beta"):
        raise ValueError(f"{where}: argument 'variance' must be 'posterior' or 'beta'; got "
                         f"{variance!r}")


def _posterior_variances(schedule: Schedule) -> np.ndarray:
    r""":math:`\tilde\beta_t` for :math:`t = 1, \dots, T`, float64 (:math:`\tilde\beta_1 = 0`)."""
    ab_prev = np.concatenate([[1.0], schedule.alpha_bars[:-1]])
    return (1.0 - ab_prev) / (1.0 - schedule.alpha_bars) * schedule.betas


def _reverse_variances(schedule: Schedule, variance: Variance) -> np.ndarray:
    r""":math:`\sigma_t^2` for :math:`t = 1, \dots, T`, with :math:`\sigma_1^2 = \beta_1`."""
    betas = schedule.betas
    var = betas if variance == "beta" else _posterior_variances(schedule)
    return np.concatenate([betas[:1], var[1:]])


def elbo_weights(schedule: Schedule, variance: Variance = "posterior") -> np.ndarray:
    r"""The weights :math:`w_t` of the squared noise error in each ELBO term, :math:`t = 1,
    \dots, T`, shape ``(T,)`` (module docstring; :math:`w_1 = 1/(2 \alpha_1)`, the decoder's)."""
    check_variance("elbo_weights", variance)
    betas, ab = schedule.betas, schedule.alpha_bars
    return betas**2 / (2.0 * _reverse_variances(schedule, variance) * (1.0 - betas) * (1.0 - ab))


def elbo_constants(schedule: Schedule, d: int, variance: Variance = "posterior") -> np.ndarray:
    r"""The constants :math:`c_t` of each term for data of dimension ``d``, shape ``(T,)``:
    :math:`c_1 = \tfrac d2 \log(2\pi\beta_1)` (the decoder's normaliser) and, for :math:`t \ge
    2`, :math:`\tfrac d2 (r - 1 - \log r)` with :math:`r = \tilde\beta_t / \sigma_t^2` (zero for
    ``"posterior"``). So :math:`-\mathrm{ELBO} = L_T + \sum_t (w_t\, \mathbb E \lVert
    \varepsilon - \hat\varepsilon \rVert^2 + c_t)`."""
    check_variance("elbo_constants", variance)
    betas = schedule.betas
    ratio = _posterior_variances(schedule) / _reverse_variances(schedule, variance)
    c = 0.5 * d * (ratio - 1.0 - np.log(np.where(ratio > 0, ratio, 1.0)))
    c[0] = 0.5 * d * math.log(2.0 * math.pi * betas[0])
    return c


def prior_kl(schedule: Schedule, x0: Array) -> Array:
    r""":math:`L_T = \mathrm{KL}(\mathcal N(\sqrt{\bar\alpha_T} x_0, (1 - \bar\alpha_T) I) \,\|\,
    \mathcal N(0, I))` per example, shape ``(n,)``, nats: what the forward process leaves of
    the data at :math:`T`."""
    x0 = check_batch("prior_kl", "x0", x0)
    ab = float(schedule.alpha_bars[-1])
    d = x0.size // x0.shape[0]
    sq = jnp.sum(jnp.square(x0).reshape(x0.shape[0], -1), axis=1)
    return 0.5 * (ab * sq + d * (-ab - math.log1p(-ab)))


@dataclass(frozen=True)
class ElboTerms:
    r"""The terms of :math:`-\mathrm{ELBO}` per example, nats (module docstring)."""

    prior: Array
    """:math:`L_T`, shape ``(n,)``."""
    denoising: Array
    r""":math:`L_{t-1}` for :math:`t = 2, \dots, T`, shape ``(n, T - 1)``."""
    decoder: Array
    r""":math:`L_0 = -\log p_\theta(x_0 \mid x_1)`, shape ``(n,)``."""

    @property
    def total(self) -> Array:
        r""":math:`-\mathrm{ELBO}`, shape ``(n,)``: an upper bound on
        :math:`-\log p_\theta(x_0)`."""
        return self.prior + jnp.sum(self.denoising, axis=1) + self.decoder

    @property
    def by_time(self) -> Array:
        r"""The terms in time order, :math:`L_0, L_1, \dots, L_{T-1}, L_T`: shape ``(n, T + 1)``."""
        return jnp.concatenate([self.decoder[:, None], self.denoising, self.prior[:, None]], 1)


def elbo_terms(key: Array, eps_fn: EpsFn, schedule: Schedule, x0: Array, *,
               variance: Variance = "posterior", args: tuple = ()) -> ElboTerms:
    r"""Every term of :math:`-\mathrm{ELBO}(x_0)` for data ``x0`` ``(n, ...)`` (module
    docstring), each :math:`L_{t-1}` with one draw of :math:`x_t \sim q(x_t \mid x_0)`
    (so each term, and their sum, is unbiased), :math:`T` network calls per example.

    Args:
        key: a ``jax.random.key`` for the draws of :math:`x_t`.
        eps_fn: :math:`\hat\varepsilon(x_t, t, *args)` (see :data:`EpsFn`).
        schedule: the noise schedule.
        x0: the data.
        variance: the reverse step's variance (see :data:`Variance`).
        args: extra arrays passed to ``eps_fn`` (labels of a conditional model).
    """
    where = "elbo_terms"
    key = check_key(where, key)
    check_callable(where, "eps_fn", eps_fn, "a callable (x_t, t, *args) -> noise shaped like x_t")
    x0 = check_batch(where, "x0", x0)
    check_variance(where, variance)
    decoder, denoising = _elbo_terms(key, eps_fn, schedule, x0, variance, tuple(args))
    return ElboTerms(prior_kl(schedule, x0), denoising, decoder)


@partial(jax.jit, static_argnames=("eps_fn", "schedule", "variance"))
def _elbo_terms(key: Array, eps_fn: EpsFn, schedule: Schedule, x0: Array, variance: Variance,
                args: tuple) -> tuple[Array, Array]:
    """The decoder and denoising terms, one time at a time (``lax.map``)."""
    n = x0.shape[0]
    axes = tuple(range(1, x0.ndim))
    d = x0.size // n
    sigma2 = jnp.asarray(_reverse_variances(schedule, variance), jnp.float32)
    beta_1 = float(schedule.betas[0])

    def term(t: Array) -> Array:
        eps = jax.random.normal(jax.random.fold_in(key, t), x0.shape)
        a, s = marginal(schedule, t)
        x_t = a * x0 + s * eps
        times = jnp.full((n,), t, jnp.int32)
        x0_hat = predict_x0(schedule, x_t, times, eps_fn(x_t, times, *args))
        mean_q, var_q = posterior(schedule, x0, x_t, t)
        mean_p, _ = posterior(schedule, x0_hat, x_t, t)
        var_p = sigma2[t - 1]
        ratio = jnp.where(t == 1, 1.0, var_q / var_p)
        kl = 0.5 * (d * (ratio - 1.0 - jnp.log(ratio))
                    + jnp.sum(jnp.square(mean_q - mean_p), axes) / var_p)
        nll = (0.5 * jnp.sum(jnp.square(x0 - mean_p), axes) / beta_1
               + 0.5 * d * math.log(2.0 * math.pi * beta_1))
        return jnp.where(t == 1, nll, kl)

    terms = lax.map(term, jnp.arange(1, schedule.num_steps + 1))  # (T, n)
    return terms[0], terms[1:].T
