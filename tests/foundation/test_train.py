"""Tests of dgm_lib.train: fit does the maths of a plain optax loop, compiles once, drops the
ragged batch, stops on a non-finite loss; evaluate averages every example exactly once."""

from __future__ import annotations

import logging
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats
from flax import nnx

from dgm_lib.train import FitResult, NonFiniteLossError, Player, evaluate, fit


class DiagGaussian(nnx.Module):
    """N(mean, diag(exp(log_var))) in 2-D: the MLE has a closed form."""

    def __init__(self) -> None:
        self.mean = nnx.Param(jnp.zeros(2))
        self.log_var = nnx.Param(jnp.zeros(2))

    def log_prob(self, x: jax.Array) -> jax.Array:
        var = jnp.exp(self.log_var[...])
        z = (x - self.mean[...]) ** 2 / var
        return -0.5 * jnp.sum(z + self.log_var[...] + jnp.log(2 * jnp.pi), axis=-1)


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(2, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.l2(jnp.tanh(self.l1(x)))[:, 0]


class Scalar(nnx.Module):
    def __init__(self) -> None:
        self.w = nnx.Param(jnp.float32(0.0))


def nll(model: DiagGaussian, x: jax.Array, key: jax.Array) -> jax.Array:
    return -jnp.mean(model.log_prob(x))


def noisy_mse(model: MLP, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> jax.Array:
    """A stochastic objective: the input is jittered with the step's key."""
    x, y = batch
    x = x + 0.1 * jax.random.normal(key, x.shape)
    return jnp.mean((model(x) - y) ** 2)


def regression_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, np.sin(x[:, 0] * x[:, 1]).astype(np.float32)


def test_fit_recovers_the_gaussian_maximum_likelihood_estimate():
    rng = np.random.default_rng(1)
    x = rng.normal([1.0, -2.0], [0.5, 2.0], size=(400, 2)).astype(np.float32)
    model = DiagGaussian()
    steps = 600
    tx = optax.adam(optax.cosine_decay_schedule(0.1, steps))
    result = fit(
        model, nll, x, key=jax.random.key(0), steps=steps, batch_size=400, optimizer=tx,
        progress=False,
    )  # fmt: skip
    assert isinstance(result, FitResult) and not hasattr(result, "model")  # in place
    mle_mean, mle_var = x.mean(0), x.var(0)  # closed form: sample mean, biased variance
    np.testing.assert_allclose(model.mean[...], mle_mean, atol=1e-3)
    np.testing.assert_allclose(np.exp(model.log_var[...]), mle_var, rtol=1e-3)
    best = -scipy.stats.norm.logpdf(x, mle_mean, np.sqrt(mle_var)).sum(1).mean()
    assert result.losses[0] > best + 1.0
    np.testing.assert_allclose(result.losses[-1], best, rtol=1e-5)


def test_fit_matches_a_plain_nnx_optimizer_loop_step_for_step():
    x, y = regression_data(100)
    n, batch_size, steps = 100, 16, 30  # 100 % 16 = 4 examples dropped per epoch
    fitted = MLP(nnx.Rngs(0))
    result = fit(
        fitted, noisy_mse, (x, y), key=jax.random.key(7), steps=steps,
        batch_size=batch_size, optimizer=optax.adam(1e-2), steps_per_dispatch=7,
        progress=False,
    )  # fmt: skip
    assert result.losses.shape == (steps,) and result.losses.dtype == np.float32

    # The documented key schedule, written out plainly.
    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    order_key, loss_key = jax.random.split(jax.random.key(7))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(order_key)))
    batches = []
    while len(batches) < steps:
        perm = rng.permutation(n)
        batches += [perm[i * batch_size : (i + 1) * batch_size] for i in range(n // batch_size)]

    @nnx.jit
    def plain_step(model, optimizer, batch, key):
        loss, grads = nnx.value_and_grad(noisy_mse)(model, batch, key)
        optimizer.update(model, grads)
        return loss

    losses = []
    for s in range(steps):
        idx = batches[s]
        losses.append(
            float(plain_step(model, optimizer, (x[idx], y[idx]), jax.random.fold_in(loss_key, s)))
        )
    np.testing.assert_allclose(result.losses, losses, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fitted.l1.kernel[...], model.l1.kernel[...], atol=1e-5)
    assert result.losses[-1] < result.losses[0]


class Affine(nnx.Module):
    """x = scale * z + shift, z ~ N(0, 1): a generator with two scalar parameters."""

    def __init__(self) -> None:
        self.scale = nnx.Param(jnp.float32(0.5))
        self.shift = nnx.Param(jnp.float32(0.0))


def reverse_kl_to_normal(model: Affine, key: jax.Array) -> jax.Array:
    """KL(q || N(3, 2^2)) up to a constant for q = N(shift, scale^2), from 64 reparameterised
    draws: a data-free objective whose minimum is scale = 2, shift = 3."""
    z = jax.random.normal(key, (64,))
    x = model.scale[...] * z + model.shift[...]
    log_q = -jnp.log(jnp.abs(model.scale[...])) - 0.5 * z**2
    return jnp.mean(log_q + 0.5 * ((x - 3.0) / 2.0) ** 2)


def test_fit_runs_a_data_free_objective_with_the_documented_keys():
    steps = 40
    model = Affine()
    result = fit(model, reverse_kl_to_normal, key=jax.random.key(3), steps=steps,
                 optimizer=optax.adam(0.05), steps_per_dispatch=15, progress=False)
    assert result.traces <= 1 and result.losses.shape == (steps,)

    plain, tx = Affine(), optax.adam(0.05)
    params = nnx.state(plain, nnx.Param)
    opt_state = tx.init(params)
    loss_key = jax.random.split(jax.random.key(3))[1]
    graphdef = nnx.graphdef(plain)
    losses = []
    for s in range(steps):
        objective = lambda p, k: reverse_kl_to_normal(nnx.merge(graphdef, p), k)  # noqa: E731
        loss, grads = jax.value_and_grad(objective)(params, jax.random.fold_in(loss_key, s))
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    np.testing.assert_allclose(result.losses, losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.scale[...], params["scale"][...], rtol=1e-5)


def test_fit_without_data_reaches_the_minimum_of_the_reverse_kl():
    model = Affine()
    tx = optax.adam(optax.cosine_decay_schedule(0.05, 3000))
    fit(model, reverse_kl_to_normal, key=jax.random.key(0), steps=3000, optimizer=tx,
        progress=False)
    assert abs(float(model.scale[...]) - 2.0) < 0.1 and abs(float(model.shift[...]) - 3.0) < 0.1


class TwoPlayers(nnx.Module):
    def __init__(self) -> None:
        self.critic = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
        self.generator = nnx.Linear(2, 2, rngs=nnx.Rngs(1))


def critic_loss(m: TwoPlayers, x: jax.Array, key: jax.Array) -> jax.Array:
    fake = m.generator(jax.random.normal(key, x.shape))
    return jnp.mean(m.critic(fake)) - jnp.mean(m.critic(x)) + jnp.mean(m.critic.kernel[...] ** 2)


def generator_loss(m: TwoPlayers, x: jax.Array, key: jax.Array) -> jax.Array:
    return -jnp.mean(m.critic(m.generator(jax.random.normal(key, x.shape))))


def test_players_take_their_turns_as_a_plain_alternating_loop_does():
    """Critic 3 steps then generator 1 step per training step, each on its own batch and key:
    fit's scanned engine against the same game written as a Python loop over optax updates."""
    x = np.random.default_rng(0).normal(2.0, 0.5, size=(40, 2)).astype(np.float32)
    steps, batch_size, repeats = 6, 8, 3
    players = [
        Player(critic_loss, "critic", optax.sgd(0.1), repeats=repeats),
        Player(generator_loss, "generator", optax.adam(0.01)),
    ]
    model = TwoPlayers()
    result = fit(model, players, x, key=jax.random.key(5), steps=steps, batch_size=batch_size,
                 steps_per_dispatch=4, progress=False)
    assert result.losses.shape == (steps, 2) and result.traces <= 1

    plain = TwoPlayers()
    graphdef, critic, generator, rest = nnx.split(
        plain, nnx.PathContains("critic"), nnx.PathContains("generator"), ...
    )
    opts = [optax.sgd(0.1), optax.adam(0.01)]
    states = [opts[0].init(critic), opts[1].init(generator)]
    order_key, loss_key = jax.random.split(jax.random.key(5))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(order_key)))
    batches = []
    while len(batches) < steps * (repeats + 1):
        perm = rng.permutation(40)
        batches += [perm[i * batch_size : (i + 1) * batch_size] for i in range(40 // batch_size)]
    expected = np.zeros((steps, 2))
    for s in range(steps):
        for r in range(repeats + 1):
            j, slot = (0 if r < repeats else 1), s * (repeats + 1) + r
            k, batch = jax.random.fold_in(loss_key, slot), x[batches[slot]]
            if j == 0:
                loss, g = jax.value_and_grad(
                    lambda c, q, b, k: critic_loss(nnx.merge(graphdef, c, q, rest), b, k)
                )(critic, generator, batch, k)
                u, states[0] = opts[0].update(g, states[0], critic)
                critic = optax.apply_updates(critic, u)
                expected[s, 0] += float(loss) / repeats
            else:
                loss, g = jax.value_and_grad(
                    lambda q, c, b, k: generator_loss(nnx.merge(graphdef, c, q, rest), b, k)
                )(generator, critic, batch, k)
                u, states[1] = opts[1].update(g, states[1], generator)
                generator = optax.apply_updates(generator, u)
                expected[s, 1] = float(loss)
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.generator.kernel[...], generator["generator"]["kernel"][...], rtol=1e-5)
    np.testing.assert_allclose(model.critic.kernel[...], critic["critic"]["kernel"][...], rtol=1e-5)
    assert not np.allclose(model.critic.kernel[...], TwoPlayers().critic.kernel[...])


def test_fit_compiles_the_step_once_for_a_run_of_several_dispatches(caplog):
    x, y = regression_data(64)
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        result = fit(
            MLP(nnx.Rngs(0)), noisy_mse, (x, y), key=jax.random.key(0), steps=250,
            batch_size=16, steps_per_dispatch=60, progress=False,
        )  # fmt: skip
    # 250 steps = 4 full dispatches of 60 and a tail of 10: still one shape, one compilation.
    compiled = [r for r in caplog.records if "Compiling jit(run_dispatch)" in r.getMessage()]
    assert len(compiled) <= 1  # JAX's own count (0 if an earlier test compiled this program)
    assert result.traces == len(compiled)
    assert np.all(np.isfinite(result.losses)) and result.losses.shape == (250,)


def _compilations(caplog) -> int:
    return sum("Compiling jit(run_dispatch)" in r.getMessage() for r in caplog.records)


def test_a_second_fit_of_the_same_model_loss_and_shapes_does_not_compile_again(caplog):
    x, y = regression_data(64)

    def run(tx: optax.GradientTransformation, seed: int = 0) -> FitResult:
        return fit(
            MLP(nnx.Rngs(seed)), lambda m, b, k: noisy_mse(m, b, k), (x, y),
            key=jax.random.key(0), steps=120, batch_size=16, optimizer=tx,
            steps_per_dispatch=50, progress=False,
        )  # fmt: skip

    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        first = run(optax.adam(1e-2))
        once = _compilations(caplog)
        # A new lambda, a new optimizer object, new initial weights: the same program.
        again = run(optax.adam(1e-2), seed=1)
        assert _compilations(caplog) == once == 1 and (first.traces, again.traces) == (1, 0)
        # A different learning rate is a different program, and it is the one that runs.
        other = run(optax.adam(3e-2), seed=1)
        assert _compilations(caplog) == 2 and other.traces == 1
    plain = run(optax.adam(1e-2), seed=1)  # the first program again, cached
    np.testing.assert_array_equal(plain.losses, again.losses)
    assert not np.array_equal(other.losses, again.losses)


_GAIN = [1.0]


def test_a_cached_program_sees_the_values_a_loss_reads_now():
    # SGD with rate 1 on -scale * w moves w by exactly `scale` per step.
    data = np.zeros((4, 1), np.float32)

    def run(loss):
        model = Scalar()
        fit(model, loss, data, key=jax.random.key(0), steps=10, batch_size=4,
            optimizer=optax.sgd(1.0), progress=False)  # fmt: skip
        return float(model.w[...])

    def closing_over(value):
        return lambda m, b, k: -value * m.w[...]

    assert run(closing_over(1.0)) == 10.0 and run(closing_over(3.0)) == 30.0  # closure cells
    _GAIN[0] = 1.0
    assert run(lambda m, b, k: -_GAIN[0] * m.w[...]) == 10.0
    _GAIN[0] = 2.0  # a global's contents changed between calls, as a notebook cell does
    assert run(lambda m, b, k: -_GAIN[0] * m.w[...]) == 20.0
    frozen = Scalar()  # a loss that reads a module: never cached, its current value is used
    for value in (1.0, 5.0):
        frozen.w[...] = jnp.float32(value)
        assert run(lambda m, b, k: -frozen.w[...] * m.w[...]) == 10 * value


def test_fit_drops_the_ragged_batch_and_visits_each_example_once_per_epoch():
    n, batch_size, epochs = 10, 3, 5

    def batch_code(model: Scalar, batch: jax.Array, key: jax.Array) -> jax.Array:
        assert batch.shape == (batch_size,)  # full size, checked at trace time
        return jnp.sum(2.0**batch) + 0.0 * model.w[...]  # the loss spells the batch in binary

    per_epoch = n // batch_size  # 3 batches of 3; one example dropped per epoch
    steps = epochs * per_epoch
    result = fit(
        Scalar(), batch_code, np.arange(n, dtype=np.float32), key=jax.random.key(3),
        steps=steps, batch_size=batch_size, steps_per_dispatch=4, progress=False,
    )  # fmt: skip
    sets = [{i for i in range(n) if int(code) >> i & 1} for code in result.losses]
    assert all(len(s) == batch_size for s in sets)  # no repeats inside a batch
    for e in range(epochs):
        epoch = sets[e * per_epoch : (e + 1) * per_epoch]
        assert len(set().union(*epoch)) == per_epoch * batch_size  # batches of an epoch are disjoint
    assert set().union(*sets) == set(range(n))  # reshuffled: the dropped example changes


@jax.custom_jvp
def _zero_with_nan_slope_from_4(w: jax.Array) -> jax.Array:
    """Value 0 everywhere; derivative 0 below w = 4 and NaN from there on."""
    return jnp.zeros_like(w)


@_zero_with_nan_slope_from_4.defjvp
def _zero_with_nan_slope_from_4_jvp(primals, tangents):
    (w,), (t,) = primals, tangents
    return jnp.zeros_like(w), jnp.where(w >= 4.0, jnp.nan, 0.0) * t


@pytest.mark.parametrize(
    "bad_at, loss",
    [
        (37, lambda w: jnp.where(w < 37.0, -w, jnp.nan)),  # the loss itself turns NaN
        (4, lambda w: -w + _zero_with_nan_slope_from_4(w)),  # finite loss, NaN gradient
    ],
)
def test_fit_stops_at_the_first_non_finite_step_and_keeps_the_last_finite_model(bad_at, loss):
    # SGD with rate 1 on -w moves w from 0 by exactly +1 per step: w = s before step s.
    model = Scalar()
    with pytest.raises(NonFiniteLossError, match=rf"non-finite at step {bad_at} ") as info:
        fit(
            model, lambda m, x, k: loss(m.w[...]), np.zeros((8, 1), np.float32),
            key=jax.random.key(0), steps=100, batch_size=8, optimizer=optax.sgd(1.0),
            steps_per_dispatch=10, progress=False,
        )  # fmt: skip
    assert info.value.step == bad_at
    assert float(model.w[...]) == bad_at  # the parameters from before the bad step
    np.testing.assert_array_equal(info.value.losses[:bad_at], -np.arange(bad_at))
    assert info.value.losses.shape == (bad_at + 1,)


@pytest.mark.parametrize("n, batch_size", [(103, 10), (103, 1), (103, 103), (103, 500), (8, 3)])
def test_evaluate_counts_every_example_exactly_once(n, batch_size):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    model = DiagGaussian()
    model.mean[...] = jnp.array([0.3, -0.2])
    model.log_var[...] = jnp.array([0.5, -0.4])
    got = evaluate(model, lambda m, b: -m.log_prob(b), x, batch_size=batch_size)
    want = -scipy.stats.norm.logpdf(x, [0.3, -0.2], np.exp(0.5 * np.array([0.5, -0.4])))
    np.testing.assert_allclose(got, want.sum(1).mean(), rtol=1e-6)


def test_evaluate_averages_a_pytree_of_arrays():
    x, y = regression_data(57)
    got = evaluate(Scalar(), lambda m, b: b[0][:, 0] * b[1], (x, y), batch_size=10)
    np.testing.assert_allclose(got, np.mean(x[:, 0].astype(np.float64) * y), rtol=1e-5)


def test_evaluate_gives_each_batch_its_own_key():
    x = np.zeros((20_000, 1), np.float32)

    def noise(m: Scalar, b: jax.Array, key: jax.Array) -> jax.Array:
        return jax.random.normal(key, (b.shape[0],))

    a = evaluate(Scalar(), noise, x, batch_size=100, key=jax.random.key(0))
    b = evaluate(Scalar(), noise, x, batch_size=100, key=jax.random.key(1))
    # Independent keys per batch: the mean of 20 000 standard normals is within 5/sqrt(N).
    assert abs(a) < 5 / np.sqrt(20_000) and abs(b) < 5 / np.sqrt(20_000) and a != b


_X, _Y = regression_data(20)


def _fit(**overrides):
    args = dict(
        model=MLP(nnx.Rngs(0)), loss_fn=noisy_mse, data=(_X, _Y), key=jax.random.key(0),
        steps=5, batch_size=4, progress=False,
    )  # fmt: skip
    args.update(overrides)
    return fit(args.pop("model"), args.pop("loss_fn"), args.pop("data"), **args)


def _evaluate(**overrides):
    args = dict(
        model=Scalar(), fn=lambda m, b: b[:, 0], data=_X, batch_size=4,
    )  # fmt: skip
    args.update(overrides)
    return evaluate(args.pop("model"), args.pop("fn"), args.pop("data"), **args)


@pytest.mark.parametrize(
    "call, overrides, error, message",
    [
        (_fit, dict(batch_size=21), ValueError, "fit: argument 'batch_size' (21) must be at most"),
        (_fit, dict(batch_size=0), ValueError, "fit: argument 'batch_size' must be a positive"),
        (_fit, dict(steps=0), ValueError, "fit: argument 'steps' must be a positive int"),
        (_fit, dict(steps=2.5), ValueError, "fit: argument 'steps' must be a positive int"),
        (_fit, dict(steps_per_dispatch=-1), ValueError, "fit: argument 'steps_per_dispatch'"),
        (_fit, dict(data=(_X, _Y[:19])), ValueError, "fit: argument 'data[1]' has 19 examples"),
        (_fit, dict(data=np.float32(1.0)), ValueError, "fit: argument 'data' must have shape"),
        (_fit, dict(data=np.array(["a", "b"])), TypeError, "fit: argument 'data' must be"),
        (_fit, dict(data=()), ValueError, "fit: argument 'data' holds no arrays"),
        (_fit, dict(key=0), TypeError, "fit: argument 'key' must be a single random key"),
        (_fit, dict(key=jax.random.split(jax.random.key(0))), TypeError, "argument 'key'"),
        (_fit, dict(loss_fn=lambda m, b, k: m(b[0])), ValueError, "fit: loss_fn must return a"),
        (_fit, dict(batch_size=None), ValueError, "fit: argument 'batch_size' is required when 'data'"),
        (_fit, dict(data=None), ValueError, "fit: argument 'batch_size' must be None when 'data' is None"),
        (_fit, dict(loss_fn=[]), TypeError, "fit: argument 'loss_fn' must be a loss"),
        (_fit, dict(loss_fn=[Player(noisy_mse, "l1", optax.sgd(0.1))], optimizer=optax.sgd(0.1)), ValueError, "give each Player its optimizer"),
        (_fit, dict(loss_fn=[Player(noisy_mse, "l1", optax.sgd(0.1), repeats=0)]), ValueError, "fit: argument 'Player.repeats' must be a positive int"),
        (_evaluate, dict(batch_size=0), ValueError, "evaluate: argument 'batch_size'"),
        (_evaluate, dict(data={"x": _X, "y": _Y[:3]}), ValueError, "argument 'data['y']' has 3"),
        (_evaluate, dict(fn=lambda m, b: b), ValueError, "evaluate: fn must return one value"),
        (_evaluate, dict(key="seed"), TypeError, "evaluate: argument 'key' must be a single random key"),
    ],
)
def test_bad_arguments_raise_errors_naming_the_argument(call, overrides, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(**overrides)


def test_a_non_finite_player_update_names_the_player():
    x = np.ones((16, 2), np.float32)
    nan_critic = lambda m, x, k: critic_loss(m, x, k) * jnp.nan  # noqa: E731
    players = [
        Player(generator_loss, "generator", optax.sgd(0.1)),
        Player(nan_critic, "critic", optax.sgd(0.1), repeats=2),
    ]
    with pytest.raises(NonFiniteLossError, match=r"step 0 in the update of player 1 \(wrt='critic'\)") as info:
        fit(TwoPlayers(), players, x, key=jax.random.key(0), steps=5, batch_size=8,
            progress=False)
    assert info.value.player == "player 1 (wrt='critic')" and info.value.losses.shape == (1, 2)
