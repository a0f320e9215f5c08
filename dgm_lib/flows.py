"""Normalizing flows: composing bijectors, and the distribution they define.

A flow pushes a simple base density p_z through an invertible map x = f(z). By the change of
variables (course notes, §flows),

    log p_x(x) = log p_z(f⁻¹(x)) + log|det ∂f⁻¹(x)/∂x| = log p_z(z) - log|det ∂f(z)/∂z|,

so a flow needs (i) the inverse for density evaluation and (ii) a cheap log-determinant. The
layers live in :mod:`dgm_lib.bijectors` (same contract: ``forward_and_log_det`` is the
generative direction z -> x; methods act on batches, log-dets have shape ``(batch,)``, nats).
This module composes them:

- :class:`Chain`: layers applied **in list order** z -> f₁ -> f₂ -> ... -> x (distrax's Chain
  applies them in reverse order; ours does not);
- :class:`Stack`: ``n`` layers of identical structure whose parameters are stacked along a
  leading axis and run with one ``lax.scan``, so the compile time does not grow with depth;
- :class:`Inverse`, and :func:`iaf`, the inverse autoregressive flow as the inverse of a MAF;
- :class:`StandardNormal` and :class:`Transformed` (``log_prob(x)``, ``sample(key, n)``);
- :func:`init_actnorm`, the data-dependent initialisation of every ActNorm in a flow;
- :func:`dequantize`, :func:`image_flow`, :func:`nll_loss`, :func:`dequantized_nll_loss` and
  :func:`reverse_kl_loss` for training with :func:`dgm_lib.train.fit`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ._checks import check_array, check_key, check_positive_int
from .bijectors import (
    MAF,
    ActNorm,
    AffineCoupling,
    Bijector,
    Conv1x1,
    LogitTransform,
    Scale,
    SplitChannels,
    Squeeze,
    channel_mask,
)

Array = jax.Array


class Chain(Bijector):
    """Composition in LIST ORDER: x = f_K(... f₂(f₁(z))), ``layers = [f₁, ..., f_K]``.

    log|det ∂x/∂z| = Σ_k log|det ∂f_k/∂(input of f_k)|; the inverse runs the list backwards.
    Consecutive shapes must match (``layers[k].output_shape == layers[k+1].event_shape``).
    """

    def __init__(self, layers: Sequence[Bijector]) -> None:
        if not layers:
            raise ValueError("Chain: argument 'layers' must hold at least one bijector")
        for k, (a, b) in enumerate(itertools.pairwise(layers)):
            if tuple(a.output_shape) != tuple(b.event_shape):
                raise ValueError(
                    f"Chain: layer {k} outputs shape {tuple(a.output_shape)} but layer {k + 1} "
                    f"expects {tuple(b.event_shape)}"
                )
        self.layers = nnx.List(layers)
        self.event_shape = tuple(layers[0].event_shape)
        self.output_shape = tuple(layers[-1].output_shape)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        total = jnp.zeros(z.shape[0])
        for layer in self.layers:
            z, log_det = layer.forward_and_log_det(z)
            total = total + log_det
        return z, total

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        total = jnp.zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, log_det = layer.inverse_and_log_det(x)
            total = total + log_det
        return x, total


class Stack(Bijector):
    """``num_layers`` layers ``make_layer(rngs, k)`` (k = 0, 1, ...) applied in order k = 0
    first, with parameters stacked along a leading axis (``nnx.vmap`` over keys and k) and run
    by one ``lax.scan``: one layer is traced and compiled whatever the depth.

    ``k`` arrives as a traced int32 scalar, so a layer may depend on it through jnp only, e.g.
    ``AffineCoupling(half_mask(2, k), 64, rngs=rngs)`` alternates its mask. Every layer must
    have the same structure and shapes, and be built from jnp operations (not :class:`Conv1x1`,
    whose initial LU factors come from NumPy).
    """

    def __init__(
        self, make_layer: Callable[[nnx.Rngs, Array], Bijector], num_layers: int, *, key: Array
    ) -> None:
        self.num_layers = check_positive_int("Stack", "num_layers", num_layers)
        keys = jax.random.split(check_key("Stack", key), self.num_layers)
        build = nnx.vmap(lambda k, i: make_layer(nnx.Rngs(k), i), in_axes=(0, 0))
        self.layers = build(keys, jnp.arange(self.num_layers, dtype=jnp.int32))
        self.event_shape = tuple(self.layers.event_shape)
        self.output_shape = tuple(self.layers.output_shape)
        if self.event_shape != self.output_shape:
            raise ValueError("Stack: the stacked layer must keep the shape of its input")

    def _run(self, a: Array, inverse: bool) -> tuple[Array, Array]:
        graphdef, state = nnx.split(self.layers)

        def step(carry: tuple[Array, Array], layer_state: nnx.State) -> tuple:
            a, total = carry
            layer = nnx.merge(graphdef, layer_state)
            run = layer.inverse_and_log_det if inverse else layer.forward_and_log_det
            b, log_det = run(a)
            return (b, total + log_det), None

        (out, total), _ = lax.scan(step, (a, jnp.zeros(a.shape[0])), state, reverse=inverse)
        return out, total

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return self._run(z, inverse=False)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return self._run(x, inverse=True)


class Inverse(Bijector):
    """The inverse flow g = f⁻¹ with the SAME parameters: g's forward is f's inverse and
    g's inverse is f's forward (log-dets swap accordingly)."""

    def __init__(self, bijector: Bijector) -> None:
        self.bijector = bijector
        self.event_shape = tuple(bijector.output_shape)
        self.output_shape = tuple(bijector.event_shape)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return self.bijector.inverse_and_log_det(z)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return self.bijector.forward_and_log_det(x)


def iaf(dim: int, hidden: int, *, rngs: nnx.Rngs, order: Sequence[int] | None = None) -> Inverse:
    """Inverse autoregressive flow (Kingma et al. 2016) as ``Inverse(MAF(...))``:

        x_i = (z_i - μ_i(z_<i)) · exp(-α_i(z_<i)),

    the MADE now reading the noise z. Sampling (forward) is one parallel pass; the density
    of a given x (inverse) needs D sequential passes. The opposite trade-off to MAF.
    """
    return Inverse(MAF(dim, hidden, rngs=rngs, order=order))


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


def init_actnorm(bijector: Bijector, x: Array) -> Array:
    """Data-dependent initialisation of every :class:`ActNorm` in ``bijector`` from data x.

    Walks the flow in the data direction (a :class:`Chain` backwards): an ActNorm receiving
    the batch a sets b = mean(a) and s = log std(a) per channel (over batch and positions), so
    its output f⁻¹(a) has zero mean and unit variance per channel; the batch then moves on
    through each layer's inverse. Layers inside a :class:`Stack` are passed through unchanged.
    Changes the parameters IN PLACE.

    Args:
      bijector: the flow, generative direction.
      x: a batch of data, ``(batch, *bijector.output_shape)``.

    Returns:
      the batch in the base space, f⁻¹(x), after initialisation.
    """
    x = check_array("init_actnorm", "x", x, shape=("batch", *bijector.output_shape))
    if isinstance(bijector, ActNorm):
        axes = tuple(range(x.ndim - 1))
        bijector.bias[...] = jnp.mean(x, axis=axes)
        bijector.log_scale[...] = jnp.log(jnp.std(x, axis=axes) + 1e-6)
    elif isinstance(bijector, Chain):
        for layer in reversed(bijector.layers):
            x = init_actnorm(layer, x)
        return x
    elif isinstance(bijector, SplitChannels):
        kept = init_actnorm(bijector.inner, x[..., : bijector.keep])
        return jnp.concatenate([kept, x[..., bijector.keep :]], axis=-1)
    return bijector.inverse_and_log_det(x)[0]


def dequantize(key: Array, x: Array) -> Array:
    """Uniform dequantisation v = x + u, u ~ U[0, 1)^D, of integer pixel values x (any shape).

    A density p on v gives the discrete x the mass ∫ p(x + u) du ≥ exp E_u log p(x + u), so
    the average -log p(v) is an upper bound on the discrete NLL (Theis et al. 2016).
    """
    key = check_key("dequantize", key)
    x = check_array("dequantize", "x", x, kind="number")
    return x.astype(jnp.float32) + jax.random.uniform(key, x.shape)


def image_flow(
    image_shape: Sequence[int],
    *,
    hidden: int,
    depth: int,
    rngs: nnx.Rngs,
    alpha: float = 1e-6,
    num_levels: int = 256,
) -> Transformed:
    """A two-level Glow/RealNVP-style flow on images with pixel values in [0, num_levels).

    Data direction: v / num_levels -> logit -> squeeze to (H/2, W/2, 4C) -> ``depth`` steps of
    [ActNorm, Conv1x1, AffineCoupling with channel masks] -> factor out half of the channels
    -> squeeze the rest to (H/4, W/4, 8C) -> ``depth`` more steps. Returned as a
    ``Transformed(StandardNormal((H/2, W/2, 4C)), Chain([...]))`` in the generative direction,
    so ``log_prob(v)`` includes the logit and scaling Jacobians: it is log p of the
    dequantised pixels v, and nats_to_bits_per_dim(-log_prob(v), D) is bits per dimension.
    """
    h, w, c = (int(d) for d in image_shape)
    depth = check_positive_int("image_flow", "depth", depth)

    def steps(shape: tuple[int, int, int]) -> list[Bijector]:
        layers: list[Bijector] = []
        for k in range(depth):  # generative order: coupling, 1x1 conv, actnorm
            mask = channel_mask(*shape, k)
            layers += [AffineCoupling(mask, hidden, rngs=rngs), Conv1x1(shape, rngs=rngs)]
            layers.append(ActNorm(shape))
        return layers

    top = (h // 2, w // 2, 4 * c)
    half = (h // 2, w // 2, 2 * c)
    inner = Chain([Squeeze(half), *steps((h // 4, w // 4, 8 * c)), Inverse(Squeeze(half))])
    layers = [SplitChannels(top, 2 * c, inner), *steps(top), Inverse(Squeeze((h, w, c)))]
    layers += [LogitTransform((h, w, c), alpha), Scale((h, w, c), float(num_levels))]
    return Transformed(StandardNormal(top), Chain(layers))


def nll_loss(model: Transformed, x: Array, key: Array) -> Array:
    """Mean negative log-likelihood -(1/B) Σ_b log p(x_b), nats: the loss of ``fit``."""
    return -jnp.mean(model.log_prob(x))


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
