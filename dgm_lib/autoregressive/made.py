r"""MADE, the masked autoencoder for distribution estimation (Germain et al., 2015).

An ordinary MLP from :math:`x \in \{0,1\}^D` to ``D`` logits becomes autoregressive once
some of its weights are multiplied by zero: masks built from the *degrees* of the units
(:mod:`dgm_lib.masks`, shared with MAF), whose product is strictly triangular in the ordering,
so output :math:`i` sees only the variables before it (:func:`dgm_lib.masks.mask_connectivity`,
:func:`dgm_lib.masks.autoregressive_violations`).

Order- and connectivity-agnostic training: a :class:`MADE` holds ``M`` sets of degrees (one
ordering and one set of hidden degrees each) and shares ONE set of weights among them. Each
training step picks one at random (:func:`made_loss`). At test time a single ordering gives a
normalised model (``ordering_log_prob(x, mask_index)``), and so does the ensemble that averages
the ``M`` PROBABILITIES, :math:`p(x) = \frac1M \sum_m p_m(x)`, a log-mean-exp: that ensemble
is the density a :class:`MADE` defines, its ``log_prob(x)`` (with ``M = 1`` the one ordering).
Averaging the logits instead mixes conditionals of different orderings and does not give a
normalised distribution.

The degrees are stored (integers, ``(M, size)`` per layer, not trained) and the masks are
rebuilt from them inside each pass, so 32 masks of an 8000-unit network cost kilobytes, and
the mask index can be a traced integer: one compiled training step serves every ordering.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from ..checks import (
    check_array,
    check_hidden_sizes,
    check_int_at_least,
    check_key,
    check_positive_int,
    check_rngs,
)
from ..masks import host_made_degrees, masked_mlp, masks_from_degrees
from ..nn import Frozen, host_rng
from ..probability import log_bernoulli, log_mean_exp
from .base import (
    AutoregressiveBernoulli,
    Recurrence,
    check_observed,
    scan_sample,
)

Array = jax.Array

__all__ = [
    "MADE",
    "MNIST_BEST_HIDDEN_SIZES",
    "MNIST_BEST_LEARNING_RATE",
    "MNIST_BEST_NUM_MASKS",
    "MNIST_HIDDEN_SIZES",
    "made_loss",
]

MNIST_HIDDEN_SIZES: tuple[int, ...] = (500,)
"""The paper's basic binarized-MNIST MADE, one hidden layer of 500 ReLU units."""

MNIST_BEST_HIDDEN_SIZES: tuple[int, ...] = (8000, 8000)
"""The paper's best binarized-MNIST MADE, two hidden layers of 8000 units each (trained with
:data:`MNIST_BEST_NUM_MASKS` masks and Adagrad at :data:`MNIST_BEST_LEARNING_RATE`; the
command line in the authors' code release, mgermain/MADE)."""

MNIST_BEST_NUM_MASKS = 32
"""Masks (orderings and connectivities) of the paper's best binarized-MNIST MADE."""

MNIST_BEST_LEARNING_RATE = 0.01
"""Adagrad learning rate of the paper's best binarized-MNIST MADE:
``optax.adagrad(MNIST_BEST_LEARNING_RATE)``."""


# --------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------


def _check_mask_index(where: str, mask_index: Any, num_masks: int) -> Array:
    """A Python int in ``[0, M)``, or an integer array of shape ``()`` (may be traced; an
    out-of-range traced index is clamped to ``[0, M)`` by the gather)."""
    if isinstance(mask_index, bool):
        raise TypeError(f"{where}: argument 'mask_index' must be an int; got {mask_index!r}")
    if isinstance(mask_index, (int, np.integer)):
        if not 0 <= mask_index < num_masks:
            raise ValueError(
                f"{where}: argument 'mask_index' must lie in [0, {num_masks}); got {mask_index}"
            )
        return jnp.int32(mask_index)
    return check_array(where, "mask_index", mask_index, shape=(), kind="int")


class MADE(AutoregressiveBernoulli):
    r"""MADE over :math:`\{0, 1\}^D`: one masked ReLU MLP, ``M`` orderings/connectivities.

    Its density is the ensemble of its ``M`` orderings, :math:`p(x) = \frac1M \sum_m p_m(x)`
    (:meth:`log_prob`); each ordering is a normalised model of its own
    (:meth:`ordering_log_prob`). Mask 0 always uses the natural ordering ``0..D-1``, and
    ``conditionals(x)``, ``recurrence(canvas)`` and ``sample(key, n)`` without a
    ``mask_index`` are those of ordering 0 (with ``M = 1``: of the model). Masks ``1..M-1``
    use random orderings when ``order_agnostic`` (else the natural one again); every mask
    draws its own hidden degrees when ``random_degrees`` (connectivity-agnostic), else all use
    the deterministic degrees of :func:`~dgm_lib.masks.made_degrees`.

    Parameters (``nnx.Param``): ``weights[l]`` ``(in, out)`` with
    :math:`\mathcal N(0, 2/\text{in})` entries and ``biases[l]`` zero. Not trained
    (:class:`dgm_lib.nn.Frozen`): ``degrees[l]`` of shape ``(M, size_l)``, inputs first.

    Args:
        d: the number of binary variables, ``D >= 2``.
        hidden_sizes: the hidden widths, e.g. :data:`MNIST_HIDDEN_SIZES`; ``()`` for none.
        num_masks: ``M``, the number of orderings/connectivities (1 = plain MADE).
        order_agnostic: random orderings for masks ``1..M-1``.
        random_degrees: draw hidden degrees at random (per mask) rather than deterministically.
        rngs: ``nnx.Rngs`` for the weights, the orderings and the hidden degrees (one
            ``rngs.params()`` key).

    Members: ``log_prob(x)`` (the ensemble), ``ordering_log_prob(x, mask_index)``,
    ``conditionals(x, mask_index=0)``, ``order(mask_index)``, ``masks(mask_index)``,
    ``recurrence(canvas, mask_index=0)``, ``sample(key, n, observed=None, mask_index=0)``;
    train with :func:`made_loss`.
    """

    def __init__(
        self,
        d: int,
        hidden_sizes: Sequence[int],
        *,
        num_masks: int = 1,
        order_agnostic: bool = True,
        random_degrees: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        where = "MADE"
        self.d = check_int_at_least(where, "d", d, 2)
        self.hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        self.num_masks = check_positive_int(where, "num_masks", num_masks)
        order_agnostic = _check_bool(where, "order_agnostic", order_agnostic)
        random_degrees = _check_bool(where, "random_degrees", random_degrees)
        key = check_rngs(where, rngs).params()
        weights, degrees = _init_made(
            key, self.d, self.hidden_sizes, self.num_masks, order_agnostic, random_degrees
        )
        self.weights = nnx.List([nnx.Param(w) for w in weights])
        self.biases = nnx.List([nnx.Param(jnp.zeros((w.shape[1],), jnp.float32)) for w in weights])
        self.degrees = nnx.List([Frozen(m) for m in degrees])

    # ---------------------------------------------------------------- unchecked kernels

    def _degrees(self, mask_index: Array) -> list[Array]:
        return [lax.dynamic_index_in_dim(v[...], mask_index, keepdims=False) for v in self.degrees]

    def _masks(self, mask_index: Array) -> list[Array]:
        return masks_from_degrees(self._degrees(mask_index))

    def _order(self, mask_index: Array) -> Array:
        return jnp.argsort(self._degrees(mask_index)[0]).astype(jnp.int32)

    def _conditionals(self, x: Array, mask_index: Array | int = 0) -> Array:
        weights = [w[...] for w in self.weights]
        biases = [b[...] for b in self.biases]
        return masked_mlp(weights, biases, self._masks(mask_index), x)

    def _ordering_log_prob(self, x: Array, mask_index: Array) -> Array:
        return jnp.sum(log_bernoulli(x, self._conditionals(x, mask_index)), axis=-1)

    def _recurrence(self, canvas: Array, mask_index: Array | int = 0) -> Recurrence:
        masked = [w[...] * m for w, m in zip(self.weights, self._masks(mask_index), strict=True)]
        biases = [b[...] for b in self.biases]
        a0 = jnp.broadcast_to(biases[0], (canvas.shape[0], masked[0].shape[1]))

        def read(a: Array, i: Array) -> Array:
            if len(masked) == 1:
                return a[:, i]
            h = jax.nn.relu(a)
            for w, b in zip(masked[1:-1], biases[1:-1], strict=True):
                h = jax.nn.relu(h @ w + b)
            return h @ masked[-1][:, i] + biases[-1][i]

        def write(a: Array, i: Array, x_i: Array) -> Array:
            return a + x_i[:, None] * masked[0][i]

        return Recurrence(a0, read, write)

    # ---------------------------------------------------------------- public, checked

    def masks(self, mask_index: int | Array = 0) -> list[Array]:
        """The float32 masks of ordering ``mask_index``, shapes ``(D, H_1), ..., (H_L, D)``."""
        return self._masks(_check_mask_index("MADE.masks", mask_index, self.num_masks))

    def order(self, mask_index: int | Array = 0) -> Array:
        """The ordering of mask ``mask_index``: int32 ``(D,)``, ``order[t]`` is drawn ``t``-th."""
        return self._order(_check_mask_index("MADE.order", mask_index, self.num_masks))

    def conditionals(self, x: Array, *, mask_index: int | Array = 0) -> Array:
        r"""The logits :math:`\ell_i(x_{<i})` in the ordering of mask ``mask_index``: shape
        ``(batch, D)``; entry ``i`` depends only on the variables before ``i`` in
        ``order(mask_index)``. ``mask_index`` is an int or a (traced) int32 scalar."""
        where = "MADE.conditionals"
        mask_index = _check_mask_index(where, mask_index, self.num_masks)
        return self._conditionals(self._check_x("conditionals", x), mask_index)

    def recurrence(self, canvas: Array, *, mask_index: int | Array = 0) -> Recurrence:
        r"""The recurrence of ordering ``mask_index`` from ``canvas`` (float32 ``(n, D)``).
        Carry the first layer's pre-activation :math:`a = x (W^1 \odot M^1) + b^1`
        (``(n, H_1)``, from :math:`b^1`; with no hidden layer, the logits themselves): write
        adds row ``i`` of :math:`W^1 \odot M^1` times :math:`x_i`, an :math:`O(H_1)` update;
        read runs the remaining layers and only column ``i`` of the output layer. With one
        hidden layer a step costs :math:`O(H)`, not the :math:`O(DH)` of a whole pass."""
        mask_index = _check_mask_index("MADE.recurrence", mask_index, self.num_masks)
        return self._recurrence(self._check_x("recurrence", canvas, "canvas"), mask_index)

    def ordering_log_prob(self, x: Array, mask_index: int | Array) -> Array:
        r""":math:`\log p_m(x) = \sum_i \log \mathrm{Bern}(x_i; \sigma(\ell^m_i))`, the
        log-likelihood of ONE ordering :math:`m` = ``mask_index``, a normalised model of its
        own: shape ``(batch,)``, nats. ``mask_index`` is an int or a (traced) int32 scalar."""
        mask_index = _check_mask_index("MADE.ordering_log_prob", mask_index, self.num_masks)
        return self._ordering_log_prob(self._check_x("ordering_log_prob", x), mask_index)

    def log_prob(self, x: Array) -> Array:
        r"""The log-likelihood of the model: the ensemble of its ``M`` orderings, averaged in
        PROBABILITY,

        .. math:: \log p(x) = \log \frac{1}{M} \sum_{m=1}^{M} p_m(x)
                  = \operatorname{logmeanexp}_m \log p_m(x),

        a mixture of normalised models, hence normalised, and at least the mean of the
        :math:`\log p_m(x)` (Jensen). With ``M = 1`` it is :meth:`ordering_log_prob` of mask
        0. The orderings are visited one after another (``lax.map``), so memory does not grow
        with ``M``.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch,)``, nats.
        """
        x = self._check_x("log_prob", x)
        if self.num_masks == 1:
            return self._ordering_log_prob(x, jnp.int32(0))
        masks = jnp.arange(self.num_masks, dtype=jnp.int32)
        per_mask = lax.map(lambda m: self._ordering_log_prob(x, m), masks)
        return log_mean_exp(per_mask, axis=0)

    def sample(
        self,
        key: Array,
        n: int,
        observed: tuple[Array, Array] | None = None,
        *,
        mask_index: int | Array | None = None,
    ) -> Array:
        r"""``n`` samples by ancestral sampling: one ``lax.scan`` over the dimensions carrying
        the first layer (:meth:`recurrence`).

        By default from the density :meth:`log_prob` defines, the ensemble
        :math:`\frac1M \sum_m p_m`: each sample picks an ordering uniformly at random and is
        drawn from it (every ordering is scanned, so it costs ``M`` single-ordering samplers).
        With ``mask_index``, from that ordering's :math:`p_m` alone.

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            observed: ``None`` or ``(values (n, D), mask (n, D) or (D,))``: the entries where
                ``mask`` is true are kept exactly; the draws condition on the observed entries
                that come earlier in the ordering. With ``M > 1`` it needs ``mask_index``: the
                ensemble's conditional weighs the orderings by :math:`p_m(x_{\text{observed}})`,
                which is not tractable in general.
            mask_index: ``None`` (the ensemble) or which ordering, an int in ``[0, M)``.

        Returns:
            float32 array of shape ``(n, D)`` of zeros and ones.
        """
        where = "MADE.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        values, mask = check_observed(where, observed, n, self.d)
        graphdef, state = nnx.split(self)
        if mask_index is None and self.num_masks > 1:
            if observed is not None:
                raise ValueError(
                    f"{where}: sampling with 'observed' from a MADE of {self.num_masks} "
                    "orderings needs one of them: pass mask_index (0 is the natural order)"
                )
            return _sample_made_ensemble(graphdef, state, key, values, mask)
        mask_index = _check_mask_index(where, 0 if mask_index is None else mask_index,
                                       self.num_masks)
        return _sample_made(graphdef, state, key, values, mask, mask_index)


def _check_bool(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: argument '{name}' must be True or False; got {value!r}")
    return bool(value)


def _init_made(
    key: Array,
    d: int,
    hidden_sizes: tuple[int, ...],
    num_masks: int,
    order_agnostic: bool,
    random_degrees: bool,
) -> tuple[list[Array], list[Array]]:
    """Initial weights ``N(0, 2 / fan_in)`` and the degrees ``(M, size)`` of every layer."""
    rng = host_rng(key)
    sizes = (d, *hidden_sizes, d)
    weights = [
        jnp.asarray(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), jnp.float32)
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    per_mask = []
    for m in range(num_masks):
        order = rng.permutation(d) if m > 0 and order_agnostic else np.arange(d)
        per_mask.append(host_made_degrees(rng if random_degrees else None, order, hidden_sizes))
    return weights, [jnp.asarray(np.stack(layer)) for layer in zip(*per_mask, strict=True)]


@partial(jax.jit, static_argnums=0)
def _sample_made(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    key: Array,
    values: Array,
    mask: Array,
    mask_index: Array,
) -> Array:
    """One compilation per graph serves every parameter value and every mask index."""
    model = nnx.merge(graphdef, state, copy=True)
    return _sample_ordering(model, key, values, mask, mask_index)


def _sample_ordering(
    model: MADE, key: Array, values: Array, mask: Array, mask_index: Array
) -> Array:
    recurrence = model._recurrence(jnp.where(mask, values, 0.0), mask_index)
    return scan_sample(key, recurrence, values, mask, model._order(mask_index))


@partial(jax.jit, static_argnums=0)
def _sample_made_ensemble(
    graphdef: nnx.GraphDef, state: nnx.State, key: Array, values: Array, mask: Array
) -> Array:
    """Draw ``n`` samples from every ordering (``lax.map``, one after another), then keep for
    each sample the draw of an ordering picked uniformly: a draw of the uniform mixture."""
    model = nnx.merge(graphdef, state, copy=True)
    k_pick, k_draw = jax.random.split(key)
    masks = jnp.arange(model.num_masks, dtype=jnp.int32)
    draws = lax.map(
        lambda m: _sample_ordering(model, jax.random.fold_in(k_draw, m), values, mask, m), masks
    )  # (M, n, D)
    pick = jax.random.randint(k_pick, (values.shape[0],), 0, model.num_masks)
    return draws[pick, jnp.arange(values.shape[0])]


def made_loss(model: MADE, x: Array, key: Array) -> Array:
    r"""The order- and connectivity-agnostic training loss for ``train.fit``:

    .. math:: L = -\frac1B \sum_{b=1}^{B} \log p_m(x^{(b)}), \qquad
              m \sim \mathcal U\{0, \dots, M-1\} \text{ drawn from } \texttt{key},

    an unbiased estimate of the mean NLL over the ``M`` orderings. The index is a traced
    integer, so the compiled step is the same for every ordering (one compilation). With
    ``M = 1`` it is the plain mean NLL.

    Args:
        model: a :class:`MADE`.
        x: float32 zeros and ones, shape ``(batch, D)``.
        key: a ``jax.random.key`` (``train.fit`` passes a fresh one each step).

    Returns:
        float32 scalar, nats per example.
    """
    where = "made_loss"
    if not isinstance(model, MADE):
        raise TypeError(f"{where}: argument 'model' must be a MADE; got {type(model).__name__}")
    key = check_key(where, key)
    x = check_array(where, "x", x, shape=("batch", model.d))
    mask_index = jax.random.randint(key, (), 0, model.num_masks, dtype=jnp.int32)
    return -jnp.mean(model._ordering_log_prob(x, mask_index))
