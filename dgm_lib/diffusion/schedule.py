r"""Noise schedules as data: the discrete schedules of DDPM and their continuous-time limit as
log signal-to-noise-ratio functions.

A discrete schedule is the sequence :math:`\bar\alpha_1 > \dots > \bar\alpha_T` in
:math:`(0, 1)` that fixes the forward marginals :math:`q(x_t \mid x_0) = \mathcal N(\sqrt{\bar
\alpha_t}\, x_0, (1 - \bar\alpha_t) I)` (:mod:`~dgm_lib.diffusion.process`); the step variances
are :math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}` with :math:`\bar\alpha_0 = 1`, and the
signal-to-noise ratio is :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)`, its log
:math:`\lambda_t`.

- **Linear** (Ho et al. 2020): :math:`\beta_t` linear from :math:`10^{-4}` to :math:`0.02` over
  :math:`T = 1000` steps.
- **Cosine** (Nichol and Dhariwal 2021): :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) =
  \cos^2\!\big(\frac{t/T + s}{1 + s} \frac{\pi}{2}\big)` with :math:`s = 0.008`, each
  :math:`\beta_t` clipped at 0.999: the signal decays more evenly, so fewer steps are spent at
  noise levels where nothing is left to learn.

In continuous time (Kingma et al. 2021) a schedule is a decreasing function :math:`\lambda(u)`,
:math:`u \in [0, 1]`, with :math:`\bar\alpha(u) = \operatorname{sigmoid}(\lambda(u))`:
:class:`LinearLogSNR` and :class:`CosineLogSNR` run between given end points, and
:meth:`Schedule.from_log_snr` discretises one. A :class:`Schedule` is hashable by its values, so
it can be a static argument of a compiled sampler and a static attribute of a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..checks import check_positive_float, check_positive_int

__all__ = [
    "CosineLogSNR",
    "LinearLogSNR",
    "LogSNR",
    "Schedule",
    "cosine_schedule",
    "linear_schedule",
]


@dataclass(frozen=True, eq=False)
class Schedule:
    r"""A discrete noise schedule :math:`\bar\alpha_1 > \dots > \bar\alpha_T` (module
    docstring), held as a read-only float64 array; times are integers :math:`t \in \{0, \dots,
    T\}` with :math:`\bar\alpha_0 = 1` (the data).

    Args:
        alpha_bars: the :math:`T` values :math:`\bar\alpha_t`, strictly decreasing in
            :math:`(0, 1)`.
        name: a label for tables and plots.
    """

    alpha_bars: np.ndarray
    name: str = "custom"

    def __post_init__(self) -> None:
        where = "Schedule"
        ab = np.array(self.alpha_bars, dtype=np.float64)
        if ab.ndim != 1 or ab.size < 1:
            raise ValueError(f"{where}: argument 'alpha_bars' must be a 1-D array of T >= 1 "
                             f"values; got shape {ab.shape}")
        if not (np.all(np.isfinite(ab)) and np.all(ab > 0) and np.all(ab < 1)):
            raise ValueError(f"{where}: every alpha_bar must be in (0, 1); got values from "
                             f"{ab.min()!r} to {ab.max()!r}")
        rises = np.flatnonzero(np.diff(np.concatenate([[1.0], ab])) >= 0)
        if rises.size:
            t = int(rises[0]) + 1
            raise ValueError(f"{where}: alpha_bars must decrease strictly (each step adds noise); "
                             f"alpha_bar_{t} = {ab[t - 1]!r} does not fall below "
                             f"alpha_bar_{t - 1} = {(1.0 if t == 1 else ab[t - 2])!r}")
        ab.setflags(write=False)
        object.__setattr__(self, "alpha_bars", ab)

    def __hash__(self) -> int:
        return hash((self.name, self.alpha_bars.tobytes()))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Schedule) and self.name == other.name
                and np.array_equal(self.alpha_bars, other.alpha_bars))

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, T={self.num_steps})"

    @classmethod
    def from_betas(cls, betas: np.ndarray, name: str = "custom") -> Schedule:
        r"""The schedule of step variances :math:`\beta_1, \dots, \beta_T` in :math:`(0, 1)`:
        :math:`\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)`."""
        b = np.asarray(betas, dtype=np.float64)
        if b.ndim != 1 or not (np.all(np.isfinite(b)) and np.all(b > 0) and np.all(b < 1)):
            raise ValueError(f"Schedule.from_betas: argument 'betas' must be a 1-D array of "
                             f"values in (0, 1); got shape {b.shape}")
        return cls(np.cumprod(1.0 - b), name)

    @classmethod
    def from_log_snr(cls, log_snr: LogSNR, num_steps: int) -> Schedule:
        r"""The continuous schedule ``log_snr`` at :math:`u = t/T`, :math:`t = 1, \dots, T`:
        :math:`\bar\alpha_t = \operatorname{sigmoid}(\lambda(t/T))`."""
        num_steps = check_positive_int("Schedule.from_log_snr", "num_steps", num_steps)
        u = np.arange(1, num_steps + 1, dtype=np.float64) / num_steps
        lam = np.asarray(jax.vmap(log_snr.log_snr)(jnp.asarray(u, jnp.float32)), np.float64)
        return cls(1.0 / (1.0 + np.exp(-lam)), type(log_snr).__name__)

    @property
    def num_steps(self) -> int:
        """:math:`T`."""
        return int(self.alpha_bars.size)

    @property
    def betas(self) -> np.ndarray:
        r""":math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}`, shape ``(T,)``."""
        return 1.0 - self.alpha_bars / np.concatenate([[1.0], self.alpha_bars[:-1]])

    @property
    def log_snrs(self) -> np.ndarray:
        r""":math:`\lambda_t = \log \bar\alpha_t - \log(1 - \bar\alpha_t)`, shape ``(T,)``."""
        return np.log(self.alpha_bars) - np.log1p(-self.alpha_bars)

    def alpha_bar(self, t: Array) -> Array:
        r""":math:`\bar\alpha_t` at integer times ``t`` in :math:`\{0, \dots, T\}` (any shape),
        float32."""
        table = jnp.asarray(np.concatenate([[1.0], self.alpha_bars]), jnp.float32)
        return table[jnp.asarray(t, jnp.int32)]

    def noise_variance(self, t: Array) -> Array:
        r""":math:`1 - \bar\alpha_t` at integer times ``t`` in :math:`\{0, \dots, T\}`,
        float32, computed in float64 (at small :math:`t`, ``1 - alpha_bar(t)`` in float32 would
        lose most of its digits)."""
        table = jnp.asarray(np.concatenate([[0.0], 1.0 - self.alpha_bars]), jnp.float32)
        return table[jnp.asarray(t, jnp.int32)]

    def beta(self, t: Array) -> Array:
        r""":math:`\beta_t` at integer times ``t`` in :math:`\{1, \dots, T\}`, float32."""
        table = jnp.asarray(np.concatenate([[0.0], self.betas]), jnp.float32)
        return table[jnp.asarray(t, jnp.int32)]


def linear_schedule(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
                    ) -> Schedule:
    r"""DDPM's schedule: :math:`\beta_t` linear from ``beta_start`` to ``beta_end`` (Ho et al.
    2020; with :math:`T = 1000` the defaults leave :math:`\bar\alpha_T \approx 4 \cdot
    10^{-5}`)."""
    where = "linear_schedule"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    beta_start = check_positive_float(where, "beta_start", beta_start)
    beta_end = check_positive_float(where, "beta_end", beta_end)
    if not (beta_start <= beta_end < 1):
        raise ValueError(f"{where}: need 0 < beta_start <= beta_end < 1; got beta_start = "
                         f"{beta_start}, beta_end = {beta_end}")
    return Schedule.from_betas(np.linspace(beta_start, beta_end, num_steps), "linear")


def cosine_schedule(num_steps: int = 1000, offset: float = 0.008, max_beta: float = 0.999
                    ) -> Schedule:
    r"""The cosine schedule of Nichol and Dhariwal (2021) (module docstring): offset
    :math:`s` keeps :math:`\beta_1` from vanishing, ``max_beta`` caps the last steps."""
    where = "cosine_schedule"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    offset = check_positive_float(where, "offset", offset)
    max_beta = check_positive_float(where, "max_beta", max_beta)
    if not max_beta < 1:
        raise ValueError(f"{where}: argument 'max_beta' must be in (0, 1); got {max_beta}")
    u = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos((u + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 1e-8, max_beta)
    return Schedule.from_betas(betas, "cosine")


class LogSNR(Protocol):
    r"""A continuous schedule: :math:`\lambda(u)`, decreasing on :math:`u \in [0, 1]`."""

    def log_snr(self, u: Array) -> Array:
        """:math:`\\lambda(u)`, shaped like ``u``."""
        ...


def _check_ends(where: str, start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end) and start > end):
        raise ValueError(f"{where}: the log-SNR must decrease, from 'start' at u = 0 to 'end' "
                         f"at u = 1 (start > end, both finite); got start = {start!r}, "
                         f"end = {end!r}")


@dataclass(frozen=True)
class LinearLogSNR:
    r""":math:`\lambda(u) = \lambda_0 + u (\lambda_1 - \lambda_0)`, from ``start`` to
    ``end``."""

    start: float = 10.0
    end: float = -10.0

    def __post_init__(self) -> None:
        _check_ends("LinearLogSNR", self.start, self.end)

    def log_snr(self, u: Array) -> Array:
        """:math:`\\lambda(u)`."""
        return self.start + jnp.asarray(u, jnp.float32) * (self.end - self.start)


@dataclass(frozen=True)
class CosineLogSNR:
    r"""The cosine schedule in continuous time between given end points: :math:`\lambda(u) =
    -2 \log \tan(a + u (b - a))` with :math:`a = \arctan e^{-\lambda_0/2}`, :math:`b =
    \arctan e^{-\lambda_1/2}` (so :math:`\bar\alpha(u) = \cos^2(a + u(b - a))`)."""

    start: float = 10.0
    end: float = -10.0

    def __post_init__(self) -> None:
        _check_ends("CosineLogSNR", self.start, self.end)

    def log_snr(self, u: Array) -> Array:
        """:math:`\\lambda(u)`."""
        a, b = math.atan(math.exp(-self.start / 2)), math.atan(math.exp(-self.end / 2))
        return -2.0 * jnp.log(jnp.tan(a + jnp.asarray(u, jnp.float32) * (b - a)))
