r"""The distribution a flow defines: a standard normal base pushed through a bijector, with
``log_prob(x)`` and ``sample(key, n)``, and the losses that train it with
:func:`dgm_lib.train.fit` (the dequantised NLL on data, the data-free reverse KL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..checks import (
    check_array,
    check_event_shape,
    check_key,
    check_positive_float,
    check_positive_int,
)
from ..probability import log_normal
from .bijector import Bijector, event_sum
from .pixels import dequantize

Array = jax.Array

__all__ = [
    "StandardNormal",
    "Transformed",
    "dequantized_nll_loss",
    "reverse_kl_loss",
]


class StandardNormal(nnx.Module):
    r"""The base density :math:`\mathcal N(0, I)` on events of shape ``event_shape``, with
    :math:`D` entries per event:

    .. math:: \log p(z) = \sum_{i=1}^{D} \log \mathcal N(z_i; 0, 1)
              = -\frac12 \sum_{i=1}^{D} z_i^2 - \frac D2 \log 2\pi
              \quad \text{nats per example}

    (:func:`dgm_lib.probability.log_normal` summed over the event axes).

    Args:
        event_shape: the shape of one event, a tuple of positive ints.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = check_event_shape("StandardNormal", event_shape)

    def log_prob(self, z: Array) -> Array:
        r""":math:`\log p(z)` in nats.

        Args:
            z: a batch ``(batch, *event_shape)``.

        Returns:
            an array ``(batch,)``.
        """
        z = check_array("StandardNormal.log_prob", "z", z, shape=("batch", *self.event_shape))
        return event_sum(log_normal(z, 0.0, 0.0), len(self.event_shape))

    def sample(self, key: Array, n: int, temperature: float = 1.0) -> Array:
        r"""``n`` draws of :math:`\mathcal N(0, T^2 I)`, :math:`T` = ``temperature``.

        Args:
            key: a ``jax.random.key``.
            n: the number of draws, a positive int.
            temperature: :math:`T > 0`; 1 draws from the base itself.

        Returns:
            an array ``(n, *event_shape)``.
        """
        key, n, temperature = _check_sampling("StandardNormal.sample", key, n, temperature)
        return temperature * jax.random.normal(key, (n, *self.event_shape))


class Transformed(nnx.Module):
    r"""The flow distribution of :math:`x = f(z)`, :math:`z \sim` ``base``:

    .. math:: \log p(x) = \log p_z\bigl(f^{-1}(x)\bigr)
              + \log\left\lvert\det \frac{\partial f^{-1}(x)}{\partial x}\right\rvert
              \quad \text{(nats, one per example)}.

    Args:
        base: the base density, a :class:`StandardNormal`.
        bijector: :math:`f`, a :class:`~dgm_lib.flows.bijector.Bijector` whose
            ``event_shape`` is the base's.
    """

    def __init__(self, base: StandardNormal, bijector: Bijector) -> None:
        where = "Transformed"
        if not isinstance(base, StandardNormal):
            raise TypeError(
                f"{where}: argument 'base' must be a StandardNormal; got {type(base).__name__}"
            )
        if not isinstance(bijector, Bijector):
            raise TypeError(
                f"{where}: argument 'bijector' must be a Bijector; got {type(bijector).__name__}"
            )
        if tuple(base.event_shape) != tuple(bijector.event_shape):
            raise ValueError(
                f"{where}: argument 'base' has event shape {tuple(base.event_shape)} but the "
                f"bijector expects {tuple(bijector.event_shape)}"
            )
        self.base = base
        self.bijector = bijector
        self.event_shape = tuple(bijector.output_shape)

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log p(x)` in nats, by the inverse direction of the bijector.

        Args:
            x: a batch ``(batch, *event_shape)``.

        Returns:
            an array ``(batch,)``.
        """
        x = check_array("Transformed.log_prob", "x", x, shape=("batch", *self.event_shape))
        z, log_det = self.bijector.inverse_and_log_det(x)
        return self.base.log_prob(z) + log_det

    def sample_and_log_prob(
        self, key: Array, n: int, temperature: float = 1.0
    ) -> tuple[Array, Array]:
        r"""``n`` samples :math:`x = f(z)` of base draws :math:`z` and their log-density

        .. math:: \log p(x) = \log p_z(z)
                  - \log\left\lvert\det \frac{\partial f(z)}{\partial z}\right\rvert,

        computed in the forward direction only (what reverse-KL training needs; no inverse).
        With ``temperature`` :math:`T \ne 1` the draws are :math:`z \sim \mathcal N(0, T^2 I)`
        and the log-density is still that of the untempered flow at :math:`x`.

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            temperature: :math:`T > 0`.

        Returns:
            the samples ``(n, *event_shape)`` and their log-densities ``(n,)``, nats.
        """
        where = "Transformed.sample_and_log_prob"
        return self._sample_and_log_prob(*_check_sampling(where, key, n, temperature))

    def sample(self, key: Array, n: int, temperature: float = 1.0) -> Array:
        r"""``n`` samples :math:`x = f(z)`; a ``temperature`` :math:`T < 1` draws
        :math:`z \sim \mathcal N(0, T^2 I)` (less diverse, smoother samples).

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            temperature: :math:`T > 0`.

        Returns:
            an array ``(n, *event_shape)``.
        """
        checked = _check_sampling("Transformed.sample", key, n, temperature)
        return self._sample_and_log_prob(*checked)[0]

    def _sample_and_log_prob(self, key: Array, n: int, temperature: float) -> tuple:
        z = self.base.sample(key, n, temperature)
        x, log_det = self.bijector.forward_and_log_det(z)
        return x, self.base.log_prob(z) - log_det


def _check_sampling(where: str, key: Array, n: int, temperature: float) -> tuple:
    """The arguments of a sampling method: one key, a positive int n, a temperature > 0."""
    return (
        check_key(where, key),
        check_positive_int(where, "n", n),
        check_positive_float(where, "temperature", temperature),
    )


def dequantized_nll_loss(model: Transformed, x: Array, key: Array) -> Array:
    r"""The mean dequantised NLL of a batch of integer pixels :math:`x`, with fresh
    :math:`u \sim \mathcal U[0, 1)^D` at every call:

    .. math:: \frac1B \sum_{b=1}^{B} -\log p(x_b + u_b) \quad \text{(nats per image)},

    an upper bound on the discrete NLL (:func:`~dgm_lib.flows.pixels.dequantize`). A loss for
    :func:`dgm_lib.train.fit` with data: ``(model, batch, key) -> scalar``.

    Args:
        model: the flow, a :class:`Transformed` on events of the pixels' shape.
        x: a batch of pixel values ``(batch, *model.event_shape)``.
        key: a ``jax.random.key`` for the dequantisation noise.

    Returns:
        a scalar, nats.
    """
    return -jnp.mean(model.log_prob(dequantize(key, x)))


def reverse_kl_loss(
    energy: Callable[[Array], Array], num_samples: int
) -> Callable[[Transformed, Array], Array]:
    r"""A data-free loss that fits a flow :math:`q` to an unnormalised target
    :math:`p(x) = e^{-U(x)} / Z` by reverse KL:

    .. math:: \mathrm{KL}(q \,\|\, p) - \log Z
              = \mathbb E_{x \sim q}\bigl[\log q(x) + U(x)\bigr] \quad \text{(nats)},

    estimated with ``num_samples`` draws :math:`x = f(z)` per call, reparameterised (the
    gradient flows through :math:`f`), so only the forward direction is used. Its minimum,
    :math:`-\log Z`, is reached when :math:`q = p`. Train with
    ``train.fit(model, reverse_kl_loss(energy, n), key=..., steps=...)``: no data, no
    ``batch_size``.

    Args:
        energy: :math:`U`, a function from ``(num_samples, *event_shape)`` samples to energies
            ``(num_samples,)``.
        num_samples: draws per step, a positive int.

    Returns:
        ``loss(model, key) -> scalar`` for a :class:`Transformed` ``model``.
    """
    if not callable(energy):
        raise TypeError(
            f"reverse_kl_loss: argument 'energy' must be a function x -> U(x); got "
            f"{type(energy).__name__}"
        )
    num_samples = check_positive_int("reverse_kl_loss", "num_samples", num_samples)

    def loss(model: Transformed, key: Array) -> Array:
        x, log_q = model.sample_and_log_prob(key, num_samples)
        return jnp.mean(log_q + energy(x))

    return loss
