r"""Independent pixels, the baseline an image model must beat: one categorical per pixel.

The model :math:`P(x) = \prod_{d=1}^{D} \pi_{d, x_d}` over integer pixels
:math:`x_d \in \{0, \dots, L - 1\}` is fitted by counting, with
:math:`\pi_{d,v} = (n_{d,v} + a) / (N + a L)` from the counts :math:`n_{d,v}` of value
:math:`v` at pixel :math:`d` in :math:`N` training images (the posterior mean under a symmetric
Dirichlet(:math:`a`) prior; :math:`a = 0` is maximum likelihood, :math:`a > 0` keeps a value
never seen at a pixel possible on test images). It ignores every dependence between pixels, so
a model that captures any (a flow, an autoregressive model) should score fewer bits.

Its density on dequantised pixels :math:`v = x + u` is constant on each unit cube, so its
dequantised NLL equals its discrete NLL exactly; a flow's dequantised NLL is only an upper
bound on its discrete one (:func:`~dgm_lib.flows.pixels.dequantize`), so a flow that beats the
histogram in dequantised bits beats it in discrete bits too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_array, check_positive_int

Array = jax.Array

__all__ = ["histogram_log_prob", "pixel_histogram"]


def _check_pixels(where: str, x: Array, levels: int) -> Array:
    x = check_array(where, "x", x, kind="int")
    if x.ndim < 2:
        raise ValueError(
            f"{where}: argument 'x' must be a batch of images (N, ...) of integer pixels; got "
            f"shape {tuple(x.shape)}"
        )
    if not isinstance(x, jax.core.Tracer):
        lo, hi = int(jnp.min(x)), int(jnp.max(x))
        if lo < 0 or hi >= levels:
            raise ValueError(
                f"{where}: pixels of 'x' must lie in 0 .. {levels - 1} (levels = {levels}); got "
                f"values from {lo} to {hi}"
            )
    return x


def pixel_histogram(x: Array, levels: int, pseudocount: float = 1.0) -> Array:
    r"""Fit independent pixels to integer images: :math:`\log \pi_{d,v}
    = \log (n_{d,v} + a) - \log (N + a L)`.

    Args:
        x: ``(N, *pixel_shape)`` integer pixels in ``0 .. levels - 1``.
        levels: :math:`L`, the number of values a pixel takes (256 for 8-bit images).
        pseudocount: :math:`a \ge 0`, added to every count.

    Returns:
        ``(*pixel_shape, levels)`` float32 log-probabilities; each pixel's sum to one.
    """
    where = "pixel_histogram"
    levels = check_positive_int(where, "levels", levels)
    if isinstance(pseudocount, bool) or not isinstance(pseudocount, (int, float, np.number)):
        raise TypeError(
            f"{where}: argument 'pseudocount' must be a number >= 0; got {pseudocount!r}"
        )
    if not pseudocount >= 0:
        raise ValueError(f"{where}: argument 'pseudocount' must be >= 0; got {pseudocount!r}")
    x = _check_pixels(where, x, levels)
    n, shape = x.shape[0], x.shape[1:]
    d = int(np.prod(shape))
    index = jnp.arange(d) * levels + x.reshape(n, d)  # pixel d's value v -> slot d L + v
    counts = jnp.bincount(index.reshape(-1), length=d * levels).reshape(*shape, levels)
    return (jnp.log(counts + pseudocount) - jnp.log(n + pseudocount * levels)).astype(jnp.float32)


def histogram_log_prob(log_probs: Array, x: Array) -> Array:
    r""":math:`\log P(x) = \sum_d \log \pi_{d, x_d}` of each image under :func:`pixel_histogram`'s
    fit.

    Args:
        log_probs: ``(*pixel_shape, levels)``, from :func:`pixel_histogram`.
        x: ``(N, *pixel_shape)`` integer pixels in ``0 .. levels - 1``.

    Returns:
        ``(N,)`` log-probabilities in nats.
    """
    where = "histogram_log_prob"
    log_probs = check_array(where, "log_probs", log_probs, kind="number")
    x = _check_pixels(where, x, log_probs.shape[-1])
    if x.shape[1:] != log_probs.shape[:-1]:
        raise ValueError(
            f"{where}: images of 'x' have shape {tuple(x.shape[1:])} but 'log_probs' was fitted "
            f"to images of shape {tuple(log_probs.shape[:-1])}"
        )
    picked = jnp.take_along_axis(log_probs[None], x[..., None], axis=-1)[..., 0]
    return jnp.sum(picked.reshape(x.shape[0], -1), axis=-1)
