r"""Exact likelihoods of a score model through the probability-flow ODE (Song et al. 2021).

The probability-flow ODE :math:`dx/dt = \tilde f(x, t) = f(x, t) - \tfrac12 g(t)^2 s(x, t)`
(:mod:`~dgm_lib.score.sampling`) is a continuous normalizing flow, so the instantaneous change
of variables (Chen et al. 2018) gives the density along a trajectory,

.. math:: \frac{d}{dt} \log p_t(x_t) = -\nabla \cdot \tilde f(x_t, t), \qquad
          \log p_{t_{\min}}(x) = \log p_1(x_1) + \int_{t_{\min}}^1 \nabla \cdot
          \tilde f(x_t, t)\, dt,

integrating :math:`x` and the running divergence together from the data point at
:math:`t_{\min}` up to :math:`t = 1`, where :math:`p_1` is the prior. With the model's score in
place of the true one this is the exact log-density of the model that the ODE defines, not a
bound. The divergence is exact (``d`` Jacobian-vector products per evaluation: 2-D data) or
Hutchinson's estimate with probes fixed for the whole solve (one product: images). The
trajectory does not depend on the probes, only the integrand does, so the estimate of
:math:`\log p` is unbiased (that of :math:`p` is not: Jensen).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_batch, check_callable, check_positive_float
from ..divergence import exact_divergence, hutchinson_divergence
from ..parallel import shard_leading
from .sampling import TimeScoreFn, reverse_drift, solve_ode
from .sde import SDE, check_t_min, prior_log_prob

__all__ = ["probability_flow_log_prob"]


def probability_flow_log_prob(
    sde: SDE,
    score_fn: TimeScoreFn,
    x: Array,
    *,
    probes: Array | None = None,
    t_min: float = 1e-3,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    prior_log_prob_fn: Callable[[Array], Array] | None = None,
) -> Array:
    r""":math:`\log p_{t_{\min}}(x)` in nats for states ``(n, ...)``, shape ``(n,)``, by solving
    the probability-flow ODE with the running divergence (module docstring) with diffrax's
    Tsit5.

    Args:
        sde: the forward SDE.
        score_fn: :math:`s(x, t)`, states ``(n, ...)`` and times ``(n,)`` to the states' shape.
        x: the points, ``(n, ...)``, read as states at :math:`t_{\min}`.
        probes: ``None`` for the exact divergence, or Hutchinson probes of shape
            ``(num_probes, n, d)`` with ``d`` the flattened size
            (:func:`dgm_lib.divergence.probes`).
        t_min: the time the points are read at.
        rtol, atol: diffrax's tolerances.
        prior_log_prob_fn: :math:`\log p_1` of states ``(n, ...)``; default the SDE's Gaussian
            prior (:func:`~dgm_lib.score.sde.prior_log_prob`). A test passes the exact
            :math:`p_1` of Gaussian data to check the ODE alone.
    """
    where = "probability_flow_log_prob"
    check_callable(where, "score_fn", score_fn, "a callable (x, t) -> score shaped like x")
    x = check_batch(where, "x", x)
    n = x.shape[0]
    d = x.size // n
    if probes is not None:
        probes = check_array(where, "probes", probes, shape=("num_probes", n, d))
    t_min = check_t_min(where, t_min)
    rtol = check_positive_float(where, "rtol", rtol)
    atol = check_positive_float(where, "atol", atol)
    return _probability_flow_log_prob(sde, score_fn, shard_leading(x), probes, t_min, rtol, atol,
                                      prior_log_prob_fn)


@partial(jax.jit, static_argnames=("sde", "score_fn", "t_min", "rtol", "atol",
                                   "prior_log_prob_fn"))
def _probability_flow_log_prob(
    sde: SDE, score_fn: TimeScoreFn, x: Array, probes: Array | None, t_min: float, rtol: float,
    atol: float, prior_log_prob_fn: Callable[[Array], Array] | None,
) -> Array:
    """The likelihood ODE, compiled once per SDE, score function, prior and tolerances."""
    n, shape = x.shape[0], x.shape
    d = x.size // n
    prior = prior_log_prob_fn or (lambda y: prior_log_prob(sde, y))

    def field(t: Array, state: tuple[Array, Array]) -> tuple[Array, Array]:
        y = state[0]

        def flat_drift(v: Array) -> Array:
            drift = reverse_drift(sde, score_fn, v.reshape(shape), t, probability_flow=True)
            return drift.reshape(n, d)

        div = (exact_divergence(flat_drift, y) if probes is None
               else hutchinson_divergence(flat_drift, y, probes))
        return flat_drift(y), div

    (x1, integral), _ = solve_ode(field, (x.reshape(n, d), jnp.zeros(n)), t_min, 1.0,
                                  rtol=rtol, atol=atol)
    return prior(x1.reshape(shape)) + integral
