r"""The GAN objectives on raw discriminator logits (Goodfellow et al. 2014).

With :math:`D(x) = \sigma(\ell(x))` for a logit :math:`\ell`, the value of the game is

.. math:: V(D, G) = \mathbb E_{x \sim p}[\log D(x)] + \mathbb E_{z}[\log(1 - D(G(z)))],

and since :math:`\log \sigma(\ell) = -\mathrm{softplus}(-\ell)` and
:math:`\log(1 - \sigma(\ell)) = -\mathrm{softplus}(\ell)`, every term is a softplus of a logit,
stable for logits of any size. The discriminator minimises the binary cross-entropy
:math:`-V`; the minimax generator minimises :math:`\mathbb E \log(1 - D(G(z)))`, whose gradient
vanishes where the discriminator rejects the fakes confidently, so in practice the generator
minimises the non-saturating :math:`-\mathbb E \log D(G(z))` instead. For fixed :math:`G` with
density :math:`q`, the best discriminator is :math:`D^* = p / (p + q)` and
:math:`V(D^*, G) = 2\,\mathrm{JSD}(p \,\|\, q) - \log 4`.

CycleGAN (Zhu et al. 2017) adds the cycle-consistency loss
:math:`\mathbb E \|F(G(x)) - x\|_1` for two maps :math:`G: X \to Y`, :math:`F: Y \to X`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_batch, check_callable

__all__ = [
    "cycle_consistency_loss",
    "discriminator_loss",
    "gan_value",
    "non_saturating_generator_loss",
    "optimal_discriminator",
    "saturating_generator_loss",
]


def _check_pair(where: str, real_logits: object, fake_logits: object) -> tuple[Array, Array]:
    real = check_array(where, "real_logits", real_logits, shape=("batch",))
    fake = check_array(where, "fake_logits", fake_logits, shape=(real.shape[0],))
    return real, fake


def _bce(real: Array, fake: Array) -> Array:
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


def discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    r"""The discriminator's binary cross-entropy :math:`-V(D, G)`,
    :math:`\mathrm{mean}\,\mathrm{softplus}(-\ell_{real}) +
    \mathrm{mean}\,\mathrm{softplus}(\ell_{fake})` in nats.

    Args:
        real_logits: logits :math:`\ell(x)` on data, ``(batch,)``.
        fake_logits: logits :math:`\ell(G(z))` on generated samples, ``(batch,)``, the same
            batch size.
    """
    real, fake = _check_pair("discriminator_loss", real_logits, fake_logits)
    return _bce(real, fake)


def gan_value(real_logits: Array, fake_logits: Array) -> Array:
    r"""The value :math:`V(D, G) = \mathbb E \log D(x) + \mathbb E \log(1 - D(G(z)))`, the
    negative of :func:`discriminator_loss`; logits ``(batch,)`` each."""
    real, fake = _check_pair("gan_value", real_logits, fake_logits)
    return -_bce(real, fake)


def saturating_generator_loss(fake_logits: Array) -> Array:
    r"""The minimax generator's loss :math:`\mathbb E \log(1 - D(G(z))) =
    -\mathrm{mean}\,\mathrm{softplus}(\ell_{fake})` (it saturates: its gradient vanishes as
    :math:`D(G(z)) \to 0`); ``fake_logits`` ``(batch,)``."""
    fake = check_array("saturating_generator_loss", "fake_logits", fake_logits, shape=("batch",))
    return -jnp.mean(jax.nn.softplus(fake))


def non_saturating_generator_loss(fake_logits: Array) -> Array:
    r"""The non-saturating generator loss :math:`-\mathbb E \log D(G(z)) =
    \mathrm{mean}\,\mathrm{softplus}(-\ell_{fake})`; ``fake_logits`` ``(batch,)``."""
    fake = check_array(
        "non_saturating_generator_loss", "fake_logits", fake_logits, shape=("batch",)
    )
    return jnp.mean(jax.nn.softplus(-fake))


def optimal_discriminator(log_p: Array, log_q: Array) -> Array:
    r"""The optimal discriminator :math:`D^*(x) = p(x) / (p(x) + q(x)) =
    \sigma(\log p(x) - \log q(x))`, elementwise, from the log-densities of the data
    (``log_p``) and the generator (``log_q``), arrays that broadcast together."""
    where = "optimal_discriminator"
    log_p = check_array(where, "log_p", log_p)
    log_q = check_array(where, "log_q", log_q)
    try:
        jnp.broadcast_shapes(log_p.shape, log_q.shape)
    except ValueError:
        raise ValueError(
            f"{where}: arguments 'log_p' {log_p.shape} and 'log_q' {log_q.shape} must "
            "broadcast together"
        ) from None
    return jax.nn.sigmoid(log_p - log_q)


def cycle_consistency_loss(
    forward: Callable[[Array], Array], backward: Callable[[Array], Array], x: Array
) -> Array:
    r"""CycleGAN's cycle loss :math:`\frac1n \sum_i \|F(G(x_i)) - x_i\|_1`, the L1 norm summed
    over every non-batch axis, with ``forward`` = :math:`G` and ``backward`` = :math:`F`
    (batch to batch functions).

    Args:
        forward: ``(n, ...) -> (n, ...)``, the map :math:`X \to Y`.
        backward: the map :math:`Y \to X`; ``backward(forward(x))`` must have ``x``'s shape.
        x: a batch ``(n, ...)`` from :math:`X`.
    """
    where = "cycle_consistency_loss"
    check_callable(where, "forward", forward, "a callable (n, ...) -> (n, ...)")
    check_callable(where, "backward", backward, "a callable (n, ...) -> (n, ...)")
    x = check_batch(where, "x", x)
    back = backward(forward(x))
    if jnp.shape(back) != x.shape:
        raise ValueError(
            f"{where}: backward(forward(x)) must have the shape of 'x' {tuple(x.shape)}; got "
            f"{tuple(jnp.shape(back))}"
        )
    return jnp.mean(jnp.sum(jnp.abs(back - x).reshape(x.shape[0], -1), axis=1))
