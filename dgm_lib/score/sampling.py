r"""Sampling by running a forward SDE backwards in time (Song et al. 2021).

Anderson (1982): the forward SDE :math:`dx = f(x, t)\, dt + g(t)\, dW` has a reverse-time SDE
with the same marginals :math:`p_t`,

.. math:: dx = \left[f(x, t) - g(t)^2\, \nabla_x \log p_t(x)\right] dt + g(t)\, d\bar W,

run from :math:`t = 1` down to 0, which needs only the score. The deterministic
**probability-flow ODE**

.. math:: \frac{dx}{dt} = f(x, t) - \tfrac12 g(t)^2\, \nabla_x \log p_t(x)

has the same marginals too: its Fokker-Planck equation is the forward SDE's, the diffusion
term rewritten as a drift, :math:`\tfrac12 g^2 \Delta p = \nabla \cdot (\tfrac12 g^2 p \nabla
\log p)`.

- :func:`euler_maruyama`: the reverse SDE with fixed steps :math:`\Delta t`,
  :math:`x \leftarrow x - [f - g^2 s]\Delta t + g \sqrt{\Delta t}\, z`; the last step adds no
  noise.
- :func:`predictor_corrector`: each predictor step (the same reverse step) is followed by
  Langevin corrector steps on :math:`p_t` itself, with step :math:`\eta = 2 (r \overline{\lVert
  z \rVert} / \overline{\lVert s \rVert})^2` for a signal-to-noise ratio :math:`r` (norms
  averaged over the batch, as Song et al. do: one example's tiny score would give it a huge
  step), so the chains are pulled back onto :math:`p_t` where the predictor's discretisation
  error moved them.
- :func:`probability_flow_ode`: the ODE, solved by diffrax's adaptive Tsit5 (a 5th-order
  Runge-Kutta pair whose difference estimates the local error, so the step shrinks where the
  flow bends).

Each takes ``observed`` and ``mask`` (1 where known): after every step the known entries are
replaced by a fresh draw of the forward marginal at the current time, so the free entries are
pulled towards values consistent with the known ones (inpainting; Song et al. 2021, appendix
I). This is an approximation of :math:`p(x_{\text{free}} \mid x_{\text{known}})`, not an exact
sampler: each step conditions on one noised draw of the known entries rather than on their
values (on a correlated Gaussian the free coordinate's variance comes out too large); the exact
conditional needs the conditional score :math:`\nabla \log p_t(x_t \mid x_{\text{known}})`.
The samplers compile once per SDE, score function (by identity) and sizes. Score functions map
states ``(n, ...)`` and times ``(n,)`` to the states' shape.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import diffrax
import jax
import jax.numpy as jnp
from jax import Array, lax

from ..checks import (
    check_array,
    check_batch,
    check_callable,
    check_key,
    check_positive_float,
    check_positive_int,
)
from ..parallel import shard_leading
from .sde import SDE, check_t_min

__all__ = [
    "TimeScoreFn",
    "euler_maruyama",
    "predictor_corrector",
    "probability_flow_ode",
    "reverse_drift",
    "solve_ode",
]

TimeScoreFn = Callable[[Array, Array], Array]
r"""A time-conditional score :math:`s(x, t) \approx \nabla_x \log p_t(x)`: states ``(n, ...)``
and times ``(n,)`` to an array shaped like the states."""


def reverse_drift(
    sde: SDE, score_fn: TimeScoreFn, x: Array, t: Array, *, probability_flow: bool = False
) -> Array:
    r"""The drift of the reverse-time SDE, :math:`f(x, t) - g(t)^2 s(x, t)`, or of the
    probability-flow ODE, :math:`f(x, t) - \tfrac12 g(t)^2 s(x, t)`, at a scalar time ``t``."""
    times = jnp.full(x.shape[:1], t, jnp.float32)
    weight = 0.5 if probability_flow else 1.0
    g2 = jnp.square(sde.diffusion(t))
    return sde.drift(x, times) - weight * g2 * score_fn(x, times)


def _check_sampler(
    where: str, key: Array | None, score_fn: TimeScoreFn, x_T: Array, t_min: float,
    observed: Array | None, mask: Array | None,
) -> tuple[Array, float, Array | None, Array | None]:
    if key is not None:
        check_key(where, key)
    check_callable(where, "score_fn", score_fn, "a callable (x, t) -> score shaped like x")
    x_T = check_batch(where, "x_T", x_T)
    t_min = check_t_min(where, t_min)
    if (observed is None) != (mask is None):
        raise ValueError(f"{where}: give both 'observed' and 'mask' (inpainting) or neither")
    if observed is not None:
        observed = check_array(where, "observed", observed, shape=x_T.shape)
        mask = check_array(where, "mask", mask, shape=x_T.shape, kind="number")
    return x_T, t_min, observed, mask


def _impute(key: Array, sde: SDE, x: Array, t: Array, observed: Array | None,
            mask: Array | None) -> Array:
    """Replace the known entries by a draw of the forward marginal of ``observed`` at ``t``."""
    if observed is None:
        return x
    alpha, sigma = sde.marginal(t)
    noised = alpha * observed + sigma * jax.random.normal(key, x.shape)
    return jnp.where(mask > 0, noised, x)


def _reverse_step(key: Array, sde: SDE, score_fn: TimeScoreFn, x: Array, t: Array, dt: Array,
                  noise: Array) -> Array:
    mean = x - reverse_drift(sde, score_fn, x, t) * dt
    return mean + noise * sde.diffusion(t) * jnp.sqrt(dt) * jax.random.normal(key, x.shape)


def _langevin_corrector(key: Array, score_fn: TimeScoreFn, x: Array, t: Array, snr: float
                        ) -> Array:
    score = score_fn(x, jnp.full(x.shape[:1], t, jnp.float32))
    z = jax.random.normal(key, x.shape)
    axes = tuple(range(1, x.ndim))
    noise_norm = jnp.mean(jnp.sqrt(jnp.sum(jnp.square(z), axes)))
    score_norm = jnp.mean(jnp.sqrt(jnp.sum(jnp.square(score), axes)))
    step = 2.0 * jnp.square(snr * noise_norm / score_norm)
    return x + step * score + jnp.sqrt(2.0 * step) * z


@partial(jax.jit, static_argnames=("sde", "score_fn", "num_steps", "t_min", "snr",
                                   "corrector_steps"))
def _run_reverse(key: Array, sde: SDE, score_fn: TimeScoreFn, x_T: Array, num_steps: int,
                 t_min: float, observed: Array | None, mask: Array | None, snr: float | None,
                 corrector_steps: int) -> Array:
    """The reverse-time sampler, compiled once per SDE, score function and sizes."""

    def corrector(k: Array, x: Array, t: Array) -> Array:
        def one(x: Array, j: Array) -> tuple[Array, None]:
            return _langevin_corrector(jax.random.fold_in(k, j), score_fn, x, t, snr), None

        return lax.scan(one, x, jnp.arange(corrector_steps))[0]

    times = jnp.linspace(1.0, t_min, num_steps + 1)
    dt = (1.0 - t_min) / num_steps
    start_key, key = jax.random.split(key)

    def step(x: Array, k: Array) -> tuple[Array, None]:
        step_key = jax.random.fold_in(key, k)
        correct_key, predict_key, impute_key = jax.random.split(step_key, 3)
        t = times[k]
        if snr is not None:
            x = _impute(impute_key, sde, corrector(correct_key, x, t), t, observed, mask)
        noise = (k < num_steps - 1).astype(jnp.float32)  # the last step returns the mean
        x = _reverse_step(predict_key, sde, score_fn, x, t, dt, noise)
        return _impute(jax.random.fold_in(impute_key, 1), sde, x, times[k + 1], observed,
                       mask), None

    x0 = _impute(start_key, sde, x_T, jnp.float32(1.0), observed, mask)
    x, _ = lax.scan(step, x0, jnp.arange(num_steps))
    return x if observed is None else jnp.where(mask > 0, observed, x)


def euler_maruyama(
    key: Array,
    sde: SDE,
    score_fn: TimeScoreFn,
    x_T: Array,
    *,
    num_steps: int,
    t_min: float = 1e-3,
    observed: Array | None = None,
    mask: Array | None = None,
) -> Array:
    r"""Samples of :math:`p_{t_{\min}}` by ``num_steps`` Euler-Maruyama steps of the reverse-time
    SDE from ``x_T`` (draws of the prior) at :math:`t = 1` down to :math:`t_{\min}`, in one
    ``lax.scan`` (module docstring).

    Args:
        key: a ``jax.random.key``.
        sde: the forward SDE (:class:`~dgm_lib.score.sde.VESDE`, ...).
        score_fn: :math:`s(x, t)` (see :data:`TimeScoreFn`).
        x_T: the starting states ``(n, ...)``, draws of the prior.
        num_steps: the number of steps, each :math:`\Delta t = (1 - t_{\min}) / N`.
        t_min: where to stop; the score of :math:`p_t` grows without bound as :math:`t \to 0`.
        observed, mask: inpainting (module docstring): known values and where they are.

    Returns:
        The final states, shaped like ``x_T``.
    """
    where = "euler_maruyama"
    x_T, t_min, observed, mask = _check_sampler(where, key, score_fn, x_T, t_min, observed, mask)
    num_steps = check_positive_int(where, "num_steps", num_steps)
    x_T, observed, mask = shard_leading((x_T, observed, mask))
    return _run_reverse(key, sde, score_fn, x_T, num_steps, t_min, observed, mask, None, 0)


def predictor_corrector(
    key: Array,
    sde: SDE,
    score_fn: TimeScoreFn,
    x_T: Array,
    *,
    num_steps: int,
    snr: float = 0.16,
    corrector_steps: int = 1,
    t_min: float = 1e-3,
    observed: Array | None = None,
    mask: Array | None = None,
) -> Array:
    r"""Samples by the predictor-corrector scheme (module docstring): at each of ``num_steps``
    times, ``corrector_steps`` Langevin steps on :math:`p_t` with signal-to-noise ratio
    ``snr`` (Song et al. use 0.16 for images), then one reverse-SDE step.

    Arguments as for :func:`euler_maruyama`, plus ``snr`` :math:`r > 0` and
    ``corrector_steps``.
    """
    where = "predictor_corrector"
    x_T, t_min, observed, mask = _check_sampler(where, key, score_fn, x_T, t_min, observed, mask)
    num_steps = check_positive_int(where, "num_steps", num_steps)
    snr = check_positive_float(where, "snr", snr)
    corrector_steps = check_positive_int(where, "corrector_steps", corrector_steps)
    x_T, observed, mask = shard_leading((x_T, observed, mask))
    return _run_reverse(key, sde, score_fn, x_T, num_steps, t_min, observed, mask, snr,
                        corrector_steps)


def solve_ode(
    field: Callable[[Array, object], object], y0: object, t0: float, t1: float, *,
    rtol: float, atol: float, max_steps: int = 4096,
) -> tuple[object, Array]:
    """Solve :math:`dy/dt = \\text{field}(t, y)` from ``t0`` to ``t1`` with diffrax's Tsit5 and
    a PID step-size controller; returns the state at ``t1`` (a pytree like ``y0``, split over
    the devices like a batch, :mod:`dgm_lib.parallel`) and the number of accepted steps."""
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: field(t, y)), diffrax.Tsit5(), t0=t0, t1=t1,
        dt0=(t1 - t0) / 64, y0=y0, saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps,
    )
    final = shard_leading(jax.tree.map(lambda a: a[0], solution.ys))
    return final, solution.stats["num_accepted_steps"]


def probability_flow_ode(
    sde: SDE,
    score_fn: TimeScoreFn,
    x_T: Array,
    *,
    t_min: float = 1e-3,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> Array:
    r"""Samples by solving the probability-flow ODE (module docstring) from ``x_T`` at
    :math:`t = 1` to :math:`t_{\min}`: deterministic, so one prior draw gives one sample, and the
    map is invertible (the likelihood of :mod:`~dgm_lib.score.likelihood` runs it the other
    way). Tolerances ``rtol``, ``atol`` are diffrax's.
    """
    where = "probability_flow_ode"
    x_T, t_min, _, _ = _check_sampler(where, None, score_fn, x_T, t_min, None, None)
    rtol = check_positive_float(where, "rtol", rtol)
    atol = check_positive_float(where, "atol", atol)

    return _probability_flow_ode(sde, score_fn, shard_leading(x_T), t_min, rtol, atol)


@partial(jax.jit, static_argnames=("sde", "score_fn", "t_min", "rtol", "atol"))
def _probability_flow_ode(sde: SDE, score_fn: TimeScoreFn, x_T: Array, t_min: float,
                          rtol: float, atol: float) -> Array:
    """The ODE sampler, compiled once per SDE, score function and tolerances."""

    def field(t: Array, x: Array) -> Array:
        return reverse_drift(sde, score_fn, x, t, probability_flow=True)

    return solve_ode(field, x_T, 1.0, t_min, rtol=rtol, atol=atol)[0]
