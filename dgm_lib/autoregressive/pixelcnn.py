r"""PixelCNN (van den Oord et al., 2016) for binary images: masked convolutions in raster order.

An image :math:`x \in \{0, 1\}^{H \times W}` is read in raster order (row by row, left to right
in each row), pixel :math:`i = rW + c` at row :math:`r`, column :math:`c`, and factorised by the
chain rule,

.. math:: p(x) = \prod_{i=1}^{HW} p(x_i \mid x_{<i}), \qquad
          p(x_i = 1 \mid x_{<i}) = \sigma\bigl(\ell_i(x_{<i})\bigr).

All :math:`HW` logits come from ONE pass of a convolutional network whose kernels are masked so
that the output at a pixel never sees that pixel or any later one (:func:`pixelcnn_mask`):

- the first layer has a **type A** mask: the rows above the centre, and the pixels left of the
  centre in its row; the centre itself is excluded, since the output there predicts it;
- every later layer has a **type B** mask: the same plus the centre, which now holds features
  of the earlier pixels only, never the pixel itself.

The stack (:func:`pixelcnn_logits`): a ``k1 x k1`` type-A convolution to ``C`` channels,
``L`` residual layers :math:`h \leftarrow h + \mathrm{conv}^B_{k \times k}(\mathrm{ReLU}(h))`,
then ReLU, a ``1 x 1`` convolution ``C -> C``, ReLU and a ``1 x 1`` convolution ``C -> 1``
that gives the logits. A ``1 x 1`` kernel sees only the centre, so it needs no mask beyond B.

Stacking ``3 x 3`` type-B masks grows the receptive field as a cone that leaves a **blind
spot**: pixels up and to the right of the growing cone are earlier in raster order, yet no
path of masked kernels reaches them (:func:`receptive_field` shows it; the gated PixelCNN of
van den Oord et al., 2016b, removes it with separate vertical and horizontal stacks).

:class:`PixelCNN` subclasses :class:`dgm_lib.autoregressive.AutoregressiveBernoulli` on the
flattened image: ``conditionals(x)`` takes ``(batch, H*W)`` in raster order (as
:func:`dgm_lib.data.flatten` returns), and ``log_prob(x)`` (nats) and
``sample(key, n, observed=None)`` (a ``lax.scan`` over the ``H*W`` pixels) are inherited; each
sampling step runs the network only on the window of pixels that reach the next one
(:meth:`PixelCNN.recurrence`). Train with
``train.fit(model, train.nll_loss, flat_images, ...)``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from ..checks import check_array, check_positive_int, check_rngs
from ..nn import normal_init, tap_products
from .base import AutoregressiveBernoulli, Recurrence

Array = jax.Array

__all__ = [
    "MASK_TYPES",
    "PixelCNN",
    "PixelCNNParams",
    "masked_conv2d",
    "pixelcnn_logits",
    "pixelcnn_mask",
    "receptive_field",
]

MASK_TYPES = ("A", "B")
"""The mask types of :func:`pixelcnn_mask`, ``"A"`` for the first layer (the centre pixel
hidden) and ``"B"`` for every later one (the centre pixel seen)."""


def _check_mask_type(where: str, name: str, mask_type: object) -> str:
    if mask_type not in MASK_TYPES:
        raise ValueError(f"{where}: argument '{name}' must be 'A' or 'B'; got {mask_type!r}")
    return str(mask_type)


def _check_odd(where: str, name: str, k: object) -> int:
    k = check_positive_int(where, name, k)
    if k % 2 == 0:
        raise ValueError(f"{where}: argument '{name}' must be odd (a kernel has a centre); got {k}")
    return k


def pixelcnn_mask(kernel_size: int, mask_type: str) -> Array:
    r"""The spatial mask of a masked convolution in raster order.

    With the kernel centred at offset :math:`(0, 0)` and offsets
    :math:`(\delta_r, \delta_c) \in \{-m, \dots, m\}^2`, :math:`m = \lfloor k/2 \rfloor`:

    .. math:: M^A_{\delta_r \delta_c} = 1[\delta_r < 0 \ \lor\ (\delta_r = 0 \land \delta_c < 0)],
              \qquad
              M^B_{\delta_r \delta_c} = M^A_{\delta_r \delta_c} + 1[\delta_r = \delta_c = 0].

    Type A (first layer) sees only the pixels before the centre in raster order; type B (every
    later layer) sees the centre too.

    Args:
        kernel_size: ``k``, a positive odd int.
        mask_type: ``"A"`` or ``"B"``.

    Returns:
        float32 array of shape ``(k, k)`` of zeros and ones; entry ``[m + dr, m + dc]`` is
        the mask at offset ``(dr, dc)``.
    """
    where = "pixelcnn_mask"
    k = _check_odd(where, "kernel_size", kernel_size)
    mask_type = _check_mask_type(where, "mask_type", mask_type)
    return jnp.asarray(_mask(k, mask_type), jnp.float32)


def _mask(k: int, mask_type: str) -> np.ndarray:
    """:func:`pixelcnn_mask` as a NumPy boolean array: a constant of the architecture, known
    at trace time, so it costs no device op."""
    m = k // 2
    dr = np.arange(-m, m + 1)[:, None]
    dc = np.arange(-m, m + 1)[None, :]
    before = (dr < 0) | ((dr == 0) & (dc < 0))
    centre = (dr == 0) & (dc == 0)
    return before | (centre & (mask_type == "B"))


def masked_conv2d(
    x: Array, kernel: Array, bias: Array, mask_type: str, padding: str = "same"
) -> Array:
    r"""A 2-D convolution whose kernel is multiplied by :func:`pixelcnn_mask`:

    .. math:: y_{r,c,o} = b_o + \sum_{\delta_r, \delta_c, i}
              M_{\delta_r \delta_c}\, K_{\delta_r, \delta_c, i, o}\, x_{r+\delta_r, c+\delta_c, i},

    with zeros outside the image (``padding="same"``), or, with ``padding="valid"``, only at
    the outputs whose masked inputs all lie in ``x``: no padding, and since a mask never reads
    below its centre, the output loses :math:`m = \lfloor k/2 \rfloor` rows at the top and
    :math:`m` columns on either side, shape ``(H - m, W - 2m)``; output ``(r, c)`` sits at input
    ``(r + m, c + m)``. It is computed as that sum over the offsets the mask keeps
    (the shifted images side by side, times the kept taps of the kernel): masked weights are
    never read, so the output at :math:`(r, c)` does not depend on the masked inputs at all
    (its derivative is 0, not small), and the masked entries of ``kernel`` get zero gradient.

    Args:
        x: float32 feature maps, shape ``(batch, H, W, C_in)``.
        kernel: float32 of shape ``(k, k, C_in, C_out)``, ``k`` odd.
        bias: float32 of shape ``(C_out,)``.
        mask_type: ``"A"`` or ``"B"``.
        padding: ``"same"`` (default) or ``"valid"``.

    Returns:
        float32 array of shape ``(batch, H, W, C_out)``, or ``(batch, H - m, W - 2m, C_out)``
        for ``"valid"``.
    """
    where = "masked_conv2d"
    if padding not in ("same", "valid"):
        raise ValueError(f"{where}: argument 'padding' must be 'same' or 'valid'; got {padding!r}")
    kernel = check_array(where, "kernel", kernel, shape=("k", "k", "C_in", "C_out"))
    k, k2, c_in, c_out = kernel.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(
            f"{where}: argument 'kernel' must be square with an odd size (k, k, C_in, C_out); "
            f"got shape {tuple(kernel.shape)}"
        )
    x = check_array(where, "x", x, shape=("batch", "H", "W", c_in))
    bias = check_array(where, "bias", bias, shape=(c_out,))
    mask_type = _check_mask_type(where, "mask_type", mask_type)
    m = k // 2
    if padding == "valid" and (x.shape[1] < m + 1 or x.shape[2] < 2 * m + 1):
        raise ValueError(
            f"{where}: a 'valid' {k}x{k} convolution needs at least {m + 1} rows and {2 * m + 1} "
            f"columns; got x of shape {tuple(x.shape)}"
        )
    return _masked_conv2d(x, kernel, bias, mask_type, padding)


def _masked_conv2d(x: Array, kernel: Array, bias: Array, mask_type: str, padding: str) -> Array:
    # The sum over the offsets the mask keeps (dgm_lib.nn.tap_products, fast inside fit and
    # the sampler's scan): masked taps are never read.
    k, c_out = kernel.shape[0], kernel.shape[3]
    taps = np.argwhere(_mask(k, mask_type))  # (T, 2)
    m = k // 2
    if padding == "same":  # rows below the centre are never read: no padding at the bottom
        x = jnp.pad(x, ((0, 0), (m, 0), (m, m), (0, 0)))
    h, w = x.shape[1] - m, x.shape[2] - 2 * m
    if taps.size == 0:  # a 1x1 type-A kernel sees nothing
        return jnp.broadcast_to(bias, (x.shape[0], h, w, c_out))
    weights = kernel[taps[:, 0], taps[:, 1]]
    return tap_products(x, weights, taps, (h, w), precision=lax.Precision.HIGHEST) + bias


class PixelCNNParams(NamedTuple):
    """The arrays of a PixelCNN (``C`` channels, ``L`` residual layers, kernels ``k1``, ``k``).

    first_kernel ``(k1, k1, 1, C)`` and first_bias ``(C,)``: the type-A input layer;
    res_kernels ``(L, k, k, C, C)`` and res_biases ``(L, C)``: the type-B residual layers,
    stacked on a leading axis; hidden_kernel ``(C, C)`` and
    hidden_bias ``(C,)``: the ``1 x 1`` layer; out_kernel ``(C,)`` and out_bias ``()``: the
    ``1 x 1`` output layer.
    """

    first_kernel: Array
    first_bias: Array
    res_kernels: Array
    res_biases: Array
    hidden_kernel: Array
    hidden_bias: Array
    out_kernel: Array
    out_bias: Array


def pixelcnn_logits(params: PixelCNNParams, images: Array, first_mask: str = "A") -> Array:
    r"""The logits of all :math:`HW` conditionals of a PixelCNN in one parallel pass:

    .. math:: h^{(0)} = \mathrm{conv}^{A}_{k_1}(x), \qquad
              h^{(l)} = h^{(l-1)} + \mathrm{conv}^{B}_{k}\bigl(\mathrm{ReLU}(h^{(l-1)})\bigr),
              \quad l = 1, \dots, L,

    .. math:: \ell = w_{\text{out}}^\top \mathrm{ReLU}\bigl(W_{\text{hid}}^\top
              \mathrm{ReLU}(h^{(L)}) + b_{\text{hid}}\bigr) + b_{\text{out}}
              \quad\text{(per pixel, } 1 \times 1 \text{ convolutions).}

    :math:`\ell_{r,c}` depends only on the pixels before :math:`(r, c)` in raster order, and
    only on those the masks reach (the cone, minus its blind spot).

    Args:
        params: :class:`PixelCNNParams`.
        images: float32 zeros and ones, shape ``(batch, H, W)``.
        first_mask: the mask of the input layer, ``"A"``. ``"B"`` lets each output see its own
            pixel, which breaks the autoregressive property; it exists to show that break.

    Returns:
        float32 array of shape ``(batch, H, W)``: the logit of
        :math:`p(x_{r,c} = 1 \mid x_{<(r,c)})`.
    """
    where = "pixelcnn_logits"
    params = _check_params(where, params)
    first_mask = _check_mask_type(where, "first_mask", first_mask)
    images = check_array(where, "images", images, shape=("batch", "H", "W"))
    return _pixelcnn_logits(params, images, first_mask)


def _check_params(where: str, params: PixelCNNParams) -> PixelCNNParams:
    """Check the shape of every array of :class:`PixelCNNParams` (odd square kernels)."""
    if not isinstance(params, PixelCNNParams):
        raise TypeError(
            f"{where}: argument 'params' must be a PixelCNNParams (e.g. model.params()); "
            f"got {type(params).__name__}"
        )
    first = check_array(where, "first_kernel", params.first_kernel, shape=("k1", "k1", 1, "C"))
    k1, c = first.shape[0], first.shape[3]
    res = check_array(where, "res_kernels", params.res_kernels, shape=("L", "k", "k", c, c))
    num_layers, k = res.shape[0], res.shape[1]
    for name, size in (("first_kernel", k1), ("res_kernels", k)):
        if size % 2 == 0:
            raise ValueError(f"{where}: argument '{name}' must have an odd kernel size; got {size}")
    shapes = {
        "first_kernel": (k1, k1, 1, c),
        "first_bias": (c,),
        "res_kernels": (num_layers, k, k, c, c),
        "res_biases": (num_layers, c),
        "hidden_kernel": (c, c),
        "hidden_bias": (c,),
        "out_kernel": (c,),
        "out_bias": (),
    }
    return PixelCNNParams(
        *(check_array(where, f, getattr(params, f), shape=shapes[f]) for f in params._fields)
    )


def _pixelcnn_logits(params: PixelCNNParams, images: Array, first_mask: str) -> Array:
    return _pixelcnn_head(params, _pixelcnn_features(params, images, first_mask))


def _pixelcnn_features(
    params: PixelCNNParams, images: Array, first_mask: str, inside: Array | None = None
) -> Array:
    """:math:`h^{(L)}`. Without ``inside``: 'same' convolutions on whole images,
    ``(batch, H, W, C)``. With ``inside`` (``(H, W)`` zeros and ones marking which pixels of a
    window lie in the image): 'valid' convolutions, each layer computed only where all its
    masked inputs are known, and every layer's input zeroed outside the image as the 'same'
    padding of the whole image would have it; the output shrinks by each kernel's half-width
    (:meth:`PixelCNN.reach` in all)."""
    padding = "same" if inside is None else "valid"
    h = _masked_conv2d(images[..., None], params.first_kernel, params.first_bias, first_mask,
                       padding)
    m = params.res_kernels.shape[1] // 2
    if inside is not None:
        m1 = params.first_kernel.shape[0] // 2
        inside = inside[m1:, m1 : inside.shape[1] - m1]
    # A Python loop over the L layers (a handful), unrolled when traced.
    for kernel, bias in zip(params.res_kernels, params.res_biases, strict=True):
        if inside is None:
            h = h + _masked_conv2d(jax.nn.relu(h), kernel, bias, "B", padding)
        else:
            update = _masked_conv2d(jax.nn.relu(h) * inside[..., None], kernel, bias, "B", padding)
            h = h[:, m:, m : h.shape[2] - m] + update
            inside = inside[m:, m : inside.shape[1] - m]
    return h


def _pixelcnn_head(params: PixelCNNParams, h: Array) -> Array:
    """The two ``1 x 1`` layers: features ``(..., C)`` to logits ``(...)``."""
    h = jax.nn.relu(jax.nn.relu(h) @ params.hidden_kernel + params.hidden_bias)
    return h @ params.out_kernel + params.out_bias


class PixelCNN(AutoregressiveBernoulli):
    r"""A PixelCNN over binary images of shape ``image_shape = (H, W)``, flattened in raster
    order (``D = H*W``).

    Parameters (``nnx.Param``, see :class:`PixelCNNParams`): a ``first_kernel_size`` square
    type-A convolution ``1 -> channels``, ``num_layers`` residual type-B convolutions of size
    ``kernel_size`` (``channels -> channels``), two ``1 x 1`` layers to one logit per pixel.
    Initialisation: kernels :math:`\mathcal N(0, 2/\text{fan-in})` (He), biases zero, the
    output bias at :math:`\operatorname{logit}(0.2)` (about the fraction of ink in MNIST).

    Args:
        image_shape: ``(H, W)``, positive ints.
        channels: ``C``, feature maps per layer (default 32).
        num_layers: ``L``, residual type-B layers (default 4; 0 is allowed).
        kernel_size: ``k``, odd size of the residual kernels (default 3).
        first_kernel_size: ``k1``, odd size of the type-A input kernel (default 7).
        first_mask: ``"A"`` (default, correct) or ``"B"`` (a deliberately broken model whose
            logit at a pixel sees that pixel: it "predicts" its input and is not a
            distribution; the tests and the chapter use it to show the Jacobian check fail).
        rngs: ``nnx.Rngs`` for the initial weights (four ``rngs.params()`` keys).

    Members: ``conditionals(x) -> (batch, H*W)`` logits; ``log_prob(x) -> (batch,)`` nats;
    ``sample(key, n, observed=None) -> (n, H*W)``, a ``lax.scan`` of ``H*W`` steps on
    windows (:meth:`recurrence`); ``reach()``; ``params() -> PixelCNNParams``. Reshape samples
    with ``x.reshape(n, H, W)``.
    """

    def __init__(
        self,
        image_shape: tuple[int, int],
        *,
        channels: int = 32,
        num_layers: int = 4,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
        first_mask: str = "A",
        rngs: nnx.Rngs,
    ) -> None:
        where = "PixelCNN"
        if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
            raise ValueError(
                f"{where}: argument 'image_shape' must be a pair (H, W) of positive ints; "
                f"got {image_shape!r}"
            )
        h = check_positive_int(where, "image_shape[0]", image_shape[0])
        w = check_positive_int(where, "image_shape[1]", image_shape[1])
        self.image_shape = (h, w)
        self.d = h * w
        c = self.channels = check_positive_int(where, "channels", channels)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(
                f"{where}: argument 'num_layers' must be an int >= 0; got {num_layers!r}"
            )
        self.num_layers = num_layers
        k = self.kernel_size = _check_odd(where, "kernel_size", kernel_size)
        k1 = self.first_kernel_size = _check_odd(where, "first_kernel_size", first_kernel_size)
        self.first_mask = _check_mask_type(where, "first_mask", first_mask)
        rngs = check_rngs(where, rngs)
        first_fan_in = max((k1 * k1) // 2, 1)  # the taps a type-A mask keeps
        res_fan_in = c * (k * k + 1) // 2  # the taps a type-B mask keeps
        he = {"gain": 2.0}  # He's initialisation for ReLU layers
        first_shape = (k1, k1, 1, c)
        self.first_kernel = nnx.Param(normal_init(rngs.params(), first_shape, first_fan_in, **he))
        self.first_bias = nnx.Param(jnp.zeros((c,), jnp.float32))
        res_shape = (num_layers, k, k, c, c)
        self.res_kernels = nnx.Param(normal_init(rngs.params(), res_shape, res_fan_in, **he))
        self.res_biases = nnx.Param(jnp.zeros((num_layers, c), jnp.float32))
        self.hidden_kernel = nnx.Param(normal_init(rngs.params(), (c, c), c, **he))
        self.hidden_bias = nnx.Param(jnp.zeros((c,), jnp.float32))
        self.out_kernel = nnx.Param(normal_init(rngs.params(), (c,), c, **he) / 4.0)
        self.out_bias = nnx.Param(jnp.asarray(np.log(0.2 / 0.8), jnp.float32))

    def params(self) -> PixelCNNParams:
        """The current parameter values as a :class:`PixelCNNParams` of arrays."""
        return PixelCNNParams(*(getattr(self, f)[...] for f in PixelCNNParams._fields))

    def _conditionals(self, x: Array) -> Array:
        images = x.reshape(x.shape[0], *self.image_shape)
        logits = _pixelcnn_logits(self.params(), images, self.first_mask)
        return logits.reshape(x.shape[0], self.d)

    def reach(self) -> int:
        """How many rows up (and columns either way) the logit of a pixel can see:
        ``k1 // 2 + L * (k // 2)``, the half-widths of the masked kernels added up."""
        return self.first_kernel_size // 2 + self.num_layers * (self.kernel_size // 2)

    def _recurrence(self, canvas: Array) -> Recurrence:
        r"""Carry the image, zero-padded by :math:`R` = :meth:`reach` above and on both sides;
        read the logit of pixel :math:`(r, c)` from the window of rows :math:`r - R .. r` and
        columns :math:`c - R .. c + R` only, with 'valid' masked convolutions: each layer is
        computed only where its masked inputs are all known, a region that shrinks by the
        kernel's half-width per layer, down to the one pixel read. Layer inputs outside the
        image are zeroed as in the full pass. With the default architecture (:math:`R = 7`)
        the layers run on 5x9, 4x7, 3x5, 2x3 and 1x1 pixels, not 5 times 784."""
        r_ = self.reach()
        h, w = self.image_shape
        n = canvas.shape[0]
        params, first_mask = self.params(), self.first_mask
        padding = ((r_, 0), (r_, r_))
        inside = jnp.asarray(np.pad(np.ones((h, w), np.float32), padding))
        images = jnp.pad(canvas.reshape(n, h, w), ((0, 0), *padding))
        size = (r_ + 1, 2 * r_ + 1)

        def read(images: Array, i: Array) -> Array:
            row, col = jnp.divmod(i, w)
            window = lax.dynamic_slice(images, (0, row, col), (n, *size))
            window_inside = lax.dynamic_slice(inside, (row, col), size)
            features = _pixelcnn_features(params, window, first_mask, window_inside)
            return _pixelcnn_head(params, features[:, 0, 0])

        def write(images: Array, i: Array, x_i: Array) -> Array:
            row, col = jnp.divmod(i, w)
            return lax.dynamic_update_slice(images, x_i[:, None, None], (0, row + r_, col + r_))

        return Recurrence(images, read, write)


def receptive_field(
    model: AutoregressiveBernoulli,
    image_shape: tuple[int, int],
    pixel: tuple[int, int],
    x: Array | None = None,
) -> Array:
    r"""Which input pixels the logit of one pixel depends on, read off an autodiff gradient:

    .. math:: F_{q} = \Bigl|\frac{\partial \ell_{p}}{\partial x_{q}}\Bigr|_{x},
              \qquad p = \text{pixel},\ q \text{ over all pixels},

    computed with ``jax.grad`` of one output logit with respect to the whole input image. For an
    autoregressive model :math:`F` is zero at :math:`p` and at every later pixel in raster order;
    for a PixelCNN it is also zero in the blind spot, the earlier pixels that no path of masked
    kernels reaches. Any model with ``conditionals`` on flattened ``(batch, H*W)`` images works
    (MADE, NADE, the GRU and the causal transformer of :mod:`dgm_lib.autoregressive`).

    The gradient is taken at one input ``x``: a pixel whose every path is switched off by a
    ReLU at that ``x`` shows a zero too, so take ``x`` where the units are active (the default,
    a uniform grey image of 0.5, works for random and trained networks alike).

    Args:
        model: an :class:`~dgm_lib.autoregressive.AutoregressiveBernoulli` with
            ``model.d == H*W``.
        image_shape: ``(H, W)``.
        pixel: ``(row, col)`` of the output logit, 0-based.
        x: the input image where the gradient is taken, float32 of shape ``(H, W)``; default
            all 0.5.

    Returns:
        float32 array of shape ``(H, W)``, non-negative: :math:`|\partial \ell_p / \partial x_q|`
        (logit units per unit of input).
    """
    where = "receptive_field"
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
        raise ValueError(
            f"{where}: argument 'image_shape' must be a pair (H, W); got {image_shape!r}"
        )
    h = check_positive_int(where, "image_shape[0]", image_shape[0])
    w = check_positive_int(where, "image_shape[1]", image_shape[1])
    if not isinstance(model, AutoregressiveBernoulli) or model.d != h * w:
        raise ValueError(
            f"{where}: argument 'model' must be an AutoregressiveBernoulli over {h}*{w} = "
            f"{h * w} pixels (model.d == H*W); got {type(model).__name__} with "
            f"d = {getattr(model, 'd', None)}"
        )
    if (
        not isinstance(pixel, (tuple, list))
        or len(pixel) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in pixel)
        or not (0 <= pixel[0] < h and 0 <= pixel[1] < w)
    ):
        raise ValueError(
            f"{where}: argument 'pixel' must be a pair (row, col) of ints with 0 <= row < {h} "
            f"and 0 <= col < {w}; got {pixel!r}"
        )
    if x is None:
        x = jnp.full((h, w), 0.5, jnp.float32)
    x = check_array(where, "x", x, shape=(h, w))
    graphdef, state = nnx.split(model)
    return _abs_grad_of_logit(graphdef, state, x.astype(jnp.float32), pixel[0] * w + pixel[1])


@partial(jax.jit, static_argnums=0)
def _abs_grad_of_logit(graphdef: nnx.GraphDef, state: nnx.State, x: Array, index: Array) -> Array:
    """The absolute gradient of one logit (a traced index) with respect to the input image,
    compiled once per model structure and image shape."""
    model = nnx.merge(graphdef, state, copy=True)

    def logit(image: Array) -> Array:
        logits = model.conditionals(image.reshape(1, -1))[0]
        return lax.dynamic_index_in_dim(logits, index, keepdims=False)

    return jnp.abs(jax.grad(logit)(x))
