r"""The log-likelihood of a decoder-based model by annealed importance sampling (Wu et al. 2017).

A VAE's decoder defines :math:`p(x) = \int p(x \mid z)\, p(z)\, dz`, an integral over the
latents that no encoder is needed to estimate. Annealed importance sampling
(:func:`dgm_lib.ais.ais`) walks from the prior to the posterior :math:`p(z \mid x) \propto
p(z)\, p(x \mid z)` along the geometric path

.. math:: f_\beta(z) = p(z)\, p(x \mid z)^\beta, \qquad 0 = \beta_0 < \dots < \beta_T = 1,

whose ends have the normalisers :math:`Z_0 = 1` (the prior is normalised) and :math:`Z_1 =
p(x)`. A chain draws :math:`z_0 \sim p(z)` and, for :math:`t = 1, \dots, T`,

.. math:: \log w \mathrel{+}= (\beta_t - \beta_{t-1}) \log p(x \mid z_{t-1}), \qquad
          z_t \sim T_t(\cdot \mid z_{t-1}),

so :math:`\mathbb E[w] = p(x)` exactly and, from :math:`K` chains,
:math:`\log \frac1K \sum_k w_k` is a stochastic lower bound on :math:`\log p(x)` whose gap
shrinks as the ladder gets finer. With :math:`T = 1` (``betas = [0, 1]``) it is importance
sampling with the prior as proposal; the importance-weighted bound of the VAE chapter is that
same estimator with the encoder :math:`q(z \mid x)` as proposal instead.

**Transition.** :math:`T_t` is a Hamiltonian Monte Carlo step on :math:`f_{\beta_t}`: draw a
momentum :math:`r \sim \mathcal N(0, I)`, run ``num_leapfrog_steps`` leapfrog steps of size
:math:`\varepsilon` on :math:`H(z, r) = -\log f_\beta(z) + \tfrac12 \lVert r \rVert^2`, and
accept the end point :math:`(z', r')` with probability :math:`\min(1, e^{H(z, r) - H(z',
r')})`. The Metropolis correction makes it leave :math:`f_\beta` invariant exactly for every
step size. One leapfrog step is the Metropolis-adjusted Langevin algorithm
(:func:`dgm_lib.samplers.mala`) with :math:`\eta = \varepsilon^2 / 2`; several steps move a
chain further per accept/reject, which is why Wu et al. chose HMC for the 50-dimensional
latent spaces of their VAEs and GANs.

**Step sizes.** The posterior is often much narrower than the prior, so no single
:math:`\varepsilon` suits every temperature. With ``target_accept_rate`` set, a *pilot* run
(its own chains, from its own key) tunes one step size per data point and temperature: after
the step at :math:`\beta_t` it moves :math:`\log\varepsilon` by :math:`\bar a_t - a^*`, the
mean acceptance probability of that data point's chains minus the target. Then the
estimating run uses the pilot's ladder :math:`\varepsilon_{1..T}` unchanged. Adapting inside
the estimating run from its own acceptances would make each kernel
depend on the chains' past, which the proof of :math:`\mathbb E[w] = p(x)` does not allow;
a ladder fixed before the run, however it was chosen, leaves the weights exactly unbiased. The
pilot runs at most 64 chains per data point (enough to measure an acceptance rate), so it
costs at most as much as the estimating run, and less with more chains; pass
``result.step_sizes`` back as ``step_size`` with ``target_accept_rate=None`` to reuse a
ladder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from ..ais import ais, check_betas
from ..checks import (
    check_array,
    check_callable,
    check_int_at_least,
    check_key,
    check_positive_float,
    check_positive_int,
)
from ..estimators import Estimate, effective_sample_size, log_importance_estimate
from ..probability import LOG_2PI

__all__ = ["DecoderAISResult", "LogLikelihoodFn", "ais_log_likelihood"]

LogLikelihoodFn = Callable[..., Array]
r"""``(x, z) -> (m,)`` (or ``(x, z, params) -> (m,)``): the decoder's :math:`\log p(x_j \mid
z_j)` for paired rows, ``x`` of shape ``(m, ...)`` and latents ``z`` of shape
``(m, latent_dim)``, in nats (summed over the data dimensions)."""

_TUNING_GAIN = 1.0
"""How far the pilot moves log(step size) per unit of (acceptance - target) at each temperature:
at 1, a step that is never accepted shrinks by exp(-0.65) per temperature, fast enough to track
a posterior that narrows over a few hundred temperatures, yet averaging the acceptance noise
over several."""


_PILOT_CHAINS = 64
"""Chains per data point of the pilot run (or ``num_chains``, if fewer): the tuning reads only
their mean acceptance probability, whose standard error is below 0.06 with 64 chains."""


class DecoderAISResult(NamedTuple):
    """What :func:`ais_log_likelihood` returns, for ``n`` data points and ``K`` chains each.

    Attributes:
        log_px: the estimate of :math:`\\log p(x)` for every data point, ``mean`` and
            ``stderr`` of shape ``(n,)``, nats: the log mean of its chains' weights, with the
            delta-method standard error of
            :func:`dgm_lib.estimators.log_importance_estimate` (``n`` field: ``K``).
        log_weights: every chain's :math:`\\log w`, shape ``(n, K)``, nats: each its own
            estimate of :math:`\\log p(x)`, whose exponential is unbiased for :math:`p(x)`.
        ess: Kish's effective sample size of each data point's weights, ``(n,)``, in
            ``[1, K]``.
        accept_rate: the mean acceptance probability of the HMC steps, over the chains and the
            temperatures of each data point, ``(n,)``.
        step_sizes: the leapfrog step size used at each temperature :math:`\\beta_1, \\dots,
            \\beta_T`, shape ``(n, T)`` (the pilot's ladder when tuned).
        final: the chains' last states, shape ``(n, K, latent_dim)``: weighted by
            ``softmax(log_weights)`` along the chains, importance samples of the posterior
            :math:`p(z \\mid x)`.
    """

    log_px: Estimate
    log_weights: Array
    ess: Array
    accept_rate: Array
    step_sizes: Array
    final: Array


# ------------------------------------------------------------------------------------------
# The unchecked kernels
# ------------------------------------------------------------------------------------------


def _standard_normal_log_prob(z: Array) -> Array:
    return -0.5 * (jnp.sum(jnp.square(z), axis=-1) + z.shape[-1] * LOG_2PI)


def _hmc_step(
    key: Array,
    z: Array,
    log_density: Callable[[Array], Array],
    step_size: Array,
    num_leapfrog_steps: int,
) -> tuple[Array, Array]:
    """One HMC step on a batch of chains ``z`` ``(N, L)`` with per-chain step sizes ``(N,)``;
    returns the new states and the acceptance probabilities ``(N,)``."""

    def value_and_grad(y: Array) -> tuple[Array, Array]:
        # Each chain's log-density depends on its own row only: one pullback of ones gives
        # every chain's gradient together with every chain's value.
        value, pullback = jax.vjp(log_density, y)
        return value, pullback(jnp.ones_like(value))[0]

    eps = step_size[:, None]
    momentum_key, accept_key = jax.random.split(key)
    r0 = jax.random.normal(momentum_key, z.shape, z.dtype)
    log_f0, grad0 = value_and_grad(z)

    def leapfrog(carry: tuple[Array, Array, Array, Array], _: None) -> tuple[tuple, None]:
        y, r, _, grad = carry
        r = r + 0.5 * eps * grad
        y = y + eps * r
        log_f, grad = value_and_grad(y)
        return (y, r + 0.5 * eps * grad, log_f, grad), None

    (y, r, log_f, _), _ = lax.scan(
        leapfrog, (z, r0, log_f0, grad0), None, length=num_leapfrog_steps
    )
    log_ratio = log_f - log_f0 - 0.5 * (jnp.sum(r * r, axis=1) - jnp.sum(r0 * r0, axis=1))
    # A trajectory that diverged (an infinite or NaN energy) is rejected, not propagated.
    accept = jnp.where(jnp.isfinite(log_ratio), jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0)
    take = jax.random.uniform(accept_key, accept.shape) < accept
    return jnp.where(take[:, None], y, z), accept


def _model(
    x: Array,
    params: Any,
    log_likelihood: LogLikelihoodFn,
    log_prior: Callable[[Array], Array] | None,
    sample_prior: Callable[[Array, int], Array] | None,
    latent_dim: int,
    num_chains: int,
) -> tuple[Callable, Callable, Callable]:
    """The chains' prior sampler, log-prior and log-likelihood, with ``x`` repeated so that
    chain ``i * num_chains + k`` is chain ``k`` of data point ``i``."""
    xs = jnp.repeat(x, num_chains, axis=0)
    log_p = _standard_normal_log_prob if log_prior is None else log_prior

    def sample(key: Array) -> Array:
        if sample_prior is None:
            return jax.random.normal(key, (xs.shape[0], latent_dim))
        return sample_prior(key, xs.shape[0])

    def log_lik(z: Array) -> Array:
        return log_likelihood(xs, z) if params is None else log_likelihood(xs, z, params)

    return sample, log_p, log_lik


_STATIC = (
    "log_likelihood",
    "log_prior",
    "sample_prior",
    "latent_dim",
    "num_chains",
    "num_leapfrog_steps",
)


@partial(jax.jit, static_argnames=_STATIC)
def _tune_step_sizes(
    key: Array,
    x: Array,
    params: Any,
    betas: Array,
    step_size: Array,
    target: Array,
    *,
    log_likelihood: LogLikelihoodFn,
    log_prior: Callable | None,
    sample_prior: Callable | None,
    latent_dim: int,
    num_chains: int,
    num_leapfrog_steps: int,
) -> Array:
    """The pilot run: the chains walk the ladder (no weights) while each data point's log step
    size follows its chains' mean acceptance towards ``target``; returns the ladder ``(n, T)``
    of step sizes used."""
    n = x.shape[0]
    sample, log_p, log_lik = _model(
        x, params, log_likelihood, log_prior, sample_prior, latent_dim, num_chains
    )

    def step(carry: tuple[Array, Array], xs: tuple[Array, Array]) -> tuple[tuple, Array]:
        z, log_eps = carry
        t, beta = xs
        eps = jnp.exp(log_eps)
        z, accept = _hmc_step(
            jax.random.fold_in(key, t),
            z,
            lambda y: log_p(y) + beta * log_lik(y),
            jnp.repeat(eps, num_chains),
            num_leapfrog_steps,
        )
        mean_accept = jnp.mean(accept.reshape(n, num_chains), axis=1)
        return (z, log_eps + _TUNING_GAIN * (mean_accept - target)), eps

    start_key, key = jax.random.split(key)
    init = (sample(start_key), jnp.full((n,), jnp.log(step_size)))
    _, ladder = lax.scan(step, init, (jnp.arange(betas.shape[0] - 1), betas[1:]))
    return ladder.T


@partial(jax.jit, static_argnames=_STATIC)
def _ais_log_likelihood(
    key: Array,
    x: Array,
    params: Any,
    betas: Array,
    step_sizes: Array,
    *,
    log_likelihood: LogLikelihoodFn,
    log_prior: Callable | None,
    sample_prior: Callable | None,
    latent_dim: int,
    num_chains: int,
    num_leapfrog_steps: int,
) -> tuple[Array, Array, Array]:
    """The estimating run through :func:`dgm_lib.ais.ais`: log-weights ``(n, K)``, mean
    acceptance ``(n,)`` and final latents ``(n, K, L)``."""
    n, d = x.shape[0], latent_dim
    sample, log_p, log_lik = _model(
        x, params, log_likelihood, log_prior, sample_prior, latent_dim, num_chains
    )

    # ais carries one array per chain, so each state is [z, running sum of acceptance
    # probabilities]: the densities read the first d coordinates only.
    def log_density(state: Array, beta: Array) -> Array:
        z = state[:, :d]
        return log_p(z) + beta * log_lik(z)

    def transition(k: Array, state: Array, beta: Array) -> Array:
        # The ladder holds one step size per transition; ais passes betas[t] itself, so its
        # first position in betas[1:] is t - 1 (the first of any repeated values).
        t = jnp.searchsorted(betas[1:], beta)
        z, accept = _hmc_step(
            k,
            state[:, :d],
            lambda y: log_p(y) + beta * log_lik(y),
            jnp.repeat(step_sizes[:, t], num_chains),
            num_leapfrog_steps,
        )
        return jnp.concatenate([z, (state[:, d] + accept)[:, None]], axis=1)

    start_key, run_key = jax.random.split(key)
    z0 = sample(start_key)
    state0 = jnp.concatenate([z0, jnp.zeros((z0.shape[0], 1), z0.dtype)], axis=1)
    result = ais(run_key, state0, log_density, transition, betas)
    num_steps = betas.shape[0] - 1
    accept_rate = jnp.mean(result.final[:, d].reshape(n, num_chains), axis=1) / num_steps
    final = result.final[:, :d].reshape(n, num_chains, d)
    return result.log_weights.reshape(n, num_chains), accept_rate, final


# ------------------------------------------------------------------------------------------
# Checks of the user's functions, at their shapes (abstract evaluation: nothing runs)
# ------------------------------------------------------------------------------------------


def _abstract_call(where: str, name: str, fn: Callable, args: tuple, described: str) -> Any:
    try:
        return jax.eval_shape(fn, *args)
    except Exception as err:  # the user's function, any error: say where and with what
        raise ValueError(
            f"{where}: argument '{name}' failed when called with {described}: "
            f"{type(err).__name__}: {err}"
        ) from err


def _check_output(where: str, name: str, out: Any, expected: tuple[int, ...], hint: str) -> None:
    shape = getattr(out, "shape", None)
    if shape is None or tuple(shape) != expected or not jnp.issubdtype(out.dtype, jnp.floating):
        got = f"shape {tuple(shape)} and dtype {out.dtype}" if shape is not None else repr(out)
        raise ValueError(
            f"{where}: argument '{name}' must return a float array of shape {expected}; got "
            f"{got}{hint}"
        )


def _check_model(
    where: str,
    x: Array,
    params: Any,
    log_likelihood: LogLikelihoodFn,
    log_prior: Callable | None,
    sample_prior: Callable | None,
    latent_dim: int,
    num_chains: int,
) -> None:
    """Evaluate the user's functions abstractly at the sizes the chains will use."""
    m = x.shape[0] * num_chains
    z = jax.ShapeDtypeStruct((m, latent_dim), jnp.float32)
    if sample_prior is not None:
        out = _abstract_call(
            where,
            "sample_prior",
            lambda key: sample_prior(key, m),
            (jax.random.key(0),),
            f"(key, {m})",
        )
        _check_output(
            where,
            "sample_prior",
            out,
            (m, latent_dim),
            f" (m draws of the latent, shape (m, latent_dim) with latent_dim = {latent_dim})",
        )
    if log_prior is not None:
        out = _abstract_call(
            where,
            "log_prior",
            log_prior,
            (z,),
            f"latents of shape {(m, latent_dim)} (latent_dim = {latent_dim}); is latent_dim the "
            "dimension the prior is written for?",
        )
        _check_output(where, "log_prior", out, (m,), " (one log-density per latent, nats)")
    xs = jax.ShapeDtypeStruct((m, *x.shape[1:]), x.dtype)
    args = (xs, z) if params is None else (xs, z, params)
    out = _abstract_call(
        where,
        "log_likelihood",
        log_likelihood,
        args,
        f"x of shape {(m, *x.shape[1:])} (the data x, each row repeated num_chains = "
        f"{num_chains} times) and z of shape {(m, latent_dim)}"
        + ("" if params is None else " and params")
        + "; do x's shape per example and latent_dim match the decoder?",
    )
    _check_output(
        where,
        "log_likelihood",
        out,
        (m,),
        " (log p(x_j | z_j) for each pair of rows, summed over the data dimensions)",
    )


def _check_step_sizes(
    where: str, step_size: Any, target: float | None, n: int, num_steps: int
) -> Array:
    """The fixed ladder ``(n, T)`` (``target`` None), or the pilot's first step size ``()``."""
    if target is not None:
        if not isinstance(step_size, (int, float, np.integer, np.floating)) or isinstance(
            step_size, bool
        ):
            raise TypeError(
                f"{where}: argument 'step_size' must be one positive number (the pilot's first "
                f"step size) when 'target_accept_rate' is set; to use a ladder of step sizes "
                f"as it is, pass target_accept_rate=None (got {type(step_size).__name__})"
            )
        return jnp.float32(check_positive_float(where, "step_size", step_size))
    if isinstance(step_size, (int, float, np.integer, np.floating)) and not isinstance(
        step_size, bool
    ):
        return jnp.full((n, num_steps), check_positive_float(where, "step_size", step_size))
    ladder = check_array(where, "step_size", step_size)
    if ladder.shape not in ((num_steps,), (n, num_steps)):
        raise ValueError(
            f"{where}: argument 'step_size' must be a number, or one step size per transition, "
            f"shape (T,) = ({num_steps},), or per data point and transition, shape (n, T) = "
            f"({n}, {num_steps}) for the {n} rows of x and the {num_steps + 1} betas; got shape "
            f"{tuple(ladder.shape)}"
        )
    values = np.asarray(ladder)
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError(f"{where}: argument 'step_size' must hold finite step sizes > 0")
    return jnp.broadcast_to(ladder, (n, num_steps)).astype(jnp.float32)


# ------------------------------------------------------------------------------------------
# The public function
# ------------------------------------------------------------------------------------------


def ais_log_likelihood(
    key: Array,
    x: Array,
    log_likelihood: LogLikelihoodFn,
    *,
    latent_dim: int,
    betas: Array,
    num_chains: int,
    step_size: float | Array = 0.5,
    num_leapfrog_steps: int = 10,
    target_accept_rate: float | None = 0.65,
    log_prior: Callable[[Array], Array] | None = None,
    sample_prior: Callable[[Array, int], Array] | None = None,
    params: Any = None,
) -> DecoderAISResult:
    r"""Estimate :math:`\log p(x) = \log \int p(x \mid z)\, p(z)\, dz` of a decoder for every
    data point, by annealed importance sampling from the prior to the posterior with HMC
    transitions (module docstring).

    ``num_chains`` independent chains per data point, all ``n * num_chains`` of them stepped
    together in one ``lax.scan`` over the temperatures, compiled once per set of functions
    (``log_likelihood``, ``log_prior``, ``sample_prior``: static arguments, so reuse the same
    function objects) and sizes; ``x``, ``betas``, the step sizes and ``params`` are traced.

    Args:
        key: a ``jax.random.key``.
        x: the data, shape ``(n, ...)``; integer or boolean data are cast to float32.
        log_likelihood: the decoder, ``(x, z) -> (m,)``: :math:`\log p(x_j \mid z_j)` for
            ``x`` ``(m, ...)`` and ``z`` ``(m, latent_dim)`` paired row by row, in nats
            (:data:`LogLikelihoodFn`). With ``params`` it is called as
            ``log_likelihood(x, z, params)``.
        latent_dim: :math:`L`, the dimension of :math:`z`.
        betas: the ladder :math:`0 = \beta_0 \le \dots \le \beta_T = 1`, shape ``(T + 1,)``
            (e.g. :func:`dgm_lib.ais.sigmoid_schedule`); ``[0, 1]`` is importance sampling
            from the prior.
        num_chains: :math:`K \ge 2` chains per data point.
        step_size: the leapfrog step :math:`\varepsilon`: with ``target_accept_rate`` set,
            one number, the pilot's first step (suited to the prior); else the steps used as
            they are: a number, ``(T,)`` (one per transition) or ``(n, T)`` (per data point,
            e.g. a previous result's ``step_sizes``).
        num_leapfrog_steps: leapfrog steps per HMC transition (1 is MALA).
        target_accept_rate: the mean acceptance probability the pilot run tunes the step
            sizes towards (0.65 is optimal for HMC in high dimensions, Beskos et al. 2013);
            ``None`` skips the pilot.
        log_prior: :math:`\log p(z)`, ``(m, latent_dim) -> (m,)``, normalised; default the
            standard normal :math:`\mathcal N(0, I_L)`. Give ``sample_prior`` with it.
        sample_prior: ``(key, m) -> (m, latent_dim)``, exact draws from :math:`p(z)`.
        params: a pytree of arrays for ``log_likelihood`` (e.g. a model's
            ``nnx.split`` state). A function that closes over parameters instead has them
            compiled in as constants: after changing them, pass a new function.

    Returns:
        A :class:`DecoderAISResult`: ``log_px`` (estimates and standard errors, ``(n,)``,
        nats), every chain's log-weight, the effective sample sizes, the acceptance rates, the
        step sizes used and the final latents.
    """
    where = "ais_log_likelihood"
    key = check_key(where, key)
    x = check_array(where, "x", x, kind="number")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(
            f"{where}: argument 'x' must have shape (n, ...) with at least one data point; got "
            f"shape {tuple(x.shape)}"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    check_callable(where, "log_likelihood", log_likelihood, "a callable (x, z) -> (m,)")
    latent_dim = check_positive_int(where, "latent_dim", latent_dim)
    betas = check_betas(where, betas).astype(jnp.float32)
    num_chains = check_int_at_least(where, "num_chains", num_chains, 2)
    num_leapfrog_steps = check_positive_int(where, "num_leapfrog_steps", num_leapfrog_steps)
    if target_accept_rate is not None and not (
        isinstance(target_accept_rate, (float, np.floating)) and 0.0 < target_accept_rate < 1.0
    ):
        raise ValueError(
            f"{where}: argument 'target_accept_rate' must be a float in (0, 1) (0.65 for HMC) "
            f"or None for fixed step sizes; got {target_accept_rate!r}"
        )
    if (log_prior is None) != (sample_prior is None):
        given, missing = (
            ("log_prior", "sample_prior") if sample_prior is None else ("sample_prior", "log_prior")
        )
        raise ValueError(
            f"{where}: argument '{given}' was given without '{missing}': AIS starts from exact "
            "draws of the prior and needs its normalised log-density, so pass both (or neither, "
            "for the standard normal prior)"
        )
    if log_prior is not None:
        check_callable(where, "log_prior", log_prior, "a callable (m, latent_dim) -> (m,)")
        check_callable(where, "sample_prior", sample_prior, "a callable (key, m) -> (m, L)")
    num_steps = betas.shape[0] - 1
    ladder = _check_step_sizes(where, step_size, target_accept_rate, x.shape[0], num_steps)
    _check_model(where, x, params, log_likelihood, log_prior, sample_prior, latent_dim, num_chains)

    static = {
        "log_likelihood": log_likelihood,
        "log_prior": log_prior,
        "sample_prior": sample_prior,
        "latent_dim": latent_dim,
        "num_chains": num_chains,
        "num_leapfrog_steps": num_leapfrog_steps,
    }
    pilot_key, run_key = jax.random.split(key)
    if target_accept_rate is not None:
        target = jnp.float32(target_accept_rate)
        pilot = {**static, "num_chains": min(num_chains, _PILOT_CHAINS)}
        ladder = _tune_step_sizes(pilot_key, x, params, betas, ladder, target, **pilot)
    log_w, accept_rate, final = _ais_log_likelihood(run_key, x, params, betas, ladder, **static)
    return DecoderAISResult(
        log_px=log_importance_estimate(log_w, axis=1),
        log_weights=log_w,
        ess=effective_sample_size(log_w, axis=1),
        accept_rate=accept_rate,
        step_sizes=ladder,
        final=final,
    )
