r"""Score-based models (the book's chapter "Score-based models").

Model the score :math:`\nabla_x \log p(x)` instead of the density, so no normaliser is ever
needed; learn it at every noise level of a forward SDE (:mod:`~dgm_lib.score.sde`: the
variance-exploding and variance-preserving processes, their marginals in closed form) with a
noise-conditional network (:mod:`~dgm_lib.score.networks`) and denoising score matching
(:mod:`~dgm_lib.score.model`); sample by running the SDE backwards, by predictor-corrector or
by the probability-flow ODE (:mod:`~dgm_lib.score.sampling`); compute exact likelihoods through
that ODE (:mod:`~dgm_lib.score.likelihood`); condition on labels with a classifier of noisy
data (:mod:`~dgm_lib.score.guidance`). Gaussian mixtures with closed-form scores at every noise
level (:mod:`~dgm_lib.score.mixture`) are the oracle. The estimators of the score
(:mod:`dgm_lib.score_matching`), annealed Langevin dynamics (:mod:`dgm_lib.samplers`) and
divergences (:mod:`dgm_lib.divergence`) live in the foundation, shared with the energy-based
and diffusion chapters.
"""

from .guidance import NoisyClassifier, guided_score, noisy_classifier_loss
from .likelihood import probability_flow_log_prob
from .mixture import GaussianMixture, eight_gaussians
from .model import ScoreModel, dsm_loss, tweedie_denoise
from .networks import LabelEmbedding, ScoreMLP, ScoreUNet, TimeEmbedding
from .sampling import (
    TimeScoreFn,
    euler_maruyama,
    predictor_corrector,
    probability_flow_ode,
    reverse_drift,
    solve_ode,
)
from .sde import (
    SDE,
    VESDE,
    VPSDE,
    broadcast_time,
    check_t_min,
    perturb,
    prior_log_prob,
    prior_sample,
)

__all__ = [
    "SDE",
    "VESDE",
    "VPSDE",
    "GaussianMixture",
    "LabelEmbedding",
    "NoisyClassifier",
    "ScoreMLP",
    "ScoreModel",
    "ScoreUNet",
    "TimeEmbedding",
    "TimeScoreFn",
    "broadcast_time",
    "check_t_min",
    "dsm_loss",
    "eight_gaussians",
    "euler_maruyama",
    "guided_score",
    "noisy_classifier_loss",
    "perturb",
    "predictor_corrector",
    "prior_log_prob",
    "prior_sample",
    "probability_flow_log_prob",
    "probability_flow_ode",
    "reverse_drift",
    "solve_ode",
    "tweedie_denoise",
]
