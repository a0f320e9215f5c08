r"""Diffusion models (the book's chapter "Diffusion models").

A diffusion model is a hierarchical VAE with a fixed encoder: the forward process adds noise on
a schedule (:mod:`~dgm_lib.diffusion.schedule`: discrete schedules and continuous log-SNR
functions) with closed-form marginals and posteriors (:mod:`~dgm_lib.diffusion.process`), and
the decoder is a learned reverse chain whose ELBO is a sum of Gaussian KL terms
(:mod:`~dgm_lib.diffusion.elbo`), in continuous time an integral over the signal-to-noise ratio
(:mod:`~dgm_lib.diffusion.continuous`). A noise-predicting network and its loss
(:mod:`~dgm_lib.diffusion.model`) share the score chapter's networks; ancestral sampling, DDIM
and DDIM's encoder are ``lax.scan`` samplers (:mod:`~dgm_lib.diffusion.sampling`);
classifier-free guidance combines two noise predictions (:mod:`~dgm_lib.diffusion.guidance`).
Gaussian data, with every quantity in closed form, is the oracle
(:mod:`~dgm_lib.diffusion.gaussian`).
"""

from .continuous import ContinuousEpsFn, continuous_loss
from .elbo import (
    ElboTerms,
    EpsFn,
    Variance,
    check_variance,
    elbo_constants,
    elbo_terms,
    elbo_weights,
    prior_kl,
)
from .gaussian import GaussianData
from .guidance import classifier_free_guidance
from .model import DiffusionModel, Weighting, diffusion_loss
from .process import (
    Prediction,
    check_times,
    eps_from_prediction,
    marginal,
    posterior,
    predict_x0,
    q_sample,
    v_target,
)
from .sampling import ancestral_sample, ddim_encode, ddim_sample, timesteps
from .schedule import (
    CosineLogSNR,
    LinearLogSNR,
    LogSNR,
    Schedule,
    cosine_schedule,
    linear_schedule,
)

__all__ = [
    "ContinuousEpsFn",
    "CosineLogSNR",
    "DiffusionModel",
    "ElboTerms",
    "EpsFn",
    "GaussianData",
    "LinearLogSNR",
    "LogSNR",
    "Prediction",
    "Schedule",
    "Variance",
    "Weighting",
    "ancestral_sample",
    "check_times",
    "check_variance",
    "classifier_free_guidance",
    "continuous_loss",
    "cosine_schedule",
    "ddim_encode",
    "ddim_sample",
    "diffusion_loss",
    "elbo_constants",
    "elbo_terms",
    "elbo_weights",
    "eps_from_prediction",
    "linear_schedule",
    "marginal",
    "posterior",
    "predict_x0",
    "prior_kl",
    "q_sample",
    "timesteps",
    "v_target",
]
