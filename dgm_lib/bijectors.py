"""Bijectors: invertible layers with a tractable log-determinant, in the generative direction.

The contract (DESIGN section 3), shared by every layer here and by the combinators of
:mod:`dgm_lib.flows`:

- ``forward_and_log_det(z) -> (x, log|det ∂x/∂z|)``: the generative direction z -> x;
- ``inverse_and_log_det(x) -> (z, log|det ∂z/∂x|)``: the density direction x -> z;

so that for x = f(z) the change of variables reads log p_x(x) = log p_z(f⁻¹(x)) + log|det
∂f⁻¹/∂x|. **Methods act on batches**: ``z`` has shape ``(batch, *event_shape)`` and the
log-determinant, in nats, has shape ``(batch,)``: one value per example, summed over the
event axes. Shapes are checked at trace time; a wrong one raises ``ValueError`` naming the
layer and the expected shape ``(batch, *event_shape)``.

Layers (each docstring writes its maths):

- :class:`Planar` (Rezende and Mohamed 2015): forward only, with its log-det;
- :class:`AdditiveCoupling` and :class:`DiagonalScale` (NICE, Dinh et al. 2014);
- :class:`AffineCoupling` (RealNVP, Dinh et al. 2017): bounded log-scale, zero-initialised
  last layer, so a fresh layer is the identity; masks from :func:`half_mask`,
  :func:`checkerboard_mask`, :func:`channel_mask`;
- :class:`MAF` (Papamakarios et al. 2017): a MADE (masks from :func:`made_masks`) gives shift
  and log-scale; forward is a ``lax.scan`` over dimensions, inverse one parallel pass;
- :class:`ActNorm`, :class:`Conv1x1` (LU parameterisation), :class:`Squeeze`,
  :class:`SplitChannels` (Glow, Kingma and Dhariwal 2018; RealNVP's multi-scale split);
- :class:`LogitTransform` and :class:`Scale`, which take a flow from logit space to the
  pixel range so the log-likelihood of dequantised images carries every Jacobian term.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from flax import nnx
from jax import lax

from ._checks import check_array, check_positive_int

Array = jax.Array


class Constant(nnx.Variable):
    """A fixed array held by a layer (a mask, a permutation): never trained by ``fit``."""


def _event_sum(a: Array, event_ndim: int) -> Array:
    """Sum over the trailing ``event_ndim`` axes: per-example totals of shape ``(batch,)``."""
    return jnp.sum(a, axis=tuple(range(a.ndim - event_ndim, a.ndim)))


def soft_clamp(a: Array, bound: float) -> Array:
    """bound · tanh(a / bound): the identity near 0, smoothly limited to (-bound, bound).

    Used on log-scales so exp(log-scale) stays within [e^-bound, e^bound] and the log-det
    cannot explode during training.
    """
    return bound * jnp.tanh(a / bound)


class Bijector(nnx.Module):
    """Base class: an invertible map z -> x on events of shape ``event_shape``.

    ``event_shape`` is the shape of one input z; ``output_shape`` that of one output x (equal
    except for :class:`Squeeze`). Subclasses write ``_forward(z)`` and ``_inverse(x)`` on
    checked batches; the public methods check shapes first.
    """

    event_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def _check(self, where: str, name: str, a: Array, shape: tuple[int, ...]) -> Array:
        return check_array(f"{type(self).__name__}.{where}", name, a, shape=("batch", *shape))

    def forward_and_log_det(self, z: Array) -> tuple[Array, Array]:
        """x = f(z) and log|det ∂x/∂z| in nats; z: ``(batch, *event_shape)``, log-det
        ``(batch,)``."""
        return self._forward(self._check("forward_and_log_det", "z", z, self.event_shape))

    def inverse_and_log_det(self, x: Array) -> tuple[Array, Array]:
        """z = f⁻¹(x) and log|det ∂z/∂x| in nats; x: ``(batch, *output_shape)``, log-det
        ``(batch,)``."""
        return self._inverse(self._check("inverse_and_log_det", "x", x, self.output_shape))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _forward(z) (abstract)")

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _inverse(x) (abstract)")


# ----------------------------------------------------------------------------- planar


class Planar(Bijector):
    """Planar flow (Rezende and Mohamed 2015): x = z + û tanh(wᵀz + b).

    log|det ∂x/∂z| = log|1 + ûᵀψ(z)| with ψ(z) = (1 - tanh²(wᵀz + b)) w (matrix determinant
    lemma). Invertibility needs wᵀû ≥ -1; the free vector u is mapped to

        û = u + (m(wᵀu) - wᵀu) w / |w|²,   m(a) = -1 + softplus(a),

    which makes wᵀû = m(wᵀu) > -1. The inverse has no closed form (it is a 1-D root find along
    w), so the layer is used forward only, as in the paper: it fits a target by reverse KL,
    which needs samples and their log-density but never the inverse.
    """

    def __init__(self, dim: int, *, rngs: nnx.Rngs) -> None:
        dim = check_positive_int("Planar", "dim", dim)
        self.event_shape = self.output_shape = (dim,)
        self.w = nnx.Param(0.1 * jax.random.normal(rngs.params(), (dim,)))
        self.u = nnx.Param(0.1 * jax.random.normal(rngs.params(), (dim,)))
        self.b = nnx.Param(jnp.zeros(()))

    def u_hat(self) -> Array:
        """û, the constrained u with wᵀû = -1 + softplus(wᵀu) > -1."""
        w, u = self.w[...], self.u[...]
        wu = jnp.dot(w, u)
        return u + (-1.0 + jax.nn.softplus(wu) - wu) * w / (jnp.dot(w, w) + 1e-12)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        u, w = self.u_hat(), self.w[...]
        h = jnp.tanh(z @ w + self.b[...])
        log_det = jnp.log(jnp.abs(1.0 + (1.0 - h**2) * jnp.dot(w, u)))
        return z + h[:, None] * u, log_det

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(
            "Planar.inverse_and_log_det: a planar flow has no closed-form inverse; use it in "
            "the forward direction (reverse KL), as Rezende and Mohamed do"
        )


# ----------------------------------------------------------------------------- masks


def half_mask(dim: int, parity: int | Array) -> Array:
    """Alternating half mask for vectors: 1 on the first ⌈dim/2⌉ entries (parity 0), or on the
    rest (parity 1). Shape ``(dim,)``, float32. ``parity`` may be a traced integer."""
    first = (jnp.arange(dim) < (dim + 1) // 2).astype(jnp.float32)
    return jnp.where(jnp.asarray(parity) % 2 == 0, first, 1.0 - first)


def checkerboard_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    """RealNVP's checkerboard mask: 1 where (row + column + parity) is even, all channels.

    Shape ``(height, width, channels)``, float32."""
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    board = ((rows + cols + jnp.asarray(parity)) % 2 == 0).astype(jnp.float32)
    return jnp.broadcast_to(board[:, :, None], (height, width, channels))


def channel_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    """RealNVP's channel mask: 1 on the first half of the channels (parity 0) or the second.

    Shape ``(height, width, channels)``, float32."""
    return jnp.broadcast_to(half_mask(channels, parity), (height, width, channels))


def made_masks(
    dim: int, hidden: Sequence[int], order: Sequence[int] | None = None
) -> list[np.ndarray]:
    """MADE masks (Germain et al. 2015) from degrees, for inputs in the ordering ``order``.

    Input i gets degree m(i) = 1 + position of i in ``order``; hidden unit k of layer l gets
    m_l(k) = 1 + (k mod (dim - 1)); a weight from a unit of degree a to a hidden unit of degree
    b is kept iff b ≥ a, to an output of degree b iff b > a. So output i depends only on the
    inputs before it in the ordering.

    Returns:
      one 0/1 float32 mask per weight matrix, shapes ``(dim, h₁), (h₁, h₂), ..., (h_L, dim)``.
    """
    order = np.arange(dim) if order is None else np.asarray(order)
    degrees = [np.argsort(order) + 1]
    for h in hidden:
        degrees.append(np.arange(h) % max(dim - 1, 1) + 1)
    masks = [(d_out[None, :] >= d_in[:, None]) for d_in, d_out in itertools.pairwise(degrees)]
    masks.append(degrees[0][None, :] > degrees[-1][:, None])
    return [m.astype(np.float32) for m in masks]


# ----------------------------------------------------------------------------- couplings


class _MLP(nnx.Module):
    """dim -> hidden -> hidden -> out, ReLU; the last layer starts at zero."""

    def __init__(self, dim: int, hidden: int, out: int, *, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
        zeros = nnx.initializers.zeros
        self.l3 = nnx.Linear(hidden, out, kernel_init=zeros, bias_init=zeros, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.l3(jax.nn.relu(self.l2(jax.nn.relu(self.l1(x)))))


class _ConvNet(nnx.Module):
    """3x3 conv -> 1x1 conv -> 3x3 conv on (batch, H, W, C), ReLU; the last conv starts at 0."""

    def __init__(self, channels: int, hidden: int, out: int, *, rngs: nnx.Rngs) -> None:
        self.c1 = nnx.Conv(channels, hidden, (3, 3), rngs=rngs)
        self.c2 = nnx.Conv(hidden, hidden, (1, 1), rngs=rngs)
        zeros = nnx.initializers.zeros
        self.c3 = nnx.Conv(hidden, out, (3, 3), kernel_init=zeros, bias_init=zeros, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.c3(jax.nn.relu(self.c2(jax.nn.relu(self.c1(x)))))


def _conditioner(shape: tuple[int, ...], hidden: int, factor: int, rngs: nnx.Rngs) -> nnx.Module:
    if len(shape) == 1:
        return _MLP(shape[0], hidden, factor * shape[0], rngs=rngs)
    if len(shape) == 3:
        return _ConvNet(shape[2], hidden, factor * shape[2], rngs=rngs)
    raise ValueError(
        f"coupling: mask must have shape (dim,) or (height, width, channels); got {shape}"
    )


class AdditiveCoupling(Bijector):
    """NICE's additive coupling: x = z + (1 - m) ⊙ t(m ⊙ z); log|det| = 0 (volume preserving).

    ``mask`` m (shape = event shape, 0/1) marks the entries passed through unchanged; t is an
    MLP (vectors) or a small CNN (images, ``(height, width, channels)``) whose last layer starts
    at zero, so a fresh layer is the identity. Inverse: z = x - (1 - m) ⊙ t(m ⊙ x).
    """

    def __init__(self, mask: Array, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.mask = Constant(jnp.asarray(mask, jnp.float32))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        self.net = _conditioner(self.event_shape, hidden, 1, rngs)

    def _shift(self, a: Array) -> Array:
        m = self.mask[...]
        return (1.0 - m) * self.net(m * a)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z + self._shift(z), jnp.zeros(z.shape[0])

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x - self._shift(x), jnp.zeros(x.shape[0])


class DiagonalScale(Bijector):
    """NICE's last layer: x = exp(s) ⊙ z; log|det| = Σᵢ sᵢ. Starts at s = 0 (the identity)."""

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        self.log_scale = nnx.Param(jnp.zeros(self.event_shape))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return z * jnp.exp(s), jnp.full(z.shape[0], jnp.sum(s))

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return x * jnp.exp(-s), jnp.full(x.shape[0], -jnp.sum(s))


class AffineCoupling(Bijector):
    """RealNVP's affine coupling, with m the mask of entries passed through:

        x = m ⊙ z + (1 - m) ⊙ (z ⊙ exp(s(m ⊙ z)) + t(m ⊙ z)),   log|det| = Σᵢ (1 - mᵢ) sᵢ,

    where s = bound · tanh(ŝ / bound) (:func:`soft_clamp`) keeps each scale in
    [e^-bound, e^bound]. (ŝ, t) come from one network (MLP for vectors, CNN for images) whose
    last layer is zero-initialised: a fresh layer is exactly the identity, and a deep stack
    starts as the identity too. Inverse: z = m ⊙ x + (1 - m) ⊙ (x - t) ⊙ exp(-s).
    """

    def __init__(
        self, mask: Array, hidden: int, *, rngs: nnx.Rngs, scale_bound: float = 3.0
    ) -> None:
        self.mask = Constant(jnp.asarray(mask, jnp.float32))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        self.net = _conditioner(self.event_shape, hidden, 2, rngs)
        self.scale_bound = float(scale_bound)

    def _shift_and_log_scale(self, a: Array) -> tuple[Array, Array]:
        m = self.mask[...]
        raw_s, t = jnp.split(self.net(m * a), 2, axis=-1)
        s = (1.0 - m) * soft_clamp(raw_s, self.scale_bound)
        return (1.0 - m) * t, s

    def _forward(self, z: Array) -> tuple[Array, Array]:
        t, s = self._shift_and_log_scale(z)
        return z * jnp.exp(s) + t, _event_sum(s, len(self.event_shape))

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        t, s = self._shift_and_log_scale(x)
        return (x - t) * jnp.exp(-s), -_event_sum(s, len(self.event_shape))


# ----------------------------------------------------------------------------- MAF


class MAF(Bijector):
    """Masked autoregressive flow (Papamakarios et al. 2017), one layer.

    In the ordering π (``order``), each coordinate is an affine function of the noise given
    the coordinates before it:

        x_i = z_i · exp(α_i(x_<i)) + μ_i(x_<i),   log|det ∂x/∂z| = Σᵢ α_i(x),

    with (μ, α̂) = MADE(x) (two masked hidden layers, zero-initialised output) and α = soft
    clamp of α̂. Density direction (inverse), one parallel pass: z = (x - μ(x)) ⊙ exp(-α(x)).
    Generative direction (forward), D sequential passes: a ``lax.scan`` over positions, the
    t-th computing x at π(t) from the x already written. So MAF evaluates densities fast and
    samples slowly; :func:`dgm_lib.flows.iaf` is its inverse, with the opposite costs.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        *,
        rngs: nnx.Rngs,
        order: Sequence[int] | None = None,
        scale_bound: float = 3.0,
    ) -> None:
        dim = check_positive_int("MAF", "dim", dim)
        hidden = check_positive_int("MAF", "hidden", hidden)
        self.event_shape = self.output_shape = (dim,)
        order = np.arange(dim) if order is None else np.asarray(order)
        if sorted(order.tolist()) != list(range(dim)):
            raise ValueError(f"MAF: argument 'order' must be a permutation of range({dim})")
        m1, m2, m3 = made_masks(dim, (hidden, hidden), order)
        self.order = Constant(jnp.asarray(order, jnp.int32))
        self.mask1, self.mask2 = Constant(jnp.asarray(m1)), Constant(jnp.asarray(m2))
        self.mask3 = Constant(jnp.asarray(np.tile(m3, 2)))  # same mask for μ and α̂
        init = jax.nn.initializers.lecun_normal()
        self.w1 = nnx.Param(init(rngs.params(), (dim, hidden)))
        self.b1 = nnx.Param(jnp.zeros(hidden))
        self.w2 = nnx.Param(init(rngs.params(), (hidden, hidden)))
        self.b2 = nnx.Param(jnp.zeros(hidden))
        self.w3 = nnx.Param(jnp.zeros((hidden, 2 * dim)))
        self.b3 = nnx.Param(jnp.zeros(2 * dim))
        self.scale_bound = float(scale_bound)

    def conditionals(self, x: Array) -> tuple[Array, Array]:
        """(μ(x), α(x)), each ``(batch, dim)``: the shift and log-scale of every coordinate in
        one parallel pass; entry i depends only on the x before i in the ordering."""
        x = self._check("conditionals", "x", x, self.event_shape)
        return self._conditionals(x)

    def _conditionals(self, x: Array) -> tuple[Array, Array]:
        m1, m2, m3 = self.mask1[...], self.mask2[...], self.mask3[...]
        h = jax.nn.relu(x @ (m1 * self.w1[...]) + self.b1[...])
        h = jax.nn.relu(h @ (m2 * self.w2[...]) + self.b2[...])
        mu, raw = jnp.split(h @ (m3 * self.w3[...]) + self.b3[...], 2, axis=-1)
        return mu, soft_clamp(raw, self.scale_bound)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        def step(x: Array, i: Array) -> tuple[Array, None]:
            mu, alpha = self._conditionals(x)
            return x.at[:, i].set(z[:, i] * jnp.exp(alpha[:, i]) + mu[:, i]), None

        x, _ = lax.scan(step, jnp.zeros_like(z), self.order[...])
        return x, jnp.sum(self._conditionals(x)[1], axis=-1)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        mu, alpha = self._conditionals(x)
        return (x - mu) * jnp.exp(-alpha), -jnp.sum(alpha, axis=-1)


# ----------------------------------------------------------------------------- Glow


class ActNorm(Bijector):
    """Glow's activation normalisation: an affine map per channel (the last axis),

        x = z ⊙ exp(s) + b,   log|det| = (number of positions) · Σ_c s_c.

    It starts as the identity; :func:`dgm_lib.flows.init_actnorm` sets (s, b) from a batch of
    its OUTPUTS x (data-dependent initialisation, an explicit function, no hidden "initialised"
    flag): b = mean(x), s = log std(x) per channel, so that z = f⁻¹(x) has zero mean and unit
    variance per channel on that batch.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        channels = self.event_shape[-1]
        self.log_scale = nnx.Param(jnp.zeros(channels))
        self.bias = nnx.Param(jnp.zeros(channels))

    def _positions(self) -> int:
        return math.prod(self.event_shape[:-1])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        log_det = self._positions() * jnp.sum(s)
        return z * jnp.exp(s) + self.bias[...], jnp.full(z.shape[0], log_det)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        log_det = -self._positions() * jnp.sum(s)
        return (x - self.bias[...]) * jnp.exp(-s), jnp.full(x.shape[0], log_det)


class Conv1x1(Bijector):
    """Glow's invertible 1x1 convolution: the same C x C matrix W mixes the channels of every
    position, x[..., :] = W z[..., :], with W in LU form (Kingma and Dhariwal 2018, §3.2):

        W = P L (U + diag(sign ⊙ exp(log_s))),

    P a fixed permutation, L unit lower-triangular, U strictly upper-triangular. Then
    log|det W| = Σ_c log_s_c costs O(C) instead of O(C³), and the layer's log-det is
    (number of positions) · Σ_c log_s_c. Initialised from the LU factors of a random rotation.
    """

    def __init__(self, event_shape: Sequence[int], *, rngs: nnx.Rngs) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        c = self.event_shape[-1]
        q, _ = np.linalg.qr(np.asarray(jax.random.normal(rngs.params(), (c, c)), np.float64))
        p, lower, upper = scipy.linalg.lu(q)
        diag = np.diag(upper)
        self.permutation = Constant(jnp.asarray(p, jnp.float32))
        self.sign = Constant(jnp.asarray(np.sign(diag), jnp.float32))
        self.lower = nnx.Param(jnp.asarray(np.tril(lower, -1), jnp.float32))
        self.upper = nnx.Param(jnp.asarray(np.triu(upper, 1), jnp.float32))
        self.log_s = nnx.Param(jnp.asarray(np.log(np.abs(diag)), jnp.float32))

    def weight(self) -> Array:
        """W = P L (U + diag(sign · exp(log_s))), shape ``(C, C)``."""
        c = self.event_shape[-1]
        lower = jnp.tril(self.lower[...], -1) + jnp.eye(c)
        upper = jnp.triu(self.upper[...], 1) + jnp.diag(self.sign[...] * jnp.exp(self.log_s[...]))
        return self.permutation[...] @ lower @ upper

    def _log_det(self) -> Array:
        return math.prod(self.event_shape[:-1]) * jnp.sum(self.log_s[...])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z @ self.weight().T, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        # W⁻¹ once (C x C), then one matmul for every position
        return x @ jnp.linalg.inv(self.weight()).T, jnp.full(x.shape[0], -self._log_det())


class Squeeze(Bijector):
    """Space-to-depth: forward takes z of shape (H, W, C) to (H/2, W/2, 4C), each 2x2 block of
    pixels becoming 4 channels; inverse undoes it. A permutation: log|det| = 0.

    In a generative chain (z -> image) the image side is the large one, so a multi-scale flow
    puts ``Inverse(Squeeze(...))`` (depth-to-space) where the data direction squeezes.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        h, w, c = (int(d) for d in event_shape)
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze: height and width must be even; got shape {(h, w, c)}")
        self.event_shape = (h, w, c)
        self.output_shape = (h // 2, w // 2, 4 * c)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        n, (h, w, c) = z.shape[0], self.event_shape
        x = z.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, *self.output_shape), jnp.zeros(n)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        n, (h, w, c) = x.shape[0], self.event_shape
        z = x.reshape(n, h // 2, w // 2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return z.reshape(n, h, w, c), jnp.zeros(n)


class SplitChannels(Bijector):
    """Multi-scale split (RealNVP §3.6, Glow): ``inner`` transforms only the first ``keep``
    channels; the others pass straight through,

        x = concat(inner(z[..., :keep]), z[..., keep:]),   log|det| = inner's log|det|.

    In the data direction this "factors out" the passed-through half to the base
    distribution early, so the deeper (earlier, in generative order) layers work on fewer
    dimensions.
    """

    def __init__(self, event_shape: Sequence[int], keep: int, inner: Bijector) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        self.keep = check_positive_int("SplitChannels", "keep", keep)
        expected = (*self.event_shape[:-1], self.keep)
        if tuple(inner.event_shape) != expected or tuple(inner.output_shape) != expected:
            raise ValueError(
                f"SplitChannels: 'inner' must map shape {expected} to itself; got "
                f"{tuple(inner.event_shape)} -> {tuple(inner.output_shape)}"
            )
        self.inner = inner

    def _forward(self, z: Array) -> tuple[Array, Array]:
        x_kept, log_det = self.inner.forward_and_log_det(z[..., : self.keep])
        return jnp.concatenate([x_kept, z[..., self.keep :]], axis=-1), log_det

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        z_kept, log_det = self.inner.inverse_and_log_det(x[..., : self.keep])
        return jnp.concatenate([z_kept, x[..., self.keep :]], axis=-1), log_det


# ----------------------------------------------------------------------------- pixels


class LogitTransform(Bijector):
    """Logit space for pixels in (0, 1) (RealNVP §4.1, MAF): inverse y = logit(λ + (1 - 2λ)x),
    forward x = (σ(y) - λ)/(1 - 2λ), with

        log|det ∂x/∂y| = Σᵢ [log σ(yᵢ) + log σ(-yᵢ)] - D log(1 - 2λ).

    λ keeps the logit finite at x = 0 or 1 (λ = 1e-6 in MAF's MNIST, 0.05 in RealNVP).
    """

    def __init__(self, event_shape: Sequence[int], alpha: float = 1e-6) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        self.alpha = float(alpha)

    def _log_det(self, y: Array) -> Array:
        d = math.prod(self.event_shape)
        terms = jax.nn.log_sigmoid(y) + jax.nn.log_sigmoid(-y)
        return _event_sum(terms, len(self.event_shape)) - d * math.log1p(-2 * self.alpha)

    def _forward(self, y: Array) -> tuple[Array, Array]:
        x = (jax.nn.sigmoid(y) - self.alpha) / (1.0 - 2 * self.alpha)
        return x, self._log_det(y)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        p = self.alpha + (1.0 - 2 * self.alpha) * x
        y = jnp.log(p) - jnp.log1p(-p)
        return y, -self._log_det(y)


class Scale(Bijector):
    """A fixed scaling x = c · z, log|det| = D log c: with c = 256 it maps the unit cube to the
    8-bit pixel range, so a flow ending in ``[..., LogitTransform, Scale(256)]`` gives log p of
    the dequantised pixels v = x + u ∈ [0, 256)^D, whose NLL / (D ln 2) is bits per dimension."""

    def __init__(self, event_shape: Sequence[int], scale: float) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        if not scale > 0:
            raise ValueError(f"Scale: argument 'scale' must be positive; got {scale}")
        self.scale = float(scale)

    def _log_det(self) -> float:
        return math.prod(self.event_shape) * math.log(self.scale)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z * self.scale, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x / self.scale, jnp.full(x.shape[0], -self._log_det())
