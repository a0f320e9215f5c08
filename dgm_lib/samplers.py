r"""Markov chain Monte Carlo: one scanned chain runner and the Langevin samplers.

A Markov chain with a transition kernel :math:`T(x' \mid x)` that leaves :math:`p` invariant,
:math:`\int p(x) T(x' \mid x)\, dx = p(x')`, and that can reach every state, forgets its start:
the law of :math:`x_s` tends to :math:`p`. Each sampler here is a pure function of a key, an
initial state of ``num_chains`` chains (shape ``(num_chains, ...)``) and a model function (a
score or an unnormalised log-density), written as one ``lax.scan`` over the steps, so a chain of
thousands of steps compiles once and runs without Python in the loop. Step ``s`` gets the key
``jax.random.fold_in(key, s)``. On several devices the chains are split over them
(:mod:`dgm_lib.parallel`).

- :func:`run_chain` runs any transition ``(key, x) -> (x', accept)`` (Gibbs sweeps of an RBM or
  an Ising model, a Langevin step, a Metropolis step) and records states along the way.
- :func:`ula`, the unadjusted Langevin algorithm, needs only the score
  :math:`\nabla_x \log p(x)`: no normaliser, no density. It is biased for any step size
  :math:`\eta > 0`; on :math:`\mathcal N(0, \sigma^2)` its stationary variance is
  :math:`\sigma^2 / (1 - \eta / (2\sigma^2))`.
- :func:`mala`, the Metropolis-adjusted Langevin algorithm, corrects that bias with an
  accept/reject step, which needs the unnormalised log-density: it samples :math:`p` exactly.
- :func:`annealed_langevin` (Song and Ermon 2019) runs ULA on a sequence of noised versions of
  :math:`p`, from a broad one that mixes quickly down to one close to :math:`p`, with a
  noise-conditional score :math:`s(x, \sigma) \approx \nabla_x \log q_\sigma(x)`.

The energy-based, score-based and diffusion chapters share these; annealed importance sampling
(:mod:`dgm_lib.ais`) runs the same transitions at intermediate temperatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from .checks import (
    Kind,
    check_array,
    check_callable,
    check_key,
    check_positive_float,
    check_positive_int,
)
from .parallel import shard_leading

__all__ = [
    "NOISE_CHUNK_BYTES",
    "Bounds",
    "ChainResult",
    "GaussianTransition",
    "LogDensityFn",
    "NoiseScoreFn",
    "ScoreFn",
    "Transition",
    "annealed_langevin",
    "check_noise_levels",
    "check_states",
    "langevin_proposal",
    "mala",
    "mala_transition",
    "run_chain",
    "score_of",
    "ula",
    "ula_transition",
]

ScoreFn = Callable[[Array], Array]
r"""A score :math:`\nabla_x \log p(x)`: maps states ``(n, ...)`` to an array of the same shape."""
LogDensityFn = Callable[[Array], Array]
r"""An unnormalised log-density :math:`\log \tilde p(x) = -E(x)`: maps states ``(n, ...)`` to
``(n,)`` values in nats."""
NoiseScoreFn = Callable[[Array, Array], Array]
r"""A noise-conditional score :math:`s(x, \sigma) \approx \nabla_x \log q_\sigma(x)`: maps states
``(n, ...)`` and a scalar noise level to an array shaped like the states."""
Transition = Callable[[Array, Array], tuple[Array, Array]]
"""One step of a chain, ``(key, x) -> (x', accept)``: ``x`` has shape ``(n, ...)``; ``accept`` has
shape ``(n,)`` (1 where the move was taken or for a kernel that always moves, the acceptance
probability or indicator otherwise)."""


class ChainResult(NamedTuple):
    """What a sampler returns.

    Attributes:
        final: the last state of every chain, shape ``(num_chains, ...)``.
        trace: ``num_recorded`` states at evenly spaced steps, the last one being ``final``:
            shape ``(num_recorded, num_chains, ...)`` (``(0, num_chains, ...)`` if none).
        accept_rate: the mean of the transition's ``accept`` over all steps, per chain,
            shape ``(num_chains,)``: 1 for kernels that always move (ULA, Gibbs).
    """

    final: Array
    trace: Array
    accept_rate: Array


def score_of(log_density_fn: LogDensityFn) -> ScoreFn:
    r"""The score of an unnormalised log-density, :math:`x \mapsto \nabla_x \log\tilde p(x)`
    (the normaliser drops out: :math:`\nabla_x \log Z = 0`). For an energy,
    ``score_of(lambda x: -energy(x))`` is :math:`-\nabla_x E`.

    ``log_density_fn`` maps ``(n, ...)`` to ``(n,)`` with example ``i``'s value depending on
    example ``i`` only, so the gradient of the sum is every example's own gradient.
    """
    check_callable("score_of", "log_density_fn", log_density_fn, "a callable (n, ...) -> (n,)")
    return jax.grad(lambda x: jnp.sum(log_density_fn(x)))


def check_states(where: str, x0: Array, kind: Kind = "float") -> Array:
    """Check initial states of ``num_chains`` chains: an array with a leading chain axis,
    ``(num_chains, ...)``, of the given dtype kind."""
    x0 = check_array(where, "x0", x0, kind=kind)
    if x0.ndim < 1 or x0.shape[0] < 1:
        raise ValueError(
            f"{where}: argument 'x0' must have shape (num_chains, ...) with at least one chain; "
            f"got shape {tuple(x0.shape)}"
        )
    return x0


def _check_num_recorded(where: str, num_steps: int, num_recorded: int) -> int:
    """Check that ``num_recorded`` states can be taken evenly from ``num_steps`` steps."""
    if isinstance(num_recorded, bool) or not isinstance(num_recorded, int) or num_recorded < 0:
        raise ValueError(
            f"{where}: argument 'num_recorded' must be an int >= 0; got {num_recorded!r}"
        )
    if num_recorded and num_steps % num_recorded:
        raise ValueError(
            f"{where}: argument 'num_recorded' ({num_recorded}) must divide 'num_steps' "
            f"({num_steps}) so that states are recorded at evenly spaced steps"
        )
    return num_recorded


NOISE_CHUNK_BYTES = 1 << 20
"""The Gaussian draws of a :class:`GaussianTransition`'s chain are made this many bytes at a
time (a chunk of steps), not one step at a time (see :class:`GaussianTransition`)."""


@dataclass(frozen=True)
class GaussianTransition:
    r"""A transition whose only randomness is one standard normal draw shaped like the state:
    ``step(z, x) -> (x', accept)`` with :math:`z \sim \mathcal N(0, I)`. Called as a
    :data:`Transition` ``(key, x)`` it draws ``z = jax.random.normal(key, x.shape)``;
    :func:`run_chain` draws the ``z`` of many steps at once instead (the same numbers), which
    on a CPU is several times cheaper than one small draw per step: XLA runs the generator's
    many small operations inside a loop at a fixed cost each (measured with JAX 0.10 on 2
    cores: 1000 chains in 2-D, 68 us a step for the draw alone, 7 us in chunks of 100)."""

    step: Callable[[Array, Array], tuple[Array, Array]]

    def __call__(self, key: Array, x: Array) -> tuple[Array, Array]:
        return self.step(jax.random.normal(key, x.shape), x)


def _chunk(every: int, state_bytes: int) -> int:
    """The largest divisor of ``every`` whose steps' draws fit in ``NOISE_CHUNK_BYTES``."""
    cap = max(1, NOISE_CHUNK_BYTES // max(state_bytes, 1))
    return max(c for c in range(1, min(every, cap) + 1) if every % c == 0)


def _run_chain(
    key: Array, transition: Transition, x0: Array, num_steps: int, num_recorded: int
) -> ChainResult:
    every = num_steps // max(num_recorded, 1)

    def step(carry: tuple[Array, Array], s: Array) -> tuple[tuple[Array, Array], None]:
        x, accepted = carry
        x, accept = transition(jax.random.fold_in(key, s), x)
        return (x, accepted + accept.astype(jnp.float32)), None

    def gaussian_step(carry: tuple[Array, Array], z: Array) -> tuple[tuple[Array, Array], None]:
        x, accepted = carry
        x, accept = transition.step(z, x)
        return (x, accepted + accept.astype(jnp.float32)), None

    def draws(steps: Array) -> Array:
        """The standard normal draws of these steps, as ``transition(fold_in(key, s), x)``
        would make them one at a time."""
        return jax.vmap(lambda s: jax.random.normal(jax.random.fold_in(key, s), x0.shape))(steps)

    def block(carry: tuple[Array, Array], b: Array) -> tuple[tuple[Array, Array], Array]:
        steps = b * every + jnp.arange(every)
        if isinstance(transition, GaussianTransition):
            c = _chunk(every, x0.size * x0.dtype.itemsize)

            def chunk(carry: tuple[Array, Array], steps: Array) -> tuple[tuple, None]:
                return lax.scan(gaussian_step, carry, draws(steps))[0], None

            carry, _ = lax.scan(chunk, carry, steps.reshape(every // c, c))
        else:
            carry, _ = lax.scan(step, carry, steps)
        return carry, carry[0]

    init = (x0, jnp.zeros(x0.shape[:1], jnp.float32))
    (final, accepted), trace = lax.scan(block, init, jnp.arange(max(num_recorded, 1)))
    trace = trace if num_recorded else trace[:0]
    return ChainResult(final, trace, accepted / num_steps)


def run_chain(
    key: Array, transition: Transition, x0: Array, *, num_steps: int, num_recorded: int = 0
) -> ChainResult:
    r"""Run ``num_chains`` Markov chains for ``num_steps`` steps of ``transition``.

    .. math:: x_{s+1} \sim T(\cdot \mid x_s), \qquad s = 0, \dots, \text{num\_steps} - 1,

    with step ``s`` drawing from ``jax.random.fold_in(key, s)``, inside one ``lax.scan``.

    Args:
        key: a ``jax.random.key``.
        transition: ``(key, x) -> (x', accept)`` on a batch of states (see
            :data:`Transition`), traced once.
        x0: the initial states, shape ``(num_chains, ...)``.
        num_steps: the number of transitions.
        num_recorded: how many states to keep, after steps ``num_steps / num_recorded``,
            ``2 num_steps / num_recorded``, ..., ``num_steps`` (it must divide ``num_steps``).

    Returns:
        A :class:`ChainResult` (final states, recorded states, mean acceptance per chain).
    """
    where = "run_chain"
    key = check_key(where, key)
    check_callable(where, "transition", transition, "a callable (key, x) -> (x, accept)")
    x0 = check_states(where, x0, kind="number")
    num_steps = check_positive_int(where, "num_steps", num_steps)
    num_recorded = _check_num_recorded(where, num_steps, num_recorded)
    return _run_chain(key, transition, shard_leading(x0), num_steps, num_recorded)


def langevin_proposal(key: Array, x: Array, score: Array, step_size: float) -> Array:
    r"""One Langevin move, :math:`x + \eta \nabla_x \log p(x) + \sqrt{2\eta}\, \xi` with
    :math:`\xi \sim \mathcal N(0, I)`: the Euler-Maruyama step of the Langevin diffusion
    :math:`dx = \nabla_x \log p(x)\, dt + \sqrt 2\, dW`, whose stationary law is :math:`p`.
    ``score`` is :math:`\nabla_x \log p(x)`, the shape of ``x``; ``step_size`` is :math:`\eta`
    (a float or a traced scalar).
    """
    return _langevin_move(x, score, step_size, jax.random.normal(key, x.shape))


def _langevin_move(x: Array, score: Array, step_size: float, z: Array) -> Array:
    r""":math:`x + \eta s + \sqrt{2\eta}\, z` for a given standard normal draw ``z``."""
    return x + step_size * score + jnp.sqrt(2.0 * step_size) * z


Bounds = tuple[float, float] | None
"""``(low, high)``: clip every Langevin move into the box (images in [0, 1]); None: no box."""


def _ula_transition(score_fn: ScoreFn, step_size: float, bounds: Bounds) -> Transition:
    def step(z: Array, x: Array) -> tuple[Array, Array]:
        y = _langevin_move(x, score_fn(x), step_size, z)
        y = y if bounds is None else jnp.clip(y, *bounds)
        return y, jnp.ones(x.shape[:1])

    return GaussianTransition(step)


def _check_bounds(where: str, bounds: Bounds) -> Bounds:
    if bounds is None:
        return None
    low, high = (float(b) for b in bounds)
    if not low < high:
        raise ValueError(f"{where}: argument 'bounds' must be (low, high) with low < high; got "
                         f"{tuple(bounds)!r}")
    return low, high


def _check_langevin(where: str, fn: Callable, name: str, what: str, step_size: float) -> float:
    check_callable(where, name, fn, what)
    return check_positive_float(where, "step_size", step_size)


def _check_langevin_chain(
    where: str,
    key: Array,
    fn: Callable,
    name: str,
    what: str,
    x0: Array,
    step_size: float,
    num_steps: int,
    num_recorded: int,
) -> tuple[Array, float, Array, int, int]:
    """The checked arguments of a Langevin sampler: key, step size, states, steps, records."""
    key = check_key(where, key)
    step_size = _check_langevin(where, fn, name, what, step_size)
    x0 = check_states(where, x0)
    num_steps = check_positive_int(where, "num_steps", num_steps)
    return key, step_size, x0, num_steps, _check_num_recorded(where, num_steps, num_recorded)


def ula_transition(
    score_fn: ScoreFn, step_size: float, *, bounds: Bounds = None
) -> Transition:
    r"""The unadjusted Langevin step as a :data:`Transition`: :math:`x' = x + \eta\, s(x) +
    \sqrt{2\eta}\,\xi` (clipped into ``bounds`` if given), always accepted. ``score_fn``
    maps ``(n, ...)`` to the same shape."""
    where = "ula_transition"
    step_size = _check_langevin(
        where, score_fn, "score_fn", "a callable (n, ...) -> (n, ...)", step_size
    )
    return _ula_transition(score_fn, step_size, _check_bounds(where, bounds))


def ula(
    key: Array,
    score_fn: ScoreFn,
    x0: Array,
    *,
    step_size: float,
    num_steps: int,
    num_recorded: int = 0,
    bounds: Bounds = None,
) -> ChainResult:
    r"""The unadjusted Langevin algorithm (ULA): ``num_steps`` steps of

    .. math:: x_{s+1} = x_s + \eta\, \nabla_x \log p(x_s) + \sqrt{2\eta}\, \xi_s,
              \qquad \xi_s \sim \mathcal N(0, I).

    Only the score is needed, so it samples an energy-based model without its normaliser, and
    a score network without any density. It is exact only as :math:`\eta \to 0`: on
    :math:`p = \mathcal N(0, \sigma^2)` the step is :math:`x' = (1 - \eta/\sigma^2) x +
    \sqrt{2\eta}\,\xi`, whose stationary variance :math:`v` solves :math:`v = (1 -
    \eta/\sigma^2)^2 v + 2\eta`, that is

    .. math:: v = \frac{\sigma^2}{1 - \eta / (2 \sigma^2)} > \sigma^2

    (stable for :math:`\eta < 2\sigma^2`). :func:`mala` removes the bias.

    Args:
        key: a ``jax.random.key``.
        score_fn: :math:`\nabla_x \log p`, ``(n, ...) -> (n, ...)`` (e.g. :func:`score_of` of
            a log-density, or a score network).
        x0: initial states ``(num_chains, ...)``, float.
        step_size: :math:`\eta > 0`.
        num_steps: number of steps.
        num_recorded: states to record (see :func:`run_chain`).
        bounds: ``(low, high)`` to clip every move into (pixel intensities); the clipped
            chain samples :math:`p` restricted to the box only approximately.

    Returns:
        A :class:`ChainResult`; its ``accept_rate`` is 1.
    """
    key, step_size, x0, num_steps, num_recorded = _check_langevin_chain(
        "ula", key, score_fn, "score_fn", "a callable (n, ...) -> (n, ...)", x0, step_size,
        num_steps, num_recorded,
    )
    transition = _ula_transition(score_fn, step_size, _check_bounds("ula", bounds))
    return _run_chain(key, transition, shard_leading(x0), num_steps, num_recorded)


def _log_proposal(to: Array, mean: Array, step_size: float) -> Array:
    """log q(to | from) up to a constant, for the Gaussian proposal N(mean, 2 eta I)."""
    axes = tuple(range(1, to.ndim))
    return -jnp.sum(jnp.square(to - mean), axis=axes) / (4.0 * step_size)


def _mala_transition(log_density_fn: LogDensityFn, step_size: float) -> Transition:
    value_and_score = jax.value_and_grad(lambda x: jnp.sum(log_density_fn(x)))

    def log_density_and_score(x: Array) -> tuple[Array, Array]:
        return log_density_fn(x), value_and_score(x)[1]

    def transition(key: Array, x: Array) -> tuple[Array, Array]:
        move_key, accept_key = jax.random.split(key)
        log_p, score = log_density_and_score(x)
        y = langevin_proposal(move_key, x, score, step_size)
        log_p_y, score_y = log_density_and_score(y)
        log_ratio = (
            log_p_y
            - log_p
            + _log_proposal(x, y + step_size * score_y, step_size)
            - _log_proposal(y, x + step_size * score, step_size)
        )
        accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
        take = jax.random.uniform(accept_key, accept_prob.shape) < accept_prob
        shape = take.shape + (1,) * (x.ndim - 1)
        return jnp.where(take.reshape(shape), y, x), accept_prob

    return transition


def mala_transition(log_density_fn: LogDensityFn, step_size: float) -> Transition:
    r"""The Metropolis-adjusted Langevin step as a :data:`Transition` (see :func:`mala`); its
    ``accept`` is the acceptance probability. ``log_density_fn`` maps ``(n, ...)`` to
    ``(n,)``."""
    step_size = _check_langevin(
        "mala_transition", log_density_fn, "log_density_fn", "a callable (n, ...) -> (n,)",
        step_size,
    )
    return _mala_transition(log_density_fn, step_size)


def mala(
    key: Array,
    log_density_fn: LogDensityFn,
    x0: Array,
    *,
    step_size: float,
    num_steps: int,
    num_recorded: int = 0,
) -> ChainResult:
    r"""The Metropolis-adjusted Langevin algorithm (MALA): propose the Langevin move
    :math:`y = x + \eta \nabla \log\tilde p(x) + \sqrt{2\eta}\,\xi`, a draw from
    :math:`q(y \mid x) = \mathcal N(y; x + \eta\nabla\log\tilde p(x), 2\eta I)`, and accept it
    with probability

    .. math:: \alpha(x, y) = \min\left(1, \frac{\tilde p(y)\, q(x \mid y)}
              {\tilde p(x)\, q(y \mid x)}\right),

    else stay at :math:`x`. The ratio needs :math:`\tilde p = Z p` only: the normaliser cancels.
    The accept/reject step makes the chain reversible with respect to :math:`p` (detailed
    balance), so :math:`p` is its stationary law for every step size; a larger :math:`\eta`
    only lowers the acceptance rate.

    Args:
        key: a ``jax.random.key``.
        log_density_fn: :math:`\log\tilde p = -E`, ``(n, ...) -> (n,)``; the score is its
            gradient.
        x0: initial states ``(num_chains, ...)``, float.
        step_size: :math:`\eta > 0`.
        num_steps: number of steps.
        num_recorded: states to record (see :func:`run_chain`).

    Returns:
        A :class:`ChainResult`; ``accept_rate`` is the mean acceptance probability per chain.
    """
    key, step_size, x0, num_steps, num_recorded = _check_langevin_chain(
        "mala", key, log_density_fn, "log_density_fn", "a callable (n, ...) -> (n,)", x0,
        step_size, num_steps, num_recorded,
    )
    transition = _mala_transition(log_density_fn, step_size)
    return _run_chain(key, transition, shard_leading(x0), num_steps, num_recorded)


def check_noise_levels(where: str, sigmas: Array) -> Array:
    r"""Check a ladder of noise levels :math:`\sigma_1 > \sigma_2 > \dots > \sigma_L > 0`: a 1-D
    float array, at least one level, finite, positive and strictly decreasing (annealing goes
    from broad to sharp)."""
    sigmas = check_array(where, "sigmas", sigmas, shape=("num_levels",))
    if isinstance(sigmas, jax.core.Tracer) and sigmas.shape[0] >= 1:
        return sigmas  # traced (an argument of a jitted caller): only the shape is known
    # NumPy, not jnp: inside a jit trace jnp would stage even a constant ladder's checks.
    values = np.asarray(sigmas)
    if values.shape[0] < 1 or not bool(np.all(np.isfinite(values))) or not bool(
        np.all(values > 0)
    ):
        raise ValueError(f"{where}: argument 'sigmas' must hold at least one finite, positive "
                         f"noise level; got {values!r}")
    if not bool(np.all(np.diff(values) < 0)):
        raise ValueError(
            f"{where}: argument 'sigmas' must be strictly decreasing (largest noise first, "
            f"e.g. jnp.geomspace(sigma_max, sigma_min, num_levels)); got {values!r}"
        )
    return sigmas


def annealed_langevin(
    key: Array,
    score_fn: NoiseScoreFn,
    x0: Array,
    *,
    sigmas: Array,
    step_size: float,
    steps_per_level: int,
    denoise: bool = False,
) -> ChainResult:
    r"""Annealed Langevin dynamics (Song and Ermon 2019): for each noise level
    :math:`\sigma_i` of a decreasing ladder, ``steps_per_level`` ULA steps on the noised
    density :math:`q_{\sigma_i}` with the step scaled to the level,

    .. math:: x \leftarrow x + \eta_i\, s(x, \sigma_i) + \sqrt{2\eta_i}\,\xi, \qquad
              \eta_i = \eta\, \sigma_i^2 / \sigma_L^2,

    each level starting where the last one stopped. A broad :math:`q_{\sigma_1}` mixes between
    modes that :math:`p` separates by regions of low density, and its score is learnable there
    (the noise puts data everywhere); the ladder then carries the chains, with their mode
    proportions, down to :math:`q_{\sigma_L} \approx p`. The scaling keeps the signal-to-noise
    ratio :math:`\eta_i \lVert s \rVert^2 / \eta_i` of the steps roughly the same at every level,
    since :math:`\lVert s(\cdot, \sigma) \rVert \propto 1/\sigma`. (Song and Ermon write the step
    as :math:`\tfrac{\alpha_i}{2} s + \sqrt{\alpha_i}\, z`: their :math:`\epsilon` is
    :math:`2\eta`.)

    With ``denoise=True`` the last state gets one step of Tweedie's formula,
    :math:`x + \sigma_L^2 s(x, \sigma_L) = \mathbb E[x_{\text{clean}} \mid x]` for
    :math:`x = x_{\text{clean}} + \sigma_L \varepsilon`, which removes the last level's noise
    (Jolicoeur-Martineau et al. 2021; Song and Ermon 2020).

    Args:
        key: a ``jax.random.key``.
        score_fn: :math:`s(x, \sigma)`, states ``(n, ...)`` and a scalar level to the shape of
            the states.
        x0: initial states ``(num_chains, ...)``, float (usually uniform or
            :math:`\mathcal N(0, \sigma_1^2 I)` noise).
        sigmas: the ladder :math:`\sigma_1 > \dots > \sigma_L > 0`, shape ``(num_levels,)``.
        step_size: :math:`\eta > 0`, the step at the smallest level.
        steps_per_level: ULA steps per level.
        denoise: apply Tweedie's denoising step at the end.

    Returns:
        A :class:`ChainResult`: ``trace`` holds the state at the end of every level, shape
        ``(num_levels, num_chains, ...)`` (before the denoising step), ``accept_rate`` is 1.
    """
    where = "annealed_langevin"
    steps_per_level = check_positive_int(where, "steps_per_level", steps_per_level)
    key, step_size, x0, steps_per_level, _ = _check_langevin_chain(
        where, key, score_fn, "score_fn", "a callable (x, sigma) -> score shaped like x", x0,
        step_size, steps_per_level, 0,
    )
    sigmas = check_noise_levels(where, sigmas)
    x0 = shard_leading(x0)
    return _annealed_langevin(key, score_fn, x0, sigmas, step_size, steps_per_level, denoise)


@partial(jax.jit, static_argnames=("score_fn", "step_size", "steps_per_level", "denoise"))
def _annealed_langevin(
    key: Array,
    score_fn: NoiseScoreFn,
    x0: Array,
    sigmas: Array,
    step_size: float,
    steps_per_level: int,
    denoise: bool,
) -> ChainResult:
    etas = step_size * jnp.square(sigmas / sigmas[-1])

    def level(x: Array, i: Array) -> tuple[Array, Array]:
        transition = _ula_transition(lambda y: score_fn(y, sigmas[i]), etas[i], None)
        x = _run_chain(jax.random.fold_in(key, i), transition, x, steps_per_level, 0).final
        return x, x

    final, trace = lax.scan(level, x0, jnp.arange(sigmas.shape[0]))
    if denoise:
        final = final + jnp.square(sigmas[-1]) * score_fn(final, sigmas[-1])
    return ChainResult(final, trace, jnp.ones(x0.shape[:1]))
