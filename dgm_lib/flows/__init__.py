"""Normalizing flows (the book's chapter "Normalizing flows"): the bijector contract
(``forward_and_log_det`` z -> x, ``inverse_and_log_det`` x -> z), its combinators, planar,
coupling, autoregressive and Glow-style layers, pixel transforms, and the flow distribution."""

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
    "iaf",
    "image_flow",
    "init_actnorm",
    "reverse_kl_loss",
    "soft_clamp",
]
