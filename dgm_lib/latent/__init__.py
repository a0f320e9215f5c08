"""Latent-variable models (the book's chapters "Introduction" and "Variational
autoencoders"): Gaussian mixtures, exactly integrable models, the ELBO and IWAE bounds, gradient
estimators and the VAE."""

from .bounds import (
    ElboTerms,
    elbo,
    elbo_terms,
    elbo_terms_analytic,
    iwae_bound,
    iwae_surrogate,
    log_weights,
)
from .exact import (
    bernoulli_mixture_log_joint,
    bernoulli_mixture_log_marginal,
    bernoulli_mixture_log_posterior,
    linear_gaussian_elbo,
    linear_gaussian_log_joint,
    linear_gaussian_log_marginal,
    linear_gaussian_posterior,
)
from .gradients import reparameterisation_gradients, score_function_gradients
from .mixture import (
    ConditionalGaussianMixture,
    GaussianMixture,
    initial_parameters,
    log_responsibilities,
)
from .vae import IWAE_SETUP, VAE, LinearGaussianVAE, iwae_learning_rate, iwae_loss, vae_loss

__all__ = [
    "IWAE_SETUP",
    "VAE",
    "ConditionalGaussianMixture",
    "ElboTerms",
    "GaussianMixture",
    "LinearGaussianVAE",
    "bernoulli_mixture_log_joint",
    "bernoulli_mixture_log_marginal",
    "bernoulli_mixture_log_posterior",
    "elbo",
    "elbo_terms",
    "elbo_terms_analytic",
    "initial_parameters",
    "iwae_bound",
    "iwae_learning_rate",
    "iwae_loss",
    "iwae_surrogate",
    "linear_gaussian_elbo",
    "linear_gaussian_log_joint",
    "linear_gaussian_log_marginal",
    "linear_gaussian_posterior",
    "log_responsibilities",
    "log_weights",
    "reparameterisation_gradients",
    "score_function_gradients",
    "vae_loss",
]
