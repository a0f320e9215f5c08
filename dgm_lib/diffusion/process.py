r"""The forward process of a diffusion model, its posterior, and the three things a network
can predict.

The forward process adds Gaussian noise in :math:`T` steps, :math:`q(x_t \mid x_{t-1}) =
\mathcal N(\sqrt{1 - \beta_t}\, x_{t-1}, \beta_t I)`. Gaussians composed with linear maps stay
Gaussian, so the marginal given the data is one step away,

.. math:: q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I\big),
          \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,

and by Bayes' rule on two Gaussians the step back, given the data, is Gaussian too:

.. math:: q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I), \quad
          \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\, \beta_t}{1 - \bar\alpha_t}\, x_0
          + \frac{\sqrt{\alpha_t}\, (1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \quad
          \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t,

with :math:`\alpha_t = 1 - \beta_t`. A network reads :math:`(x_t, t)` and predicts the noise
:math:`\varepsilon`, the data :math:`x_0`, or the velocity :math:`v = \sqrt{\bar\alpha_t}\,
\varepsilon - \sqrt{1 - \bar\alpha_t}\, x_0` (Salimans and Ho 2022); given :math:`x_t` each
determines the others (:func:`eps_from_prediction`).

Times are integers, a scalar or one per example ``(n,)``; states are ``(n, ...)``.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_batch, check_key
from ..score.sde import broadcast_time
from .schedule import Schedule

__all__ = [
    "Prediction",
    "check_times",
    "eps_from_prediction",
    "marginal",
    "posterior",
    "predict_x0",
    "q_sample",
    "v_target",
]

Prediction = Literal["eps", "x0", "v"]
"""The three things a network may predict, the noise, the clean data or the velocity (module
docstring)."""


def check_times(where: str, t: Array, schedule: Schedule, *, lowest: int = 1) -> Array:
    """Check integer times in ``{lowest, ..., T}`` (when their values are known, that is,
    outside a compiled function); return them as int32."""
    t = check_array(where, "t", t, kind="int")
    if not isinstance(t, jax.core.Tracer) and t.size:
        low, high = int(jnp.min(t)), int(jnp.max(t))
        if low < lowest or high > schedule.num_steps:
            raise ValueError(f"{where}: times 't' must be integers in {{{lowest}, ..., "
                             f"{schedule.num_steps}}} for {schedule!r}; got values from {low} "
                             f"to {high}")
    return t.astype(jnp.int32)



def marginal(schedule: Schedule, t: Array) -> tuple[Array, Array]:
    r""":math:`(\sqrt{\bar\alpha_t}, \sqrt{1 - \bar\alpha_t})` at integer times ``t``: the
    scale of the data and of the noise in :math:`x_t`."""
    return jnp.sqrt(schedule.alpha_bar(t)), jnp.sqrt(schedule.noise_variance(t))


def q_sample(key: Array, schedule: Schedule, x0: Array, t: Array) -> tuple[Array, Array]:
    r"""Draw :math:`x_t \sim q(x_t \mid x_0)` for data ``x0`` ``(n, ...)`` at times ``t``
    (scalar or ``(n,)``, in :math:`\{1, \dots, T\}`); returns ``(x_t, eps)``."""
    where = "q_sample"
    key = check_key(where, key)
    x0 = check_batch(where, "x0", x0)
    t = check_times(where, t, schedule)
    eps = jax.random.normal(key, x0.shape)
    a, s = (broadcast_time(c, x0) for c in marginal(schedule, t))
    return a * x0 + s * eps, eps


def posterior(schedule: Schedule, x0: Array, x_t: Array, t: Array) -> tuple[Array, Array]:
    r"""The mean :math:`\tilde\mu_t(x_t, x_0)` ``(n, ...)`` and variance :math:`\tilde\beta_t`
    (shaped like ``t``) of :math:`q(x_{t-1} \mid x_t, x_0)` (module docstring), at integer times
    ``t`` in :math:`\{1, \dots, T\}`; :math:`\tilde\beta_1 = 0`."""
    t = check_times("posterior", t, schedule)
    ab_prev, beta = schedule.alpha_bar(t - 1), schedule.beta(t)
    var_t, var_prev = schedule.noise_variance(t), schedule.noise_variance(t - 1)
    coef_x0 = jnp.sqrt(ab_prev) * beta / var_t
    coef_xt = jnp.sqrt(1.0 - beta) * var_prev / var_t
    mean = broadcast_time(coef_x0, x_t) * x0 + broadcast_time(coef_xt, x_t) * x_t
    return mean, var_prev / var_t * beta


def predict_x0(schedule: Schedule, x_t: Array, t: Array, eps: Array) -> Array:
    r""":math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\, \hat\varepsilon) /
    \sqrt{\bar\alpha_t}`: the data that noise ``eps`` at time ``t`` leaves."""
    a, s = (broadcast_time(c, x_t) for c in marginal(schedule, t))
    return (x_t - s * eps) / a


def v_target(schedule: Schedule, x0: Array, t: Array, eps: Array) -> Array:
    r""":math:`v = \sqrt{\bar\alpha_t}\, \varepsilon - \sqrt{1 - \bar\alpha_t}\, x_0`."""
    a, s = (broadcast_time(c, x0) for c in marginal(schedule, t))
    return a * eps - s * x0


def eps_from_prediction(schedule: Schedule, prediction: Prediction, x_t: Array, t: Array,
                        output: Array) -> Array:
    r"""The noise a network's ``output`` implies at :math:`(x_t, t)`: itself for ``"eps"``;
    :math:`(x_t - \sqrt{\bar\alpha_t}\, \hat x_0)/\sqrt{1 - \bar\alpha_t}` for ``"x0"``;
    :math:`\sqrt{1 - \bar\alpha_t}\, x_t + \sqrt{\bar\alpha_t}\, \hat v` for ``"v"`` (since
    :math:`\bar\alpha_t + (1 - \bar\alpha_t) = 1`)."""
    if prediction == "eps":
        return output
    a, s = (broadcast_time(c, x_t) for c in marginal(schedule, t))
    if prediction == "x0":
        return (x_t - a * output) / s
    if prediction == "v":
        return s * x_t + a * output
    raise ValueError(f"eps_from_prediction: argument 'prediction' must be 'eps', 'x0' or 'v'; "
                     f"got {prediction!r}")
