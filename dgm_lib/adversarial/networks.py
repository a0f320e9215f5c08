r"""The GAN's two networks as Flax NNX modules: an implicit generator
:math:`x = G_\theta(z)`, :math:`z \sim \mathcal N(0, I)`, that can only be sampled (no
``log_prob``: evaluate it with two-sample tests and sample metrics), and a critic
:math:`D_\phi(x) \in \mathbb R` (a discriminator's logit, a WGAN critic's score, an f-GAN's
:math:`v`). Both take an optional class label (conditional GAN, Mirza and Osindero 2014) as a
one-hot vector concatenated with their input. :class:`GAN` holds the two as ``.generator``
and ``.critic``, so the players of :func:`dgm_lib.train.fit` select their parameters with
``wrt="generator"`` and ``wrt="critic"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import (
    check_array,
    check_event_shape,
    check_hidden_sizes,
    check_key,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP

__all__ = ["GAN", "IMAGE_GAN_SETUP", "Critic", "Generator"]

_OUTPUTS = ("identity", "sigmoid")

IMAGE_GAN_SETUP: dict[str, Any] = {
    "noise_dim": 64,
    "generator_hidden": (256, 512),
    "critic_hidden": (512, 256),
}
"""The chapter's conditional GAN on 28 x 28 images (and ``benchmarks/gan.py``'s): the widths of
its MLP generator and critic and the noise dimension."""
_HIDDEN = "leaky_relu"


def _check_num_classes(where: str, num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(
            f"{where}: argument 'num_classes' must be an int >= 0 (0: unconditional); got "
            f"{num_classes!r}"
        )
    return num_classes


def _check_labels(where: str, labels: Any, num_classes: int, n: int) -> Array | None:
    if num_classes == 0:
        if labels is not None:
            raise ValueError(
                f"{where}: argument 'labels' must be None for an unconditional model "
                "(num_classes=0)"
            )
        return None
    if labels is None:
        raise ValueError(
            f"{where}: argument 'labels' is required for a conditional model "
            f"(num_classes={num_classes}): int class labels of shape ({n},)"
        )
    labels = check_array(where, "labels", labels, shape=(n,), kind="int")
    if not isinstance(labels, jax.core.Tracer) and bool(
        jnp.any((labels < 0) | (labels >= num_classes))
    ):
        raise ValueError(f"{where}: argument 'labels' must lie in 0, ..., {num_classes - 1}")
    return labels


def _with_labels(h: Array, labels: Array | None, num_classes: int) -> Array:
    if labels is None:
        return h
    return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=h.dtype)], axis=-1)


class Generator(nnx.Module):
    r"""An MLP generator :math:`G(z)` (or :math:`G(z, y)`) from noise to samples shaped
    ``event_shape``.

    Args:
        noise_dim: the dimension of :math:`z \sim \mathcal N(0, I)`.
        hidden_sizes: the hidden widths, e.g. ``(128, 128)``; leaky-ReLU activations.
        event_shape: the shape of one sample, e.g. ``(2,)`` or ``(28, 28, 1)``.
        num_classes: the number of classes of a conditional generator (a one-hot label is
            concatenated with the noise); 0 for an unconditional one.
        output: ``"identity"`` (real-valued data) or ``"sigmoid"`` (images in [0, 1]).
        rngs: ``nnx.Rngs`` for the initial weights.
    """

    def __init__(
        self,
        noise_dim: int,
        hidden_sizes: Sequence[int],
        event_shape: Sequence[int],
        *,
        num_classes: int = 0,
        output: str = "identity",
        rngs: nnx.Rngs,
    ) -> None:
        where = "Generator"
        self.noise_dim = check_positive_int(where, "noise_dim", noise_dim)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        self.event_shape = check_event_shape(where, event_shape)
        self.num_classes = _check_num_classes(where, num_classes)
        if output not in _OUTPUTS:
            raise ValueError(
                f"{where}: argument 'output' must be one of {list(_OUTPUTS)}; got {output!r}"
            )
        self.output = output
        check_rngs(where, rngs)
        sizes = (self.noise_dim + self.num_classes, *hidden_sizes, math.prod(self.event_shape))
        self.net = MLP(sizes, _HIDDEN, rngs=rngs)

    def __call__(self, z: Array, labels: Array | None = None) -> Array:
        """Samples ``(n, *event_shape)`` from noise ``z`` ``(n, noise_dim)`` (and int
        ``labels`` ``(n,)`` when conditional)."""
        where = "Generator"
        z = check_array(where, "z", z, shape=("n", self.noise_dim))
        labels = _check_labels(where, labels, self.num_classes, z.shape[0])
        out = self.net(_with_labels(z, labels, self.num_classes))
        if self.output == "sigmoid":
            out = jax.nn.sigmoid(out)
        return out.reshape(z.shape[0], *self.event_shape)

    def sample(self, key: Array, n: int, labels: Array | None = None) -> Array:
        """``n`` samples ``(n, *event_shape)``: the implicit model's only contract (no
        ``log_prob``). ``labels`` (int ``(n,)``) is required iff ``num_classes > 0``."""
        where = "Generator.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        labels = _check_labels(where, labels, self.num_classes, n)
        z = jax.random.normal(key, (n, self.noise_dim), jnp.float32)
        return self(z, labels)


class Critic(nnx.Module):
    """An MLP critic: one real output per example (a logit, a WGAN score or an f-GAN's raw
    ``v``) from the flattened input, with a one-hot label concatenated when conditional.

    Args:
        event_shape: the shape of one example, e.g. ``(2,)`` or ``(28, 28, 1)``.
        hidden_sizes: the hidden widths; leaky-ReLU activations.
        num_classes: the number of classes of a conditional critic; 0 for none.
        rngs: ``nnx.Rngs`` for the initial weights.
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        hidden_sizes: Sequence[int],
        *,
        num_classes: int = 0,
        rngs: nnx.Rngs,
    ) -> None:
        where = "Critic"
        self.event_shape = check_event_shape(where, event_shape)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        self.num_classes = _check_num_classes(where, num_classes)
        check_rngs(where, rngs)
        sizes = (math.prod(self.event_shape) + self.num_classes, *hidden_sizes, 1)
        self.net = MLP(sizes, _HIDDEN, rngs=rngs)

    def __call__(self, x: Array, labels: Array | None = None) -> Array:
        """The critic's outputs ``(batch,)`` on ``x`` ``(batch, *event_shape)``."""
        where = "Critic"
        x = check_array(where, "x", x, shape=("batch", *self.event_shape))
        labels = _check_labels(where, labels, self.num_classes, x.shape[0])
        h = _with_labels(x.reshape(x.shape[0], -1), labels, self.num_classes)
        return self.net(h)[:, 0]


class GAN(nnx.Module):
    """A generator and a critic in one module, as ``.generator`` and ``.critic``, so that
    :class:`dgm_lib.train.Player` filters ``wrt="generator"`` and ``wrt="critic"`` split
    their parameters.

    Args:
        generator: a :class:`Generator` (or any module with ``sample(key, n, ...)``).
        critic: a :class:`Critic` (or any module mapping a batch to ``(batch,)``).
    """

    def __init__(self, generator: nnx.Module, critic: nnx.Module) -> None:
        for name, m in (("generator", generator), ("critic", critic)):
            if not isinstance(m, nnx.Module):
                raise TypeError(
                    f"GAN: argument '{name}' must be an nnx.Module; got {type(m).__name__}"
                )
        self.generator = generator
        self.critic = critic

    def sample(self, key: Array, n: int, labels: Array | None = None) -> Array:
        """``n`` samples of the generator (see :meth:`Generator.sample`)."""
        if labels is None:
            return self.generator.sample(key, n)
        return self.generator.sample(key, n, labels)
