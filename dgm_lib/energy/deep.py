r"""A deep energy on images, trained with short-run Langevin and a replay buffer (Du and
Mordatch 2019; Nijkamp et al. 2019).

A neural network :math:`E_\theta: [0, 1]^d \to \mathbb R` defines :math:`p_\theta \propto
e^{-E_\theta}`; the maximum-likelihood gradient (:mod:`dgm_lib.energy.contrastive`) needs model
samples, which here come from a few Langevin steps at temperature :math:`T`,

.. math:: x \leftarrow \operatorname{clip}_{[0,1]}\big(x - \tfrac{\eta}{T}\nabla_x E_\theta(x)
          + \sqrt{2\eta}\,\xi\big),

started from a replay buffer of earlier negatives (a fraction ``reinit_prob`` restarted from
uniform noise), so the chains run long over training though each update pays for only a few
steps. :math:`T < 1` is the usual trick of taking larger gradient steps than the noise would
allow: the chains sample :math:`p_\theta^{1/T}`, a sharper model.

Nothing in the contrastive loss stops the energies from drifting: the loss depends on
:math:`E_\theta` only through differences, so adding a constant changes nothing, and the gap
between data and negative energies can grow without bound. The regulariser
:math:`\alpha\,(E_\theta(x)^2 + E_\theta(\tilde x)^2)` keeps both near zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import (
    check_array,
    check_hidden_sizes,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP
from ..samplers import score_of, ula
from .contrastive import contrastive_loss

__all__ = ["ImageEnergy", "ReplayBuffer", "replay_langevin_loss"]


class ReplayBuffer(nnx.Variable):
    """Negative samples kept between updates: state that a loss updates and
    :func:`dgm_lib.train.fit` carries, not a parameter."""


class ImageEnergy(nnx.Module):
    """An MLP energy :math:`E_\\theta(x)` on flattened images ``(n, d)`` in [0, 1], with a replay
    buffer of ``buffer_size`` negatives started as uniform noise. Smooth activations (the
    default ``"silu"``) give the Langevin chains a smooth gradient."""

    def __init__(
        self,
        d: int,
        hidden_sizes: Sequence[int],
        *,
        buffer_size: int,
        activation: str = "silu",
        rngs: nnx.Rngs,
    ):
        where = "ImageEnergy"
        self.d = check_positive_int(where, "d", d)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        buffer_size = check_positive_int(where, "buffer_size", buffer_size)
        rngs = check_rngs(where, rngs)
        self.net = MLP((d, *hidden_sizes, 1), activation, rngs=rngs)
        self.buffer = ReplayBuffer(jax.random.uniform(rngs.params(), (buffer_size, d)))

    def energy(self, x: Array) -> Array:
        """:math:`E_\\theta(x)` for flattened images ``(n, d)``; shape ``(n,)``."""
        x = check_array("ImageEnergy.energy", "x", x, shape=("n", self.d))
        return self.net(x)[:, 0]


def replay_langevin_loss(
    model: ImageEnergy,
    batch: Array,
    key: Array,
    *,
    num_steps: int = 20,
    step_size: float = 1e-4,
    temperature: float = 1e-3,
    reinit_prob: float = 0.05,
    alpha: float = 1.0,
) -> Array:
    r"""The contrastive loss with short-run Langevin negatives from the replay buffer, plus the
    energy-magnitude regulariser (module docstring), for :func:`dgm_lib.train.fit`.

    ``batch_size`` buffer entries are drawn at random, a fraction ``reinit_prob`` of them
    replaced by uniform noise, moved ``num_steps`` clipped ULA steps of step ``step_size`` on
    :math:`E_\theta / T` (``temperature``), and written back. ``alpha = 0`` turns the
    regulariser off.
    """
    where = "replay_langevin_loss"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    step_size = check_positive_float(where, "step_size", step_size)
    temperature = check_positive_float(where, "temperature", temperature)
    if not 0.0 <= reinit_prob <= 1.0 or alpha < 0.0:
        raise ValueError(
            f"{where}: 'reinit_prob' must be in [0, 1] and 'alpha' >= 0; got reinit_prob = "
            f"{reinit_prob!r}, alpha = {alpha!r}"
        )
    pick_key, reinit_key, noise_key, chain_key = jax.random.split(key, 4)
    buffer = model.buffer[...]
    idx = jax.random.randint(pick_key, (batch.shape[0],), 0, buffer.shape[0])
    fresh = jax.random.bernoulli(reinit_key, reinit_prob, (batch.shape[0], 1))
    x0 = jnp.where(fresh, jax.random.uniform(noise_key, (batch.shape[0], model.d)), buffer[idx])
    score = score_of(lambda x: -model.energy(x) / temperature)
    chain = ula(chain_key, score, x0, step_size=step_size, num_steps=num_steps, bounds=(0.0, 1.0))
    negative = jax.lax.stop_gradient(chain.final)
    model.buffer[...] = buffer.at[idx].set(negative)
    e_data, e_negative = model.energy(batch), model.energy(negative)
    penalty = alpha * (jnp.mean(jnp.square(e_data)) + jnp.mean(jnp.square(e_negative)))
    return contrastive_loss(e_data, e_negative) + penalty
