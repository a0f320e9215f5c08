r"""Energy-based models (the book's chapter "Energy-based models").

Models defined by an energy, :math:`p(x) = e^{-E(x)}/Z`, with ``energy(x)`` always and
``log_prob`` only where :math:`Z` is exact: the Ising model (:mod:`~dgm_lib.energy.ising`), the
restricted Boltzmann machine with its free energy, Gibbs sampler and AIS estimate of
:math:`\log Z` (:mod:`~dgm_lib.energy.rbm`); learning by contrastive divergence and persistent
CD (:mod:`~dgm_lib.energy.contrastive`) and by noise-contrastive estimation
(:mod:`~dgm_lib.energy.nce`); an MLP energy, and a deep energy on images trained with
short-run Langevin and a replay buffer (:mod:`~dgm_lib.energy.deep`). The samplers
(:mod:`dgm_lib.samplers`), annealed importance sampling (:mod:`dgm_lib.ais`) and score
matching (:mod:`dgm_lib.score_matching`) live in the foundation, shared with the score-based
and diffusion chapters.
"""

from .contrastive import PCD, PersistentChains, cd_loss, contrastive_loss, pcd_loss
from .deep import MLPEnergy, ReplayBuffer, ReplayEBM, replay_langevin_loss
from .ising import Ising, magnetisation
from .nce import NCEModel, nce_loss, nce_objective
from .rbm import RBM, base_rate_logits, rbm_ais

__all__ = [
    "PCD",
    "RBM",
    "Ising",
    "MLPEnergy",
    "NCEModel",
    "PersistentChains",
    "ReplayBuffer",
    "ReplayEBM",
    "base_rate_logits",
    "cd_loss",
    "contrastive_loss",
    "magnetisation",
    "nce_loss",
    "nce_objective",
    "pcd_loss",
    "rbm_ais",
    "replay_langevin_loss",
]
