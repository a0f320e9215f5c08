r"""The restricted Boltzmann machine (RBM): binary visible units :math:`v \in \{0,1\}^d`, binary
hidden units :math:`h \in \{0,1\}^H`, and connections only between the two layers,

.. math:: E(v, h) = -b^\top v - c^\top h - v^\top W h, \qquad p(v, h) = \frac{e^{-E(v, h)}}{Z}.

No hidden-hidden or visible-visible edges means each layer is independent given the other:

.. math:: p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j}), \qquad
          p(v_i = 1 \mid h) = \sigma(b_i + W_{i:} h),

so block Gibbs sampling alternates two parallel draws; and the hidden units sum out in closed
form, leaving the free energy of the visible vector,

.. math:: p(v) = \frac{e^{-F(v)}}{Z}, \qquad
          F(v) = -b^\top v - \sum_{j=1}^H \operatorname{softplus}(c_j + v^\top W_{:j}).

By the same sum over the other layer, :math:`\log Z = \log\sum_h \exp\big(c^\top h +
\sum_i \operatorname{softplus}(b_i + W_{i:} h)\big)`: exact when either layer has at most 20
units. Otherwise :func:`rbm_ais` estimates it by annealed importance sampling (Salakhutdinov and
Murray 2008), from the base-rate model :math:`p_0(v) = \prod_i \mathrm{Bern}(v_i;
\sigma(a_i))` through :math:`f_\beta(v, h) = \exp\big((1-\beta) a^\top v - \beta E(v, h)\big)`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..ais import AISResult, ais
from ..checks import check_array, check_int_at_least, check_key, check_positive_int, check_rngs
from ..enumeration import MAX_BINARY_DIM, all_binary_vectors
from ..samplers import ChainResult, run_chain

__all__ = ["RBM", "base_rate_logits", "rbm_ais"]


def base_rate_logits(x: Array, smoothing: float = 1.0) -> Array:
    r"""Logits of each pixel's smoothed frequency of ones in binary data ``x`` ``(n, d)``:
    :math:`a_i = \log\frac{n_i + \alpha}{n - n_i + \alpha}` with :math:`n_i` the count of ones
    and :math:`\alpha` = ``smoothing`` (so a pixel that is never on gets a finite logit). The
    maximum-likelihood product of Bernoullis, and the usual start for an RBM's visible bias and
    for AIS's base model."""
    x = check_array("base_rate_logits", "x", x, shape=("n", "d"), kind="number")
    ones = jnp.sum(x.astype(jnp.float32), axis=0)
    return jnp.log(ones + smoothing) - jnp.log(x.shape[0] - ones + smoothing)


def _tempered_gibbs(
    key: Array, v: Array, w: Array, b: Array, c: Array, beta: Array, base: Array
) -> Array:
    """One block Gibbs sweep (h | v, then v | h) of f_beta(v, h); beta = 1 is the RBM."""
    h_key, v_key = jax.random.split(key)
    h = jax.random.bernoulli(h_key, jax.nn.sigmoid(beta * (c + v @ w))).astype(v.dtype)
    logits = (1.0 - beta) * base + beta * (b + h @ w.T)
    return jax.random.bernoulli(v_key, jax.nn.sigmoid(logits)).astype(v.dtype)


def _tempered_log_density(
    v: Array, w: Array, b: Array, c: Array, beta: Array, base: Array
) -> Array:
    r""":math:`\log\sum_h f_\beta(v, h) = (1-\beta)a^\top v + \beta b^\top v +
    \sum_j \operatorname{softplus}(\beta(c_j + v^\top W_{:j}))`."""
    return v @ ((1.0 - beta) * base + beta * b) + jnp.sum(
        jax.nn.softplus(beta * (c + v @ w)), axis=-1
    )


class RBM(nnx.Module):
    """A binary restricted Boltzmann machine with ``d`` visible and ``num_hidden`` hidden units.

    Parameters ``W`` ``(d, num_hidden)``, drawn from :math:`\\mathcal N(0, \\text{init\\_std}^2)`,
    visible bias ``b`` (zeros; set it to :func:`base_rate_logits` of the data for a faster
    start) and hidden bias ``c`` (zeros). Visible vectors are float arrays of 0 and 1, shape
    ``(n, d)``.
    """

    def __init__(self, d: int, num_hidden: int, *, init_std: float = 0.01, rngs: nnx.Rngs):
        where = "RBM"
        self.d = check_positive_int(where, "d", d)
        self.num_hidden = check_positive_int(where, "num_hidden", num_hidden)
        rngs = check_rngs(where, rngs)
        self.W = nnx.Param(init_std * jax.random.normal(rngs.params(), (d, num_hidden)))
        self.b = nnx.Param(jnp.zeros((d,), jnp.float32))
        self.c = nnx.Param(jnp.zeros((num_hidden,), jnp.float32))

    def _check_visible(self, where: str, v: Array) -> Array:
        return check_array(where, "v", v, shape=("n", self.d), kind="number").astype(jnp.float32)

    def _params(self) -> tuple[Array, Array, Array]:
        return self.W[...], self.b[...], self.c[...]

    def _free_energy(self, v: Array) -> Array:
        w, b, c = self._params()
        return -_tempered_log_density(v, w, b, c, jnp.float32(1.0), b)

    def joint_energy(self, v: Array, h: Array) -> Array:
        r""":math:`E(v, h) = -b^\top v - c^\top h - v^\top W h` for ``v`` ``(n, d)`` and ``h``
        ``(n, num_hidden)``; shape ``(n,)``."""
        where = "RBM.joint_energy"
        v = self._check_visible(where, v)
        h = check_array(where, "h", h, shape=(v.shape[0], self.num_hidden), kind="number")
        w, b, c = self._params()
        h = h.astype(jnp.float32)
        return -(v @ b) - (h @ c) - jnp.sum((v @ w) * h, axis=-1)

    def free_energy(self, v: Array) -> Array:
        r"""The free energy :math:`F(v) = -b^\top v - \sum_j \operatorname{softplus}(c_j +
        v^\top W_{:j})`, so that :math:`p(v) = e^{-F(v)}/Z`; shape ``(n,)``."""
        return self._free_energy(self._check_visible("RBM.free_energy", v))

    def energy(self, v: Array) -> Array:
        """The energy of the visible vector, the free energy :math:`F(v)` (the energy-based
        contract's ``energy(x)``); shape ``(n,)``."""
        return self._free_energy(self._check_visible("RBM.energy", v))

    def hidden_probs(self, v: Array) -> Array:
        r""":math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})`, shape ``(n, num_hidden)``."""
        v = self._check_visible("RBM.hidden_probs", v)
        return jax.nn.sigmoid(self.c[...] + v @ self.W[...])

    def gibbs_step(self, key: Array, v: Array) -> Array:
        r"""One block Gibbs sweep, :math:`h \sim p(h \mid v)` then :math:`v' \sim p(v \mid h)`;
        it leaves :math:`p(v)` invariant. Returns ``v'``, shape ``(n, d)``."""
        where = "RBM.gibbs_step"
        key = check_key(where, key)
        v = self._check_visible(where, v)
        w, b, c = self._params()
        return _tempered_gibbs(key, v, w, b, c, jnp.float32(1.0), b)

    def gibbs_chain(
        self, key: Array, v0: Array, *, num_steps: int, num_recorded: int = 0
    ) -> ChainResult:
        """``num_steps`` block Gibbs sweeps from ``v0`` ``(n, d)``, as
        :func:`dgm_lib.samplers.run_chain` (final and recorded states)."""
        v0 = self._check_visible("RBM.gibbs_chain", v0)
        w, b, c = self._params()
        one = jnp.float32(1.0)

        def transition(k: Array, v: Array) -> tuple[Array, Array]:
            return _tempered_gibbs(k, v, w, b, c, one, b), jnp.ones(v.shape[:1])

        return run_chain(key, transition, v0, num_steps=num_steps, num_recorded=num_recorded)

    def sample(self, key: Array, n: int, *, num_steps: int = 1000) -> Array:
        r"""``n`` approximate samples: ``num_steps`` Gibbs sweeps from draws of the visible
        biases' product of Bernoullis :math:`\prod_i \mathrm{Bern}(\sigma(b_i))`. Shape
        ``(n, d)``; exact only as ``num_steps`` grows (the chain must mix)."""
        where = "RBM.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        start_key, chain_key = jax.random.split(key)
        v0 = jax.random.bernoulli(start_key, jax.nn.sigmoid(self.b[...]), (n, self.d))
        return self.gibbs_chain(chain_key, v0.astype(jnp.float32), num_steps=num_steps).final

    def log_partition(self) -> Array:
        r""":math:`\log Z`, exact, by summing over every state of the smaller layer (at most 20
        units): over :math:`h`, :math:`\log\sum_h \exp(c^\top h + \sum_i
        \operatorname{softplus}(b_i + W_{i:} h))`; over :math:`v`, :math:`\log\sum_v
        e^{-F(v)}`. Raises for larger RBMs: estimate with :func:`rbm_ais`."""
        smaller = min(self.d, self.num_hidden)
        if smaller > MAX_BINARY_DIM:
            raise ValueError(
                f"RBM.log_partition: both layers are too large to enumerate (d = {self.d}, "
                f"num_hidden = {self.num_hidden}; at most {MAX_BINARY_DIM} units in one layer); "
                "estimate log Z by annealed importance sampling, dgm_lib.energy.rbm_ais"
            )
        w, b, c = self._params()
        if self.num_hidden <= self.d:
            h = all_binary_vectors(self.num_hidden)
            log_f = h @ c + jnp.sum(jax.nn.softplus(b + h @ w.T), axis=-1)
        else:
            log_f = -self._free_energy(all_binary_vectors(self.d))
        return jax.nn.logsumexp(log_f)

    def log_prob(self, v: Array) -> Array:
        r""":math:`\log p(v) = -F(v) - \log Z`, exact (:meth:`log_partition`), shape ``(n,)``."""
        return -self.free_energy(v) - self.log_partition()


def rbm_ais(
    key: Array,
    rbm: RBM,
    betas: Array,
    *,
    num_chains: int,
    base_logits: Array | None = None,
) -> AISResult:
    r"""Estimate an RBM's :math:`\log Z` by annealed importance sampling (Salakhutdinov and
    Murray 2008).

    The base is the product of Bernoullis :math:`p_0(v) = \prod_i \mathrm{Bern}(v_i;
    \sigma(a_i))`, written as an RBM with the same hidden units and no weights, so
    :math:`Z_0 = 2^H \prod_i (1 + e^{a_i})`. The path is :math:`f_\beta(v, h) =
    \exp((1-\beta) a^\top v - \beta E(v, h))`, whose hidden units sum out
    (:math:`f_\beta(v) = \exp((1-\beta)a^\top v + \beta b^\top v)\prod_j (1 + e^{\beta(c_j +
    v^\top W_{:j})})`), and the transition at :math:`\beta` is a block Gibbs sweep of
    :math:`f_\beta(v, h)`.

    Args:
        key: a ``jax.random.key``.
        rbm: the model.
        betas: the schedule, from 0 to 1 (see :func:`dgm_lib.ais.ais`); Salakhutdinov and
            Murray used about 14,500 values, densest near 1.
        num_chains: independent runs, at least 2 (for an error bar).
        base_logits: :math:`a`, shape ``(d,)``; default the RBM's visible bias. The
            data's :func:`base_rate_logits` is the better base.

    Returns:
        The :class:`dgm_lib.ais.AISResult`, whose ``log_z`` estimates :math:`\log Z` in nats.
    """
    where = "rbm_ais"
    key = check_key(where, key)
    num_chains = check_int_at_least(where, "num_chains", num_chains, 2)
    w, b, c = rbm._params()
    base = b if base_logits is None else check_array(where, "base_logits", base_logits,
                                                     shape=(rbm.d,))
    start_key, run_key = jax.random.split(key)
    v0 = jax.random.bernoulli(start_key, jax.nn.sigmoid(base), (num_chains, rbm.d))
    log_z0 = rbm.num_hidden * math.log(2.0) + jnp.sum(jax.nn.softplus(base))
    return ais(
        run_key,
        v0.astype(jnp.float32),
        lambda v, beta: _tempered_log_density(v, w, b, c, beta, base),
        lambda k, v, beta: _tempered_gibbs(k, v, w, b, c, beta, base),
        betas,
        log_z0=log_z0,
    )
