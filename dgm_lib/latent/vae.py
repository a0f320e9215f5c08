r"""The variational autoencoder of the chapter (Gaussian encoder, Bernoulli decoder on logits,
standard normal prior), its losses for :func:`dgm_lib.train.fit`, the IWAE setup of Burda et
al. (2016), and the linear-Gaussian VAE whose gap to :math:`\log p_\theta(x)` is exact."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import lax

from .. import probability as prob
from ..checks import (
    check_array,
    check_hidden_sizes,
    check_key,
    check_positive_int,
    check_rngs,
)
from ..nn import ACTIVATIONS, MLP
from .bounds import ElboTerms, elbo, elbo_terms_analytic, iwae_bound, iwae_surrogate, log_weights
from .exact import linear_gaussian_elbo, linear_gaussian_log_joint, linear_gaussian_log_marginal

Array = jax.Array

__all__ = [
    "IWAE_SETUP",
    "VAE",
    "LinearGaussianVAE",
    "iwae_learning_rate",
    "iwae_loss",
    "vae_loss",
]


IWAE_SETUP = {
    "hidden_sizes": (200, 200),
    "latent_dim": 50,
    "activation": "tanh",
    "batch_size": 20,
    "epochs": 3280,
}
"""The one-stochastic-layer configuration of Burda et al. (2016), 784-200-200-50 with tanh,
minibatches of 20, 3280 epochs (papers.md section 1c). The keys ``hidden_sizes``,
``latent_dim`` and ``activation`` are :class:`VAE`'s arguments."""


def iwae_learning_rate(steps_per_epoch: int) -> optax.Schedule:
    r"""The IWAE paper's schedule as described by Burda et al. (2016): learning rate
    :math:`10^{-3}\cdot 10^{-i/7}` for :math:`3^i` epochs, :math:`i = 0, \dots, 7` (3280 epochs
    in all), as a function of the step. The 3280 epochs are checked against the authors' code;
    the rates are as remembered from the paper, not re-checked (papers.md section 1c)."""
    steps_per_epoch = check_positive_int("iwae_learning_rate", "steps_per_epoch", steps_per_epoch)
    boundaries, total = {}, 0
    for i in range(7):
        total += 3**i * steps_per_epoch
        boundaries[total] = 10.0 ** (-1.0 / 7.0)
    return optax.piecewise_constant_schedule(1e-3, boundaries)


class VAE(nnx.Module):
    r"""A variational autoencoder for binary vectors (Kingma and Welling; Rezende et al.).

    - prior :math:`p(z) = \mathcal N(0, I_L)`;
    - decoder :math:`p_\theta(x \mid z) = \prod_d \operatorname{Bern}(x_d; \sigma(\ell_d(z)))`,
      an MLP that outputs the logits :math:`\ell(z)`;
    - encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu(x), \operatorname{diag}\sigma^2(x))`, an
      MLP that outputs :math:`\mu` and :math:`\log\sigma^2`.

    The bounds follow the latent-variable contract: ``elbo(key, x)``, ``iwae_bound(key, x, k)``
    and ``log_prob_is(key, x, k)``, each ``(batch,)`` in nats for ``x`` of shape
    ``(batch, D)``. All ``k`` samples are drawn and decoded in one batched pass.

    Args:
        d: :math:`D`, the data dimension.
        latent_dim: :math:`L`, the dimension of :math:`z`.
        hidden_sizes: widths of the hidden layers of the encoder (the decoder mirrors them),
            e.g. ``(200, 200)``; ``()`` for linear maps.
        activation: ``"tanh"`` (the IWAE paper), ``"relu"`` or ``"softplus"``.
        rngs: ``nnx.Rngs`` for the initial weights.
    """

    def __init__(
        self,
        d: int,
        latent_dim: int,
        hidden_sizes: Sequence[int] = (200, 200),
        activation: str = "tanh",
        *,
        rngs: nnx.Rngs,
    ) -> None:
        where = "VAE"
        d = check_positive_int(where, "d", d)
        latent = check_positive_int(where, "latent_dim", latent_dim)
        widths = check_hidden_sizes(where, hidden_sizes)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{where}: argument 'activation' must be one of {sorted(ACTIVATIONS)}; "
                f"got {activation!r}"
            )
        rngs = check_rngs(where, rngs)
        self.d, self.latent_dim, self.hidden_sizes = d, latent, widths
        self.encoder = MLP([d, *widths, 2 * latent], activation, rngs=rngs)
        self.decoder = MLP([latent, *widths[::-1], d], activation, rngs=rngs)

    # Checks of the public methods' arguments, and the unchecked kernels they call.

    def _x(self, where: str, x: Array) -> Array:
        return check_array(where, "x", x, shape=("batch", self.d), kind="number").astype(
            jnp.float32
        )

    def _encode(self, x: Array) -> tuple[Array, Array]:
        h = self.encoder(x)
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def _log_weights(self, key: Array, x: Array, k: int) -> tuple[Array, Array, Array, Array]:
        """``(log p(x|z), log p(z), log q(z|x), (mean, log_var))`` at k draws: ``(k, batch)``."""
        mean, log_var = self._encode(x)
        z = prob.sample_diag_normal(key, jnp.broadcast_to(mean, (k, *mean.shape)), log_var)
        log_px = jnp.sum(prob.log_bernoulli(x, self.decoder(z)), axis=-1)
        log_pz = prob.log_diag_normal(z, jnp.zeros_like(z), jnp.zeros_like(z))
        log_qz = prob.log_diag_normal(z, mean, log_var)
        return log_px, log_pz, log_qz, (mean, log_var)

    def _log_w(self, key: Array, x: Array, k: int) -> Array:
        return log_weights(*self._log_weights(key, x, k)[:3])

    def _elbo_terms(self, key: Array, x: Array, k: int) -> ElboTerms:
        log_px, _, _, (mean, log_var) = self._log_weights(key, x, k)
        return elbo_terms_analytic(log_px, mean, log_var)

    # The public methods.

    def encode(self, x: Array) -> tuple[Array, Array]:
        r"""The encoder's ``(mean, log_var)`` of :math:`q_\phi(z \mid x)`, each
        ``(batch, L)``."""
        return self._encode(self._x("VAE.encode", x))

    def decode(self, z: Array) -> Array:
        r"""The decoder's pixel logits :math:`\ell(z)`: ``(..., D)`` for ``z`` ``(..., L)``."""
        z = check_array("VAE.decode", "z", z, shape=(..., self.latent_dim))
        return self.decoder(z)

    def log_weights(self, key: Array, x: Array, k: int) -> Array:
        r"""The log-weights :math:`\log w_i = \log p(x \mid z_i) + \log p(z_i) - \log q(z_i
        \mid x)` of ``k`` draws :math:`z_i \sim q(z \mid x)`, shape ``(k, batch)``, nats: what
        every bound of the chapter is a function of
        (:func:`dgm_lib.latent.bounds.log_weights`)."""
        where = "VAE.log_weights"
        key = check_key(where, key)
        x, k = self._x(where, x), check_positive_int(where, "k", k)
        return self._log_w(key, x, k)

    def elbo(self, key: Array, x: Array) -> Array:
        r"""One-sample ELBO :math:`\log p(x \mid z) + \log p(z) - \log q(z \mid x)`,
        :math:`z \sim q`; ``(batch,)``, nats. Equals ``iwae_bound(key, x, 1)`` for the same
        key."""
        key = check_key("VAE.elbo", key)
        x = self._x("VAE.elbo", x)
        return elbo(*self._log_weights(key, x, 1)[:3])

    def elbo_terms(self, key: Array, x: Array, k: int = 1) -> ElboTerms:
        """The ELBO with the KL in closed form
        (:func:`dgm_lib.latent.bounds.elbo_terms_analytic`) from ``k`` draws: reconstruction,
        KL and their difference, each ``(batch,)``, nats."""
        where = "VAE.elbo_terms"
        key = check_key(where, key)
        x, k = self._x(where, x), check_positive_int(where, "k", k)
        return self._elbo_terms(key, x, k)

    def iwae_bound(self, key: Array, x: Array, k: int) -> Array:
        """The ``k``-sample bound :func:`dgm_lib.latent.bounds.iwae_bound` from one batched
        pass; ``(batch,)``, nats."""
        where = "VAE.iwae_bound"
        key = check_key(where, key)
        x, k = self._x(where, x), check_positive_int(where, "k", k)
        return iwae_bound(self._log_w(key, x, k))

    def log_prob_is(self, key: Array, x: Array, k: int, chunk: int = 500) -> Array:
        r"""Importance-sampled :math:`\log p(x) \approx \log\frac1k\sum_{i=1}^k w_i` with
        :math:`q(z \mid x)` as proposal (the IWAE protocol uses :math:`k = 5000`);
        ``(batch,)``, nats.

        The draws are made ``chunk`` at a time inside ``lax.scan`` with a running
        log-sum-exp, so memory is bounded by ``chunk * batch * D`` whatever ``k`` is; the
        result is the same estimator as ``iwae_bound(key, x, k)`` (a lower bound in
        expectation, tight as ``k`` grows).
        """
        where = "VAE.log_prob_is"
        key = check_key(where, key)
        x, k = self._x(where, x), check_positive_int(where, "k", k)
        c = min(check_positive_int(where, "chunk", chunk), k)
        n_chunks = -(-k // c)

        def body(acc: Array, i: Array) -> tuple[Array, None]:
            lw = self._log_w(jax.random.fold_in(key, i), x, c)
            keep = (i * c + jnp.arange(c)) < k  # the last chunk may run past k
            lse = jax.nn.logsumexp(jnp.where(keep[:, None], lw, -jnp.inf), axis=0)
            return jnp.logaddexp(acc, lse), None

        start = jnp.full((x.shape[0],), -jnp.inf, jnp.float32)
        total, _ = lax.scan(body, start, jnp.arange(n_chunks))
        return total - math.log(k)

    def sample(self, key: Array, n: int) -> Array:
        r"""``n`` binary vectors by ancestral sampling, :math:`z \sim p(z)` then
        :math:`x \sim p(x \mid z)`; shape ``(n, D)``, float32."""
        where = "VAE.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        kz, kx = jax.random.split(key)
        z = jax.random.normal(kz, (n, self.latent_dim))
        return prob.sample_bernoulli(kx, self.decoder(z)).astype(jnp.float32)

    def reconstruct(self, x: Array) -> Array:
        r"""Pixel probabilities :math:`\sigma(\ell(\mu(x)))` decoded at the encoder's mean;
        ``(batch, D)`` in ``[0, 1]`` (for display)."""
        mean, _ = self._encode(self._x("VAE.reconstruct", x))
        return jax.nn.sigmoid(self.decoder(mean))


def _check_vae(where: str, model: VAE) -> VAE:
    if not isinstance(model, VAE):
        raise TypeError(f"{where}: argument 'model' must be a VAE; got {type(model).__name__}")
    return model


def vae_loss(model: VAE, batch: Array, key: Array) -> Array:
    """The loss for :func:`dgm_lib.train.fit`: minus the mean one-sample ELBO with analytic KL
    over the batch, in nats."""
    where = "vae_loss"
    model, key = _check_vae(where, model), check_key(where, key)
    return -jnp.mean(model._elbo_terms(key, model._x(where, batch), 1).elbo)


def iwae_loss(k: int) -> Callable[[VAE, Array, Array], Array]:
    """The loss ``(model, batch, key) -> -mean IWAE bound`` with ``k`` samples, differentiated
    through :func:`dgm_lib.latent.bounds.iwae_surrogate`. Two losses made with the same ``k``
    share one compilation of ``fit`` (they have the same structural key)."""
    k = check_positive_int("iwae_loss", "k", k)

    def loss(model: VAE, batch: Array, key: Array) -> Array:
        where = "iwae_loss"
        model, key = _check_vae(where, model), check_key(where, key)
        return -jnp.mean(iwae_surrogate(model._log_w(key, model._x(where, batch), k)))

    return loss


class LinearGaussianVAE(nnx.Module):
    r"""The linear-Gaussian model with a linear amortised encoder: a VAE small enough to
    integrate, so the gap :math:`\log p_\theta(x) - \mathcal L(\theta, \phi; x)` is exact.

    - decoder :math:`p_\theta(x \mid z) = \mathcal N(Wz + b, \sigma^2 I_D)`, prior
      :math:`\mathcal N(0, I_L)` (see :func:`dgm_lib.latent.exact.linear_gaussian_log_joint`);
    - encoder :math:`q_\phi(z \mid x) = \mathcal N(Ax + c, \operatorname{diag} e^{s})`.

    The exact posterior has a mean linear in :math:`x` and a covariance free of :math:`x`, so a
    diagonal :math:`q_\phi` can close the gap exactly when :math:`L = 1` (and when the
    posterior covariance is diagonal). ``elbo(key, x, train=...)`` is the one-sample
    reparameterised ELBO; ``train="encoder"`` or ``"decoder"`` stops the gradient of the other
    half, to watch each half's effect on the bound.

    Args:
        d: :math:`D`, the data dimension.
        latent_dim: :math:`L`, the dimension of :math:`z`.
        rngs: ``nnx.Rngs`` for the initial :math:`W` (the rest starts at zero).
    """

    def __init__(self, d: int, latent_dim: int, *, rngs: nnx.Rngs) -> None:
        where = "LinearGaussianVAE"
        d = check_positive_int(where, "d", d)
        latent = check_positive_int(where, "latent_dim", latent_dim)
        rngs = check_rngs(where, rngs)
        self.d, self.latent_dim = d, latent
        self.w = nnx.Param(jax.random.normal(rngs.params(), (d, latent)) * 0.5)
        self.b = nnx.Param(jnp.zeros((d,)))
        self.log_var = nnx.Param(jnp.zeros(()))
        self.a = nnx.Param(jnp.zeros((latent, d)))
        self.c = nnx.Param(jnp.zeros((latent,)))
        self.log_var_q = nnx.Param(jnp.zeros((latent,)))

    def _x(self, where: str, x: Array) -> Array:
        return check_array(where, "x", x, shape=("batch", self.d))

    def _encode(self, x: Array) -> tuple[Array, Array]:
        return x @ self.a[...].T + self.c[...], self.log_var_q[...]

    def decoder_params(self) -> tuple[Array, Array, Array]:
        r"""``(W (D, L), b (D,), log_var ())``, the decoder's :math:`W`, :math:`b` and
        :math:`\log\sigma^2`."""
        return self.w[...], self.b[...], self.log_var[...]

    def encode(self, x: Array) -> tuple[Array, Array]:
        r"""``(mean (batch, L), log_var (L,))`` of :math:`q_\phi(z \mid x)`."""
        return self._encode(self._x("LinearGaussianVAE.encode", x))

    def elbo(self, key: Array, x: Array, train: str = "both") -> Array:
        """One-sample reparameterised ELBO, ``(batch,)``, nats; ``train`` in ``"both"``,
        ``"encoder"``, ``"decoder"`` says which half the gradient reaches."""
        where = "LinearGaussianVAE.elbo"
        key, x = check_key(where, key), self._x(where, x)
        if train not in ("both", "encoder", "decoder"):
            raise ValueError(
                f"{where}: argument 'train' must be 'both', 'encoder' or 'decoder'; got {train!r}"
            )
        mean, log_var_q = self._encode(x)
        dec = self.decoder_params()
        if train == "encoder":
            dec = lax.stop_gradient(dec)
        if train == "decoder":
            mean, log_var_q = lax.stop_gradient((mean, log_var_q))
        z = mean + jnp.exp(0.5 * log_var_q) * jax.random.normal(key, mean.shape)
        log_q = prob.log_diag_normal(z, mean, jnp.broadcast_to(log_var_q, mean.shape))
        return linear_gaussian_log_joint(x, z, *dec) - log_q

    def exact_elbo(self, x: Array) -> Array:
        """The ELBO without sampling (:func:`dgm_lib.latent.exact.linear_gaussian_elbo`),
        ``(batch,)``, nats."""
        x = self._x("LinearGaussianVAE.exact_elbo", x)
        mean, log_var_q = self._encode(x)
        return linear_gaussian_elbo(x, mean, jnp.diag(jnp.exp(log_var_q)), *self.decoder_params())

    def log_prob(self, x: Array) -> Array:
        r"""Exact :math:`\log p_\theta(x)`
        (:func:`dgm_lib.latent.exact.linear_gaussian_log_marginal`), ``(batch,)``, nats."""
        x = self._x("LinearGaussianVAE.log_prob", x)
        return linear_gaussian_log_marginal(x, *self.decoder_params())
