r"""Forward SDEs as data: the variance-exploding and variance-preserving processes of Song et al.
(2021), with their marginals in closed form.

A forward SDE :math:`dx = f(x, t)\, dt + g(t)\, dW` on :math:`t \in [0, 1]` turns data
:math:`x_0 \sim p_0` into noise. Both here have a linear drift, so the law of :math:`x_t` given
:math:`x_0` is Gaussian, :math:`x_t = \alpha(t)\, x_0 + \sigma(t)\, \varepsilon` with
:math:`\varepsilon \sim \mathcal N(0, I)` (:meth:`VESDE.marginal`), and a network can be trained
on :math:`(x_t, t)` pairs drawn in one step, without simulating the SDE.

- **VE** (the continuous limit of noise-conditional score networks): :math:`f = 0`, noise level
  :math:`s(t) = s_{\min} (s_{\max}/s_{\min})^t` and :math:`g(t) = \sqrt{d\, s(t)^2/dt} = s(t)
  \sqrt{2 \log(s_{\max}/s_{\min})}`, so :math:`\alpha = 1` and :math:`\sigma(t)^2 = s(t)^2 -
  s_{\min}^2` (the variance the SDE adds between 0 and :math:`t`). Prior
  :math:`\mathcal N(0, \sigma(1)^2 I)`: right when :math:`s_{\max}` is much larger than the
  spread of the data.
- **VP** (the continuous limit of DDPM): :math:`f = -\tfrac12 \beta(t)\, x`,
  :math:`g = \sqrt{\beta(t)}`, :math:`\beta(t) = \beta_{\min} + t (\beta_{\max} -
  \beta_{\min})`, so with :math:`B(t) = \int_0^t \beta = \beta_{\min} t + \tfrac12
  (\beta_{\max} - \beta_{\min}) t^2`, :math:`\alpha(t) = e^{-B(t)/2}` and :math:`\sigma(t)^2 =
  1 - e^{-B(t)}`: :math:`\alpha^2 + \sigma^2 = 1` for unit-variance data at every :math:`t`.
  Prior :math:`\mathcal N(0, I)`.

Times ``t`` are a scalar or one per example, shape ``(n,)``; states are ``(n, ...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_key, check_positive_float

__all__ = [
    "SDE",
    "VESDE",
    "VPSDE",
    "broadcast_time",
    "check_t_min",
    "perturb",
    "prior_log_prob",
    "prior_sample",
]


def check_t_min(where: str, t_min: float) -> float:
    """Check the earliest time a sampler, loss or likelihood uses: a float in (0, 1) (the score
    of :math:`p_t` grows without bound as :math:`t \\to 0`)."""
    t_min = check_positive_float(where, "t_min", t_min)
    if not t_min < 1.0:
        raise ValueError(f"{where}: argument 't_min' must be in (0, 1); got {t_min}")
    return t_min


def broadcast_time(t: Array, x: Array) -> Array:
    """A scalar time or times ``(n,)`` reshaped to broadcast against states ``(n, ...)``."""
    t = jnp.asarray(t, jnp.float32)
    return jnp.reshape(t, t.shape + (1,) * (x.ndim - t.ndim)) if t.ndim else t


class SDE(Protocol):
    """What the samplers and the likelihood need of a forward SDE on :math:`[0, 1]`."""

    def drift(self, x: Array, t: Array) -> Array:
        """:math:`f(x, t)`, shaped like ``x``."""
        ...

    def diffusion(self, t: Array) -> Array:
        """:math:`g(t)`, shaped like ``t``."""
        ...

    def marginal(self, t: Array) -> tuple[Array, Array]:
        r""":math:`(\alpha(t), \sigma(t))` with :math:`x_t = \alpha x_0 + \sigma \varepsilon`."""
        ...

    def prior_std(self) -> float:
        """The standard deviation of the Gaussian prior at :math:`t = 1`."""
        ...


def _check_rates(where: str, low_name: str, low: float, high_name: str, high: float,
                 strict_low: bool) -> None:
    ok_low = low > 0 if strict_low else low >= 0
    if not (math.isfinite(low) and math.isfinite(high) and ok_low and high > low):
        bound = "> 0" if strict_low else ">= 0"
        raise ValueError(f"{where}: need {low_name} {bound} and {high_name} > {low_name}, both "
                         f"finite; got {low_name} = {low!r}, {high_name} = {high!r}")


@dataclass(frozen=True)
class VESDE:
    r"""The variance-exploding SDE :math:`dx = s(t) \sqrt{2 \log(s_{\max}/s_{\min})}\, dW`
    (module docstring). Defaults: Song et al.'s 2-D settings scaled to data of unit spread."""

    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def __post_init__(self) -> None:
        _check_rates("VESDE", "sigma_min", self.sigma_min, "sigma_max", self.sigma_max, True)

    def noise_level(self, t: Array) -> Array:
        r""":math:`s(t) = s_{\min} (s_{\max}/s_{\min})^t`."""
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** jnp.asarray(t, jnp.float32)

    def drift(self, x: Array, t: Array) -> Array:
        """:math:`f = 0`."""
        return jnp.zeros_like(x)

    def diffusion(self, t: Array) -> Array:
        r""":math:`g(t) = s(t) \sqrt{2 \log(s_{\max}/s_{\min})}`."""
        return self.noise_level(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t: Array) -> tuple[Array, Array]:
        r""":math:`\alpha = 1`, :math:`\sigma(t) = \sqrt{s(t)^2 - s_{\min}^2}`."""
        t = jnp.asarray(t, jnp.float32)
        growth = jnp.expm1(2.0 * t * math.log(self.sigma_max / self.sigma_min))
        return jnp.ones_like(t), self.sigma_min * jnp.sqrt(growth)

    def time_of_std(self, std: Array) -> Array:
        r"""The time at which :math:`\sigma(t)` equals ``std``: the inverse of
        :meth:`marginal`'s standard deviation (maps a noise ladder to times)."""
        ratio = jnp.square(jnp.asarray(std, jnp.float32) / self.sigma_min)
        return jnp.log1p(ratio) / (2.0 * math.log(self.sigma_max / self.sigma_min))

    def prior_std(self) -> float:
        r""":math:`\sigma(1) = \sqrt{s_{\max}^2 - s_{\min}^2}`."""
        return math.sqrt(self.sigma_max**2 - self.sigma_min**2)


@dataclass(frozen=True)
class VPSDE:
    r"""The variance-preserving SDE :math:`dx = -\tfrac12 \beta(t) x\, dt + \sqrt{\beta(t)}\,
    dW` (module docstring), with Song et al.'s :math:`\beta_{\min} = 0.1`,
    :math:`\beta_{\max} = 20`."""

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        _check_rates("VPSDE", "beta_min", self.beta_min, "beta_max", self.beta_max, False)

    def beta(self, t: Array) -> Array:
        r""":math:`\beta(t) = \beta_{\min} + t (\beta_{\max} - \beta_{\min})`."""
        return self.beta_min + jnp.asarray(t, jnp.float32) * (self.beta_max - self.beta_min)

    def integrated_beta(self, t: Array) -> Array:
        r""":math:`B(t) = \int_0^t \beta(u)\, du`."""
        t = jnp.asarray(t, jnp.float32)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * jnp.square(t)

    def drift(self, x: Array, t: Array) -> Array:
        r""":math:`f = -\tfrac12 \beta(t)\, x`."""
        return -0.5 * broadcast_time(self.beta(t), x) * x

    def diffusion(self, t: Array) -> Array:
        r""":math:`g = \sqrt{\beta(t)}`."""
        return jnp.sqrt(self.beta(t))

    def marginal(self, t: Array) -> tuple[Array, Array]:
        r""":math:`\alpha = e^{-B/2}`, :math:`\sigma = \sqrt{1 - e^{-B}}`."""
        b = self.integrated_beta(t)
        return jnp.exp(-0.5 * b), jnp.sqrt(-jnp.expm1(-b))

    def prior_std(self) -> float:
        """1: the prior is :math:`\\mathcal N(0, I)`."""
        return 1.0


def perturb(key: Array, sde: SDE, x0: Array, t: Array) -> tuple[Array, Array]:
    r"""Draw :math:`x_t = \alpha(t)\, x_0 + \sigma(t)\, \varepsilon` from the forward SDE's
    marginal given clean data ``x0`` ``(n, ...)`` at times ``t`` (scalar or ``(n,)``); returns
    ``(x_t, eps)``."""
    where = "perturb"
    key = check_key(where, key)
    x0 = check_array(where, "x0", x0)
    eps = jax.random.normal(key, x0.shape)
    alpha, sigma = sde.marginal(t)
    return broadcast_time(alpha, x0) * x0 + broadcast_time(sigma, x0) * eps, eps


def prior_sample(key: Array, sde: SDE, shape: tuple[int, ...]) -> Array:
    r"""``shape`` draws (batch first) from the prior :math:`\mathcal N(0, \sigma(1)^2 I)`."""
    return sde.prior_std() * jax.random.normal(check_key("prior_sample", key), shape)


def prior_log_prob(sde: SDE, x: Array) -> Array:
    r""":math:`\log \mathcal N(x; 0, \sigma(1)^2 I)` of states ``(n, ...)``, summed over all axes
    but the first: shape ``(n,)``, nats."""
    x = check_array("prior_log_prob", "x", x)
    d = math.prod(x.shape[1:])
    var = sde.prior_std() ** 2
    sq = jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim)))
    return -0.5 * sq / var - 0.5 * d * math.log(2.0 * math.pi * var)
