r"""Generative adversarial networks (the book's chapter "Generative adversarial networks").

Implicit models trained as a game between a generator and a critic:

- :mod:`~dgm_lib.adversarial.losses`: the GAN value :func:`gan_value`, the discriminator's
  :func:`discriminator_loss`, the :func:`saturating_generator_loss` and
  :func:`non_saturating_generator_loss`, the :func:`optimal_discriminator` :math:`p/(p+q)`,
  CycleGAN's :func:`cycle_consistency_loss`;
- :mod:`~dgm_lib.adversarial.fgan`: f-GAN, :class:`FDivergence`, :data:`F_DIVERGENCES`,
  :func:`f_divergence`, :func:`variational_bound`, :func:`fgan_critic_loss`,
  :func:`fgan_generator_loss`;
- :mod:`~dgm_lib.adversarial.wasserstein`: WGAN, :func:`critic_loss`, :func:`generator_loss`,
  :func:`interpolates`, :func:`gradient_penalty`, :func:`clip_weights`,
  :func:`wasserstein_1d`;
- :mod:`~dgm_lib.adversarial.dirac`: the Dirac-GAN dynamics :func:`dirac_gan`;
- :mod:`~dgm_lib.adversarial.modes`: mode collapse on Gaussian mixtures, :func:`ring_centres`,
  :func:`grid_centres`, :func:`mixture_sample`, :func:`mode_coverage`, :class:`ModeCoverage`;
- :mod:`~dgm_lib.adversarial.networks`: the NNX modules :class:`Generator`, :class:`Critic`
  and :class:`GAN`, and :data:`IMAGE_GAN_SETUP`, the chapter's image GAN;
- :mod:`~dgm_lib.adversarial.players`: :func:`gan_players`, the critic's and the generator's
  :class:`~dgm_lib.train.Player` for :func:`dgm_lib.train.fit`, for each of
  :data:`OBJECTIVES`.
"""

from .dirac import dirac_gan
from .fgan import (
    F_DIVERGENCES,
    FDivergence,
    f_divergence,
    fgan_critic_loss,
    fgan_generator_loss,
    variational_bound,
)
from .losses import (
    cycle_consistency_loss,
    discriminator_loss,
    gan_value,
    non_saturating_generator_loss,
    optimal_discriminator,
    saturating_generator_loss,
)
from .modes import ModeCoverage, grid_centres, mixture_sample, mode_coverage, ring_centres
from .networks import GAN, IMAGE_GAN_SETUP, Critic, Generator
from .players import OBJECTIVES, gan_players
from .wasserstein import (
    clip_weights,
    critic_loss,
    generator_loss,
    gradient_penalty,
    interpolates,
    wasserstein_1d,
)

__all__ = [
    "F_DIVERGENCES",
    "GAN",
    "IMAGE_GAN_SETUP",
    "OBJECTIVES",
    "Critic",
    "FDivergence",
    "Generator",
    "ModeCoverage",
    "clip_weights",
    "critic_loss",
    "cycle_consistency_loss",
    "dirac_gan",
    "discriminator_loss",
    "f_divergence",
    "fgan_critic_loss",
    "fgan_generator_loss",
    "gan_players",
    "gan_value",
    "generator_loss",
    "gradient_penalty",
    "grid_centres",
    "interpolates",
    "mixture_sample",
    "mode_coverage",
    "non_saturating_generator_loss",
    "optimal_discriminator",
    "ring_centres",
    "saturating_generator_loss",
    "variational_bound",
    "wasserstein_1d",
]
