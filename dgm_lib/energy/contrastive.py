r"""Maximum likelihood for energy-based models, and contrastive divergence.

For :math:`p_\theta(x) = e^{-E_\theta(x)} / Z_\theta`, the gradient of the log-likelihood is a
data term minus the model's expectation of the same quantity,

.. math:: \nabla_\theta \log p_\theta(x) = -\nabla_\theta E_\theta(x)
          + \mathbb E_{x' \sim p_\theta}\left[\nabla_\theta E_\theta(x')\right],

since :math:`\nabla_\theta \log Z_\theta = \frac{1}{Z_\theta}\sum_{x'} e^{-E_\theta(x')}
(-\nabla_\theta E_\theta(x')) = -\mathbb E_{p_\theta}[\nabla_\theta E_\theta]`. The second term
needs samples from the model. Contrastive divergence (CD-k, Hinton 2002) takes them from
:math:`k` Gibbs sweeps started at the data: cheap, and biased, since a short chain has not
forgotten its start. Persistent CD (PCD, Tieleman 2008) keeps the chains between parameter
updates instead of restarting them at the data, so that over training they run long.

Both are written as surrogate losses for :func:`dgm_lib.train.fit`: the mean energy of the data
minus the mean energy of the (gradient-stopped) negative samples, whose gradient is the
negative of the estimated log-likelihood gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import check_int_at_least, check_positive_int, check_rngs
from .rbm import RBM

__all__ = ["PCD", "PersistentChains", "cd_loss", "contrastive_loss", "pcd_loss"]


class PersistentChains(nnx.Variable):
    """The states of persistent Markov chains: not a parameter (``fit`` does not train it), but
    state that a loss updates and ``fit`` carries from step to step."""


def contrastive_loss(energy_data: Array, energy_negative: Array) -> Array:
    r"""The surrogate :math:`\frac1B\sum_i E_\theta(x_i) - \frac1M\sum_m E_\theta(\tilde
    x_m)` with the negative samples :math:`\tilde x_m` held fixed (``jax.lax.stop_gradient``):
    its gradient is minus the Monte Carlo estimate of :math:`\nabla_\theta \frac1B \sum_i \log
    p_\theta(x_i)`. Its value is not a likelihood (it drifts with :math:`Z`)."""
    return jnp.mean(energy_data) - jnp.mean(energy_negative)


def _gibbs_steps(rbm: RBM, key: Array, v: Array, k: int) -> Array:
    return rbm.gibbs_chain(key, v, num_steps=k).final


def cd_loss(model: RBM, batch: Array, key: Array, *, k: int = 1) -> Array:
    r"""The CD-k loss of an RBM on a batch of binary vectors ``(B, d)``: negatives are ``k``
    block Gibbs sweeps started at the batch. Use as ``fit(rbm, functools.partial(cd_loss,
    k=25), x, ...)``."""
    k = check_positive_int("cd_loss", "k", k)
    negative = jax.lax.stop_gradient(_gibbs_steps(model, key, batch, k))
    return contrastive_loss(model.free_energy(batch), model.free_energy(negative))


class PCD(nnx.Module):
    """An RBM trained by persistent contrastive divergence: the RBM and ``num_chains``
    persistent chains (a :class:`PersistentChains` variable), started from the RBM's visible
    biases' product of Bernoullis."""

    def __init__(self, rbm: RBM, num_chains: int, *, rngs: nnx.Rngs):
        where = "PCD"
        self.num_chains = check_int_at_least(where, "num_chains", num_chains, 1)
        rngs = check_rngs(where, rngs)
        self.rbm = rbm
        start = jax.random.bernoulli(
            rngs.params(), jax.nn.sigmoid(rbm.b[...]), (self.num_chains, rbm.d)
        )
        self.chains = PersistentChains(start.astype(jnp.float32))


def pcd_loss(model: PCD, batch: Array, key: Array, *, k: int = 1) -> Array:
    r"""The persistent-CD loss: the chains advance ``k`` Gibbs sweeps from where the last
    update left them (and are stored back), and serve as the negative samples."""
    k = check_positive_int("pcd_loss", "k", k)
    negative = jax.lax.stop_gradient(_gibbs_steps(model.rbm, key, model.chains[...], k))
    model.chains[...] = negative
    return contrastive_loss(model.rbm.free_energy(batch), model.rbm.free_energy(negative))
