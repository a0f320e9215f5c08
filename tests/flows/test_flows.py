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
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import flows as F
from dgm_lib import train
from dgm_lib.checks import check_event_shape, check_positive_float
from dgm_lib.metrics import dequantized_bits_per_dim, nats_to_bits_per_dim
from dgm_lib.probability import LOG_2PI

IMG = (4, 4, 2)


def _coupling_stack(rngs: nnx.Rngs) -> F.Stack:
    make = lambda r, k: F.AffineCoupling(F.half_mask(2, k), 8, rngs=r)  # noqa: E731
    return F.Stack(make, 3, rngs=rngs)


def _planar_stack(rngs: nnx.Rngs) -> F.Stack:
    return F.Stack(lambda r, k: F.Planar(2, rngs=r), 3, rngs=rngs)


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
    log_normal = -0.5 * s**2 - 0.5 * LOG_2PI
    log_jac = np.log(1 - 2 * alpha) - np.log(p * (1 - p))  # ds/dy
    log_p_y = np.sum(log_normal + log_jac)
    expected = math.log2(levels) - log_p_y / (4 * math.log(2))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    np.testing.assert_allclose(got, dequantized_bits_per_dim(log_p_y, 4, levels), rtol=1e-5)


def test_image_flow_log_prob_and_sample_shapes_and_round_trip() -> None:
    flow = F.image_flow((8, 8, 1), hidden_size=8, num_flow_steps=1, rngs=nnx.Rngs(0))
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
    flow = F.Transformed(F.StandardNormal((2,)), F.Stack(make, 4, rngs=nnx.Rngs(0)))
    data = jax.random.normal(jax.random.key(1), (512, 2)) * jnp.array([3.0, 0.3]) + 1.0
    before = -float(jnp.mean(jitted(flow, "log_prob")(data)))
    result = train.fit(flow, train.nll_loss, data, key=jax.random.key(2), steps=300, batch_size=128,
                       optimizer=optax.adam(3e-3), progress=False)
    after = -float(jnp.mean(jitted(flow, "log_prob")(data)))
    # the data's own entropy: Gaussian with std (3, 0.3)
    entropy = math.log(2 * math.pi * math.e) + math.log(3.0 * 0.3)
    assert after < before - 1.0 and after < entropy + 0.1
    assert result.traces <= 1



def test_reverse_kl_loss_is_log_q_plus_energy_of_the_flows_own_samples() -> None:
    """With U = -log q - c the objective E_q[log q + U] is exactly -c at every sample: the
    forward-only log q of ``sample_and_log_prob`` agrees with the inverse-direction log_prob."""
    flow = F.Transformed(F.StandardNormal((2,)), build("coupling_stack"))
    graphdef, state = nnx.split(flow)
    energy = lambda x: -nnx.merge(graphdef, state).log_prob(x) - 1.5  # noqa: E731
    loss = F.reverse_kl_loss(energy, 64)
    value = jax.jit(lambda st, k: loss(nnx.merge(graphdef, st), k))(state, jax.random.key(0))
    np.testing.assert_allclose(value, -1.5, atol=1e-4)


def test_reverse_kl_fit_without_data_reaches_the_target() -> None:
    """A diagonal scale q = N(0, diag e^{2s}) fitted by reverse KL to p = N(0, diag sigma^2),
    known only through U(x) = sum x^2 / (2 sigma^2): the objective reaches -log Z and the
    scales reach sigma. ``fit`` runs the data-free loss (model, key) with no data."""
    sigma = jnp.array([2.0, 0.5])
    energy = lambda x: 0.5 * jnp.sum((x / sigma) ** 2, axis=-1)  # noqa: E731
    log_z = float(jnp.sum(jnp.log(sigma)) + LOG_2PI)  # Z = 2 pi sigma_1 sigma_2
    flow = F.Transformed(F.StandardNormal((2,)), F.DiagonalScale((2,)))
    loss = F.reverse_kl_loss(energy, 256)
    before = float(loss(flow, jax.random.key(0)))
    result = train.fit(flow, loss, key=jax.random.key(1), steps=400,
                       optimizer=optax.adam(optax.cosine_decay_schedule(5e-2, 400)), progress=False)
    after = float(loss(flow, jax.random.key(0)))
    assert result.traces <= 1 and result.losses.shape == (400,)
    assert before + log_z > 0.2  # KL(q || p) at the identity initialisation
    assert abs(after + log_z) < 1e-3  # KL >= 0 reaches 0
    np.testing.assert_allclose(jnp.exp(flow.bijector.log_scale[...]), sigma, rtol=1e-2)


def _bad_calls():
    rngs = nnx.Rngs(0)
    key = jax.random.key(0)
    diag2 = F.DiagonalScale((2,))
    coupling = lambda r, k: F.AffineCoupling(F.half_mask(2, k), 4, rngs=r)  # noqa: E731
    return [
        # shapes at the entry of public methods and functions
        ("base log_prob", lambda: F.StandardNormal((2,)).log_prob(jnp.zeros((3, 3))), ValueError,
         "StandardNormal.log_prob: argument 'z' must have shape (batch, 2)"),
        ("transformed log_prob", lambda: F.Transformed(F.StandardNormal((2,)), diag2).log_prob(jnp.zeros(2)),
         ValueError, "Transformed.log_prob: argument 'x' must have shape (batch, 2)"),
        ("maf conditionals", lambda: F.MAF(3, 4, rngs=rngs).conditionals(jnp.zeros((1, 4))), ValueError,
         "MAF.conditionals: argument 'x' must have shape (batch, 3)"),
        ("init_actnorm x", lambda: F.init_actnorm(F.ActNorm(IMG), jnp.zeros((2, 4, 4, 3))), ValueError,
         "init_actnorm: argument 'x' must have shape (batch, 4, 4, 2)"),
        ("event_sum ndim", lambda: F.event_sum(jnp.zeros((2, 3)), 3), ValueError,
         "event_sum: argument 'event_ndim' must be between 0 and a.ndim = 2"),
        ("soft_clamp bound", lambda: F.soft_clamp(jnp.zeros(3), 0.0), ValueError,
         "soft_clamp: argument 'bound' must be a finite number > 0"),
        # keys and sizes of the random functions
        ("sample key", lambda: F.StandardNormal((2,)).sample(0, 3), TypeError,
         "StandardNormal.sample: argument 'key'"),
        ("sample n", lambda: F.StandardNormal((2,)).sample(key, 0), ValueError,
         "StandardNormal.sample: argument 'n' must be a positive int"),
        ("sample temperature", lambda: F.StandardNormal((2,)).sample(key, 3, 0.0), ValueError,
         "StandardNormal.sample: argument 'temperature' must be a finite number > 0"),
        ("flow sample key", lambda: F.Transformed(F.StandardNormal((2,)), diag2).sample(1, 3), TypeError,
         "Transformed.sample: argument 'key'"),
        ("flow sample_and_log_prob n", lambda: F.Transformed(F.StandardNormal((2,)), diag2)
         .sample_and_log_prob(key, 2.0), ValueError,
         "Transformed.sample_and_log_prob: argument 'n' must be a positive int"),
        ("dequantize key", lambda: F.dequantize(0, jnp.zeros(3)), TypeError, "dequantize: argument 'key'"),
        # combinators
        ("chain shapes", lambda: F.Chain([diag2, F.DiagonalScale((3,))]), ValueError,
         "Chain: layer 0 outputs shape (2,) but layer 1 expects (3,)"),
        ("chain empty", lambda: F.Chain([]), ValueError,
         "Chain: argument 'layers' must hold at least one Bijector"),
        ("chain not a list", lambda: F.Chain(diag2), TypeError,
         "Chain: argument 'layers' must be a list of Bijectors"),
        ("chain layer type", lambda: F.Chain([diag2, jnp.zeros(2)]), TypeError,
         "Chain: argument 'layers' must hold Bijectors; layers[1]"),
        ("stack num_layers", lambda: F.Stack(coupling, 0, rngs=rngs), ValueError,
         "Stack: argument 'num_layers' must be a positive int"),
        ("stack rngs", lambda: F.Stack(coupling, 2, rngs=key), TypeError,
         "Stack: argument 'rngs' must be an nnx.Rngs"),
        ("stack make_layer", lambda: F.Stack("coupling", 2, rngs=rngs), TypeError,
         "Stack: argument 'make_layer' must be a function (rngs, k) -> Bijector"),
        ("stack returns", lambda: F.Stack(lambda r, k: jnp.zeros(2), 2, rngs=rngs), TypeError,
         "Stack: argument 'make_layer' must return a Bijector"),
        ("stack shape", lambda: F.Stack(lambda r, k: F.Squeeze(IMG), 2, rngs=rngs), ValueError,
         "Stack: the layers of 'make_layer' must keep the shape of their input"),
        ("inverse type", lambda: F.Inverse(F.StandardNormal((2,))), TypeError,
         "Inverse: argument 'bijector' must be a Bijector"),
        # distributions and losses
        ("transformed shapes", lambda: F.Transformed(F.StandardNormal((3,)), diag2), ValueError,
         "Transformed: argument 'base' has event shape (3,) but the bijector expects (2,)"),
        ("transformed base", lambda: F.Transformed(diag2, diag2), TypeError,
         "Transformed: argument 'base' must be a StandardNormal"),
        ("transformed bijector", lambda: F.Transformed(F.StandardNormal((2,)), F.StandardNormal((2,))),
         TypeError, "Transformed: argument 'bijector' must be a Bijector"),
        ("base event_shape", lambda: F.StandardNormal((2, 0)), ValueError,
         "StandardNormal: argument 'event_shape' must be a non-empty tuple of positive ints"),
        ("reverse_kl energy", lambda: F.reverse_kl_loss("U1", 8), TypeError,
         "reverse_kl_loss: argument 'energy' must be a function"),
        ("reverse_kl num_samples", lambda: F.reverse_kl_loss(lambda x: x, 0), ValueError,
         "reverse_kl_loss: argument 'num_samples' must be a positive int"),
        # planar and autoregressive layers
        ("planar d", lambda: F.Planar(0, rngs=rngs), ValueError, "Planar: argument 'd' must be a positive int"),
        ("planar rngs", lambda: F.Planar(2, rngs=key), TypeError, "Planar: argument 'rngs' must be an nnx.Rngs"),
        ("maf d", lambda: F.MAF(1, 4, rngs=rngs), ValueError, "MAF: argument 'd' must be at least 2"),
        ("maf hidden_size", lambda: F.MAF(3, 0, rngs=rngs), ValueError,
         "MAF: argument 'hidden_size' must be a positive int"),
        ("maf order", lambda: F.MAF(3, 4, rngs=rngs, order=[0, 0, 1]), ValueError,
         "MAF: argument 'order' must be a permutation of 0, ..., 2"),
        ("maf scale_bound", lambda: F.MAF(3, 4, rngs=rngs, scale_bound=-1.0), ValueError,
         "MAF: argument 'scale_bound' must be a finite number > 0"),
        ("iaf d", lambda: F.iaf(1, 4, rngs=rngs), ValueError, "iaf: argument 'd' must be at least 2"),
        ("iaf hidden_size", lambda: F.iaf(3, 2.0, rngs=rngs), ValueError,
         "iaf: argument 'hidden_size' must be a positive int"),
        # coupling layers and masks
        ("additive mask values", lambda: F.AdditiveCoupling(jnp.array([0.0, 2.0]), 4, rngs=rngs), ValueError,
         "AdditiveCoupling: argument 'mask' must hold only 0s and 1s"),
        ("additive mask shape", lambda: F.AdditiveCoupling(jnp.ones((2, 2)), 4, rngs=rngs), ValueError,
         "AdditiveCoupling: argument 'mask' must have shape (d,) or (height, width, channels)"),
        ("additive hidden_size", lambda: F.AdditiveCoupling(F.half_mask(2, 0), 0, rngs=rngs), ValueError,
         "AdditiveCoupling: argument 'hidden_size' must be a positive int"),
        ("affine mask values", lambda: F.AffineCoupling(jnp.full(IMG, 0.5), 4, rngs=rngs), ValueError,
         "AffineCoupling: argument 'mask' must hold only 0s and 1s"),
        ("affine mask shape", lambda: F.AffineCoupling(jnp.ones((4, 4)), 4, rngs=rngs), ValueError,
         "AffineCoupling: argument 'mask' must have shape (d,) or (height, width, channels)"),
        ("affine scale_bound", lambda: F.AffineCoupling(F.half_mask(2, 0), 4, rngs=rngs, scale_bound=0.0),
         ValueError, "AffineCoupling: argument 'scale_bound' must be a finite number > 0"),
        ("affine rngs", lambda: F.AffineCoupling(F.half_mask(2, 0), 4, rngs=None), TypeError,
         "AffineCoupling: argument 'rngs' must be an nnx.Rngs"),
        ("diagonal int shape", lambda: F.DiagonalScale(3), TypeError,
         "DiagonalScale: argument 'event_shape' must be a tuple of positive ints"),
        ("diagonal empty shape", lambda: F.DiagonalScale(()), ValueError,
         "DiagonalScale: argument 'event_shape' must be a non-empty tuple of positive ints"),
        ("half_mask d", lambda: F.half_mask(0, 0), ValueError, "half_mask: argument 'd' must be a positive int"),
        ("half_mask parity", lambda: F.half_mask(2, 0.5), TypeError,
         "half_mask: argument 'parity' must be an integer array"),
        ("checkerboard width", lambda: F.checkerboard_mask(4, 0, 1, 0), ValueError,
         "checkerboard_mask: argument 'width' must be a positive int"),
        ("channel_mask channels", lambda: F.channel_mask(4, 4, -1, 0), ValueError,
         "channel_mask: argument 'channels' must be a positive int"),
        # Glow's layers and the image flow
        ("actnorm shape", lambda: F.ActNorm((4, -1)), ValueError,
         "ActNorm: argument 'event_shape' must be a non-empty tuple of positive ints"),
        ("conv1x1 rngs", lambda: F.Conv1x1(IMG, rngs=0), TypeError, "Conv1x1: argument 'rngs' must be an nnx.Rngs"),
        ("squeeze ndim", lambda: F.Squeeze((4, 4)), ValueError, "Squeeze: argument 'event_shape' must have 3 entries"),
        ("squeeze odd", lambda: F.Squeeze((3, 4, 1)), ValueError,
         "Squeeze: argument 'event_shape' must have an even height and width"),
        ("split keep", lambda: F.SplitChannels(IMG, 2, F.DiagonalScale(IMG)), ValueError,
         "SplitChannels: argument 'keep' must be less than the number of channels (2"),
        ("split keep zero", lambda: F.SplitChannels(IMG, 0, F.DiagonalScale(IMG)), ValueError,
         "SplitChannels: argument 'keep' must be a positive int"),
        ("split inner type", lambda: F.SplitChannels(IMG, 1, F.StandardNormal((4, 4, 1))), TypeError,
         "SplitChannels: argument 'inner' must be a Bijector"),
        ("split inner shape", lambda: F.SplitChannels(IMG, 1, F.DiagonalScale((4, 4, 2))), ValueError,
         "SplitChannels: argument 'inner' must map shape (4, 4, 1) to itself"),
        ("init_actnorm type", lambda: F.init_actnorm(F.StandardNormal(IMG), jnp.zeros((2, *IMG))), TypeError,
         "init_actnorm: argument 'bijector' must be a Bijector"),
        ("image_flow shape", lambda: F.image_flow((6, 8, 1), hidden_size=4, num_flow_steps=1, rngs=rngs),
         ValueError, "image_flow: argument 'image_shape' must have a height and width divisible by 4"),
        ("image_flow hidden_size", lambda: F.image_flow((8, 8, 1), hidden_size=0, num_flow_steps=1, rngs=rngs),
         ValueError, "image_flow: argument 'hidden_size' must be a positive int"),
        ("image_flow num_flow_steps", lambda: F.image_flow((8, 8, 1), hidden_size=4, num_flow_steps=0, rngs=rngs),
         ValueError, "image_flow: argument 'num_flow_steps' must be a positive int"),
        ("image_flow num_levels", lambda: F.image_flow((8, 8, 1), hidden_size=4, num_flow_steps=1, rngs=rngs,
                                                       num_levels=0),
         ValueError, "image_flow: argument 'num_levels' must be a positive int"),
        # pixel transforms
        ("logit alpha half", lambda: F.LogitTransform((3,), 0.5), ValueError,
         "LogitTransform: argument 'alpha' must be in [0, 0.5)"),
        ("logit alpha negative", lambda: F.LogitTransform((3,), -1e-3), ValueError,
         "LogitTransform: argument 'alpha' must be in [0, 0.5)"),
        ("logit alpha type", lambda: F.LogitTransform((3,), "0.05"), TypeError,
         "LogitTransform: argument 'alpha' must be a number in [0, 0.5)"),
        ("logit shape", lambda: F.LogitTransform((3.0,)), ValueError,
         "LogitTransform: argument 'event_shape' must be a non-empty tuple of positive ints"),
        ("scale zero", lambda: F.Scale((3,), 0.0), ValueError, "Scale: argument 'scale' must be a finite number > 0"),
        ("scale nan", lambda: F.Scale((3,), float("nan")), ValueError,
         "Scale: argument 'scale' must be a finite number > 0"),
        ("scale shape", lambda: F.Scale("abc", 2.0), TypeError,
         "Scale: argument 'event_shape' must be a tuple of positive ints"),
        # the shared checks themselves
        ("check_event_shape ndim", lambda: check_event_shape("f", (2, 2), ndim=3), ValueError,
         "f: argument 'event_shape' must have 3 entries"),
        ("check_positive_float bool", lambda: check_positive_float("f", "c", True), TypeError,
         "f: argument 'c' must be a positive number"),
    ]


@bad_calls(_bad_calls())
def test_bad_arguments_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
