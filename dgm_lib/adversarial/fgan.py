r"""f-GAN (Nowozin, Cseke and Tomioka 2016): any f-divergence as a two-player game.

For a convex :math:`f` with :math:`f(1) = 0`, the f-divergence is
:math:`D_f(p \| q) = \int q(x) f(p(x)/q(x))\,dx`. Its convex conjugate
:math:`f^*(t) = \sup_u \{ut - f(u)\}` gives, for every critic :math:`T` with values in
:math:`\mathrm{dom} f^*`, the lower bound

.. math:: D_f(p \| q) \ge \mathbb E_{x \sim p}[T(x)] - \mathbb E_{x \sim q}[f^*(T(x))],

tight at :math:`T^*(x) = f'(p(x)/q(x))`. A network outputs a real :math:`v(x)` and the output
activation :math:`g_f` maps it into :math:`\mathrm{dom} f^*`, :math:`T = g_f(v)`. The critic
maximises the bound; the generator minimises it. Rows (Tables 1 and 2 of the paper):

- ``kl``: :math:`f(u) = u \log u`, :math:`g_f(v) = v`, :math:`f^*(t) = e^{t-1}`;
- ``reverse_kl``: :math:`f(u) = -\log u`, :math:`g_f(v) = -e^{-v}`,
  :math:`f^*(t) = -1 - \log(-t)`;
- ``pearson`` (Pearson :math:`\chi^2`): :math:`f(u) = (u - 1)^2`, :math:`g_f(v) = v`,
  :math:`f^*(t) = t^2/4 + t`;
- ``squared_hellinger``: :math:`f(u) = (\sqrt u - 1)^2`, :math:`g_f(v) = 1 - e^{-v}`,
  :math:`f^*(t) = t / (1 - t)`;
- ``jensen_shannon``: :math:`f(u) = u \log u - (u + 1) \log\frac{u + 1}{2}`,
  :math:`g_f(v) = \log 2 - \log(1 + e^{-v})`, :math:`f^*(t) = -\log(2 - e^t)`.

``jensen_shannon`` is the paper's row without the factor 1/2, so :math:`D_f = 2\,\mathrm{JSD}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_positive_float

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "f_divergence",
    "fgan_critic_loss",
    "fgan_generator_loss",
    "variational_bound",
]


@dataclass(frozen=True)
class FDivergence:
    """One f-divergence of the f-GAN table, as callables on arrays (elementwise).

    Attributes:
        name: its key in :data:`F_DIVERGENCES`.
        f: the generator function :math:`f(u)` for :math:`u > 0`.
        conjugate: the convex conjugate :math:`f^*(t)` on :math:`\\mathrm{dom} f^*`.
        activation: the output activation :math:`g_f(v)`, any real into dom f*.
        optimal_critic: :math:`T^*` as a function of the density ratio :math:`u = p/q`,
            i.e. :math:`f'(u)`.
        conjugate_of_activation: :math:`f^*(g_f(v))` written out, so the critic's loss stays
            finite for critic outputs of any size (composing the two rounds :math:`g_f(v)` to
            the edge of dom f* in float32 for large ``v``).
    """

    name: str
    f: Callable[[Array], Array]
    conjugate: Callable[[Array], Array]
    activation: Callable[[Array], Array]
    optimal_critic: Callable[[Array], Array]
    conjugate_of_activation: Callable[[Array], Array]


_LOG2 = math.log(2.0)

F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        "kl",
        f=lambda u: u * jnp.log(u),
        conjugate=lambda t: jnp.exp(t - 1.0),
        activation=lambda v: v,
        optimal_critic=lambda u: 1.0 + jnp.log(u),
        conjugate_of_activation=lambda v: jnp.exp(v - 1.0),
    ),
    "reverse_kl": FDivergence(
        "reverse_kl",
        f=lambda u: -jnp.log(u),
        conjugate=lambda t: -1.0 - jnp.log(-t),
        activation=lambda v: -jnp.exp(-v),
        optimal_critic=lambda u: -1.0 / u,
        conjugate_of_activation=lambda v: v - 1.0,
    ),
    "pearson": FDivergence(
        "pearson",
        f=lambda u: (u - 1.0) ** 2,
        conjugate=lambda t: t**2 / 4.0 + t,
        activation=lambda v: v,
        optimal_critic=lambda u: 2.0 * (u - 1.0),
        conjugate_of_activation=lambda v: v**2 / 4.0 + v,
    ),
    "squared_hellinger": FDivergence(
        "squared_hellinger",
        f=lambda u: (jnp.sqrt(u) - 1.0) ** 2,
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: 1.0 - jnp.exp(-v),
        optimal_critic=lambda u: 1.0 - 1.0 / jnp.sqrt(u),
        conjugate_of_activation=jnp.expm1,
    ),
    "jensen_shannon": FDivergence(
        "jensen_shannon",
        f=lambda u: u * jnp.log(u) - (u + 1.0) * jnp.log((u + 1.0) / 2.0),
        conjugate=lambda t: -jnp.log(2.0 - jnp.exp(t)),
        activation=lambda v: _LOG2 - jax.nn.softplus(-v),
        optimal_critic=lambda u: jnp.log(2.0 * u / (1.0 + u)),
        conjugate_of_activation=lambda v: jax.nn.softplus(v) - _LOG2,
    ),
}
"""The f-divergences of the f-GAN paper by name (module docstring)."""


def _row(where: str, name: object) -> FDivergence:
    if not isinstance(name, str) or name not in F_DIVERGENCES:
        raise ValueError(
            f"{where}: argument 'name' must be one of {sorted(F_DIVERGENCES)}; got {name!r}"
        )
    return F_DIVERGENCES[name]


def f_divergence(name: str, p: Array, q: Array, dx: float) -> Array:
    r""":math:`D_f(p \| q) \approx \sum_i q_i f(p_i / q_i)\,\Delta x` by quadrature on a grid.

    Args:
        name: a key of :data:`F_DIVERGENCES`.
        p: density values of :math:`p` on the grid, any shape.
        q: density values of :math:`q` on the same grid (same shape), all :math:`> 0`.
        dx: the grid's cell volume, > 0.
    """
    where = "f_divergence"
    row = _row(where, name)
    p = check_array(where, "p", p)
    q = check_array(where, "q", q, shape=tuple(p.shape))
    dx = check_positive_float(where, "dx", dx)
    if not isinstance(q, jax.core.Tracer) and not bool(jnp.all(q > 0)):
        raise ValueError(f"{where}: argument 'q' must be > 0 everywhere on the grid")
    return jnp.sum(q * row.f(p / q)) * dx


def _bound(row: FDivergence, t_real: Array, t_fake: Array) -> Array:
    return jnp.mean(t_real) - jnp.mean(row.conjugate(t_fake))


def variational_bound(name: str, t_real: Array, t_fake: Array) -> Array:
    r"""The lower bound :math:`\mathrm{mean}(T(x_{real})) - \mathrm{mean}(f^*(T(x_{fake})))` of
    :math:`D_f(p \| q)`, from critic values already in :math:`\mathrm{dom} f^*`.

    Args:
        name: a key of :data:`F_DIVERGENCES`.
        t_real: :math:`T` on samples of :math:`p`, ``(batch,)``.
        t_fake: :math:`T` on samples of :math:`q`, ``(batch,)`` (its own batch size).
    """
    where = "variational_bound"
    row = _row(where, name)
    t_real = check_array(where, "t_real", t_real, shape=("batch",))
    t_fake = check_array(where, "t_fake", t_fake, shape=("batch",))
    return _bound(row, t_real, t_fake)


def fgan_critic_loss(name: str, v_real: Array, v_fake: Array) -> Array:
    r"""The critic's loss, the negative bound :math:`-(\mathrm{mean}\,g_f(v_{real}) -
    \mathrm{mean}\,f^*(g_f(v_{fake})))`, from raw network outputs ``(batch,)`` each (the same
    batch size). The composite :math:`f^*(g_f(v))` is computed in closed form (e.g.
    :math:`\mathrm{softplus}(v) - \log 2` for ``jensen_shannon``), finite for any ``v``."""
    where = "fgan_critic_loss"
    row = _row(where, name)
    v_real = check_array(where, "v_real", v_real, shape=("batch",))
    v_fake = check_array(where, "v_fake", v_fake, shape=(v_real.shape[0],))
    return -(jnp.mean(row.activation(v_real)) - jnp.mean(row.conjugate_of_activation(v_fake)))


def fgan_generator_loss(name: str, v_fake: Array) -> Array:
    r"""The generator's loss :math:`-\mathrm{mean}\,g_f(v_{fake})`, from raw critic outputs
    on generated samples ``(batch,)``.

    This is the f-GAN paper's alternative generator objective (maximise
    :math:`\mathbb E_{q}[g_f(v)]` instead of minimising :math:`-\mathbb E_q[f^*(g_f(v))]`),
    the analogue of the non-saturating GAN loss: for ``jensen_shannon`` it is
    :math:`-\mathbb E \log D(G(z)) - \log 2`, strong gradients early in training.
    """
    where = "fgan_generator_loss"
    row = _row(where, name)
    v_fake = check_array(where, "v_fake", v_fake, shape=("batch",))
    return -jnp.mean(row.activation(v_fake))
