"""Latent-variable models (the book's chapters "Introduction" and "Variational
autoencoders"): Gaussian mixtures (:mod:`dgm_lib.latent.mixture`), exactly integrable models
(:mod:`dgm_lib.latent.exact`), the ELBO and IWAE bounds (:mod:`dgm_lib.latent.bounds`),
gradient estimators (:mod:`dgm_lib.latent.gradients`) and the VAE (:mod:`dgm_lib.latent.vae`).

Modules take ``rngs: nnx.Rngs`` for their initial values; densities have ``log_prob(x)``
(per example, nats) and ``sample(key, n)``; latent-variable models add ``elbo(key, x)``,
``iwae_bound(key, x, k)`` and ``log_prob_is(key, x, k)``.
"""

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
