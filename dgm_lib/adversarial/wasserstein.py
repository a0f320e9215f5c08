r"""Wasserstein GAN (Arjovsky et al. 2017) and its gradient penalty (Gulrajani et al. 2017).

By Kantorovich-Rubinstein duality,
:math:`W_1(p, q) = \sup_{\|T\|_L \le 1} \mathbb E_p[T(x)] - \mathbb E_q[T(x)]`: the critic
minimises :math:`\mathbb E_q[T] - \mathbb E_p[T]` over (approximately) 1-Lipschitz functions,
the generator minimises :math:`-\mathbb E_q[T]`. The Lipschitz constraint is enforced either by
clipping the weights to :math:`[-c, c]` (WGAN, :func:`clip_weights`) or by the gradient penalty
:math:`\lambda\,\mathbb E_{\hat x}(\|\nabla_x T(\hat x)\|_2 - 1)^2` on random interpolates
:math:`\hat x = \epsilon x + (1 - \epsilon) \tilde x`, :math:`\epsilon \sim U[0, 1]` (WGAN-GP).
In one dimension :math:`W_1(a, b) = \int |F_a(x) - F_b(x)|\,dx`, exact for empirical samples
(:func:`wasserstein_1d`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from ..checks import (
    check_array,
    check_batch,
    check_callable,
    check_host_array,
    check_key,
    check_positive_float,
)

__all__ = [
    "clip_weights",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
    "interpolates",
    "wasserstein_1d",
]


def critic_loss(real_scores: Array, fake_scores: Array) -> Array:
    r"""The WGAN critic's loss :math:`\mathrm{mean}(T(\tilde x)) - \mathrm{mean}(T(x))`, the
    negative of the critic's estimate of :math:`W_1`; scores ``(batch,)`` each, the same
    batch size."""
    where = "critic_loss"
    real = check_array(where, "real_scores", real_scores, shape=("batch",))
    fake = check_array(where, "fake_scores", fake_scores, shape=(real.shape[0],))
    return jnp.mean(fake) - jnp.mean(real)


def generator_loss(fake_scores: Array) -> Array:
    r"""The WGAN generator's loss :math:`-\mathrm{mean}(T(G(z)))`; ``fake_scores``
    ``(batch,)``."""
    fake = check_array("generator_loss", "fake_scores", fake_scores, shape=("batch",))
    return -jnp.mean(fake)


def _check_real_fake(where: str, real: Any, fake: Any) -> tuple[Array, Array]:
    real = check_batch(where, "real", real)
    fake = check_array(where, "fake", fake, shape=tuple(real.shape))
    return real, fake


def _interpolates(key: Array, real: Array, fake: Array) -> Array:
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    return eps * real + (1.0 - eps) * fake


def interpolates(key: Array, real: Array, fake: Array) -> Array:
    r"""Random points :math:`\hat x_i = \epsilon_i x_i + (1 - \epsilon_i) \tilde x_i` on the
    segments between data and samples, one :math:`\epsilon_i \sim U[0, 1]` per example
    (broadcast over its other axes).

    Args:
        key: a ``jax.random.key``.
        real: a data batch ``(n, ...)``.
        fake: a generated batch of the same shape.
    """
    where = "interpolates"
    key = check_key(where, key)
    real, fake = _check_real_fake(where, real, fake)
    return _interpolates(key, real, fake)


def gradient_penalty(
    key: Array, critic: Callable[[Array], Array], real: Array, fake: Array
) -> tuple[Array, Array]:
    r"""WGAN-GP's penalty :math:`\frac1n \sum_i (\|\nabla_x T(\hat x_i)\|_2 - 1)^2` at
    :func:`interpolates` (multiply by :math:`\lambda`, 10 in the paper, and add to
    :func:`critic_loss`).

    The gradients are those of :math:`\sum_i T(\hat x_i)`, which are the per-example ones
    because the critic treats examples independently (no batch normalisation; the paper uses
    layer normalisation for this reason).

    The key comes first, as for every random function of dgm_lib (DESIGN section 3).

    Args:
        key: a ``jax.random.key`` for the interpolation weights.
        critic: ``(n, ...) -> (n,)``, the critic on a batch.
        real: a data batch ``(n, ...)``.
        fake: a generated batch of the same shape.

    Returns:
        ``(penalty, norms)``: the scalar penalty and the gradient norms ``(n,)``, the norm over
        all non-batch axes.
    """
    where = "gradient_penalty"
    check_callable(where, "critic", critic, "a callable (n, ...) -> (n,)")
    key = check_key(where, key)
    real, fake = _check_real_fake(where, real, fake)
    x_hat = _interpolates(key, real, fake)
    n = real.shape[0]
    out_shape = jax.eval_shape(critic, x_hat).shape
    if out_shape != (n,):
        raise ValueError(
            f"{where}: argument 'critic' must return one score per example, shape ({n},); got "
            f"shape {out_shape}"
        )
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
    squared = jnp.sum(grads.reshape(n, -1) ** 2, axis=1)
    # A zero gradient would give sqrt's infinite derivative; the tiny floor changes nothing else.
    norms = jnp.sqrt(jnp.maximum(squared, 1e-24))
    return jnp.mean((norms - 1.0) ** 2), norms


def clip_weights(c: float) -> optax.GradientTransformation:
    r"""WGAN's weight clipping as an optax transformation to chain after an optimizer,
    ``optax.chain(optax.rmsprop(5e-5), clip_weights(0.01))``: each update :math:`u` becomes
    :math:`\mathrm{clip}(\theta + u, -c, c) - \theta`, so after ``optax.apply_updates`` every
    parameter lies in :math:`[-c, c]`. Its ``update`` needs ``params``.

    Args:
        c: the clipping bound, > 0.
    """
    c = check_positive_float("clip_weights", "c", c)

    def init_fn(params: Any) -> optax.EmptyState:
        return optax.EmptyState()

    def update_fn(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if params is None:
            raise ValueError(
                "clip_weights: update needs the current parameters; call "
                "tx.update(grads, state, params) (fit does)"
            )
        new = jax.tree.map(lambda u, p: jnp.clip(p + u, -c, c) - p, updates, params)
        return new, state

    return optax.GradientTransformation(init_fn, update_fn)


def wasserstein_1d(a: Any, b: Any) -> float:
    r"""The exact :math:`W_1` between the empirical distributions of two 1-D samples
    (sizes may differ), :math:`\int |F_a(x) - F_b(x)|\,dx`: both CDFs are step functions,
    constant between consecutive values of the merged, sorted samples. NumPy, float64.

    Args:
        a: samples ``(n,)``.
        b: samples ``(m,)``.
    """
    where = "wasserstein_1d"
    a = _host_1d(where, "a", a)
    b = _host_1d(where, "b", b)
    a, b = np.sort(a), np.sort(b)
    values = np.sort(np.concatenate([a, b]))
    widths = np.diff(values)
    cdf_a = np.searchsorted(a, values[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, values[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


def _host_1d(where: str, name: str, x: Any) -> np.ndarray:
    x = check_host_array(where, name, x, ("n",))
    if x.size == 0:
        raise ValueError(f"{where}: argument '{name}' must hold at least one value; got shape (0,)")
    return x
