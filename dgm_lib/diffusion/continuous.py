r"""The continuous-time diffusion loss in terms of the signal-to-noise ratio (Kingma et al.
2021).

As :math:`T \to \infty` the sum of denoising terms of the ELBO
(:mod:`~dgm_lib.diffusion.elbo`) becomes an integral over :math:`u \in [0, 1]`. With the
log-SNR :math:`\lambda(u)` (:mod:`~dgm_lib.diffusion.schedule`), :math:`\bar\alpha =
\operatorname{sigmoid}(\lambda)`, :math:`z_u = \sqrt{\bar\alpha}\, x_0 + \sqrt{1 -
\bar\alpha}\, \varepsilon`,

.. math:: L_\infty(x_0) = -\tfrac12\, \mathbb E_{u \sim U[0, 1],\, \varepsilon} \left[
          \lambda'(u)\, \lVert \varepsilon - \hat\varepsilon_\theta(z_u, u) \rVert^2 \right]
          = \tfrac12 \int_{\mathrm{SNR}_{\min}}^{\mathrm{SNR}_{\max}} \mathbb E \lVert x_0 -
          \hat x_\theta(z, \mathrm{SNR}) \rVert^2\, d\,\mathrm{SNR},

(:math:`\lVert \varepsilon - \hat\varepsilon \rVert^2 = \mathrm{SNR}\, \lVert x_0 - \hat x_0
\rVert^2` and :math:`d\,\mathrm{SNR} = \mathrm{SNR}\, d\lambda`). Changing variables from
:math:`u` to the SNR shows that the loss depends on the schedule only through its end points:
the shape between them changes the variance of the Monte Carlo estimate, not its mean. For
Gaussian data :math:`\mathcal N(\mu, s^2 I)` the best denoiser leaves :math:`\mathbb E \lVert x_0
- \hat x \rVert^2 = d\, s^2 / (1 + \mathrm{SNR}\, s^2)`, so :math:`L_\infty = \tfrac d2 \log
\frac{1 + \mathrm{SNR}_{\max} s^2}{1 + \mathrm{SNR}_{\min} s^2}`
(:meth:`~dgm_lib.diffusion.gaussian.GaussianData.continuous_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_batch, check_callable, check_key
from .schedule import LogSNR

__all__ = ["ContinuousEpsFn", "continuous_loss"]

ContinuousEpsFn = Callable[[Array, Array], Array]
r""":math:`\hat\varepsilon(z_u, u)`: states ``(n, ...)`` and times ``(n,)`` in :math:`[0, 1]`."""


def continuous_loss(key: Array, eps_fn: ContinuousEpsFn, log_snr: LogSNR, x0: Array) -> Array:
    r"""One-draw estimates of :math:`L_\infty(x_0)` (module docstring) per example, shape
    ``(n,)``, nats: one :math:`u` and one :math:`\varepsilon` each; :math:`\lambda'` by
    automatic differentiation of ``log_snr``."""
    where = "continuous_loss"
    key = check_key(where, key)
    check_callable(where, "eps_fn", eps_fn, "a callable (z, u) -> noise shaped like z")
    x0 = check_batch(where, "x0", x0)
    time_key, noise_key = jax.random.split(key)
    u = jax.random.uniform(time_key, x0.shape[:1])
    lam, dlam = jax.jvp(log_snr.log_snr, (u,), (jnp.ones_like(u),))
    shape = (-1,) + (1,) * (x0.ndim - 1)
    eps = jax.random.normal(noise_key, x0.shape)
    z = (jnp.sqrt(jax.nn.sigmoid(lam)).reshape(shape) * x0
         + jnp.sqrt(jax.nn.sigmoid(-lam)).reshape(shape) * eps)
    err = jnp.sum(jnp.square(eps - eps_fn(z, u)).reshape(x0.shape[0], -1), axis=1)
    return -0.5 * dlam * err
