"""Properties of dgm_lib.diffusion.model and guidance: classifier-free guidance is (1 + w) c -
w u; a class-conditional DiffusionModel's guided noise at w = 0 is its conditional noise, and
"no label" (None) is the label K; DiffusionModel.eps converts x0 and v outputs to the noise
(a network with a known output, and the three exact predictions of Gaussian data giving the
same noise); diffusion_loss is the hand computation with the documented key splitting, the
"elbo" weighting multiplies by T elbo_weights[t - 1], label dropping replaces labels with K;
fit with diffusion_loss brings a ScoreMLP close to the loss of the exact noise predictor;
bad arguments raise clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.diffusion import (
    DiffusionModel,
    GaussianData,
    classifier_free_guidance,
    diffusion_loss,
    elbo_weights,
    eps_from_prediction,
    linear_schedule,
)
from dgm_lib.score import ScoreMLP
from dgm_lib.train import fit

SCHED = linear_schedule(100)
T = SCHED.num_steps


def host_normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), jnp.float32)


def perturbed_conditional_net(d: int = 2, seed: int = 0) -> ScoreMLP:
    """A class-conditional ScoreMLP with noise of std 0.3 added to every parameter, so its
    output depends clearly on the label and the time."""
    net = ScoreMLP(d, (32,), num_classes=3, rngs=nnx.Rngs(seed))
    leaves, treedef = jax.tree.flatten(nnx.state(net, nnx.Param))
    g = np.random.default_rng(seed + 100)
    noisy = [jnp.asarray(np.asarray(p) + 0.3 * g.normal(size=p.shape), p.dtype) for p in leaves]
    nnx.update(net, jax.tree.unflatten(treedef, noisy))
    return net


def test_classifier_free_guidance_is_the_extrapolation():
    c, u = host_normal(0, (8, 3)), host_normal(1, (8, 3))
    np.testing.assert_array_equal(classifier_free_guidance(c, u, 0.0), c)
    np.testing.assert_allclose(classifier_free_guidance(c, u, 2.5), 3.5 * c - 2.5 * u,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(classifier_free_guidance(c, u, -1.0), u, rtol=1e-6, atol=1e-6)
    w = jnp.linspace(0.0, 3.0, 8)[:, None]
    np.testing.assert_allclose(classifier_free_guidance(c, u, w), (1 + w) * c - w * u,
                               rtol=1e-6, atol=1e-6)


@nnx.jit
def _guidance_outputs(model, x, t, labels, w):
    n = x.shape[0]
    return (model.eps(x, t, labels), model.eps(x, t, None),
            model.eps(x, t, jnp.full(n, 3, jnp.int32)),
            model.guided_eps(x, t, labels, 0.0), model.guided_eps(x, t, labels, 2.0),
            model.guided_eps(x, t, labels, w),
            model.guided_eps(x, 40, labels, 1.0), model.guided_eps(x, jnp.full(n, 40), labels, 1.0))


def test_guided_eps_of_a_conditional_model():
    model = DiffusionModel(perturbed_conditional_net(), SCHED)
    assert model.num_classes == 3
    n = 16
    x = host_normal(2, (n, 2))
    t = jnp.asarray(np.random.default_rng(3).integers(1, T + 1, n))
    labels = jnp.asarray(np.arange(n) % 3, jnp.int32)
    w = jnp.linspace(0.0, 4.0, n)[:, None]
    cond, uncond, no_label, w0, w2, w_each, scalar_t, full_t = _guidance_outputs(
        model, x, t, labels, w)
    np.testing.assert_allclose(uncond, no_label, rtol=1e-6, atol=1e-6)
    assert float(jnp.abs(cond - uncond).min(axis=1).max()) > 1e-2  # the labels matter
    np.testing.assert_allclose(w0, cond, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w2, 3.0 * cond - 2.0 * uncond, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w_each, (1 + w) * cond - w * uncond, rtol=1e-5, atol=1e-5)
    # A scalar time is every example's time.
    np.testing.assert_allclose(scalar_t, full_t, rtol=1e-6)


class KnownNet(nnx.Module):
    """A 'network' with a known output, sin(3 x) + u x (u = t / T, so a wrong time shows)."""

    def __call__(self, x, u):
        return jnp.sin(3.0 * x) + u[:, None] * x


def known_output(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    u = (t / T)[:, None]
    return np.sin(3.0 * x) + u * x


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_model_eps_converts_the_networks_output_to_noise(prediction):
    n = 64
    g = np.random.default_rng(4)
    x = g.normal(size=(n, 3)) * 1.5
    t = np.concatenate([[1, T], g.integers(1, T + 1, n - 2)])
    model = DiffusionModel(KnownNet(), SCHED, prediction=prediction)
    got, score = nnx.jit(lambda m, x, t: (m.eps(x, t), m.score(x, t)))(
        model, jnp.asarray(x, jnp.float32), jnp.asarray(t))
    out = known_output(x, t)
    ab = SCHED.alpha_bars[t - 1][:, None]
    want = {"eps": out,
            "x0": (x - np.sqrt(ab) * out) / np.sqrt(1.0 - ab),
            "v": np.sqrt(1.0 - ab) * x + np.sqrt(ab) * out}[prediction]
    # x0: the division by sqrt(1 - ab_1) = 0.01 amplifies float32 rounding of ~1e-7.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(got, eps_from_prediction(
        SCHED, prediction, jnp.asarray(x, jnp.float32), jnp.asarray(t),
        jnp.asarray(out, jnp.float32)), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(score, -np.asarray(got) / np.sqrt(1.0 - ab), rtol=1e-4,
                               atol=1e-4)


class ExactPrediction(nnx.Module):
    """The exact E[eps | x_t], E[x0 | x_t] or E[v | x_t] of Gaussian data N(mu, s^2), from the
    Gaussian algebra: E[x0 | x_t] = mu + a s^2 (x_t - a mu) / (a^2 s^2 + b^2)."""

    def __init__(self, kind: str, mu: float, std: float):
        self.kind, self.mu, self.std = kind, mu, std

    def __call__(self, x, u):
        t = jnp.round(u * T).astype(jnp.int32)
        ab = jnp.asarray(SCHED.alpha_bars, jnp.float32)[t - 1][:, None]
        a, b = jnp.sqrt(ab), jnp.sqrt(1.0 - ab)
        v = a * a * self.std**2 + b * b
        eps = b * (x - a * self.mu) / v
        x0 = self.mu + a * self.std**2 * (x - a * self.mu) / v
        return {"eps": eps, "x0": x0, "v": a * eps - b * x0}[self.kind]


def test_the_three_exact_predictions_give_the_same_noise():
    data = GaussianData(0.3, 0.8)
    n = 256
    g = np.random.default_rng(5)
    t = jnp.asarray(g.integers(1, T + 1, n))
    x = host_normal(6, (n, 2), 1.5)
    want = data.eps_fn(SCHED)(x, t)

    @jax.jit
    def all_eps(x, t):
        models = [DiffusionModel(ExactPrediction(kind, data.mean, data.std), SCHED,
                                 prediction=kind) for kind in ("eps", "x0", "v")]
        # Reading an x0 output as noise: wrong (the power of the comparison).
        wrong = DiffusionModel(ExactPrediction("x0", data.mean, data.std), SCHED)
        return [m.eps(x, t) for m in models], wrong.eps(x, t)

    right, wrong = all_eps(x, t)
    for got in right:
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    assert float(jnp.abs(wrong - want).max()) > 0.5


def hand_loss_terms(x0: np.ndarray, key, eps_hat_fn) -> tuple[np.ndarray, np.ndarray]:
    """The documented draws: time_key, noise_key, drop_key = split(key, 3); t = randint(1,
    T + 1); eps = normal. Returns t and ||eps - eps_hat(x_t, t)||^2 per example."""
    time_key, noise_key, _ = jax.random.split(key, 3)
    t = np.asarray(jax.random.randint(time_key, (x0.shape[0],), 1, T + 1))
    eps = np.asarray(jax.random.normal(noise_key, x0.shape), np.float64)
    ab = SCHED.alpha_bars[t - 1][:, None]
    x_t = np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * eps
    return t, np.sum((eps - eps_hat_fn(x_t, t)) ** 2, axis=1)


def test_diffusion_loss_is_the_hand_computation():
    n = 128
    x0 = np.asarray(host_normal(7, (n, 2), 0.8), np.float64)
    key = jax.random.key(8)
    model = DiffusionModel(KnownNet(), SCHED)
    t, err = hand_loss_terms(x0, key, known_output)

    @nnx.jit
    def losses(model, x0, key, other_key):
        return (diffusion_loss(model, x0, key), diffusion_loss(model, x0, key, weighting="elbo"),
                diffusion_loss(model, x0, other_key))

    simple, elbo, other = (float(v) for v in losses(model, jnp.asarray(x0, jnp.float32), key,
                                                    jax.random.key(9)))
    np.testing.assert_allclose(simple, err.mean(), rtol=1e-5)
    weights = T * elbo_weights(SCHED)
    np.testing.assert_allclose(elbo, np.mean(weights[t - 1] * err), rtol=1e-5)
    # The weights vary over t by orders of magnitude, so the two losses differ.
    assert abs(elbo - simple) > 0.1 * simple
    # Another key, another loss.
    assert abs(other - simple) > 1e-3 * simple


def test_diffusion_loss_drops_labels_to_the_no_label_index():
    """With drop_labels = p, the examples where bernoulli(drop_key, p) fires get label K."""
    model = DiffusionModel(perturbed_conditional_net(), SCHED)
    n = 128
    x0 = host_normal(10, (n, 2), 0.8)
    labels = jnp.asarray(np.arange(n) % 3, jnp.int32)
    key = jax.random.key(11)

    @nnx.jit
    def hand_and_library(model, x0, labels):
        time_key, noise_key, drop_key = jax.random.split(key, 3)
        t = jax.random.randint(time_key, (n,), 1, T + 1)
        eps = jax.random.normal(noise_key, x0.shape)
        ab = jnp.asarray(SCHED.alpha_bars, jnp.float32)[t - 1][:, None]
        x_t = jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * eps

        def hand(lab):
            return jnp.mean(jnp.sum(jnp.square(eps - model.eps(x_t, t, lab)), axis=1))

        dropped = jax.random.bernoulli(drop_key, 0.5, (n,))
        hands = (hand(jnp.where(dropped, 3, labels)), hand(labels), hand(None))
        library = (diffusion_loss(model, x0, key, labels=labels, drop_labels=0.5),
                   diffusion_loss(model, x0, key, labels=labels), diffusion_loss(model, x0, key))
        return hands, library, jnp.sum(dropped)

    hands, library, num_dropped = hand_and_library(model, x0, labels)
    assert 0 < int(num_dropped) < n
    np.testing.assert_allclose(library, hands, rtol=1e-5)
    with_drop, kept, _ = (float(v) for v in library)
    assert abs(with_drop - kept) > 1e-3 * kept  # the dropping did something


MEAN, STDS = np.array([0.5, -0.3]), np.array([0.3, 0.6])


def exact_simple_loss() -> float:
    """E_t sum_j Var(eps_j | x_t) = E_t sum_j a^2 s_j^2 / (a^2 s_j^2 + b^2): the simple loss of
    the exact noise predictor, t uniform on 1..T."""
    ab = SCHED.alpha_bars[:, None]
    return float(np.mean(np.sum(ab * STDS**2 / (ab * STDS**2 + 1.0 - ab), axis=1)))


def test_fit_with_diffusion_loss_approaches_the_exact_predictors_loss():
    g = np.random.default_rng(12)
    train = jnp.asarray(MEAN + STDS * g.normal(size=(4096, 2)), jnp.float32)
    held_out = jnp.asarray(MEAN + STDS * g.normal(size=(8192, 2)), jnp.float32)
    model = DiffusionModel(ScoreMLP(2, (64, 64), embed_dim=16, scale=4.0, rngs=nnx.Rngs(0)),
                           SCHED)

    @nnx.jit
    def evaluate(model):
        return diffusion_loss(model, held_out, jax.random.key(13))

    before = float(evaluate(model))
    result = fit(model, diffusion_loss, train, key=jax.random.key(14), steps=200,
                 batch_size=256, optimizer=optax.adam(3e-3), progress=False)
    after = float(evaluate(model))
    floor = exact_simple_loss()
    assert np.all(np.isfinite(result.losses)) and result.losses.shape == (200,)
    assert np.mean(result.losses[-50:]) < 0.8 * np.mean(result.losses[:20])
    assert after < 0.7 * before, (before, after)
    assert after < 1.1 * floor, (after, floor)


_NET = ScoreMLP(2, (4,), embed_dim=4, rngs=nnx.Rngs(0))
_UNCOND = DiffusionModel(_NET, linear_schedule(10))
_COND = DiffusionModel(ScoreMLP(2, (4,), embed_dim=4, num_classes=3, rngs=nnx.Rngs(0)),
                       linear_schedule(10))
_X = jnp.zeros((4, 2))
_LABELS = jnp.array([0, 1, 2, 0])


@bad_calls(
    [
        ("weighting_foo", lambda: diffusion_loss(_UNCOND, _X, jax.random.key(0), weighting="foo"), ValueError, "diffusion_loss: argument 'weighting' must be 'simple' or 'elbo'; got 'foo'"),
        ("drop_labels_one", lambda: diffusion_loss(_COND, _X, jax.random.key(0), labels=_LABELS, drop_labels=1.0), ValueError, "diffusion_loss: argument 'drop_labels' must be in [0, 1); got 1.0"),
        ("drop_labels_negative", lambda: diffusion_loss(_COND, _X, jax.random.key(0), drop_labels=-0.1), ValueError, "diffusion_loss: argument 'drop_labels' must be in [0, 1)"),
        ("labels_to_unconditional_with_dropping", lambda: diffusion_loss(_UNCOND, _X, jax.random.key(0), labels=_LABELS, drop_labels=0.1), ValueError, "diffusion_loss: 'labels' given to an unconditional model"),
        ("loss_int_key", lambda: diffusion_loss(_UNCOND, _X, 0), TypeError, "diffusion_loss: argument 'key'"),
        ("loss_x0_1d", lambda: diffusion_loss(_UNCOND, jnp.zeros(4), jax.random.key(0)), ValueError, "diffusion_loss: argument 'x0' must have shape (n, ...)"),
        ("schedule_not_schedule", lambda: DiffusionModel(_NET, "linear"), TypeError, "DiffusionModel: argument 'schedule' must be a Schedule"),
        ("schedule_array", lambda: DiffusionModel(_NET, np.linspace(0.9, 0.1, 10)), TypeError, "DiffusionModel: argument 'schedule' must be a Schedule"),
        ("prediction_score", lambda: DiffusionModel(_NET, linear_schedule(10), prediction="score"), ValueError, "DiffusionModel: argument 'prediction' must be 'eps', 'x0' or 'v'; got 'score'"),
        ("net_not_callable", lambda: DiffusionModel("net", linear_schedule(10)), TypeError, "DiffusionModel: argument 'net' must be a module net(x, t)"),
        ("eps_float_times", lambda: _UNCOND.eps(_X, 1.5), TypeError, "DiffusionModel.eps: argument 't' must be an integer array"),
        ("eps_time_zero", lambda: _UNCOND.eps(_X, 0), ValueError, "DiffusionModel.eps: times 't' must be integers in {1, ..., 10}"),
        ("eps_time_above_T", lambda: _UNCOND.eps(_X, 11), ValueError, "DiffusionModel.eps: times 't' must be integers in {1, ..., 10}"),
        ("eps_x_1d", lambda: _UNCOND.eps(jnp.zeros(4), 1), ValueError, "DiffusionModel.eps: argument 'x' must have shape (n, ...)"),
        ("guided_unconditional", lambda: _UNCOND.guided_eps(_X, 1, _LABELS, 1.0), ValueError, "DiffusionModel.guided_eps: guidance needs a class-conditional network"),
        ("guided_labels_shape", lambda: _COND.guided_eps(_X, 1, jnp.array([0, 1]), 1.0), ValueError, "DiffusionModel.guided_eps: argument 'labels' must have shape (4,)"),
        ("guided_float_labels", lambda: _COND.guided_eps(_X, 1, jnp.zeros(4), 1.0), TypeError, "DiffusionModel.guided_eps: argument 'labels' must be an integer array"),
        ("conditional_labels_shape", lambda: _COND.eps(_X, 1, jnp.array([0, 1])), ValueError, "argument 'labels' must have shape (4,)"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


@pytest.mark.parametrize("how", ["diffusion_loss", "eps"])
def test_labels_given_to_an_unconditional_model_are_refused(how):
    with pytest.raises(ValueError, match="unconditional"):
        if how == "diffusion_loss":  # drop_labels = 0, the default
            diffusion_loss(_UNCOND, _X, jax.random.key(0), labels=_LABELS)
        else:
            _UNCOND.eps(_X, 1, _LABELS)


@pytest.mark.parametrize("how", ["score", "guided_eps"])
def test_float_times_are_refused_by_score_and_guided_eps(how):
    with pytest.raises(TypeError, match="must be an integer array"):
        if how == "score":
            _UNCOND.score(_X, 1.7)
        else:
            _COND.guided_eps(_X, 1.7, _LABELS, 1.0)

