r"""Masks that make a network autoregressive: the strictly lower-triangular mask of FVSBN, and
MADE's degrees and masks (Germain et al., 2015), shared by MADE and MAF.

Give every unit a *degree*: input :math:`x_j` has degree :math:`m^0(j) =` its position in the
ordering (``1..D``); a hidden unit has a degree :math:`m^l(k) \in \{1, \dots, D-1\}`, the
number of inputs it may see. The masks are

.. math:: M^l_{k' k} = 1\bigl[m^l(k) \ge m^{l-1}(k')\bigr] \ \text{(hidden layers)}, \qquad
          M^{\mathrm{out}}_{k i} = 1\bigl[m^0(i) > m^L(k)\bigr] \ \text{(output, STRICT)},

(row = input unit, column = output unit, the layout of ``x @ W``). A path from input
:math:`j` to output :math:`i` exists only if :math:`m^0(j) \le m^1 \le \dots \le m^L <
m^0(i)`: output :math:`i` sees only the variables before it in the ordering, so the product of
the masks is strictly triangular in that ordering (:func:`mask_connectivity`,
:func:`autoregressive_violations`). With ``>=`` in the output layer, output :math:`i` would see
:math:`x_i` itself and the model would no longer be normalised.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .checks import (
    check_array,
    check_hidden_sizes,
    check_int_at_least,
    check_key,
    check_order,
    check_positive_int,
)
from .nn import host_rng

Array = jax.Array

__all__ = [
    "autoregressive_violations",
    "host_made_degrees",
    "input_degrees",
    "made_degrees",
    "made_masks",
    "mask_connectivity",
    "masked_mlp",
    "masks_from_degrees",
    "strictly_lower_mask",
]

def strictly_lower_mask(d: int) -> Array:
    r"""The mask :math:`M_{ij} = 1[j < i]` of a fully visible autoregressive linear layer.

    Multiplying a weight matrix by it keeps, in row ``i``, only the weights on the earlier
    variables :math:`x_j,\ j < i`: the diagonal and everything above it are zero.

    Args:
        d: the number of variables, a positive int.

    Returns:
        float32 array of shape ``(d, d)`` of zeros and ones.
    """
    d = check_positive_int("strictly_lower_mask", "d", d)
    return jnp.tril(jnp.ones((d, d), jnp.float32), k=-1)




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
    d = check_int_at_least(where, "d", order.shape[0], 2)
    sizes = check_hidden_sizes(where, hidden_sizes)
    order = np.asarray(check_order(where, order, d))
    rng = None if key is None else host_rng(key)
    return [jnp.asarray(m) for m in host_made_degrees(rng, order, sizes)]


def host_made_degrees(
    rng: np.random.Generator | None, order: np.ndarray, hidden_sizes: tuple[int, ...]
) -> list[np.ndarray]:
    """:func:`made_degrees` on the host, from a NumPy generator (``None``: the deterministic
    degrees), for callers that draw several sets from one generator (a MADE's ``M`` masks).
    Unchecked: ``order`` must be a permutation of ``0..D-1`` with ``D >= 2`` and
    ``hidden_sizes`` positive ints.
    """
    sizes = hidden_sizes
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


