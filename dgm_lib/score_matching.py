r"""Score matching: fit a model's score :math:`s_\theta(x) = \nabla_x \log p_\theta(x)` to the
data's, without the normaliser (Hyvarinen 2005).

The Fisher divergence between the data :math:`p` and the model compares scores,

.. math:: J(\theta) = \mathbb E_{p}\left[\tfrac12 \lVert s_\theta(x) - \nabla_x \log p(x)
          \rVert^2\right],

and needs the data's score, which we do not have. Expanding the square and integrating the
cross term by parts (the boundary term vanishes when :math:`p\, s_\theta \to 0` at infinity),
:math:`\mathbb E_p[s_\theta \cdot \nabla \log p] = \int s_\theta \cdot \nabla p =
-\mathbb E_p[\operatorname{tr} \nabla_x s_\theta]`, so

.. math:: J(\theta) = \mathbb E_{p}\left[\tfrac12 \lVert s_\theta(x) \rVert^2 +
          \operatorname{tr} \nabla_x s_\theta(x)\right] + C, \qquad
          C = \mathbb E_p\left[\tfrac12 \lVert \nabla_x \log p(x) \rVert^2\right],

where :math:`C` does not depend on :math:`\theta`. For an energy :math:`s_\theta = -\nabla_x
E_\theta` and :math:`\operatorname{tr}\nabla_x s_\theta = -\Delta E_\theta`: no :math:`Z`
anywhere. The trace costs one pass per dimension; the score chapter adds the estimators that
avoid it (denoising and sliced score matching).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from .checks import check_array, check_callable
from .samplers import ScoreFn

__all__ = ["energy_score", "fisher_divergence", "hyvarinen_objective"]


def energy_score(energy_fn: Callable[[Array], Array]) -> ScoreFn:
    r"""The score of an energy-based model, :math:`s(x) = -\nabla_x E(x)`, for ``energy_fn``
    mapping ``(n, d)`` to ``(n,)`` (each example's energy depending on that example only)."""
    check_callable("energy_score", "energy_fn", energy_fn, "a callable (n, d) -> (n,)")
    return jax.grad(lambda x: -jnp.sum(energy_fn(x)))


def _check_points(where: str, x: Array) -> Array:
    return check_array(where, "x", x, shape=("n", "d"))


def fisher_divergence(score_fn: ScoreFn, data_score_fn: ScoreFn, x: Array) -> Array:
    r"""Per-example terms of the Fisher divergence, :math:`\tfrac12 \lVert s_\theta(x_i) -
    \nabla \log p(x_i) \rVert^2`, shape ``(n,)``; their mean over draws from :math:`p`
    estimates :math:`J(\theta)`. Both scores map ``(n, d)`` to ``(n, d)``."""
    where = "fisher_divergence"
    check_callable(where, "score_fn", score_fn, "a callable (n, d) -> (n, d)")
    check_callable(where, "data_score_fn", data_score_fn, "a callable (n, d) -> (n, d)")
    x = _check_points(where, x)
    return 0.5 * jnp.sum(jnp.square(score_fn(x) - data_score_fn(x)), axis=-1)


def _jacobian_trace(score_fn: ScoreFn, x: Array) -> Array:
    def one(xi: Array) -> Array:
        return jnp.trace(jax.jacfwd(lambda v: score_fn(v[None])[0])(xi))

    return jax.vmap(one)(x)


def hyvarinen_objective(score_fn: ScoreFn, x: Array) -> Array:
    r"""Per-example terms of Hyvarinen's score-matching objective,

    .. math:: \tfrac12 \lVert s_\theta(x_i) \rVert^2 + \operatorname{tr} \nabla_x s_\theta(x_i),

    shape ``(n,)``: their mean over data is the Fisher divergence minus a constant that does not
    depend on :math:`\theta` (module docstring). The trace is exact, one forward-mode pass per
    dimension (``jax.jacfwd``), so keep ``d`` small (2-D data; the score chapter's estimators
    scale).

    Args:
        score_fn: the model's score, ``(n, d) -> (n, d)`` (e.g. :func:`energy_score`), each
            example's score depending on that example only.
        x: data, shape ``(n, d)``.
    """
    where = "hyvarinen_objective"
    check_callable(where, "score_fn", score_fn, "a callable (n, d) -> (n, d)")
    x = _check_points(where, x)
    return 0.5 * jnp.sum(jnp.square(score_fn(x)), axis=-1) + _jacobian_trace(score_fn, x)
