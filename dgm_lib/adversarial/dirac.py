r"""The Dirac-GAN (Mescheder, Geiger and Nowozin 2018): the smallest game that shows why GAN
training oscillates, and how a gradient penalty fixes it.

The data is a point mass at 0, the generator :math:`p_\theta = \delta_\theta`, the
discriminator the logit :math:`D_\psi(x) = \psi x`. The GAN objective becomes

.. math:: L(\theta, \psi) = f(\psi \theta) + f(0), \qquad f(t) = -\log(1 + e^{-t}) =
          \log \sigma(t),

which :math:`\psi` ascends and :math:`\theta` descends. The unique equilibrium is
:math:`(0, 0)`, where the Jacobian of the gradient field has the purely imaginary eigenvalues
:math:`\pm i f'(0)`: simultaneous gradient steps spiral outwards (the radius grows by the
factor :math:`\sqrt{1 + h^2 f'(\psi\theta)^2}` every step), alternating steps circle it at
a roughly constant radius and never converge. The R1 penalty
:math:`\frac\gamma2 \psi^2` (the squared gradient of the discriminator on the real data,
:math:`\|\nabla_x D_\psi(0)\|^2 = \psi^2`) subtracted from the discriminator's objective adds
damping, and the iterates converge to :math:`(0, 0)` for :math:`\gamma > 0`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array, lax

from ..checks import check_positive_float, check_positive_int

__all__ = ["dirac_gan"]

_MODES = ("simultaneous", "alternating")


def _grads(theta: Array, psi: Array, gamma: float) -> tuple[Array, Array]:
    """dL/dtheta and d(L - gamma/2 psi^2)/dpsi; f'(t) = sigmoid(-t)."""
    slope = jax.nn.sigmoid(-psi * theta)
    return slope * psi, slope * theta - gamma * psi


def dirac_gan(
    theta0: float,
    psi0: float,
    *,
    learning_rate: float,
    steps: int,
    mode: str,
    gamma: float = 0.0,
) -> Array:
    r"""Gradient steps of the Dirac-GAN from :math:`(\theta_0, \psi_0)` (module docstring).

    Each step, :math:`\psi` ascends :math:`L - \frac\gamma2\psi^2` and :math:`\theta`
    descends :math:`L`, both with step size ``learning_rate``: from the same point
    (``"simultaneous"``), or :math:`\psi` first and then :math:`\theta` at the new
    :math:`\psi` (``"alternating"``). Run as a ``lax.scan``.

    Args:
        theta0: the generator's initial point mass location.
        psi0: the discriminator's initial slope.
        learning_rate: the step size :math:`h > 0`.
        steps: the number of steps, >= 1.
        mode: ``"simultaneous"`` or ``"alternating"``.
        gamma: the R1 penalty weight, >= 0 (0: plain GAN).

    Returns:
        float32 ``(steps + 1, 2)``: the iterates :math:`(\theta_s, \psi_s)`, the initial point
        first.
    """
    where = "dirac_gan"
    if mode not in _MODES:
        raise ValueError(f"{where}: argument 'mode' must be one of {list(_MODES)}; got {mode!r}")
    steps = check_positive_int(where, "steps", steps)
    h = check_positive_float(where, "learning_rate", learning_rate)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
        raise ValueError(f"{where}: argument 'gamma' must be a number >= 0; got {gamma!r}")
    gamma = float(gamma)
    for name, v in (("theta0", theta0), ("psi0", psi0)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ValueError(f"{where}: argument '{name}' must be a finite number; got {v!r}")

    def step(state: Array, _: None) -> tuple[Array, Array]:
        theta, psi = state[0], state[1]
        if mode == "simultaneous":
            g_theta, g_psi = _grads(theta, psi, gamma)
            psi_new = psi + h * g_psi
            theta_new = theta - h * g_theta
        else:
            psi_new = psi + h * _grads(theta, psi, gamma)[1]
            theta_new = theta - h * _grads(theta, psi_new, gamma)[0]
        new = jnp.stack([theta_new, psi_new])
        return new, new

    start = jnp.array([theta0, psi0], jnp.float32)
    _, path = lax.scan(step, start, None, length=steps)
    return jnp.concatenate([start[None], path], axis=0)
