r"""Noise-conditional networks: one network for every noise level, told the level through an
embedding of the time :math:`t`.

The networks predict the noise, :math:`\hat\varepsilon_\theta(x_t, t)`, and the score is
:math:`s_\theta(x_t, t) = -\hat\varepsilon_\theta(x_t, t) / \sigma(t)`
(:class:`~dgm_lib.score.model.ScoreModel`). The true score of the noised data,
:math:`-\mathbb E[\varepsilon \mid x_t] / \sigma(t)`, grows like :math:`1/\sigma(t)` as the noise
vanishes; the noise it divides stays of unit scale at every level, which is what a network
outputs comfortably (the output scaling of Song and Ermon 2020).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import (
    check_array,
    check_hidden_sizes,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP, Conv2d, Frozen

__all__ = ["LabelEmbedding", "ScoreMLP", "ScoreUNet", "TimeEmbedding"]


class TimeEmbedding(nnx.Module):
    r"""Random Fourier features of the time, :math:`\gamma(t) = [\sin(2\pi w t), \cos(2\pi w t)]`
    with ``embed_dim / 2`` fixed frequencies :math:`w \sim \mathcal N(0, \text{scale}^2)`
    (Tancik et al. 2020; Song et al. 2021): a smooth code in which nearby times are similar and
    the network can still tell small differences of :math:`t` apart."""

    def __init__(self, embed_dim: int = 64, *, scale: float = 16.0, rngs: nnx.Rngs):
        where = "TimeEmbedding"
        embed_dim = check_positive_int(where, "embed_dim", embed_dim)
        if embed_dim % 2:
            raise ValueError(f"{where}: argument 'embed_dim' must be even (sines and cosines); "
                             f"got {embed_dim}")
        scale = check_positive_float(where, "scale", scale)
        rngs = check_rngs(where, rngs)
        self.embed_dim = embed_dim
        self.frequencies = Frozen(scale * jax.random.normal(rngs.params(), (embed_dim // 2,)))

    def __call__(self, t: Array) -> Array:
        """:math:`\\gamma(t)` for times ``(n,)``: shape ``(n, embed_dim)``."""
        angle = 2.0 * math.pi * t[:, None] * self.frequencies[...]
        return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)], axis=-1)


class LabelEmbedding(nnx.Module):
    r"""A learned vector per class, plus one for "no label" (index :math:`K`): a
    class-conditional network adds it to the time embedding, and one trained with labels
    dropped at random learns the unconditional model too (classifier-free guidance,
    :mod:`dgm_lib.diffusion.guidance`)."""

    def __init__(self, num_classes: int, embed_dim: int, *, rngs: nnx.Rngs):
        self.num_classes = check_positive_int("LabelEmbedding", "num_classes", num_classes)
        self.table = nnx.Embed(num_classes + 1, embed_dim, rngs=check_rngs("LabelEmbedding", rngs))

    def __call__(self, where: str, labels: Array | None, n: int) -> Array:
        """The embeddings ``(n, embed_dim)`` of integer ``labels`` ``(n,)`` in ``{0, ..., K}``
        (``K``: no label); None: no label for every example."""
        if labels is None:
            labels = jnp.full((n,), self.num_classes, jnp.int32)
        labels = check_array(where, "labels", labels, shape=(n,), kind="int")
        return self.table(labels)


def _with_labels(where: str, emb: Array, table: LabelEmbedding | None, labels: Array | None
                 ) -> Array:
    """The time embedding ``(n, e)`` plus the labels' (a conditional network's ``table``), or
    as it is for an unconditional network, which refuses labels."""
    if table is not None:
        return emb + table(where, labels, emb.shape[0])
    if labels is not None:
        raise ValueError(f"{where}: this network is unconditional (num_classes=None); got "
                         "'labels'")
    return emb


class ScoreMLP(nnx.Module):
    r"""A noise-prediction MLP on vectors: :math:`\hat\varepsilon_\theta(x, t) =
    \mathrm{MLP}([x, \gamma(t)])`, ``d + embed_dim -> hidden_sizes -> d`` with smooth (SiLU)
    activations. Images are flattened by the caller (``(n, d)`` in, ``(n, d)`` out).

    Args:
        d: the data dimension.
        hidden_sizes: the widths of the hidden layers.
        embed_dim: the size of the time embedding :math:`\gamma(t)`.
        scale: the standard deviation of the embedding's frequencies.
        num_classes: for a class-conditional network, the number of classes :math:`K`: a
            learned embedding of the label (:class:`LabelEmbedding`) is added to
            :math:`\gamma(t)`.
        rngs: ``nnx.Rngs`` for the weights and the frequencies.
    """

    def __init__(
        self,
        d: int,
        hidden_sizes: Sequence[int],
        *,
        embed_dim: int = 64,
        scale: float = 16.0,
        num_classes: int | None = None,
        rngs: nnx.Rngs,
    ):
        where = "ScoreMLP"
        self.d = check_positive_int(where, "d", d)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        rngs = check_rngs(where, rngs)
        self.embed = TimeEmbedding(embed_dim, scale=scale, rngs=rngs)
        self.labels = None if num_classes is None else LabelEmbedding(num_classes, embed_dim,
                                                                      rngs=rngs)
        self.net = MLP((d + embed_dim, *hidden_sizes, d), "silu", rngs=rngs)

    def __call__(self, x: Array, t: Array, labels: Array | None = None) -> Array:
        r""":math:`\hat\varepsilon_\theta(x, t)` for states ``(n, d)`` and times ``(n,)``; a
        class-conditional network also reads ``labels`` (see :class:`LabelEmbedding`)."""
        x = check_array("ScoreMLP", "x", x, shape=("n", self.d))
        t = check_array("ScoreMLP", "t", t, shape=(x.shape[0],))
        emb = _with_labels("ScoreMLP", self.embed(t), self.labels, labels)
        return self.net(jnp.concatenate([x, emb], axis=-1))


def _group_norm(channels: int, rngs: nnx.Rngs) -> nnx.GroupNorm:
    """Group normalisation with up to 8 groups (as many as divide ``channels``)."""
    groups = max(g for g in range(1, 9) if channels % g == 0)
    return nnx.GroupNorm(channels, num_groups=groups, rngs=rngs)


class _ResBlock(nnx.Module):
    r"""``h = conv(silu(norm(x))) + dense(silu(emb))``, ``out = skip(x) + conv(silu(norm(h)))``:
    the residual block of Ho et al. (2020), the time added to every channel between the two
    convolutions; the second starts at zero, so the block starts as its skip path."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int, rngs: nnx.Rngs) -> None:
        self.norm1, self.conv1 = _group_norm(c_in, rngs), Conv2d(c_in, c_out, rngs=rngs)
        self.time = nnx.Linear(embed_dim, c_out, rngs=rngs)
        self.norm2 = _group_norm(c_out, rngs)
        self.conv2 = Conv2d(c_out, c_out, zero_init=True, rngs=rngs)
        self.skip = Conv2d(c_in, c_out, 1, rngs=rngs) if c_in != c_out else None

    def __call__(self, x: Array, emb: Array) -> Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.time(jax.nn.silu(emb))[:, None, None, :]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


def _downsample(x: Array) -> Array:
    """2x2 average pooling, ``(n, H, W, C) -> (n, H/2, W/2, C)``."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _upsample(x: Array) -> Array:
    """Nearest-neighbour upsampling, ``(n, H, W, C) -> (n, 2H, 2W, C)``."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class ScoreUNet(nnx.Module):
    r"""A small noise-prediction U-Net on images (Ronneberger et al. 2015, in the form of Ho
    et al. 2020): :math:`\hat\varepsilon_\theta(x, t)` for ``(n, H, W, C)`` images.

    A 3x3 convolution to ``features[0]`` channels; on the way down, at each resolution one
    residual block (told the time through :class:`TimeEmbedding` and an MLP) and a 2x2
    average pooling, except at the coarsest; one block there; on the way up, at each
    resolution, coarsest first, nearest-neighbour upsampling (below the coarsest), the skip
    connection from the same resolution concatenated, one block; group norm, SiLU and a 3x3
    convolution, started at zero, back to ``C`` channels. ``features = (32, 64, 64)`` on
    28x28 images works at 28, 14 and 7 pixels. The convolutions are
    :class:`~dgm_lib.nn.Conv2d`, fast inside ``train.fit`` on a CPU.

    Args:
        channels: image channels ``C``.
        features: channels at each resolution, finest first; ``H`` and ``W`` must be
            divisible by ``2^(len(features) - 1)``.
        embed_dim: the size of the time embedding.
        scale: the standard deviation of the embedding's frequencies.
        num_classes: for a class-conditional network, the number of classes (a
            :class:`LabelEmbedding` added to the time embedding).
        rngs: ``nnx.Rngs`` for the weights and the frequencies.
    """

    def __init__(
        self,
        channels: int,
        features: Sequence[int] = (32, 64, 64),
        *,
        embed_dim: int = 64,
        scale: float = 16.0,
        num_classes: int | None = None,
        rngs: nnx.Rngs,
    ):
        where = "ScoreUNet"
        self.channels = check_positive_int(where, "channels", channels)
        features = check_hidden_sizes(where, features)
        if not features:
            raise ValueError(f"{where}: argument 'features' needs at least one resolution's "
                             "channels, e.g. (32, 64, 64)")
        rngs = check_rngs(where, rngs)
        self.embed = TimeEmbedding(embed_dim, scale=scale, rngs=rngs)
        self.labels = None if num_classes is None else LabelEmbedding(num_classes, embed_dim,
                                                                      rngs=rngs)
        self.time_mlp = MLP((embed_dim, 4 * features[0], 4 * features[0]), "silu", rngs=rngs)
        emb = 4 * features[0]
        self.stem = Conv2d(channels, features[0], rngs=rngs)
        widths = (features[0], *features)
        self.down = nnx.List(
            [_ResBlock(a, b, emb, rngs) for a, b in itertools.pairwise(widths)]
        )
        self.middle = _ResBlock(features[-1], features[-1], emb, rngs)
        # Up at resolution i: the coarser output (upsampled below the coarsest level) with the
        # skip of resolution i, back to features[i] channels.
        coarser = (*features[1:], features[-1])
        self.up = nnx.List(
            [
                _ResBlock(coarser[i] + features[i], features[i], emb, rngs)
                for i in reversed(range(len(features)))
            ]
        )
        self.out_norm = _group_norm(features[0], rngs)
        self.out = Conv2d(features[0], channels, zero_init=True, rngs=rngs)
        self.levels = len(features)

    def __call__(self, x: Array, t: Array, labels: Array | None = None) -> Array:
        r""":math:`\hat\varepsilon_\theta(x, t)` for images ``(n, H, W, C)`` and times ``(n,)``;
        a class-conditional network also reads ``labels`` (see :class:`LabelEmbedding`)."""
        where = "ScoreUNet"
        x = check_array(where, "x", x, shape=("n", "H", "W", self.channels))
        t = check_array(where, "t", t, shape=(x.shape[0],))
        factor = 2 ** (self.levels - 1)
        if x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(
                f"{where}: image height and width must be divisible by {factor} (one halving "
                f"per level below the first of {self.levels}); got {x.shape[1]}x{x.shape[2]}"
            )
        emb = self.time_mlp(_with_labels(where, self.embed(t), self.labels, labels))
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = _downsample(h)
        h = self.middle(h, emb)
        for i, block in zip(reversed(range(self.levels)), self.up, strict=True):
            if i < self.levels - 1:
                h = _upsample(h)
            h = block(jnp.concatenate([h, skips[i]], axis=-1), emb)
        return self.out(jax.nn.silu(self.out_norm(h)))
