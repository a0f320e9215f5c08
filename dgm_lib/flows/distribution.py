"""The distribution a flow defines: a standard normal base pushed through a bijector, with
``log_prob(x)`` and ``sample(key, n)``, and the losses that train it with
:func:`dgm_lib.train.fit` (dequantised NLL, reverse KL)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..checks import check_array, check_key, check_positive_int
from .bijector import Bijector
from .pixels import dequantize

Array = jax.Array

__all__ = [
    "StandardNormal",
    "Transformed",
    "dequantized_nll_loss",
    "reverse_kl_loss",
]

class StandardNormal(nnx.Module):
    """The base density N(0, I) on events of shape ``event_shape``:
    log p(z) = -½ Σᵢ zᵢ² - (D/2) log 2π, nats per example."""

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = tuple(int(d) for d in event_shape)

    def log_prob(self, z: Array) -> Array:
        """z: ``(batch, *event_shape)`` -> ``(batch,)`` nats."""
        z = check_array("StandardNormal.log_prob", "z", z, shape=("batch", *self.event_shape))
        d = math.prod(self.event_shape)
        sq = jnp.sum(z.reshape(z.shape[0], -1) ** 2, axis=-1)
        return -0.5 * sq - 0.5 * d * math.log(2 * math.pi)

    def sample(self, key: Array, n: int, temperature: float = 1.0) -> Array:
        """``n`` draws of N(0, T² I) (T = ``temperature``), shape ``(n, *event_shape)``."""
        key = check_key("StandardNormal.sample", key)
        n = check_positive_int("StandardNormal.sample", "n", n)
        return temperature * jax.random.normal(key, (n, *self.event_shape))


class Transformed(nnx.Module):
    """The flow distribution of x = f(z), z ~ base:

        log p(x) = base.log_prob(f⁻¹(x)) + log|det ∂f⁻¹/∂x|   (nats, one per example).
    """

    def __init__(self, base: StandardNormal, bijector: Bijector) -> None:
        if tuple(base.event_shape) != tuple(bijector.event_shape):
            raise ValueError(
                f"Transformed: base has event shape {tuple(base.event_shape)} but the "
                f"bijector expects {tuple(bijector.event_shape)}"
            )
        self.base = base
        self.bijector = bijector
        self.event_shape = tuple(bijector.output_shape)

    def log_prob(self, x: Array) -> Array:
        """x: ``(batch, *event_shape)`` -> log p(x), ``(batch,)``, nats."""
        x = check_array("Transformed.log_prob", "x", x, shape=("batch", *self.event_shape))
        z, log_det = self.bijector.inverse_and_log_det(x)
        return self.base.log_prob(z) + log_det

    def sample_and_log_prob(self, key: Array, n: int, temperature: float = 1.0) -> tuple:
        """x = f(z) for ``n`` base draws z and log p(x) = log p_z(z) - log|det ∂f/∂z|, computed
        in the forward direction only (what reverse-KL training needs; no inverse)."""
        z = self.base.sample(key, n, temperature)
        x, log_det = self.bijector.forward_and_log_det(z)
        return x, self.base.log_prob(z) - log_det

    def sample(self, key: Array, n: int, temperature: float = 1.0) -> Array:
        """``n`` samples ``(n, *event_shape)``; ``temperature`` T < 1 draws z ~ N(0, T² I)."""
        return self.sample_and_log_prob(key, n, temperature)[0]



def dequantized_nll_loss(model: Transformed, x: Array, key: Array) -> Array:
    """Mean -log p(x + u) over a batch of integer pixels x, with fresh u ~ U[0, 1) each step
    (nats per image); an upper bound on the discrete NLL."""
    return -jnp.mean(model.log_prob(dequantize(key, x)))


def reverse_kl_loss(
    energy: Callable[[Array], Array], num_samples: int
) -> Callable[[Transformed, Array, Array], Array]:
    """Loss for fitting a flow q to an unnormalised target p(x) ∝ exp(-U(x)) by reverse KL:

        KL(q || p) - log Z = E_{x ~ q}[log q(x) + U(x)]   (nats),

    estimated with ``num_samples`` draws x = f(z) per step (reparameterised: the gradient flows
    through f). The returned ``loss(model, batch, key)`` ignores ``batch``; pass any array as
    ``fit``'s data. The minimum, -log Z, is reached when q = p.
    """
    num_samples = check_positive_int("reverse_kl_loss", "num_samples", num_samples)

    def loss(model: Transformed, batch: Array, key: Array) -> Array:
        x, log_q = model.sample_and_log_prob(key, num_samples)
        return jnp.mean(log_q + energy(x))

    return loss
