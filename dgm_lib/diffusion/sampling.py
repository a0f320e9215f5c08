r"""Sampling a diffusion model: ancestral sampling, DDIM, and DDIM's deterministic encoder.

**Ancestral sampling** runs the learned reverse chain of the ELBO
(:mod:`~dgm_lib.diffusion.elbo`): from :math:`x_T \sim \mathcal N(0, I)`, each step draws
:math:`x_{t-1} \sim \mathcal N(\tilde\mu_t(x_t, \hat x_0), \sigma_t^2 I)`, the posterior with
the network's guess :math:`\hat x_0` of the data in place of the data; the last step returns
the mean. :math:`T` network calls per sample.

**DDIM** (Song, Meng and Ermon 2021) keeps the marginals :math:`q(x_t \mid x_0)` but not the
Markov chain: from :math:`x_t` to any earlier :math:`x_s`,

.. math:: x_s = \sqrt{\bar\alpha_s}\, \hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma^2}\,
          \hat\varepsilon + \sigma z, \qquad \sigma = \eta \sqrt{\frac{1 - \bar\alpha_s}{1 -
          \bar\alpha_t}} \sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_s}},

so a model trained with :math:`T` steps can be sampled on any decreasing subsequence of times
(:func:`timesteps`). With :math:`\eta = 1` and every time it *is* ancestral sampling with
:math:`\sigma_t^2 = \tilde\beta_t` (the same draws give the same samples); with :math:`\eta = 0`
it is deterministic, an Euler discretisation of the probability-flow ODE in the variables
:math:`(x/\sqrt{\bar\alpha}, \sqrt{(1 - \bar\alpha)/\bar\alpha})`, and running it forwards
(:func:`ddim_encode`) maps data to the noise that decodes back to it.

Each sampler takes an optional ``clip``: clip :math:`\hat x_0` to :math:`[-c, c]` before it is
used (Ho et al. clip to the data range :math:`[-1, 1]`). Samplers are one ``lax.scan`` and
compile once per noise function (by identity), schedule, shapes and options; ``args`` (labels,
a guidance weight) are traced arrays passed on to the noise function, so new labels do not
compile again.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from ..checks import (
    check_batch,
    check_callable,
    check_key,
    check_positive_float,
    check_positive_int,
)
from ..parallel import shard_leading
from .elbo import EpsFn, Variance, check_variance
from .process import posterior, predict_x0
from .schedule import Schedule

__all__ = ["ancestral_sample", "ddim_encode", "ddim_sample", "timesteps"]


def timesteps(schedule: Schedule, num_steps: int) -> np.ndarray:
    r"""``num_steps`` times evenly spaced from :math:`T` down to 1, rounded, strictly
    decreasing, int32: the subsequence a DDIM sampler visits (then :math:`t = 0`)."""
    where = "timesteps"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    if num_steps > schedule.num_steps:
        raise ValueError(f"{where}: argument 'num_steps' must be at most T = "
                         f"{schedule.num_steps}; got {num_steps}")
    # spacing (T - 1)/(num_steps - 1) >= 1, so rounding half up keeps the times distinct
    return np.floor(np.linspace(schedule.num_steps, 1, num_steps) + 0.5).astype(np.int32)


def _clip(x0: Array, clip: float | None) -> Array:
    return x0 if clip is None else jnp.clip(x0, -clip, clip)


def _check(where: str, key: Array | None, eps_fn: EpsFn, x: Array, clip: float | None
           ) -> tuple[Array, float | None]:
    if key is not None:
        check_key(where, key)
    check_callable(where, "eps_fn", eps_fn, "a callable (x_t, t, *args) -> noise shaped like x_t")
    x = check_batch(where, "x_T" if key is not None else "x0", x)
    return x, None if clip is None else check_positive_float(where, "clip", clip)


def ancestral_sample(key: Array, eps_fn: EpsFn, schedule: Schedule, x_T: Array, *,
                     variance: Variance = "posterior", clip: float | None = None,
                     args: tuple = ()) -> Array:
    r"""Samples by the learned reverse chain from ``x_T`` (draws of :math:`\mathcal N(0, I)`,
    ``(n, ...)``) through all :math:`T` steps (module docstring); ``variance`` is
    :math:`\sigma_t^2` (:data:`~dgm_lib.diffusion.elbo.Variance`). The draw at step :math:`t`
    is ``jax.random.normal(jax.random.fold_in(key, t), x_T.shape)``."""
    where = "ancestral_sample"
    x_T, clip = _check(where, key, eps_fn, x_T, clip)
    check_variance(where, variance)
    return _ancestral(key, eps_fn, schedule, shard_leading(x_T), variance, clip, tuple(args))


@partial(jax.jit, static_argnames=("eps_fn", "schedule", "variance", "clip"))
def _ancestral(key: Array, eps_fn: EpsFn, schedule: Schedule, x_T: Array, variance: Variance,
               clip: float | None, args: tuple) -> Array:
    n = x_T.shape[0]

    def step(x: Array, t: Array) -> tuple[Array, None]:
        times = jnp.full((n,), t, jnp.int32)
        x0_hat = _clip(predict_x0(schedule, x, times, eps_fn(x, times, *args)), clip)
        mean, var = posterior(schedule, x0_hat, x, t)
        var = schedule.beta(t) if variance == "beta" else var
        z = jax.random.normal(jax.random.fold_in(key, t), x.shape)
        return mean + jnp.where(t > 1, jnp.sqrt(var), 0.0) * z, None

    return lax.scan(step, x_T, jnp.arange(schedule.num_steps, 0, -1))[0]


def _ddim_step(schedule: Schedule, x: Array, t: Array, s: Array, eps: Array, eta: Array,
               z: Array, clip: float | None) -> Array:
    """One DDIM move from time ``t`` to time ``s`` given the noise prediction ``eps``."""
    ab_t, ab_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
    var_t, var_s = schedule.noise_variance(t), schedule.noise_variance(s)
    x0_hat = _clip(predict_x0(schedule, x, t, eps), clip)
    if clip is not None:  # the noise consistent with the clipped guess
        eps = (x - jnp.sqrt(ab_t) * x0_hat) / jnp.sqrt(var_t)
    # eta = 0 (the encoder starts at t = 0, where the formula reads 0/0)
    sigma = jnp.where(eta > 0, eta * jnp.sqrt(var_s / var_t * (1.0 - ab_t / ab_s)), 0.0)
    direction = jnp.sqrt(jnp.maximum(var_s - jnp.square(sigma), 0.0))
    return jnp.sqrt(ab_s) * x0_hat + direction * eps + sigma * z


def ddim_sample(key: Array, eps_fn: EpsFn, schedule: Schedule, x_T: Array, *,
                num_steps: int, eta: float = 0.0, clip: float | None = None,
                args: tuple = ()) -> Array:
    r"""Samples by DDIM (module docstring) on ``num_steps`` times from :math:`T` to 1
    (:func:`timesteps`), then to :math:`t = 0`, from ``x_T`` ``(n, ...)``.

    Args:
        key: a ``jax.random.key`` (used only when ``eta > 0``; the draw leaving time
            :math:`t` is ``jax.random.normal(jax.random.fold_in(key, t), x_T.shape)``, as in
            :func:`ancestral_sample`).
        eps_fn: :math:`\hat\varepsilon(x_t, t, *args)`.
        schedule: the schedule the model was trained with.
        x_T: the starting states, draws of :math:`\mathcal N(0, I)`.
        num_steps: network calls per sample, at most :math:`T`.
        eta: 0 deterministic, 1 the ancestral sampler's variance.
        clip: clip :math:`\hat x_0` to :math:`[-c, c]` (None: no clipping).
        args: extra arrays for ``eps_fn``.
    """
    where = "ddim_sample"
    x_T, clip = _check(where, key, eps_fn, x_T, clip)
    eta = float(eta)
    if not eta >= 0:
        raise ValueError(f"{where}: argument 'eta' must be >= 0 (0 deterministic, 1 ancestral); "
                         f"got {eta}")
    times = timesteps(schedule, num_steps)
    return _ddim(key, eps_fn, schedule, shard_leading(x_T), jnp.asarray(times), jnp.float32(eta),
                 clip, tuple(args))


@partial(jax.jit, static_argnames=("eps_fn", "schedule", "clip"))
def _ddim(key: Array, eps_fn: EpsFn, schedule: Schedule, x_T: Array, times: Array, eta: Array,
          clip: float | None, args: tuple) -> Array:
    n = x_T.shape[0]
    targets = jnp.concatenate([times[1:], jnp.zeros((1,), jnp.int32)])

    def step(x: Array, ts: tuple[Array, Array]) -> tuple[Array, None]:
        t, s = ts
        eps = eps_fn(x, jnp.full((n,), t, jnp.int32), *args)
        z = lax.cond(eta > 0, lambda: jax.random.normal(jax.random.fold_in(key, t), x.shape),
                     lambda: jnp.zeros_like(x))  # no draw for deterministic DDIM
        return _ddim_step(schedule, x, t, s, eps, eta, z, clip), None

    return lax.scan(step, x_T, (times, targets))[0]


def ddim_encode(eps_fn: EpsFn, schedule: Schedule, x0: Array, *, num_steps: int,
                args: tuple = ()) -> Array:
    r"""Data ``x0`` ``(n, ...)`` to the noise :math:`x_T` that deterministic DDIM on the same
    ``num_steps`` times decodes back to it: the :math:`\eta = 0` move run forwards, from
    :math:`s` to the next time :math:`t`, with the noise predicted at :math:`(x_s, t)` (the
    Euler step of the probability-flow ODE the other way). The round trip's error vanishes as
    ``num_steps`` grows."""
    x0, _ = _check("ddim_encode", None, eps_fn, x0, None)
    times = jnp.asarray(timesteps(schedule, num_steps)[::-1].copy())
    return _encode(eps_fn, schedule, shard_leading(x0), times, tuple(args))


@partial(jax.jit, static_argnames=("eps_fn", "schedule"))
def _encode(eps_fn: EpsFn, schedule: Schedule, x0: Array, times: Array, args: tuple) -> Array:
    n = x0.shape[0]
    sources = jnp.concatenate([jnp.zeros((1,), jnp.int32), times[:-1]])

    def step(x: Array, st: tuple[Array, Array]) -> tuple[Array, None]:
        s, t = st
        eps = eps_fn(x, jnp.full((n,), t, jnp.int32), *args)
        return _ddim_step(schedule, x, s, t, eps, jnp.float32(0.0), jnp.zeros_like(x), None), None

    return lax.scan(step, x0, (sources, times))[0]
