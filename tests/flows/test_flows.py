"""Properties of every bijector and flow in dgm_lib.flows.

ONE registry of constructors (``REGISTRY``) drives the generic tests: adding a layer there adds
it to the log-det, round-trip, cancellation and shape-error tests. Parameters are moved away
from their (often identity) initialisation before testing, so a test cannot pass because the
layer is the identity.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dgm_lib import flows as F
from dgm_lib import train
from dgm_lib.metrics import dequantized_bits_per_dim, nats_to_bits_per_dim

IMG = (4, 4, 2)


def _coupling_stack(rngs: nnx.Rngs) -> F.Stack:
    make = lambda r, k: F.AffineCoupling(F.half_mask(2, k), 8, rngs=r)  # noqa: E731
    return F.Stack(make, 3, key=rngs.params())


def _planar_stack(rngs: nnx.Rngs) -> F.Stack:
    return F.Stack(lambda r, k: F.Planar(2, rngs=r), 3, key=rngs.params())


def _glow_step(rngs: nnx.Rngs) -> F.Chain:
    mask = F.checkerboard_mask(*IMG, 0)
    return F.Chain([F.AffineCoupling(mask, 8, rngs=rngs), F.Conv1x1(IMG, rngs=rngs), F.ActNorm(IMG)])


def _multiscale(rngs: nnx.Rngs) -> F.Chain:
    inner = F.AffineCoupling(F.channel_mask(*IMG, 0), 8, rngs=rngs)
    return F.Chain([F.SplitChannels((4, 4, 4), 2, inner), F.Inverse(F.Squeeze((8, 8, 1)))])


# name -> (constructor, has an inverse)
REGISTRY = {
    "planar": (lambda r: F.Planar(2, rngs=r), False),
    "planar_stack": (_planar_stack, False),
    "nice_additive": (lambda r: F.AdditiveCoupling(F.half_mask(2, 0), 8, rngs=r), True),
    "diagonal_scale": (lambda r: F.DiagonalScale((3,)), True),
    "realnvp_vector": (lambda r: F.AffineCoupling(F.half_mask(3, 1), 8, rngs=r), True),
    "realnvp_checkerboard": (
        lambda r: F.AffineCoupling(F.checkerboard_mask(*IMG, 0), 8, rngs=r),
        True,
    ),
    "realnvp_channel": (lambda r: F.AffineCoupling(F.channel_mask(*IMG, 1), 8, rngs=r), True),
    "coupling_stack": (_coupling_stack, True),
    "maf": (lambda r: F.MAF(3, 8, rngs=r, order=[2, 0, 1]), True),
    "iaf": (lambda r: F.iaf(3, 8, rngs=r), True),
    "actnorm": (lambda r: F.ActNorm(IMG), True),
    "conv1x1": (lambda r: F.Conv1x1(IMG, rngs=r), True),
    "squeeze": (lambda r: F.Squeeze(IMG), True),
    "glow_step": (_glow_step, True),
    "multiscale_split": (_multiscale, True),
    "logit": (lambda r: F.LogitTransform((3,), 0.05), True),
    "scale": (lambda r: F.Scale((3,), 256.0), True),
    "chain_2d": (
        lambda r: F.Chain(
            [F.AffineCoupling(F.half_mask(2, 0), 8, rngs=r), F.MAF(2, 8, rngs=r), F.DiagonalScale((2,))]
        ),
        True,
    ),
}
INVERTIBLE = [k for k, (_, inv) in REGISTRY.items() if inv]
TWO_D = ["nice_additive", "coupling_stack", "chain_2d"]  # invertible 2-D flows


def build(name: str, perturb: float = 0.3, seed: int = 0) -> F.Bijector:
    """The registry's layer with every parameter moved by N(0, perturb²) noise."""
    bij = REGISTRY[name][0](nnx.Rngs(seed))
    params = nnx.state(bij, nnx.Param)
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng(seed + 100)  # NumPy noise: no per-shape compilation
    moved = [p + perturb * rng.standard_normal(p.shape).astype(np.float32) for p in leaves]
    nnx.update(bij, jax.tree.unflatten(treedef, moved))
    return bij


def jitted(bij: nnx.Module, method: str):
    """``bij.method`` as one compiled function of its array arguments (eager nnx is slow)."""
    graphdef, state = nnx.split(bij)
    run = jax.jit(lambda st, *a: getattr(nnx.merge(graphdef, st), method)(*a))
    return lambda *a: run(state, *a)


def _inputs(bij: F.Bijector, n: int = 2, seed: int = 1) -> jax.Array:
    z = jax.random.normal(jax.random.key(seed), (n, *bij.event_shape))
    if isinstance(bij, F.LogitTransform):
        return z
    if isinstance(bij, F.Inverse) and isinstance(bij.bijector, F.LogitTransform):
        return jax.nn.sigmoid(z)
    return z


@pytest.mark.parametrize("name", list(REGISTRY))
def test_log_det_equals_slogdet_of_autodiff_jacobian(name: str) -> None:
    bij = build(name)
    z = _inputs(bij)
    graphdef, state = nnx.split(bij)

    @jax.jit
    def both(state: nnx.State, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        layer = nnx.merge(graphdef, state)

        def f(flat: jax.Array) -> jax.Array:
            x, _ = layer.forward_and_log_det(flat.reshape(1, *layer.event_shape))
            return x.reshape(-1)

        jac = jax.vmap(jax.jacfwd(f))(z.reshape(z.shape[0], -1))
        return layer.forward_and_log_det(z)[1], jnp.linalg.slogdet(jac)

    log_det, (sign, expected) = both(state, z)
    assert np.all(np.asarray(sign) != 0)
    np.testing.assert_allclose(log_det, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", INVERTIBLE)
def test_inverse_round_trips_and_log_dets_cancel(name: str) -> None:
    bij = build(name)
    z = _inputs(bij, n=4)
    x, fwd = jitted(bij, "forward_and_log_det")(z)
    z_back, inv = jitted(bij, "inverse_and_log_det")(x)
    np.testing.assert_allclose(z_back, z, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(fwd + inv, 0.0, atol=1e-3)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_wrong_dimension_raises_naming_expected_shape(name: str) -> None:
    bij = build(name)
    bad = jnp.zeros((2, *bij.event_shape[:-1], bij.event_shape[-1] + 1))
    expected = "(batch, " + ", ".join(str(d) for d in bij.event_shape) + ")"
    with pytest.raises(ValueError, match=re.escape(expected)):
        bij.forward_and_log_det(bad)
    if REGISTRY[name][1]:
        bad = jnp.zeros((2, *bij.output_shape[:-1], bij.output_shape[-1] + 1))
        with pytest.raises(ValueError, match="inverse_and_log_det"):
            bij.inverse_and_log_det(bad)


@pytest.mark.parametrize("name", TWO_D)
def test_flow_density_integrates_to_one_on_the_plane(name: str) -> None:
    bij = build(name, perturb=0.2)
    flow = F.Transformed(F.StandardNormal((2,)), bij)
    step, half = 0.04, 9.0
    ticks = jnp.arange(-half + step / 2, half, step)
    grid = jnp.stack(jnp.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    total = float(jnp.sum(jnp.exp(jitted(flow, "log_prob")(grid))) * step**2)
    assert abs(total - 1.0) < 2e-3


def test_planar_density_is_normalised_by_importance_sampling() -> None:
    """A forward-only flow cannot evaluate q on a grid, but E_{x~q}[1{x ∈ A} / q(x)] = area(A)
    holds iff log q (from the forward log-det) is the true density of the samples."""
    flow = F.Transformed(F.StandardNormal((2,)), build("planar_stack", perturb=0.5))
    graphdef, state = nnx.split(flow)
    draw = jax.jit(lambda st, k: nnx.merge(graphdef, st).sample_and_log_prob(k, 200_000))
    x, log_q = draw(state, jax.random.key(3))
    # E_q[1{x in A} / q(x)] = area(A) for any A inside the support.
    inside = np.all(np.abs(np.asarray(x)) < 1.0, axis=1)
    w = np.where(inside, np.exp(-np.asarray(log_q, np.float64)), 0.0)
    area, se = w.mean(), w.std() / math.sqrt(len(w))
    assert abs(area - 4.0) < 4 * se + 1e-3


def test_zero_initialised_coupling_stack_is_identity() -> None:
    stack = REGISTRY["coupling_stack"][0](nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (5, 2))
    x, log_det = stack.forward_and_log_det(z)
    np.testing.assert_array_equal(x, z)
    np.testing.assert_array_equal(log_det, 0.0)
    image = F.AffineCoupling(F.checkerboard_mask(*IMG, 0), 8, rngs=nnx.Rngs(0))
    zi = jax.random.normal(jax.random.key(1), (2, *IMG))
    np.testing.assert_array_equal(image.forward_and_log_det(zi)[0], zi)


def test_stack_equals_the_same_layers_unrolled() -> None:
    stack = build("coupling_stack")
    graphdef, state = nnx.split(stack.layers)
    layers = [
        nnx.merge(graphdef, jax.tree.map(lambda a, k=k: a[k], state)) for k in range(stack.num_layers)
    ]
    z = jax.random.normal(jax.random.key(0), (5, 2))
    x1, l1 = stack.forward_and_log_det(z)
    x2, l2 = F.Chain(layers).forward_and_log_det(z)
    np.testing.assert_allclose(x1, x2, atol=1e-6)
    np.testing.assert_allclose(l1, l2, atol=1e-6)


def test_maf_conditionals_are_autoregressive() -> None:
    order = [2, 0, 3, 1]
    maf = F.MAF(4, 16, rngs=nnx.Rngs(0), order=order)
    params = nnx.state(maf, nnx.Param)
    nnx.update(maf, jax.tree.map(lambda p: p + 0.3 * jnp.ones_like(p), params))
    x = jax.random.normal(jax.random.key(0), (4,))
    for part in (0, 1):
        jac = jax.jit(jax.jacfwd(lambda v, p=part: maf.conditionals(v[None])[p][0]))(x)
        permuted = np.asarray(jac)[np.ix_(order, order)]  # rows/cols in the model's ordering
        assert np.all(np.triu(permuted) == 0.0)
        assert np.any(np.tril(permuted, -1) != 0.0)
    # so the inverse (x -> z) has a triangular Jacobian with non-zero diagonal
    jz = jax.jit(jax.jacfwd(lambda v: maf.inverse_and_log_det(v[None])[0][0]))(x)
    permuted = np.asarray(jz)[np.ix_(order, order)]
    assert np.all(np.triu(permuted, 1) == 0.0) and np.all(np.diag(permuted) != 0.0)


def test_iaf_is_the_inverse_of_maf_with_the_same_parameters() -> None:
    inverse = build("iaf")
    maf = inverse.bijector
    z = jax.random.normal(jax.random.key(0), (6, 3))
    x_iaf, ld_iaf = inverse.forward_and_log_det(z)
    z_maf, ld_maf = maf.inverse_and_log_det(z)
    np.testing.assert_array_equal(x_iaf, z_maf)
    np.testing.assert_array_equal(ld_iaf, ld_maf)
    back, _ = maf.forward_and_log_det(x_iaf)
    np.testing.assert_allclose(back, z, atol=1e-5)


def test_planar_u_hat_satisfies_invertibility_constraint() -> None:
    layer = F.Planar(2, rngs=nnx.Rngs(0))
    layer.w[...] = jnp.array([1.0, -2.0])
    layer.u[...] = jnp.array([-3.0, 1.0])  # wᵀu = -5 < -1: not invertible as given
    wu_hat = float(jnp.dot(layer.w[...], layer.u_hat()))
    np.testing.assert_allclose(wu_hat, -1.0 + math.log1p(math.exp(-5.0)), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="no closed-form inverse"):
        layer.inverse_and_log_det(jnp.zeros((1, 2)))


def test_actnorm_data_init_standardises_each_channel() -> None:
    flow = REGISTRY["glow_step"][0](nnx.Rngs(0))
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (64, *IMG))
    x = x * jnp.array([1.0, 5.0])
    actnorm = flow.layers[2]
    a = F.init_actnorm(actnorm, x)
    np.testing.assert_allclose(jnp.mean(a, axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(jnp.std(a, axis=(0, 1, 2)), 1.0, atol=1e-4)
    nnx.jit(F.init_actnorm)(flow, x)  # through a chain: the ActNorm sits last, sees x itself
    np.testing.assert_allclose(flow.layers[2].bias[...], jnp.mean(x, axis=(0, 1, 2)), rtol=1e-5)


def test_conv1x1_log_det_is_positions_times_log_det_of_weight() -> None:
    conv = build("conv1x1")
    _, expected = jnp.linalg.slogdet(conv.weight())
    _, log_det = conv.forward_and_log_det(jnp.zeros((1, *IMG)))
    np.testing.assert_allclose(log_det[0], 16 * expected, rtol=1e-5)


def test_image_bits_per_dim_include_dequantisation_and_logit_on_identity_flow() -> None:
    shape, alpha, levels = (2, 2, 1), 0.05, 256
    flow = F.Transformed(
        F.StandardNormal(shape),
        F.Chain([F.LogitTransform(shape, alpha), F.Scale(shape, float(levels))]),
    )
    pixels = jnp.array([[[[0], [17]], [[128], [255]]]], jnp.int32)
    v = F.dequantize(jax.random.key(0), pixels)
    got = nats_to_bits_per_dim(-flow.log_prob(v), 4)
    # closed form, in float64 NumPy: y = v/K, s = logit(α + (1-2α) y)
    y = np.asarray(v, np.float64).reshape(-1) / levels
    p = alpha + (1 - 2 * alpha) * y
    s = np.log(p) - np.log1p(-p)
    log_normal = -0.5 * s**2 - 0.5 * np.log(2 * np.pi)
    log_jac = np.log(1 - 2 * alpha) - np.log(p * (1 - p))  # ds/dy
    log_p_y = np.sum(log_normal + log_jac)
    expected = math.log2(levels) - log_p_y / (4 * math.log(2))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    np.testing.assert_allclose(got, dequantized_bits_per_dim(log_p_y, 4, levels), rtol=1e-5)


def test_image_flow_log_prob_and_sample_shapes_and_round_trip() -> None:
    flow = F.image_flow((8, 8, 1), hidden=8, depth=1, rngs=nnx.Rngs(0))
    v = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1), minval=1.0, maxval=255.0)
    graphdef, state = nnx.split(flow)

    @jax.jit
    def log_prob_and_round_trip(state: nnx.State, v: jax.Array) -> tuple[jax.Array, jax.Array]:
        model = nnx.merge(graphdef, state)
        z, _ = model.bijector.inverse_and_log_det(v)
        return model.log_prob(v), model.bijector.forward_and_log_det(z)[0]

    log_p, x = log_prob_and_round_trip(state, v)
    assert log_p.shape == (3,) and np.all(np.isfinite(log_p))
    np.testing.assert_allclose(x, v, rtol=1e-3, atol=1e-2)


def test_non_finite_log_det_stops_fit_naming_the_step() -> None:
    flow = F.Transformed(
        F.StandardNormal((2,)), F.Chain([F.DiagonalScale((2,)), F.LogitTransform((2,), 0.0)])
    )
    data = jnp.array([[0.5, 0.5], [0.0, 0.5]] * 4)  # a pixel at exactly 0: logit(0) = -inf
    with pytest.raises(train.NonFiniteLossError, match="non-finite at step 0"):
        train.fit(
            flow, train.nll_loss, data, key=jax.random.key(0), steps=3, batch_size=8,
            optimizer=optax.adam(1e-3), progress=False,
        )


def test_flow_training_lowers_nll() -> None:
    make = lambda r, k: F.AffineCoupling(F.half_mask(2, k), 16, rngs=r)  # noqa: E731
    flow = F.Transformed(F.StandardNormal((2,)), F.Stack(make, 4, key=jax.random.key(0)))
    data = jax.random.normal(jax.random.key(1), (512, 2)) * jnp.array([3.0, 0.3]) + 1.0
    before = -float(jnp.mean(jitted(flow, "log_prob")(data)))
    result = train.fit(flow, train.nll_loss, data, key=jax.random.key(2), steps=300, batch_size=128,
                       optimizer=optax.adam(3e-3), progress=False)
    after = -float(jnp.mean(jitted(flow, "log_prob")(data)))
    # the data's own entropy: Gaussian with std (3, 0.3)
    entropy = math.log(2 * math.pi * math.e) + math.log(3.0 * 0.3)
    assert after < before - 1.0 and after < entropy + 0.1
    assert result.traces == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.StandardNormal((2,)).log_prob(jnp.zeros((3, 3))),
        lambda: F.Transformed(F.StandardNormal((2,)), F.DiagonalScale((2,))).log_prob(jnp.zeros(2)),
        lambda: F.MAF(3, 4, rngs=nnx.Rngs(0)).conditionals(jnp.zeros((1, 4))),
        lambda: F.init_actnorm(F.ActNorm(IMG), jnp.zeros((2, 4, 4, 3))),
        lambda: F.Chain([F.DiagonalScale((2,)), F.DiagonalScale((3,))]),
        lambda: F.Transformed(F.StandardNormal((3,)), F.DiagonalScale((2,))),
        lambda: F.SplitChannels(IMG, 1, F.DiagonalScale((4, 4, 2))),
    ],
    ids=["base", "transformed", "maf_conditionals", "init_actnorm", "chain", "transformed_base", "split"],
)
def test_public_functions_reject_wrong_shapes(call) -> None:
    with pytest.raises(ValueError, match=r"shape"):
        call()


def test_random_functions_reject_bad_keys() -> None:
    with pytest.raises(TypeError, match="key"):
        F.StandardNormal((2,)).sample(0, 3)
    with pytest.raises(TypeError, match="key"):
        F.dequantize(0, jnp.zeros(3))
