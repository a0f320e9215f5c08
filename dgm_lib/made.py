r"""MADE, the masked autoencoder for distribution estimation (Germain et al., 2015).

An ordinary MLP from :math:`x \in \{0,1\}^D` to ``D`` logits becomes autoregressive once
some of its weights are multiplied by zero. Give every unit a *degree*: input :math:`x_j` has
degree :math:`m^0(j) =` its position in the ordering (``1..D``); a hidden unit has a degree
:math:`m^l(k) \in \{1, \dots, D-1\}`, the number of inputs it may see. The masks are

.. math:: M^l_{k' k} = 1\bigl[m^l(k) \ge m^{l-1}(k')\bigr] \ \text{(hidden layers)}, \qquad
          M^{\mathrm{out}}_{k i} = 1\bigl[m^0(i) > m^L(k)\bigr] \ \text{(output, STRICT)},

(row = input unit, column = output unit, the layout of ``x @ W``). A path from input
:math:`j` to output :math:`i` exists only if :math:`m^0(j) \le m^1 \le \dots \le m^L <
m^0(i)`: output :math:`i` sees only the variables before it in the ordering, so the product of
the masks is strictly triangular in that ordering (:func:`mask_connectivity`,
:func:`autoregressive_violations`). With ``>=`` in the output layer, output :math:`i` would see
:math:`x_i` itself and the model would no longer be normalised.

Order- and connectivity-agnostic training: a :class:`MADE` holds ``M`` sets of degrees (one
ordering and one set of hidden degrees each) and shares ONE set of weights among them. Each
training step picks one at random (:func:`made_loss`). At test time a single ordering gives a
normalised model (``log_prob(x, mask_index)``), and so does the ensemble that averages the
``M`` PROBABILITIES, :math:`p(x) = \frac1M \sum_m p_m(x)` (``ensemble_log_prob``, a
log-mean-exp); averaging the logits instead mixes conditionals of different orderings and does
not give a normalised distribution.

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

from ._checks import check_array, check_key, check_positive_int
from .autoregressive import (
    AutoregressiveBernoulli,
    Recurrence,
    check_observed,
    check_order,
    log_prob_from_logits,
    scan_sample,
)
from .probability import log_mean_exp

Array = jax.Array

__all__ = [
    "MADE",
    "MNIST_BEST_HIDDEN_SIZES",
    "MNIST_BEST_LEARNING_RATE",
    "MNIST_BEST_NUM_MASKS",
    "MNIST_HIDDEN_SIZES",
    "Degrees",
    "autoregressive_violations",
    "input_degrees",
    "made_degrees",
    "made_loss",
    "made_masks",
    "mask_connectivity",
    "masked_mlp",
    "masks_from_degrees",
]

MNIST_HIDDEN_SIZES: tuple[int, ...] = (500,)
"""The paper's basic binarized-MNIST MADE: one hidden layer of 500 ReLU units."""

MNIST_BEST_HIDDEN_SIZES: tuple[int, ...] = (8000, 8000)
"""The paper's best binarized-MNIST MADE: two hidden layers of 8000 units each (trained with
:data:`MNIST_BEST_NUM_MASKS` masks and Adagrad at :data:`MNIST_BEST_LEARNING_RATE`; the
command line in the authors' code release, mgermain/MADE)."""

MNIST_BEST_NUM_MASKS = 32
"""Masks (orderings and connectivities) of the paper's best binarized-MNIST MADE."""

MNIST_BEST_LEARNING_RATE = 0.01
"""Adagrad learning rate of the paper's best binarized-MNIST MADE:
``optax.adagrad(MNIST_BEST_LEARNING_RATE)``."""


# --------------------------------------------------------------------------------------------
# Pure core: degrees and masks
# --------------------------------------------------------------------------------------------


def _check_hidden_sizes(where: str, hidden_sizes: Any) -> tuple[int, ...]:
    if isinstance(hidden_sizes, (int, np.integer)) or not isinstance(hidden_sizes, Sequence):
        raise TypeError(
            f"{where}: argument 'hidden_sizes' must be a sequence of positive ints, e.g. (500,) "
            f"or () for no hidden layer; got {hidden_sizes!r}"
        )
    return tuple(check_positive_int(where, "hidden_sizes", h) for h in hidden_sizes)


def _check_d_at_least_2(where: str, d: int) -> int:
    d = check_positive_int(where, "d", d)
    if d < 2:
        raise ValueError(
            f"{where}: argument 'd' must be at least 2 (hidden degrees lie in 1..D-1); got {d}"
        )
    return d


def input_degrees(order: Array) -> Array:
    r"""The degrees of the inputs for an ordering: :math:`m^0(o_t) = t` for ``t = 1..D``.

    ``order[t]`` is the variable drawn ``t``-th (0-based), so variable ``order[0]`` has degree 1
    and depends on nothing; the degree of variable ``j`` is one plus its rank in the ordering.

    Args:
        order: a permutation of ``0..D-1``, integer array of shape ``(D,)``.

    Returns:
        int32 array of shape ``(D,)`` holding a permutation of ``1..D``.
    """
    where = "input_degrees"
    order = check_array(where, "order", order, shape=("D",), kind="int")
    order = check_order(where, order, order.shape[0])
    return jnp.zeros_like(order).at[order].set(jnp.arange(1, order.shape[0] + 1, dtype=jnp.int32))


def made_degrees(key: Array | None, order: Array, hidden_sizes: Sequence[int]) -> list[Array]:
    r"""The degrees of every layer of a MADE: ``[m^0 (D,), m^1 (H_1,), ..., m^L (H_L,)]``.

    :math:`m^0` comes from the ordering (:func:`input_degrees`). Hidden degrees:

    - ``key`` given (the paper's choice): :math:`m^l(k) \sim \mathcal U\{\min_{k'}
      m^{l-1}(k'), \dots, D-1\}` independently, so no unit of layer ``l`` has a degree below
      every unit it reads from (such a unit would be connected to nothing);
    - ``key=None`` (deterministic): :math:`m^l(k) = (k \bmod (D-1)) + 1`, every degree
      ``1..D-1`` in turn, so a layer with at least ``D-1`` units allows every dependence the
      ordering allows.

    Args:
        key: a ``jax.random.key``, or ``None`` for deterministic degrees.
        order: a permutation of ``0..D-1``, integer array of shape ``(D,)``, ``D >= 2``.
        hidden_sizes: the hidden layer widths, e.g. ``(500,)``; ``()`` gives no hidden layer.

    Returns:
        a list of ``1 + len(hidden_sizes)`` int32 arrays.
    """
    where = "made_degrees"
    if key is not None:
        key = check_key(where, key)
    order = check_array(where, "order", order, shape=("D",), kind="int")
    d = _check_d_at_least_2(where, order.shape[0])
    sizes = _check_hidden_sizes(where, hidden_sizes)
    order = np.asarray(check_order(where, order, d))
    rng = None if key is None else _host_rng(key)
    return [jnp.asarray(m) for m in _made_degrees(rng, order, sizes)]


def _host_rng(key: Array) -> np.random.Generator:
    """A NumPy generator seeded by the key's data, as ``train.fit`` orders its batches: the
    key still fixes every draw, and the host draws permutations and integers without
    compiling a device program for each new shape."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)))


def _made_degrees(
    rng: np.random.Generator | None, order: np.ndarray, sizes: tuple[int, ...]
) -> list[np.ndarray]:
    d = order.shape[0]
    degrees = [np.empty(d, np.int32)]
    degrees[0][order] = np.arange(1, d + 1, dtype=np.int32)
    for size in sizes:
        if rng is None:
            degrees.append((np.arange(size) % (d - 1) + 1).astype(np.int32))
        else:
            low = int(degrees[-1].min())
            degrees.append(rng.integers(low, d, size=size, dtype=np.int32))
    return degrees


def masks_from_degrees(degrees: Sequence[Array]) -> list[Array]:
    r"""The masks of a MADE from the degrees of its layers (inputs first):

    .. math:: M^l_{k' k} = 1[m^l(k) \ge m^{l-1}(k')], \quad l = 1..L; \qquad
              M^{L+1}_{k i} = 1[m^0(i) > m^L(k)].

    The outputs have the degrees of the inputs and the last comparison is strict.

    Args:
        degrees: ``[m^0 (D,), m^1 (H_1,), ..., m^L (H_L,)]``, integer arrays (as returned by
            :func:`made_degrees`).

    Returns:
        ``L + 1`` float32 masks of zeros and ones, shapes ``(D, H_1), (H_1, H_2), ...,
        (H_L, D)``: entry ``[k', k]`` lets unit ``k'`` of one layer feed unit ``k`` of the next.
    """
    where = "masks_from_degrees"
    if isinstance(degrees, (str, bytes)) or not isinstance(degrees, Sequence) or not degrees:
        raise TypeError(
            f"{where}: argument 'degrees' must be a non-empty list of 1-D integer arrays "
            f"[m^0 (D,), m^1 (H_1,), ...]; got {type(degrees).__name__}"
        )
    degrees = [
        check_array(where, f"degrees[{i}]", m, shape=("size",), kind="int")
        for i, m in enumerate(degrees)
    ]
    return _masks_from_degrees(degrees)


def _masks_from_degrees(degrees: Sequence[Array]) -> list[Array]:
    hidden = [
        (m_out[None, :] >= m_in[:, None]).astype(jnp.float32)
        for m_in, m_out in itertools.pairwise(degrees)
    ]
    return [*hidden, (degrees[0][None, :] > degrees[-1][:, None]).astype(jnp.float32)]


def made_masks(key: Array | None, order: Array, hidden_sizes: Sequence[int]) -> list[Array]:
    """The masks of a MADE for one ordering: ``masks_from_degrees(made_degrees(key, order,
    hidden_sizes))``; ``key=None`` gives the deterministic degrees. See those two functions.

    Returns:
        float32 masks of shapes ``(D, H_1), ..., (H_L, D)``.
    """
    return masks_from_degrees(made_degrees(key, order, hidden_sizes))


def mask_connectivity(masks: Sequence[Array]) -> Array:
    r"""How many paths lead from each input to each output through the masked layers:

    .. math:: C = (M^1 M^2 \cdots M^{L+1})^\top, \qquad C_{ij} = \#\{\text{paths from input } j
              \text{ to output } i\}.

    Output ``i`` can depend on input ``j`` only where :math:`C_{ij} > 0`; for a MADE, ``C`` is
    strictly triangular in the ordering (check with :func:`autoregressive_violations`).

    Args:
        masks: float masks of shapes ``(D, H_1), (H_1, H_2), ..., (H_L, D)``.

    Returns:
        float32 array of shape ``(D, D)``: rows are outputs, columns inputs.
    """
    where = "mask_connectivity"
    if isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence) or not masks:
        raise TypeError(
            f"{where}: argument 'masks' must be a non-empty list of 2-D arrays; "
            f"got {type(masks).__name__}"
        )
    first = check_array(where, "masks[0]", masks[0], shape=("D", "H"))
    product = first
    for i, m in enumerate(masks[1:], start=1):
        m = check_array(where, f"masks[{i}]", m, shape=(product.shape[1], "H"))
        product = product @ m
    check_array(where, f"masks[{len(masks) - 1}]", masks[-1], shape=("H", first.shape[0]))
    return product.T


def autoregressive_violations(dependence: Array, order: Array) -> Array:
    r"""Where an output depends on an input it must not see, for the ordering ``order``:

    .. math:: V_{ij} = \bigl(\text{dependence}_{ij} \ne 0\bigr) \wedge
              \bigl(\operatorname{rank}(j) \ge \operatorname{rank}(i)\bigr),

    with :math:`\operatorname{rank}(j)` the position of variable ``j`` in ``order``. A model is
    autoregressive in that ordering iff no entry is true. ``dependence`` can be a mask product
    (:func:`mask_connectivity`) or the Jacobian of the conditionals with respect to the input
    (``jax.jacfwd``): the same check reads the architecture or the computed function.

    Args:
        dependence: shape ``(D, D)``, rows are outputs (conditionals), columns inputs.
        order: a permutation of ``0..D-1``, integer array of shape ``(D,)``.

    Returns:
        boolean array of shape ``(D, D)``; all false for an autoregressive model.
    """
    where = "autoregressive_violations"
    dependence = check_array(where, "dependence", dependence, shape=("D", "D"))
    d = dependence.shape[0]
    if dependence.shape[1] != d:
        raise ValueError(
            f"{where}: argument 'dependence' must have shape (D, D); got shape {dependence.shape}"
        )
    rank = input_degrees(check_array(where, "order", order, shape=(d,), kind="int"))
    return (dependence != 0) & (rank[None, :] >= rank[:, None])


def masked_mlp(
    weights: Sequence[Array], biases: Sequence[Array], masks: Sequence[Array], x: Array
) -> Array:
    r"""A masked MLP with ReLU hidden layers and a linear output layer:

    .. math:: h^0 = x, \qquad h^l = \operatorname{relu}\bigl(h^{l-1} (W^l \odot M^l) + b^l
              \bigr), \qquad \text{out} = h^L (W^{L+1} \odot M^{L+1}) + b^{L+1}.

    For a MADE the output is the ``D`` logits :math:`\ell_i`, with
    :math:`p(x_i = 1 \mid x_{<i}) = \sigma(\ell_i)`.

    Args:
        weights: float32 arrays of shapes ``(D, H_1), ..., (H_L, D_out)`` (``x @ W`` layout).
        biases: float32 arrays of shapes ``(H_1,), ..., (D_out,)``.
        masks: arrays of the shapes of ``weights`` (:func:`made_masks`).
        x: float32, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D_out)``.
    """
    where = "masked_mlp"
    n = len(weights)
    if n == 0 or len(biases) != n or len(masks) != n:
        raise ValueError(
            f"{where}: arguments 'weights', 'biases' and 'masks' must be non-empty lists of the "
            f"same length; got lengths {len(weights)}, {len(biases)}, {len(masks)}"
        )
    x = check_array(where, "x", x, shape=("batch", "D"))
    h = x  # stands for the activations: only its shape is read here
    checked = []
    for i, (w, b, m) in enumerate(zip(weights, biases, masks, strict=True)):
        w = check_array(where, f"weights[{i}]", w, shape=(h.shape[1], "out"))
        b = check_array(where, f"biases[{i}]", b, shape=(w.shape[1],))
        m = check_array(where, f"masks[{i}]", m, shape=w.shape, kind="number")
        checked.append((w, b, m.astype(w.dtype)))
        h = jax.ShapeDtypeStruct((h.shape[0], w.shape[1]), w.dtype)
    return _masked_mlp(*(list(t) for t in zip(*checked, strict=True)), x)


@jax.jit
def _masked_mlp(weights: list[Array], biases: list[Array], masks: list[Array], x: Array) -> Array:
    h = x
    for i, (w, b, m) in enumerate(zip(weights, biases, masks, strict=True)):
        h = h @ (w * m) + b
        if i < len(weights) - 1:
            h = jax.nn.relu(h)
    return h


@jax.jit
def _made_logits(
    weights: list[Array], biases: list[Array], degrees: list[Array], x: Array
) -> Array:
    """The masked MLP with masks rebuilt from the degrees inside the compiled function."""
    return _masked_mlp(weights, biases, _masks_from_degrees(degrees), x)


# --------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------


class Degrees(nnx.Variable):
    """Integer unit degrees of a MADE, one row per mask: held in the model, never trained."""


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

    Mask 0 always uses the natural ordering ``0..D-1``, so the inherited contract holds:
    ``conditionals(x)``, ``log_prob(x)`` and ``sample(key, n)`` without a mask index are those
    of an ordinary autoregressive model in the natural order. Masks ``1..M-1`` use random
    orderings when ``order_agnostic`` (else the natural one again); every mask draws its own
    hidden degrees when ``random_degrees`` (connectivity-agnostic), else all use the
    deterministic degrees of :func:`made_degrees`.

    Parameters (``nnx.Param``): ``weights[l]`` ``(in, out)`` with
    :math:`\mathcal N(0, 2/\text{in})` entries and ``biases[l]`` zero. Not trained
    (:class:`Degrees`): ``degrees[l]`` of shape ``(M, size_l)``, inputs first.

    Args:
        key: a ``jax.random.key`` for the weights, the orderings and the hidden degrees.
        d: the number of binary variables, ``D >= 2``.
        hidden_sizes: the hidden widths, e.g. :data:`MNIST_HIDDEN_SIZES`; ``()`` for none.
        num_masks: ``M``, the number of orderings/connectivities (1 = plain MADE).
        order_agnostic: random orderings for masks ``1..M-1``.
        random_degrees: draw hidden degrees at random (per mask) rather than deterministically.

    Members: ``conditionals(x, mask_index=0)``, ``log_prob(x, mask_index=0)``,
    ``ensemble_log_prob(x)``, ``order(mask_index)``, ``masks(mask_index)``,
    ``sample(key, n, observed=None, mask_index=0)``; train with :func:`made_loss`.
    """

    def __init__(
        self,
        key: Array,
        d: int,
        hidden_sizes: Sequence[int],
        *,
        num_masks: int = 1,
        order_agnostic: bool = True,
        random_degrees: bool = True,
    ) -> None:
        where = "MADE"
        key = check_key(where, key)
        self.d = _check_d_at_least_2(where, d)
        self.hidden_sizes = _check_hidden_sizes(where, hidden_sizes)
        self.num_masks = check_positive_int(where, "num_masks", num_masks)
        weights, degrees = _init_made(
            key, self.d, self.hidden_sizes, self.num_masks, order_agnostic, random_degrees
        )
        self.weights = nnx.List([nnx.Param(w) for w in weights])
        self.biases = nnx.List([nnx.Param(jnp.zeros((w.shape[1],), jnp.float32)) for w in weights])
        self.degrees = nnx.List([Degrees(m) for m in degrees])

    def _degrees(self, mask_index: Array) -> list[Array]:
        return [lax.dynamic_index_in_dim(v[...], mask_index, keepdims=False) for v in self.degrees]

    def masks(self, mask_index: int | Array = 0) -> list[Array]:
        """The float32 masks of ordering ``mask_index``, shapes ``(D, H_1), ..., (H_L, D)``."""
        mask_index = _check_mask_index("MADE.masks", mask_index, self.num_masks)
        return _masks_from_degrees(self._degrees(mask_index))

    def order(self, mask_index: int | Array = 0) -> Array:
        """The ordering of mask ``mask_index``: int32 ``(D,)``, ``order[t]`` is drawn ``t``-th."""
        mask_index = _check_mask_index("MADE.order", mask_index, self.num_masks)
        return jnp.argsort(self._degrees(mask_index)[0]).astype(jnp.int32)

    def conditionals(self, x: Array, mask_index: int | Array = 0) -> Array:
        r"""The logits :math:`\ell_i(x_{<i})` in the ordering of mask ``mask_index``: shape
        ``(batch, D)``; entry ``i`` depends only on the variables before ``i`` in
        ``order(mask_index)``. ``mask_index`` is an int or a (traced) int32 scalar."""
        where = "MADE.conditionals"
        mask_index = _check_mask_index(where, mask_index, self.num_masks)
        x = check_array(where, "x", x, shape=("batch", self.d))
        return _made_logits(
            [w[...] for w in self.weights],
            [b[...] for b in self.biases],
            self._degrees(mask_index),
            x,
        )

    def recurrence(self, canvas: Array, mask_index: int | Array = 0) -> Recurrence:
        r"""Carry the first layer's pre-activation :math:`a = x (W^1 \odot M^1) + b^1`
        (``(n, H_1)``, from :math:`b^1`; with no hidden layer, the logits themselves): write
        adds row ``i`` of :math:`W^1 \odot M^1` times :math:`x_i`, an :math:`O(H_1)` update;
        read runs the remaining layers and only column ``i`` of the output layer. With one
        hidden layer a step costs :math:`O(H)`, not the :math:`O(DH)` of a whole pass."""
        mask_index = _check_mask_index("MADE.recurrence", mask_index, self.num_masks)
        masked = [w[...] * m for w, m in zip(self.weights, self.masks(mask_index), strict=True)]
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

    def log_prob(self, x: Array, mask_index: int | Array = 0) -> Array:
        r""":math:`\log p_m(x) = \sum_i \log \mathrm{Bern}(x_i; \sigma(\ell^m_i))` for the
        ordering :math:`m` = ``mask_index``: shape ``(batch,)``, nats."""
        where = "MADE.log_prob"
        mask_index = _check_mask_index(where, mask_index, self.num_masks)
        x = check_array(where, "x", x, shape=("batch", self.d))
        return log_prob_from_logits(x, self.conditionals(x, mask_index))

    def ensemble_log_prob(self, x: Array) -> Array:
        r"""The log-likelihood of the ensemble of all ``M`` orderings, averaged in PROBABILITY:

        .. math:: \log p(x) = \log \frac{1}{M} \sum_{m=1}^{M} p_m(x)
                  = \operatorname{logmeanexp}_m \log p_m(x),

        a mixture of normalised models, hence normalised, and at least the mean of the
        :math:`\log p_m(x)` (Jensen). The orderings are visited one after another
        (``lax.map``), so memory does not grow with ``M``.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch,)``, nats.
        """
        x = check_array("MADE.ensemble_log_prob", "x", x, shape=("batch", self.d))
        per_mask = lax.map(lambda m: self.log_prob(x, m), jnp.arange(self.num_masks))
        return log_mean_exp(per_mask, axis=0)

    def sample(
        self,
        key: Array,
        n: int,
        observed: tuple[Array, Array] | None = None,
        mask_index: int | Array = 0,
    ) -> Array:
        """``n`` samples by ancestral sampling in the ordering of mask ``mask_index``: one
        ``lax.scan`` over the dimensions carrying the first layer (:meth:`recurrence`).

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            observed: ``None`` or ``(values (n, D), mask (n, D) or (D,))``: the entries where
                ``mask`` is true are kept exactly; the draws condition on the observed entries
                that come earlier in the ordering.
            mask_index: which ordering, an int in ``[0, M)``.

        Returns:
            float32 array of shape ``(n, D)`` of zeros and ones.
        """
        where = "MADE.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        mask_index = _check_mask_index(where, mask_index, self.num_masks)
        values, mask = check_observed(where, observed, n, self.d)
        graphdef, state = nnx.split(self)
        return _sample_made(graphdef, state, key, values, mask, mask_index)


def _init_made(
    key: Array,
    d: int,
    hidden_sizes: tuple[int, ...],
    num_masks: int,
    order_agnostic: bool,
    random_degrees: bool,
) -> tuple[list[Array], list[Array]]:
    """Initial weights ``N(0, 2 / fan_in)`` and the degrees ``(M, size)`` of every layer."""
    rng = _host_rng(key)
    sizes = (d, *hidden_sizes, d)
    weights = [
        jnp.asarray(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), jnp.float32)
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    per_mask = []
    for m in range(num_masks):
        order = rng.permutation(d) if m > 0 and order_agnostic else np.arange(d)
        per_mask.append(_made_degrees(rng if random_degrees else None, order, hidden_sizes))
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
    recurrence = model.recurrence(jnp.where(mask, values, 0.0), mask_index)
    return scan_sample(key, recurrence, values, mask, model.order(mask_index))


def made_loss(model: MADE, x: Array, key: Array) -> Array:
    r"""The order- and connectivity-agnostic training loss for ``train.fit``:

    .. math:: L = -\frac1B \sum_{b=1}^{B} \log p_m(x^{(b)}), \qquad
              m \sim \mathcal U\{0, \dots, M-1\} \text{ drawn from } \texttt{key},

    an unbiased estimate of the mean NLL over the ``M`` orderings. The index is a traced
    integer, so the compiled step is the same for every ordering (``FitResult.traces == 1``).
    With ``M = 1`` it is the plain mean NLL.

    Args:
        model: a :class:`MADE`.
        x: float32 zeros and ones, shape ``(batch, D)``.
        key: a ``jax.random.key`` (``train.fit`` passes a fresh one each step).

    Returns:
        float32 scalar, nats per example.
    """
    key = check_key("made_loss", key)
    mask_index = jax.random.randint(key, (), 0, model.num_masks, dtype=jnp.int32)
    return -jnp.mean(model.log_prob(x, mask_index))
