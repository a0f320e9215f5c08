r"""Normalising flows (the book's chapter "Normalising flows").

The bijector contract (:mod:`dgm_lib.flows.bijector`: ``forward_and_log_det`` is the generative
direction :math:`z \to x`, ``inverse_and_log_det`` the density direction :math:`x \to z`) and
its combinators; planar (:mod:`~dgm_lib.flows.planar`), coupling
(:mod:`~dgm_lib.flows.coupling`), autoregressive (:mod:`~dgm_lib.flows.autoregressive`) and
Glow-style (:mod:`~dgm_lib.flows.glow`) layers; pixel transforms
(:mod:`~dgm_lib.flows.pixels`); the flow distribution with its losses
(:mod:`~dgm_lib.flows.distribution`); and independent pixels, the baseline an image flow must
beat (:mod:`~dgm_lib.flows.histogram`).
"""

from .autoregressive import MAF, iaf
from .bijector import Bijector, Chain, Inverse, Stack, event_sum, soft_clamp
from .coupling import (
    AdditiveCoupling,
    AffineCoupling,
    DiagonalScale,
    channel_mask,
    checkerboard_mask,
    half_mask,
)
from .distribution import (
    StandardNormal,
    Transformed,
    dequantized_nll_loss,
    reverse_kl_loss,
)
from .glow import ActNorm, Conv1x1, SplitChannels, Squeeze, image_flow, init_actnorm
from .histogram import histogram_log_prob, pixel_histogram
from .pixels import LogitTransform, Scale, dequantize
from .planar import Planar

__all__ = [
    "MAF",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "Bijector",
    "Chain",
    "Conv1x1",
    "DiagonalScale",
    "Inverse",
    "LogitTransform",
    "Planar",
    "Scale",
    "SplitChannels",
    "Squeeze",
    "Stack",
    "StandardNormal",
    "Transformed",
    "channel_mask",
    "checkerboard_mask",
    "dequantize",
    "dequantized_nll_loss",
    "event_sum",
    "half_mask",
    "histogram_log_prob",
    "iaf",
    "image_flow",
    "init_actnorm",
    "pixel_histogram",
    "reverse_kl_loss",
    "soft_clamp",
]
