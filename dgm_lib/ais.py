r"""Annealed importance sampling (Neal 2001): the normaliser of an energy-based model.

To estimate :math:`Z_1 = \int f_1` for an unnormalised density :math:`f_1`, start from a
density :math:`f_0` whose normaliser :math:`Z_0` is known and that can be sampled exactly, and
walk through intermediate densities :math:`f_{\beta_0}, \dots, f_{\beta_T}` with
:math:`0 = \beta_0 < \beta_1 < \dots < \beta_T = 1` (geometric averages
:math:`f_\beta = f_0^{1-\beta} f_1^\beta`, or any path). One run draws :math:`x_0 \sim p_0` and
then, for :math:`t = 1, \dots, T`,

.. math:: \log w \mathrel{+}= \log f_{\beta_t}(x_{t-1}) - \log f_{\beta_{t-1}}(x_{t-1}),
          \qquad x_t \sim T_t(\cdot \mid x_{t-1}),

where :math:`T_t` leaves :math:`p_{\beta_t}` invariant (a Gibbs sweep, a MALA step). The weight
is an importance weight on the extended space of the whole path, so :math:`\mathbb E[w] =
Z_1 / Z_0`: :math:`Z_0 \cdot \frac1n \sum_i w_i` is unbiased for :math:`Z_1`, and by Jensen
:math:`\mathbb E[\log \hat Z_1] \le \log Z_1`. The finer the ladder, the closer the weights are
to equal and the smaller that gap. The VAE's importance-sampled likelihood is the case
:math:`T = 1`. :func:`sigmoid_schedule` is the ladder of Grosse et al. (2015) and Wu et al.
(2017): fine steps near both ends of the path, coarse ones in the middle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from .checks import (
    check_array,
    check_callable,
    check_key,
    check_positive_float,
    check_positive_int,
)
from .estimators import Estimate, effective_sample_size, log_importance_estimate
from .parallel import shard_leading
from .samplers import check_states

__all__ = ["AISResult", "ais", "check_betas", "sigmoid_schedule"]

TemperedLogDensity = Callable[[Array, Array], Array]
r"""``(x, beta) -> (n,)``: :math:`\log f_\beta(x)` for a batch of states, in nats."""
TemperedTransition = Callable[[Array, Array, Array], Array]
r"""``(key, x, beta) -> x'``: one step of a kernel that leaves :math:`p_\beta` invariant."""


class AISResult(NamedTuple):
    """What :func:`ais` returns.

    Attributes:
        log_weights: :math:`\\log Z_0 + \\log w_i` for every run ``i``, shape
            ``(num_chains,)``, nats: each run's own estimate of :math:`\\log Z_1`, whose
            exponential is unbiased for :math:`Z_1`.
        log_z: the estimate of :math:`\\log Z_1` from all runs, the log mean of their
            :math:`Z_0 w_i`, with its delta-method standard error
            (:func:`dgm_lib.estimators.log_importance_estimate`).
        ess: Kish's effective sample size of the weights (``num_chains`` when all are equal).
        final: the last state of every run, approximately distributed as :math:`p_1`.
    """

    log_weights: Array
    log_z: Estimate
    ess: Array
    final: Array


def check_betas(where: str, betas: object) -> Array:
    r"""An annealing schedule: a 1-D float array of at least 2 inverse temperatures, from
    exactly 0 to exactly 1, never decreasing (a traced schedule is checked for shape only)."""
    betas = check_array(where, "betas", betas, shape=("T+1",))
    if betas.shape[0] < 2:
        raise ValueError(
            f"{where}: argument 'betas' needs at least 2 entries (0 and 1); got {betas.shape[0]}"
        )
    if isinstance(betas, jax.core.Tracer):
        return betas
    values = np.asarray(betas)
    if values[0] != 0.0 or values[-1] != 1.0:
        raise ValueError(
            f"{where}: argument 'betas' must start at 0 (the base density) and end at 1 (the "
            f"target); got betas[0] = {values[0]:.6g} and betas[-1] = {values[-1]:.6g}"
        )
    if np.any(np.diff(values) < 0):
        first = int(np.flatnonzero(np.diff(values) < 0)[0])
        raise ValueError(
            f"{where}: argument 'betas' must never decrease; betas[{first + 1}] = "
            f"{values[first + 1]:.6g} < betas[{first}] = {values[first]:.6g}"
        )
    return betas


def sigmoid_schedule(num_steps: int, radius: float = 4.0) -> Array:
    r"""The sigmoid annealing schedule: ``num_steps + 1`` inverse temperatures from exactly 0 to
    exactly 1, a logistic sigmoid on :math:`[-\delta, \delta]` rescaled to :math:`[0, 1]`,

    .. math:: \beta_t = \frac{\sigma(\delta (2t/T - 1)) - \sigma(-\delta)}
              {\sigma(\delta) - \sigma(-\delta)}, \qquad t = 0, \dots, T,

    with :math:`T` = ``num_steps`` and :math:`\delta` = ``radius``. It is symmetric,
    :math:`\beta_{T-t} = 1 - \beta_t`, and its steps are smallest at both ends, by a factor of
    :math:`\sigma'(0) / \sigma'(\delta) = 1 / (4\sigma(\delta)(1-\sigma(\delta)))` (about
    14 for :math:`\delta = 4`) against the middle. The small first steps matter when the
    target is much more peaked than the base: there the weight increments
    :math:`(\beta_t - \beta_{t-1}) \log(f_1/f_0)` are largest, since :math:`\log(f_1/f_0)`
    varies most under the broad early densities. Grosse et al. (2015) and Wu et al. (2017)
    use it with :math:`\delta = 4`; as :math:`\delta \to 0` it tends to the linear ladder.

    Args:
        num_steps: :math:`T \ge 1`, the number of transitions (the ladder has ``T + 1`` entries).
        radius: :math:`\delta > 0`.

    Returns:
        A float32 array of shape ``(num_steps + 1,)``, strictly increasing, that passes
        :func:`check_betas`.
    """
    where = "sigmoid_schedule"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    radius = check_positive_float(where, "radius", radius)
    # In float64, then pinned: the ends must be exactly 0 and 1 after rounding to float32.
    s = 1.0 / (1.0 + np.exp(-radius * np.linspace(-1.0, 1.0, num_steps + 1)))
    betas = (s - s[0]) / (s[-1] - s[0])
    betas[0], betas[-1] = 0.0, 1.0
    return jnp.asarray(betas, jnp.float32)


def _ais_log_weights(
    key: Array,
    x0: Array,
    log_density_fn: TemperedLogDensity,
    transition: TemperedTransition,
    betas: Array,
) -> tuple[Array, Array]:
    def step(carry: tuple[Array, Array], xs: tuple[Array, Array, Array]) -> tuple:
        x, log_w = carry
        t, beta_prev, beta = xs
        log_w = log_w + log_density_fn(x, beta) - log_density_fn(x, beta_prev)
        return (transition(jax.random.fold_in(key, t), x, beta), log_w), None

    steps = (jnp.arange(betas.shape[0] - 1), betas[:-1], betas[1:])
    (final, log_w), _ = lax.scan(step, (x0, jnp.zeros(x0.shape[:1], jnp.float32)), steps)
    return log_w, final


def ais(
    key: Array,
    x0: Array,
    log_density_fn: TemperedLogDensity,
    transition: TemperedTransition,
    betas: Array,
    *,
    log_z0: float | Array = 0.0,
) -> AISResult:
    r"""Annealed importance sampling: estimate :math:`\log Z_1` from ``num_chains`` runs.

    Run ``i`` starts at ``x0[i]``, an exact draw from :math:`p_0 = f_0 / Z_0`, and accumulates
    :math:`\log w_i = \sum_{t=1}^T [\log f_{\beta_t}(x_{t-1}) - \log f_{\beta_{t-1}}(x_{t-1})]`
    while moving :math:`x_t \sim T_{\beta_t}(\cdot \mid x_{t-1})`, all inside one ``lax.scan``
    (step ``t`` draws from ``jax.random.fold_in(key, t)``). Then :math:`\hat Z_1 = Z_0 \frac1n
    \sum_i w_i` (unbiased) and :math:`\log \hat Z_1` is a stochastic lower bound on
    :math:`\log Z_1`.

    Args:
        key: a ``jax.random.key``.
        x0: exact draws from the base :math:`p_0`, shape ``(num_chains, ...)``, at least 2.
        log_density_fn: ``(x, beta) -> (num_chains,)``, :math:`\log f_\beta(x)` (for
            ``beta = 0`` the base, whose normaliser is ``exp(log_z0)``; for ``beta = 1`` the
            target).
        transition: ``(key, x, beta) -> x'``, a kernel leaving :math:`p_\beta` invariant.
        betas: the schedule :math:`0 = \beta_0 \le \dots \le \beta_T = 1`, shape ``(T + 1,)``.
        log_z0: :math:`\log Z_0` of the base, nats.

    Returns:
        An :class:`AISResult`: per-run log-weights, the log Z estimate with its standard
        error, the effective sample size and the final states.
    """
    where = "ais"
    key = check_key(where, key)
    x0 = check_states(where, x0, kind="number")
    if x0.shape[0] < 2:
        raise ValueError(f"{where}: argument 'x0' needs at least 2 chains for an error bar")
    check_callable(where, "log_density_fn", log_density_fn, "a callable (x, beta) -> (n,)")
    check_callable(where, "transition", transition, "a callable (key, x, beta) -> x")
    betas = check_betas(where, betas)
    log_w, final = _ais_log_weights(key, shard_leading(x0), log_density_fn, transition, betas)
    log_w = log_w + log_z0
    return AISResult(log_w, log_importance_estimate(log_w), effective_sample_size(log_w), final)
