r"""The two players of a GAN for :func:`dgm_lib.train.fit`: one function that turns an objective's
name into ``[critic player, generator player]`` on a :class:`~dgm_lib.adversarial.GAN`.

Every objective of the chapter is a pair of losses on the critic's outputs :math:`v` on data
and on samples :math:`\tilde x = G(z)`:

- ``"minimax"``: the critic minimises the binary cross-entropy
  :math:`-\mathbb E\log D(x) - \mathbb E\log(1 - D(\tilde x))`, :math:`D = \sigma(v)`; the
  generator minimises :math:`\mathbb E \log(1 - D(\tilde x))` (saturating);
- ``"non_saturating"``: the same critic; the generator minimises
  :math:`-\mathbb E \log D(\tilde x)`;
- ``"wasserstein"``: the critic minimises :math:`\mathbb E T(\tilde x) - \mathbb E T(x)`
  (chain :func:`~dgm_lib.adversarial.clip_weights` into its optimizer), the generator
  :math:`-\mathbb E T(\tilde x)`;
- ``"wasserstein_gp"``: the same plus :math:`\lambda` times the gradient penalty at
  interpolates;
- an f-divergence name of :data:`~dgm_lib.adversarial.F_DIVERGENCES`: the critic minimises
  :math:`-(\mathbb E g_f(v) - \mathbb E f^*(g_f(\tilde v)))`, the generator
  :math:`-\mathbb E f^*(g_f(\tilde v))`.

The batch is the data array, or ``(images, labels)`` for a conditional GAN, whose generator
then draws its samples for the batch's labels (so the samples' classes follow the data's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from flax import nnx
from jax import Array

from ..checks import check_positive_float, check_positive_int
from ..train import Player
from .fgan import F_DIVERGENCES, fgan_critic_loss, fgan_generator_loss
from .losses import (
    discriminator_loss,
    non_saturating_generator_loss,
    saturating_generator_loss,
)
from .wasserstein import critic_loss, generator_loss, gradient_penalty

__all__ = ["OBJECTIVES", "gan_players"]

_PAIRS: dict[str, tuple[Callable[[Array, Array], Array], Callable[[Array], Array]]] = {
    "minimax": (discriminator_loss, saturating_generator_loss),
    "non_saturating": (discriminator_loss, non_saturating_generator_loss),
    "wasserstein": (critic_loss, generator_loss),
    "wasserstein_gp": (critic_loss, generator_loss),
}
OBJECTIVES: tuple[str, ...] = (*_PAIRS, *F_DIVERGENCES)
"""The names :func:`gan_players` accepts: the four GAN objectives, then the f-divergences of
:data:`~dgm_lib.adversarial.F_DIVERGENCES`."""


def _split_batch(batch: Any, conditional: bool) -> tuple[Array, Array | None]:
    if conditional:
        x, labels = batch
        return x, labels
    return batch, None


def _critic(model: nnx.Module, labels: Array | None) -> Callable[[Array], Array]:
    if labels is None:
        return model.critic
    return lambda x: model.critic(x, labels)


def _fake(model: nnx.Module, key: Array, x: Array, labels: Array | None) -> Array:
    if labels is None:
        return model.generator.sample(key, x.shape[0])
    return model.generator.sample(key, x.shape[0], labels)


def gan_players(
    objective: str,
    *,
    critic_optimizer: optax.GradientTransformation,
    generator_optimizer: optax.GradientTransformation,
    n_critic: int = 1,
    penalty: float = 10.0,
    conditional: bool = False,
) -> list[Player]:
    r"""``[critic, generator]`` players of ``objective`` for :func:`dgm_lib.train.fit` on a
    :class:`~dgm_lib.adversarial.GAN` (parameters under ``.critic`` and ``.generator``).

    Args:
        objective: one of :data:`OBJECTIVES` (see the module's table).
        critic_optimizer: the critic's optax transformation (chain
            :func:`~dgm_lib.adversarial.clip_weights` after it for WGAN's clipping).
        generator_optimizer: the generator's.
        n_critic: critic steps per generator step, each on its own batch, > 0.
        penalty: :math:`\lambda` of ``"wasserstein_gp"``, > 0 (10 in Gulrajani et al.).
        conditional: batches are ``(images, int labels)`` and both networks take the labels.
    """
    where = "gan_players"
    if objective not in OBJECTIVES:
        raise ValueError(
            f"{where}: argument 'objective' must be one of {list(OBJECTIVES)}; got {objective!r}"
        )
    n_critic = check_positive_int(where, "n_critic", n_critic)
    penalty = check_positive_float(where, "penalty", penalty)

    def critic_scores(model: nnx.Module, batch: Any, key: Array) -> tuple:
        x, labels = _split_batch(batch, conditional)
        k_fake, k_penalty = jax.random.split(key)
        fake = jax.lax.stop_gradient(_fake(model, k_fake, x, labels))
        critic = _critic(model, labels)
        return critic(x), critic(fake), (k_penalty, critic, x, fake)

    def generator_scores(model: nnx.Module, batch: Any, key: Array) -> Array:
        x, labels = _split_batch(batch, conditional)
        return _critic(model, labels)(_fake(model, key, x, labels))

    if objective in F_DIVERGENCES:

        def critic_fn(model: nnx.Module, batch: Any, key: Array) -> Array:
            real, fake, _ = critic_scores(model, batch, key)
            return fgan_critic_loss(objective, real, fake)

        def generator_fn(model: nnx.Module, batch: Any, key: Array) -> Array:
            return fgan_generator_loss(objective, generator_scores(model, batch, key))

    else:
        critic_pair, generator_pair = _PAIRS[objective]

        def critic_fn(model: nnx.Module, batch: Any, key: Array) -> Array:
            real, fake, (k_penalty, critic, x, fake_x) = critic_scores(model, batch, key)
            loss = critic_pair(real, fake)
            if objective == "wasserstein_gp":
                loss = loss + penalty * gradient_penalty(k_penalty, critic, x, fake_x)[0]
            return loss

        def generator_fn(model: nnx.Module, batch: Any, key: Array) -> Array:
            return generator_pair(generator_scores(model, batch, key))

    return [
        Player(critic_fn, "critic", critic_optimizer, repeats=n_critic),
        Player(generator_fn, "generator", generator_optimizer),
    ]
