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
anywhere. The trace costs one pass per dimension (:func:`hyvarinen_objective`). Two estimators
avoid it:

- **Denoising score matching** (Vincent 2011, :func:`denoising_objective`) fits the score of the
  data convolved with noise, :math:`q_\sigma(\tilde x) = \int p(x)\, \mathcal N(\tilde x; x,
  \sigma^2 I)\, dx`. Since :math:`\nabla_{\tilde x} \log q_\sigma(\tilde x) = \mathbb E[-(\tilde x
  - x)/\sigma^2 \mid \tilde x]`, the Fisher divergence to :math:`q_\sigma` equals, up to a
  constant in :math:`\theta`,

  .. math:: \mathbb E_{x \sim p,\, \varepsilon \sim \mathcal N(0, I)}\left[\tfrac12 \left\lVert
            s_\theta(x + \sigma\varepsilon) + \varepsilon / \sigma \right\rVert^2\right]:

  one network pass, no derivative of the network at all. It learns :math:`q_\sigma`, not
  :math:`p`: small :math:`\sigma` for accuracy, larger for a score that is defined everywhere.
- **Sliced score matching** (Song et al. 2019, :func:`sliced_objective`) projects the score on
  random directions :math:`v` with :math:`\mathbb E[v v^\top] = I`:
  :math:`\mathbb E_v[v^\top \nabla_x s_\theta\, v] = \operatorname{tr} \nabla_x s_\theta` and
  :math:`\mathbb E_v[(v^\top s_\theta)^2] = \lVert s_\theta \rVert^2`, so

  .. math:: \mathbb E_{p}\, \mathbb E_v\left[v^\top \nabla_x s_\theta(x)\, v
            + \tfrac12 (v^\top s_\theta(x))^2\right]

  is an unbiased estimate of Hyvarinen's objective for the data itself, at one forward-mode
  product per projection. Its variance-reduced form keeps :math:`\tfrac12\lVert s_\theta
  \rVert^2` exact.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from .checks import check_array, check_batch, check_callable, check_key, check_positive_int
from .divergence import ProbeKind, exact_divergence, probes
from .samplers import ScoreFn

__all__ = [
    "denoising_objective",
    "energy_score",
    "fisher_divergence",
    "hyvarinen_objective",
    "sliced_objective",
]


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


def hyvarinen_objective(score_fn: ScoreFn, x: Array) -> Array:
    r"""Per-example terms of Hyvarinen's score-matching objective,

    .. math:: \tfrac12 \lVert s_\theta(x_i) \rVert^2 + \operatorname{tr} \nabla_x s_\theta(x_i),

    shape ``(n,)``: their mean over data is the Fisher divergence minus a constant that does not
    depend on :math:`\theta` (module docstring). The trace is exact, one forward-mode pass per
    dimension (:func:`dgm_lib.divergence.exact_divergence`), so keep ``d`` small; the
    denoising and sliced objectives scale.

    Args:
        score_fn: the model's score, ``(n, d) -> (n, d)`` (e.g. :func:`energy_score`), each
            example's score depending on that example only.
        x: data, shape ``(n, d)``.
    """
    where = "hyvarinen_objective"
    check_callable(where, "score_fn", score_fn, "a callable (n, d) -> (n, d)")
    x = _check_points(where, x)
    return 0.5 * jnp.sum(jnp.square(score_fn(x)), axis=-1) + exact_divergence(score_fn, x)


def denoising_objective(key: Array, score_fn: ScoreFn, x: Array, sigma: Array | float) -> Array:
    r"""Per-example terms of denoising score matching at noise level :math:`\sigma`,

    .. math:: \tfrac12 \left\lVert s_\theta(\tilde x_i) + \varepsilon_i / \sigma_i
              \right\rVert^2, \qquad \tilde x_i = x_i + \sigma_i \varepsilon_i,\;
              \varepsilon_i \sim \mathcal N(0, I),

    shape ``(n,)``: their mean over data is the Fisher divergence between :math:`s_\theta` and
    the score of the noised data :math:`q_\sigma`, plus a constant that does not depend on
    :math:`\theta` (module docstring). Multiplied by :math:`\sigma^2` it is
    :math:`\tfrac12 \lVert \sigma s_\theta(\tilde x) + \varepsilon \rVert^2`, the form whose
    scale does not depend on :math:`\sigma` (the weighting of noise-conditional score networks).

    Args:
        key: a ``jax.random.key`` for :math:`\varepsilon`.
        score_fn: the model's score at the noisy points, ``(n, ...) -> (n, ...)``.
        x: clean data, shape ``(n, d)`` or ``(n, ...)`` (images); the norm runs over every
            axis but the first.
        sigma: the noise standard deviation, a positive scalar or one per example ``(n,)``.
    """
    where = "denoising_objective"
    key = check_key(where, key)
    check_callable(where, "score_fn", score_fn, "a callable (n, ...) -> (n, ...)")
    x = check_batch(where, "x", x)
    sigma = check_array(where, "sigma", sigma)
    if sigma.ndim > 1 or (sigma.ndim == 1 and sigma.shape[0] != x.shape[0]):
        raise ValueError(f"{where}: argument 'sigma' must be a scalar or have shape (n,) = "
                         f"({x.shape[0]},); got shape {tuple(sigma.shape)}")
    sigma = jnp.reshape(sigma, (-1,) + (1,) * (x.ndim - 1))
    eps = jax.random.normal(key, x.shape)
    residual = jnp.square(score_fn(x + sigma * eps) + eps / sigma)
    return 0.5 * jnp.sum(residual, axis=tuple(range(1, x.ndim)))


def sliced_objective(
    key: Array,
    score_fn: ScoreFn,
    x: Array,
    *,
    num_projections: int = 1,
    kind: ProbeKind = "gaussian",
    variance_reduced: bool = False,
) -> Array:
    r"""Per-example terms of sliced score matching, averaged over ``num_projections``
    directions :math:`v_k` with :math:`\mathbb E[v v^\top] = I`,

    .. math:: \frac1m \sum_{k=1}^m \left[v_k^\top \nabla_x s_\theta(x_i)\, v_k
              + \tfrac12 (v_k^\top s_\theta(x_i))^2\right]

    (with ``variance_reduced=True`` the second term is the exact :math:`\tfrac12 \lVert
    s_\theta(x_i) \rVert^2`), shape ``(n,)``. Its expectation over the directions is
    :func:`hyvarinen_objective` exactly, at the cost of one forward-mode product
    :math:`(\nabla_x s_\theta)\, v_k` per direction instead of one per dimension.

    Args:
        key: a ``jax.random.key`` for the directions.
        score_fn: the model's score, ``(n, d) -> (n, d)``, each example's score depending on
            that example only.
        x: data, shape ``(n, d)``.
        num_projections: directions per example, :math:`m`.
        kind: ``"gaussian"`` (Song et al.'s choice) or ``"rademacher"`` directions.
        variance_reduced: use :math:`\tfrac12 \lVert s_\theta \rVert^2` in place of its
            projection (SSM-VR).
    """
    where = "sliced_objective"
    key = check_key(where, key)
    check_callable(where, "score_fn", score_fn, "a callable (n, d) -> (n, d)")
    x = _check_points(where, x)
    num_projections = check_positive_int(where, "num_projections", num_projections)
    v = probes(key, num_projections, x.shape, kind)

    def one(direction: Array) -> Array:
        score, jv = jax.jvp(score_fn, (x,), (direction,))
        second = jnp.sum(jnp.square(score), -1) if variance_reduced else jnp.square(
            jnp.sum(direction * score, -1))
        return jnp.sum(direction * jv, -1) + 0.5 * second

    return jnp.mean(jax.lax.map(one, v), axis=0)
