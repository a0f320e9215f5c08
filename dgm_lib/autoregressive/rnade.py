r"""RNADE: NADE for real-valued vectors, with mixture-of-Gaussians conditionals.

Uria, Murray and Larochelle (2013) keep NADE's chain rule and its shared hidden units and
replace each Bernoulli conditional by a mixture of ``K`` univariate Gaussians:

.. math:: p(x) = \prod_{i=1}^{D} p(x_i \mid x_{<i}), \qquad
          p(x_i \mid x_{<i}) = \sum_{k=1}^{K} \pi_{ik}\,
          \mathcal N\bigl(x_i; \mu_{ik}, \sigma_{ik}^2\bigr),

where the mixture parameters are read off the shared hidden layer of NADE,

.. math:: a_i = c + \sum_{j<i} W_{:, j}\, x_j, \qquad h_i = \operatorname{relu}(a_i), \qquad
          (\alpha_i, \mu_i, \log\sigma_i^2) = b_i + V_i^\top h_i \in \mathbb R^{3K},

with :math:`\pi_i = \operatorname{softmax}(\alpha_i)`. As in NADE the pre-activations of all
``D`` conditionals are one exclusive cumulative sum
(:func:`dgm_lib.autoregressive.nade_preactivations`), so the density is one parallel pass, and
sampling is the autoregressive models' one sampler (:func:`dgm_lib.autoregressive.scan_sample`)
with a mixture-of-Gaussians draw, carrying the running pre-activation. The
log-density is in nats (per example, summed over the ``D`` coordinates).

The book fits it to 2-D toy data (:mod:`dgm_lib.toy2d`), where the exact entropy of the data
is the best NLL any model can reach: ``RNADE(2, 64, 10, rngs=nnx.Rngs(0))``, then
``train.fit(model, train.nll_loss, x, ...)``.
Parameters are initialised for data of roughly unit scale (means near zero, unit variances).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..checks import check_array, check_key, check_positive_int, check_rngs
from ..nn import host_rng
from ..probability import log_normal
from .base import Recurrence, check_observed, scan_sample
from .nade import nade_preactivations

Array = jax.Array

__all__ = ["RNADE", "log_prob_from_mixtures", "rnade_mixtures"]
MixtureParams = tuple[Array, Array, Array]


def rnade_mixtures(
    weight: Array, bias: Array, out_weight: Array, out_bias: Array, x: Array
) -> MixtureParams:
    r"""The mixture parameters of all ``D`` conditionals :math:`p(x_i \mid x_{<i})` at once:

    .. math:: h_i = \operatorname{relu}\Bigl(c + \sum_{j<i} W_{:, j}\, x_j\Bigr), \qquad
              [\alpha_i \,|\, \mu_i \,|\, \log\sigma^2_i] = b_i + V_i^\top h_i.

    Args:
        weight: :math:`W`, float32 of shape ``(H, D)``.
        bias: :math:`c`, float32 of shape ``(H,)``.
        out_weight: :math:`V`, float32 of shape ``(D, H, 3K)``; the last axis holds the ``K``
            mixture logits, then the ``K`` means, then the ``K`` log-variances.
        out_bias: :math:`b`, float32 of shape ``(D, 3K)``, same layout.
        x: float32, shape ``(batch, D)``.

    Returns:
        ``(logits, means, log_vars)``, each float32 of shape ``(batch, D, K)``; entry ``i``
        depends on ``x[:, :i]`` only.
    """
    where = "rnade_mixtures"
    weight = check_array(where, "weight", weight, shape=("H", "D"))
    h, d = weight.shape
    out_weight = check_array(where, "out_weight", out_weight, shape=(d, h, "3K"))
    if out_weight.shape[2] % 3:
        raise ValueError(
            f"{where}: argument 'out_weight' must have shape ({d}, {h}, 3K), a last axis "
            f"divisible by 3; got shape {out_weight.shape}"
        )
    out_bias = check_array(where, "out_bias", out_bias, shape=(d, out_weight.shape[2]))
    bias = check_array(where, "bias", bias, shape=(h,))
    x = check_array(where, "x", x, shape=("batch", d))
    return _rnade_mixtures(weight, bias, out_weight, out_bias, x)


@jax.jit
def _rnade_mixtures(
    weight: Array, bias: Array, out_weight: Array, out_bias: Array, x: Array
) -> MixtureParams:
    hidden = jax.nn.relu(nade_preactivations(weight, bias, x))  # (batch, D, H)
    out = out_bias + jnp.einsum("bdh,dhp->bdp", hidden, out_weight)
    logits, means, log_vars = jnp.split(out, 3, axis=-1)
    return logits, means, log_vars


def log_prob_from_mixtures(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    r"""The log-density of ``x`` under independent per-coordinate Gaussian mixtures, in nats:

    .. math:: \log p(x) = \sum_{i=1}^{D} \log \sum_{k=1}^{K}
              \operatorname{softmax}(\alpha_i)_k\, \mathcal N(x_i; \mu_{ik}, \sigma^2_{ik}),

    a ``logsumexp`` over components of ``log_softmax(logits) + log N``. With the parameters of
    :func:`rnade_mixtures` this is the RNADE log-likelihood (the chain rule).

    Args:
        x: float32, shape ``(batch, D)``.
        logits, means, log_vars: float32, shape ``(batch, D, K)``; ``log_vars`` are
            :math:`\log\sigma^2`.

    Returns:
        float32 array of shape ``(batch,)``, nats.
    """
    where = "log_prob_from_mixtures"
    x = check_array(where, "x", x, shape=("batch", "D"))
    logits = check_array(where, "logits", logits, shape=(*x.shape, "K"))
    means = check_array(where, "means", means, shape=logits.shape)
    log_vars = check_array(where, "log_vars", log_vars, shape=logits.shape)
    return _log_prob_from_mixtures(x, logits, means, log_vars)


@jax.jit
def _log_prob_from_mixtures(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    joint = jax.nn.log_softmax(logits, axis=-1) + log_normal(x[..., None], means, log_vars)
    return jnp.sum(jax.nn.logsumexp(joint, axis=-1), axis=-1)


def _draw_mixture(key: Array, mixture: MixtureParams) -> Array:
    r"""One draw per row from a mixture of univariate Gaussians, ``(logits, means, log_vars)``
    each ``(n, K)``: the component :math:`k \sim \operatorname{softmax}(\alpha)`, then
    :math:`x = \mu_k + \sigma_k \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, 1)`.
    The per-step draw RNADE passes to :func:`~dgm_lib.autoregressive.scan_sample`."""
    logits, means, log_vars = mixture
    key_component, key_noise = jax.random.split(key)
    component = jax.random.categorical(key_component, logits, axis=-1)[:, None]
    mean = jnp.take_along_axis(means, component, axis=1)[:, 0]
    log_var = jnp.take_along_axis(log_vars, component, axis=1)[:, 0]
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(key_noise, mean.shape)


class RNADE(nnx.Module):
    r"""RNADE over :math:`\mathbb R^D` (natural order), ``hidden_size`` shared ReLU units and
    ``num_components`` Gaussians per conditional; see :func:`rnade_mixtures`.

    Parameters (``nnx.Param``): ``weight`` ``(H, D)`` :math:`\sim \mathcal N(0, 1/D)`, ``bias``
    ``(H,)`` :math:`\sim \mathcal N(0, 1)` (so the first conditional's hidden units are not all
    off), ``out_weight`` ``(D, H, 3K)`` :math:`\sim \mathcal N(0, 0.1^2/H)`, ``out_bias``
    ``(D, 3K)``: logits 0, means :math:`\sim \mathcal N(0, 1)`, log-variances 0.

    Args:
        d: the dimension ``D`` of the data.
        hidden_size: the number of hidden units ``H``.
        num_components: ``K``, Gaussians per conditional.
        rngs: ``nnx.Rngs`` for the initial parameters (one ``rngs.params()`` key).

    Members: ``conditionals(x) -> (logits, means, log_vars)`` each ``(batch, D, K)``;
    ``log_prob(x) -> (batch,)`` nats; ``sample(key, n, observed=None) -> (n, D)``;
    ``recurrence(canvas)``.
    """

    def __init__(self, d: int, hidden_size: int, num_components: int, *, rngs: nnx.Rngs) -> None:
        where = "RNADE"
        self.d = check_positive_int(where, "d", d)
        self.hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        self.num_components = check_positive_int(where, "num_components", num_components)
        d, h, k = self.d, self.hidden_size, self.num_components
        # Host draws seeded by the key (as train.fit orders batches): no device compile per shape.
        rng = host_rng(check_rngs(where, rngs).params())
        zeros = np.zeros((d, k))
        params = {
            "weight": rng.standard_normal((h, d)) / np.sqrt(d),
            "bias": rng.standard_normal(h),
            "out_weight": 0.1 * rng.standard_normal((d, h, 3 * k)) / np.sqrt(h),
            "out_bias": np.concatenate([zeros, rng.standard_normal((d, k)), zeros], axis=1),
        }
        for name, value in params.items():
            setattr(self, name, nnx.Param(jnp.asarray(value, jnp.float32)))

    def _check_x(self, method: str, x: Array, name: str = "x") -> Array:
        return check_array(f"RNADE.{method}", name, x, shape=("batch", self.d))

    def _mixtures(self, x: Array) -> MixtureParams:
        return _rnade_mixtures(
            self.weight[...], self.bias[...], self.out_weight[...], self.out_bias[...], x
        )

    def conditionals(self, x: Array) -> MixtureParams:
        r"""The mixture parameters of :math:`p(x_i \mid x_{<i})` for all ``i``
        (:func:`rnade_mixtures`): ``(logits, means, log_vars)``, each ``(batch, D, K)``."""
        return self._mixtures(self._check_x("conditionals", x))

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log p(x) = \sum_i \log p(x_i \mid x_{<i})`, shape ``(batch,)``, nats."""
        x = self._check_x("log_prob", x)
        return _log_prob_from_mixtures(x, *self._mixtures(x))

    def recurrence(self, canvas: Array) -> Recurrence:
        r"""The :class:`~dgm_lib.autoregressive.Recurrence` that :meth:`sample` scans, from
        ``canvas`` (float32 ``(n, D)``): carry the running pre-activation :math:`a_i`
        (``(n, H)``, from :math:`a_1 = c`) as NADE does; read the mixture parameters of
        variable ``i``, :math:`b_i + V_i^\top \operatorname{relu}(a_i)` split into
        ``(logits, means, log_vars)`` each ``(n, K)``; write
        :math:`a_{i+1} = a_i + W_{:, i}\, x_i`."""
        return self._recurrence(self._check_x("recurrence", canvas, "canvas"))

    def _recurrence(self, canvas: Array) -> Recurrence:
        out_weight, out_bias = self.out_weight[...], self.out_bias[...]
        columns = self.weight[...].T  # (D, H), once: row i is the contiguous W_{:, i}
        a0 = jnp.broadcast_to(self.bias[...], (canvas.shape[0], self.hidden_size))

        def read(a: Array, i: Array) -> MixtureParams:
            out = jax.nn.relu(a) @ out_weight[i] + out_bias[i]  # (n, 3K)
            logits, means, log_vars = jnp.split(out, 3, axis=-1)
            return logits, means, log_vars

        def write(a: Array, i: Array, x_i: Array) -> Array:
            return a + x_i[:, None] * columns[i]

        return Recurrence(a0, read, write)

    def sample(self, key: Array, n: int, observed: tuple[Array, Array] | None = None) -> Array:
        r"""``n`` samples by ancestral sampling, one ``lax.scan`` over the dimensions
        (:func:`~dgm_lib.autoregressive.scan_sample` of :meth:`recurrence`): at step ``i``
        draw the component :math:`k \sim \operatorname{softmax}(\alpha_i)`, then
        :math:`x_i \sim \mathcal N(\mu_{ik}, \sigma^2_{ik})`, given the :math:`x_{<i}` drawn
        so far.

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            observed: ``None`` or ``(values (n, D), mask (n, D) or (D,))``; the entries where
                ``mask`` is true are kept exactly and condition the later draws.

        Returns:
            float32 array of shape ``(n, D)``.
        """
        where = "RNADE.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        values, mask = check_observed(where, observed, n, self.d)
        graphdef, state = nnx.split(self)
        return _sample_split(graphdef, state, key, values, mask)


@partial(jax.jit, static_argnums=0)
def _sample_split(
    graphdef: nnx.GraphDef, state: nnx.State, key: Array, values: Array, mask: Array
) -> Array:
    """:meth:`RNADE.sample` compiled once per graph, for every parameter value."""
    model = nnx.merge(graphdef, state, copy=True)
    recurrence = model._recurrence(jnp.where(mask, values, 0.0))
    return scan_sample(key, recurrence, values, mask, draw=_draw_mixture)
