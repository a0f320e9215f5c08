r"""2-D toy data of the flows literature, with exact log-densities where a closed form exists.

The data sets follow the de-facto definitions of FFJORD's ``inf_train_gen`` (Grathwohl et al.
2019; the same generators serve BNAF, SOS and NSF), rewritten here from the maths. Two
deliberate differences: every point is drawn iid (FFJORD puts some sets on evenly spaced angles
with fixed counts per component, a stratified draw of the same distribution), and all randomness
comes from an explicit ``jax.random.key``. Coordinates after FFJORD's final scaling:

- two_moons: moon :math:`c \sim U\{\text{outer}, \text{inner}\}`, :math:`t \sim U[0, \pi)`;
  outer :math:`(2\cos t - 1, 2\sin t - 0.2)`, inner :math:`(1 - 2\cos t, 0.8 - 2\sin t)`;
  plus :math:`\mathcal N(0, 0.2^2 I)`.
- eight_gaussians: :math:`\frac18 \sum_k \mathcal N(r (\cos k\pi/4, \sin k\pi/4), s^2 I)` with
  :math:`r = 4/1.414 = 2.8289` and :math:`s = 0.5/1.414 = 0.3536` (FFJORD's centres of radius 4
  and std 0.5, divided by 1.414).
- checkerboard: uniform on the 8 of the 16 2x2 cells of :math:`[-4, 4)^2` whose indices
  :math:`\lfloor x_1/2 \rfloor + \lfloor x_2/2 \rfloor` are even; density 1/32 there.
- rings: radius :math:`R \sim U\{0.75, 1.5, 2.25, 3\}`, angle :math:`\theta \sim U[0, 2\pi)`;
  :math:`R (\cos\theta, \sin\theta) + \mathcal N(0, 0.08^2 I)`.
- circles: radius :math:`R \sim U\{1.5, 3\}`, angle :math:`\theta \sim U[0, 2\pi)`;
  :math:`R (\cos\theta, \sin\theta) + \mathcal N(0, 0.24^2 I)`.
- pinwheel: arm :math:`k \sim U\{0, \dots, 4\}`, :math:`f_1 \sim \mathcal N(1, 0.3^2)`,
  :math:`f_2 \sim \mathcal N(0, 0.1^2)`, :math:`a = 2\pi k/5 + 0.25 \exp f_1`;
  :math:`2 (f_1 \cos a + f_2 \sin a, -f_1 \sin a + f_2 \cos a)`.
- two_spirals: :math:`s = 3\pi \sqrt u` with :math:`u \sim U[0, 1)`,
  :math:`v \sim U[0, 0.5)^2`, sign :math:`\epsilon = \pm 1`;
  :math:`\epsilon (-s \cos s + v_1, s \sin s + v_2)/3 + \mathcal N(0, 0.1^2 I)`.
- swiss_roll: :math:`t = 1.5\pi (1 + 2u)`;
  :math:`(t \cos t, t \sin t)/5 + \mathcal N(0, 0.2^2 I)`.

The ring densities have a closed form through the modified Bessel function :math:`I_0`: a point
drawn uniformly on the circle of radius :math:`R` and blurred by :math:`\mathcal N(0, \sigma^2 I)`
has density

.. math::

    p(x) = \frac{1}{2\pi\sigma^2} \exp\Big(-\frac{\|x\|^2 + R^2}{2\sigma^2}\Big)
           I_0\Big(\frac{\|x\| R}{\sigma^2}\Big).

The four energies of Rezende and Mohamed (2015, Table 1), targets for planar flows trained by
reverse KL, are ``energy(name, z)``, with unnormalised density :math:`p(z) \propto \exp(-U(z))`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e

from .checks import check_array, check_key, check_positive_int

__all__ = [
    "CHECKERBOARD_LOG_DENSITY",
    "DATASETS",
    "DENSITIES",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "ENERGIES",
    "energy",
    "entropy",
    "entropy_monte_carlo",
    "log_prob",
    "sample",
    "title",
]

DATASETS = (
    "two_moons",
    "eight_gaussians",
    "checkerboard",
    "rings",
    "circles",
    "pinwheel",
    "two_spirals",
    "swiss_roll",
)
"""Names accepted by :func:`sample`."""

DENSITIES = ("eight_gaussians", "checkerboard", "rings", "circles")
"""Names accepted by :func:`log_prob` and :func:`entropy`, the sets with a closed-form density."""

ENERGIES = ("U1", "U2", "U3", "U4")
"""Names accepted by :func:`energy`, Rezende and Mohamed's (2015) four targets."""

EIGHT_GAUSSIANS_RADIUS = 4.0 / 1.414
r"""Distance of the eight centres from the origin, 2.8289 (FFJORD divides by 1.414, not
:math:`\sqrt 2`)."""

EIGHT_GAUSSIANS_STD = 0.5 / 1.414
"""Standard deviation of each of the eight isotropic components, 0.35361."""

CHECKERBOARD_LOG_DENSITY = -math.log(32.0)
r""":math:`\log p(x) = -\log 32` on the checkerboard's support (8 cells of area 4)."""

_RINGS = ((0.75, 1.5, 2.25, 3.0), 0.08)  # radii, noise std
_CIRCLES = ((1.5, 3.0), 0.24)


def _check_name(where: str, name: str, valid: tuple[str, ...]) -> str:
    if name not in valid:
        raise ValueError(f"{where}: unknown name {name!r}; valid names are {', '.join(valid)}")
    return name


def _eight_gaussian_centres() -> jax.Array:
    angles = jnp.arange(8) * (jnp.pi / 4)
    return EIGHT_GAUSSIANS_RADIUS * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def _on_circle(radius: jax.Array, angle: jax.Array) -> jax.Array:
    return radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)


def _two_moons(key: jax.Array, n: int) -> jax.Array:
    k_moon, k_t, k_eps = jax.random.split(key, 3)
    inner = jax.random.bernoulli(k_moon, 0.5, (n,))[:, None]
    t = jax.random.uniform(k_t, (n,), maxval=jnp.pi)
    arc = jnp.stack([jnp.cos(t), jnp.sin(t)], axis=-1)
    outer_pts = 2.0 * arc + jnp.array([-1.0, -0.2])
    inner_pts = jnp.array([1.0, 0.8]) - 2.0 * arc
    return jnp.where(inner, inner_pts, outer_pts) + 0.2 * jax.random.normal(k_eps, (n, 2))


def _eight_gaussians(key: jax.Array, n: int) -> jax.Array:
    k_comp, k_eps = jax.random.split(key)
    centre = _eight_gaussian_centres()[jax.random.randint(k_comp, (n,), 0, 8)]
    return centre + EIGHT_GAUSSIANS_STD * jax.random.normal(k_eps, (n, 2))


def _checkerboard(key: jax.Array, n: int) -> jax.Array:
    k_col, k_row, k_u = jax.random.split(key, 3)
    col = jax.random.randint(k_col, (n,), -2, 2)
    row = -2 + 2 * jax.random.randint(k_row, (n,), 0, 2) + jnp.mod(col, 2)  # same parity as col
    cell = jnp.stack([col, row], axis=-1).astype(jnp.float32)
    return 2.0 * (cell + jax.random.uniform(k_u, (n, 2)))


def _ring_mixture(key: jax.Array, n: int, radii: tuple[float, ...], std: float) -> jax.Array:
    k_ring, k_angle, k_eps = jax.random.split(key, 3)
    radius = jnp.array(radii)[jax.random.randint(k_ring, (n,), 0, len(radii))]
    angle = jax.random.uniform(k_angle, (n,), maxval=2 * jnp.pi)
    return _on_circle(radius, angle) + std * jax.random.normal(k_eps, (n, 2))


def _pinwheel(key: jax.Array, n: int) -> jax.Array:
    k_arm, k_f = jax.random.split(key)
    f = jnp.array([1.0, 0.0]) + jnp.array([0.3, 0.1]) * jax.random.normal(k_f, (n, 2))
    a = jax.random.randint(k_arm, (n,), 0, 5) * (2 * jnp.pi / 5) + 0.25 * jnp.exp(f[:, 0])
    c, s = jnp.cos(a), jnp.sin(a)
    return 2.0 * jnp.stack([f[:, 0] * c + f[:, 1] * s, -f[:, 0] * s + f[:, 1] * c], axis=-1)


def _two_spirals(key: jax.Array, n: int) -> jax.Array:
    k_s, k_v, k_sign, k_eps = jax.random.split(key, 4)
    s = 3 * jnp.pi * jnp.sqrt(jax.random.uniform(k_s, (n,)))
    arm = jnp.stack([-s * jnp.cos(s), s * jnp.sin(s)], axis=-1)
    arm = arm + 0.5 * jax.random.uniform(k_v, (n, 2))
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (n, 1)), 1.0, -1.0)
    return sign * arm / 3 + 0.1 * jax.random.normal(k_eps, (n, 2))


def _swiss_roll(key: jax.Array, n: int) -> jax.Array:
    k_t, k_eps = jax.random.split(key)
    t = 1.5 * jnp.pi * (1 + 2 * jax.random.uniform(k_t, (n,)))
    return _on_circle(t, t) / 5 + 0.2 * jax.random.normal(k_eps, (n, 2))


_SAMPLERS: dict[str, Callable[[jax.Array, int], jax.Array]] = {
    "two_moons": _two_moons,
    "eight_gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "rings": partial(_ring_mixture, radii=_RINGS[0], std=_RINGS[1]),
    "circles": partial(_ring_mixture, radii=_CIRCLES[0], std=_CIRCLES[1]),
    "pinwheel": _pinwheel,
    "two_spirals": _two_spirals,
    "swiss_roll": _swiss_roll,
}


@partial(jax.jit, static_argnames=("name", "n"))
def _sample(key: jax.Array, name: str, n: int) -> jax.Array:
    return _SAMPLERS[name](key, n).astype(jnp.float32)


def title(name: str) -> str:
    """The data set as tables name it: ``title("eight_gaussians") == "eight Gaussians (2-D)"``."""
    _check_name("toy2d.title", name, DATASETS)
    return name.replace("_", " ").replace("gaussians", "Gaussians") + " (2-D)"


def sample(key: jax.Array, name: str, n: int) -> jax.Array:
    """Draw ``n`` iid points of the toy data set ``name`` (one of :data:`DATASETS`).

    Args:
      key: one ``jax.random.key``; the same key gives the same points.
      name: the data set; the module docstring states each distribution.
      n: number of points, a positive int.

    Returns:
      float32 array of shape ``(n, 2)``.
    """
    where = "toy2d.sample"
    key = check_key(where, key)
    name = _check_name(where, name, DATASETS)
    return _sample(key, name, check_positive_int(where, "n", n))


def _eight_gaussians_log_prob(x: jax.Array) -> jax.Array:
    var = EIGHT_GAUSSIANS_STD**2
    sq = jnp.sum((x[..., None, :] - _eight_gaussian_centres()) ** 2, axis=-1)
    return jax.nn.logsumexp(-sq / (2 * var), axis=-1) - jnp.log(2 * jnp.pi * var) - jnp.log(8.0)


def _checkerboard_log_prob(x: jax.Array) -> jax.Array:
    inside = jnp.all((x >= -4.0) & (x < 4.0), axis=-1)
    cell = jnp.floor(x / 2.0)
    even = jnp.mod(cell[..., 0] + cell[..., 1], 2.0) == 0
    return jnp.where(inside & even, CHECKERBOARD_LOG_DENSITY, -jnp.inf)


def _ring_mixture_log_prob(x: jax.Array, radii: tuple[float, ...], std: float) -> jax.Array:
    # log I0(z) = log i0e(z) + z folds the huge exp(z) into the square: no overflow.
    r = jnp.linalg.norm(x, axis=-1, keepdims=True)
    big_r, var = jnp.array(radii), std**2
    log_ring = -((r - big_r) ** 2) / (2 * var) + jnp.log(i0e(r * big_r / var))
    return jax.nn.logsumexp(log_ring, axis=-1) - jnp.log(2 * jnp.pi * var) - math.log(len(radii))


_LOG_PROBS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "eight_gaussians": _eight_gaussians_log_prob,
    "checkerboard": _checkerboard_log_prob,
    "rings": partial(_ring_mixture_log_prob, radii=_RINGS[0], std=_RINGS[1]),
    "circles": partial(_ring_mixture_log_prob, radii=_CIRCLES[0], std=_CIRCLES[1]),
}


@partial(jax.jit, static_argnames=("name",))
def _log_prob(name: str, x: jax.Array) -> jax.Array:
    return _LOG_PROBS[name](x.astype(jnp.float32))


def log_prob(name: str, x: jax.Array) -> jax.Array:
    r"""Exact log-density of the toy data set ``name`` (one of :data:`DENSITIES`), in nats.

    - eight_gaussians: :math:`\log p(x) = \log \sum_k \mathcal N(x; \mu_k, s^2 I) - \log 8`,
      :math:`\mu_k` on the radius-:math:`r` circle;
    - checkerboard: :math:`\log p(x) = -\log 32` on the 8 cells, :math:`-\infty` elsewhere;
    - rings, circles: :math:`\log p(x) = \log \sum_k w_k
      \exp\big(-(\|x\| - R_k)^2/(2\sigma^2)\big) \operatorname{i0e}(\|x\| R_k/\sigma^2)
      - \log(2\pi\sigma^2)`, with :math:`\operatorname{i0e}(z) = e^{-z} I_0(z)` and equal
      weights :math:`w_k`.

    Args:
      name: the data set.
      x: points, shape ``(..., 2)``.

    Returns:
      float32 array of shape ``x.shape[:-1]``, nats.
    """
    where = "toy2d.log_prob"
    name = _check_name(where, name, DENSITIES)
    return _log_prob(name, check_array(where, "x", x, shape=(..., 2)))


_QUADRATURE = {  # half-width of a box holding all the mass (max radius + 10 std), step std/6
    "eight_gaussians": (EIGHT_GAUSSIANS_RADIUS + 10 * EIGHT_GAUSSIANS_STD, EIGHT_GAUSSIANS_STD / 6),
    "rings": (max(_RINGS[0]) + 10 * _RINGS[1], _RINGS[1] / 6),
    "circles": (max(_CIRCLES[0]) + 10 * _CIRCLES[1], _CIRCLES[1] / 6),
}


def entropy(name: str) -> float:
    r"""Differential entropy :math:`H(p) = -\int p(x) \log p(x)\,dx` of the data set ``name``,
    in nats.

    It is the best test NLL any model can reach on that data (the NLL is
    :math:`H(p) + \mathrm{KL}(p \,\|\, q)`). Checkerboard: :math:`\log 32 = 3.4657` exactly.
    The Gaussian and ring mixtures have no closed form: the integral is a midpoint sum, in
    float64, on a grid with step :math:`\sigma/6` over a box reaching :math:`10\sigma` beyond the
    outermost centre; for these smooth, fast-decaying integrands the sum converges geometrically
    and is exact to about 1e-12 nats. Eight Gaussians: 2.83188, just under
    :math:`\log 8 + 1 + \log(2\pi s^2) = 2.83818`, the value if the components did not overlap.

    Args:
      name: one of :data:`DENSITIES`.

    Returns:
      the entropy as a Python float, nats.
    """
    name = _check_name("toy2d.entropy", name, DENSITIES)
    if name == "checkerboard":
        return -CHECKERBOARD_LOG_DENSITY
    half_width, step = _QUADRATURE[name]
    ticks = np.arange(-half_width + step / 2, half_width, step)
    with jax.enable_x64(True):
        lp = np.asarray(_LOG_PROBS[name](jnp.asarray(np.stack(np.meshgrid(ticks, ticks), -1))))
    return float(-np.sum(np.exp(lp) * lp) * step**2)


def entropy_monte_carlo(key: jax.Array, name: str, n: int = 100_000) -> tuple[float, float]:
    r"""Monte Carlo estimate of the entropy, :math:`H \approx -\frac1n \sum_i \log p(x_i)` with
    :math:`x_i \sim p`, in nats.

    Args:
      key: one ``jax.random.key``.
      name: one of :data:`DENSITIES`.
      n: number of samples, at least 2.

    Returns:
      ``(estimate, standard_error)`` as Python floats, nats; the standard error is
      :math:`\operatorname{std}(\log p(x_i)) / \sqrt n`.
    """
    where = "toy2d.entropy_monte_carlo"
    key = check_key(where, key)
    name = _check_name(where, name, DENSITIES)
    if check_positive_int(where, "n", n) < 2:
        raise ValueError(f"{where}: argument 'n' must be at least 2 for a standard error")
    lp = np.asarray(_log_prob(name, _sample(key, name, n)), dtype=np.float64)
    return float(-lp.mean()), float(lp.std(ddof=1) / math.sqrt(n))


def _w1(z: jax.Array) -> jax.Array:
    return jnp.sin(2 * jnp.pi * z[..., 0] / 4)


def _w2(z: jax.Array) -> jax.Array:
    return 3 * jnp.exp(-0.5 * ((z[..., 0] - 1) / 0.6) ** 2)


def _w3(z: jax.Array) -> jax.Array:
    return 3 * jax.nn.sigmoid((z[..., 0] - 1) / 0.3)


def _half_sq(a: jax.Array, scale: float) -> jax.Array:
    return 0.5 * (a / scale) ** 2


def _u1(z: jax.Array) -> jax.Array:
    ring = _half_sq(jnp.linalg.norm(z, axis=-1) - 2, 0.4)
    return ring - jnp.logaddexp(-_half_sq(z[..., 0] - 2, 0.6), -_half_sq(z[..., 0] + 2, 0.6))


def _u2(z: jax.Array) -> jax.Array:
    return _half_sq(z[..., 1] - _w1(z), 0.4)


def _u3(z: jax.Array) -> jax.Array:
    gap = z[..., 1] - _w1(z)
    return -jnp.logaddexp(-_half_sq(gap, 0.35), -_half_sq(gap + _w2(z), 0.35))


def _u4(z: jax.Array) -> jax.Array:
    gap = z[..., 1] - _w1(z)
    return -jnp.logaddexp(-_half_sq(gap, 0.4), -_half_sq(gap + _w3(z), 0.35))


_ENERGIES = {"U1": _u1, "U2": _u2, "U3": _u3, "U4": _u4}


@partial(jax.jit, static_argnames=("name",))
def _energy(name: str, z: jax.Array) -> jax.Array:
    return _ENERGIES[name](z.astype(jnp.float32))


def energy(name: str, z: jax.Array) -> jax.Array:
    r"""Energy :math:`U(z)` of Rezende and Mohamed's (2015) targets;
    :math:`\log p(z) = -U(z) - \log Z`.

    With :math:`w_1 = \sin(2\pi z_1/4)`, :math:`w_2 = 3 \exp(-\frac12((z_1-1)/0.6)^2)`,
    :math:`w_3 = 3\sigma((z_1-1)/0.3)`:

    .. math::

        U_1 &= \tfrac12\big((\|z\| - 2)/0.4\big)^2
               - \log\big(e^{-\frac12((z_1-2)/0.6)^2} + e^{-\frac12((z_1+2)/0.6)^2}\big), \\
        U_2 &= \tfrac12\big((z_2 - w_1)/0.4\big)^2, \\
        U_3 &= -\log\big(e^{-\frac12((z_2-w_1)/0.35)^2}
               + e^{-\frac12((z_2-w_1+w_2)/0.35)^2}\big), \\
        U_4 &= -\log\big(e^{-\frac12((z_2-w_1)/0.4)^2}
               + e^{-\frac12((z_2-w_1+w_3)/0.35)^2}\big).

    :math:`e^{-U_1}` is integrable on the plane; :math:`U_2`-:math:`U_4` do not grow along
    :math:`z_1`, so :math:`e^{-U}` has finite mass only on a bounded window (the paper draws them
    on :math:`[-4, 4]^2`).

    Args:
      name: one of :data:`ENERGIES`.
      z: points, shape ``(..., 2)``.

    Returns:
      float32 array of shape ``z.shape[:-1]``, nats (an unnormalised negative log-density).
    """
    where = "toy2d.energy"
    name = _check_name(where, name, ENERGIES)
    return _energy(name, check_array(where, "z", z, shape=(..., 2)))
