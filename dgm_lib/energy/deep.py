r"""A deep energy on images, trained with short-run Langevin and a replay buffer (Du and
Mordatch 2019; Nijkamp et al. 2019).

A neural network :math:`E_\theta: [0, 1]^d \to \mathbb R` (:class:`MLPEnergy` on flattened
images) defines :math:`p_\theta \propto
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

__all__ = ["MLPEnergy", "ReplayBuffer", "ReplayEBM", "replay_langevin_loss"]


class ReplayBuffer(nnx.Variable):
    """Negative samples kept between updates: state that a loss updates and
    :func:`dgm_lib.train.fit` carries, not a parameter."""


class MLPEnergy(nnx.Module):
    """An MLP energy :math:`E_\\theta(x)` on vectors ``(n, d)``: ``d -> hidden_sizes -> 1``.
    Smooth activations (the default ``"silu"``) give Langevin chains a smooth gradient and score
    matching a non-zero Laplacian (a ReLU network's is zero almost everywhere)."""

    def __init__(
        self, d: int, hidden_sizes: Sequence[int], *, activation: str = "silu", rngs: nnx.Rngs
    ):
        where = "MLPEnergy"
        self.d = check_positive_int(where, "d", d)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        self.net = MLP((d, *hidden_sizes, 1), activation, rngs=check_rngs(where, rngs))

    def energy(self, x: Array) -> Array:
        """:math:`E_\\theta(x)` for ``x`` of shape ``(n, d)``; shape ``(n,)``."""
        x = check_array("MLPEnergy.energy", "x", x, shape=("n", self.d))
        return self.net(x)[:, 0]


class ReplayEBM(nnx.Module):
    """An energy model (any module with ``energy(x)`` on ``(n, d)`` and an attribute ``d``,
    e.g. :class:`MLPEnergy`) with a replay buffer of ``buffer_size`` negatives in
    :math:`[0, 1]^d`, started as uniform noise (drawn from ``rngs``)."""

    def __init__(self, model: nnx.Module, *, buffer_size: int, rngs: nnx.Rngs):
        where = "ReplayEBM"
        buffer_size = check_positive_int(where, "buffer_size", buffer_size)
        rngs = check_rngs(where, rngs)
        self.model = model
        self.buffer = ReplayBuffer(jax.random.uniform(rngs.params(), (buffer_size, model.d)))


def replay_langevin_loss(
    model: ReplayEBM,
    batch: Array,
    key: Array,
    *,
    num_steps: int = 20,
    step_size: float = 1.25e-5,
    temperature: float = 1.25e-6,
    reinit_prob: float = 0.05,
    alpha: float = 1.0,
) -> Array:
    r"""The contrastive loss with short-run Langevin negatives from the replay buffer, plus the
    energy-magnitude regulariser (module docstring), for :func:`dgm_lib.train.fit`.

    ``batch_size`` buffer entries are drawn at random, a fraction ``reinit_prob`` of them
    replaced by uniform noise, moved ``num_steps`` clipped ULA steps of step ``step_size`` on
    :math:`E_\theta / T` (``temperature``), and written back. ``alpha = 0`` turns the
    regulariser off. The defaults are Du and Mordatch's: a drift of :math:`\eta / T = 10` times
    the energy gradient and noise of standard deviation :math:`\sqrt{2\eta} = 0.005`.
    """
    where = "replay_langevin_loss"
    num_steps = check_positive_int(where, "num_steps", num_steps)
    step_size = check_positive_float(where, "step_size", step_size)
    temperature = check_positive_float(where, "temperature", temperature)
    batch = check_array(where, "batch", batch, shape=("batch", model.model.d))
    if not 0.0 <= reinit_prob <= 1.0 or not alpha >= 0.0:  # also refuses NaN
        raise ValueError(
            f"{where}: 'reinit_prob' must be in [0, 1] and 'alpha' >= 0; got reinit_prob = "
            f"{reinit_prob!r}, alpha = {alpha!r}"
        )
    pick_key, reinit_key, noise_key, chain_key = jax.random.split(key, 4)
    buffer = model.buffer[...]
    idx = jax.random.randint(pick_key, (batch.shape[0],), 0, buffer.shape[0])
    fresh = jax.random.bernoulli(reinit_key, reinit_prob, (batch.shape[0], 1))
    x0 = jnp.where(fresh, jax.random.uniform(noise_key, buffer[idx].shape), buffer[idx])
    score = score_of(lambda x: -model.model.energy(x) / temperature)
    chain = ula(chain_key, score, x0, step_size=step_size, num_steps=num_steps, bounds=(0.0, 1.0))
    negative = jax.lax.stop_gradient(chain.final)
    model.buffer[...] = buffer.at[idx].set(negative)
    e_data, e_negative = model.model.energy(batch), model.model.energy(negative)
    penalty = alpha * (jnp.mean(jnp.square(e_data)) + jnp.mean(jnp.square(e_negative)))
    return contrastive_loss(e_data, e_negative) + penalty
