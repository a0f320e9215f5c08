"""Properties of dgm_lib.score.guidance: with the exact noisy classifier of a two-component
mixture (its responsibilities at every t), the guided score is exactly the chosen
component's own marginal score (Bayes' rule in scores), pointwise, and guided sampling
draws from that component; a NoisyClassifier trained with noisy_classifier_loss classifies
clean points as well as the Bayes classifier does, and its accuracy falls towards chance as
t -> 1, following the Bayes accuracy of the noised data."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import stats
from support.bad_calls import assert_raises_naming, bad_calls
from support.score_oracles import ExactNoisyClassifier, component_marginal_score, normal

from dgm_lib.score import (
    VESDE,
    VPSDE,
    GaussianMixture,
    NoisyClassifier,
    euler_maruyama,
    guided_score,
    noisy_classifier_loss,
)
from dgm_lib.train import fit

MIXTURE = GaussianMixture(  # the larger component first: guiding to the smaller one is the test
    jnp.log(jnp.array([0.75, 0.25])), jnp.array([[-1.5, 0.5], [1.5, -0.5]]),
    2 * jnp.log(jnp.array([[0.5, 0.8], [0.6, 0.4]])),
)
SDES = {"VP": VPSDE(), "VE": VESDE()}


@pytest.mark.parametrize("name", list(SDES))
@pytest.mark.parametrize("label", [0, 1])
def test_guided_score_with_the_exact_classifier_is_the_components_own_score(name, label):
    """grad log p_t(x) + grad log p_t(y | x) = grad log [pi_y N_y(x)] = the score of component
    y alone, at every x and t (checked pointwise); scale 2 gives something else."""
    sde = SDES[name]
    classifier = ExactNoisyClassifier(MIXTURE, sde)
    x, t, y = normal(label, (64, 2), 3.0), jnp.linspace(0.01, 1.0, 64), jnp.full(64, label)

    @jax.jit
    def scores(x, t):
        unguided = MIXTURE.marginal_score(sde)
        return (guided_score(unguided, classifier, y)(x, t),
                guided_score(unguided, classifier, y, scale=2.0)(x, t),
                unguided(x, t), component_marginal_score(MIXTURE, label, sde)(x, t))

    guided, twice, unguided, own = scores(x, t)
    np.testing.assert_allclose(guided, own, rtol=1e-4, atol=1e-4 * float(jnp.abs(own).max()))
    assert float(jnp.abs(twice - own).max()) > 0.1
    # The classifier term is not small: the unconditional score differs from the guided one.
    assert float(jnp.abs(unguided - own).max()) > 0.1


def test_guided_sampling_draws_from_the_chosen_component():
    """Euler-Maruyama with the guided score for y = 1 (weight 0.25): over 98 % of the samples
    belong to component 1 (its responsibility under the clean mixture above 1/2), where the
    unguided sampler gives about a quarter."""
    sde = VPSDE()
    n = 2_000
    classifier = ExactNoisyClassifier(MIXTURE, sde)

    @jax.jit
    def run(key, w, x_T):  # w = 1: guided, w = 0: unguided (one compilation for both)
        unguided = MIXTURE.marginal_score(sde)
        guided = guided_score(unguided, classifier, jnp.ones(n, jnp.int32))
        x = euler_maruyama(key, sde, lambda x, t: (1 - w) * unguided(x, t) + w * guided(x, t),
                           x_T, num_steps=300)
        return jnp.exp(classifier.log_probs(x, 1e-3)[:, 1])

    x_T = normal(7, (n, 2))
    in_one = float(jnp.mean(run(jax.random.key(2), 1.0, x_T) > 0.5))
    assert in_one > 0.98, in_one
    plain = float(jnp.mean(run(jax.random.key(2), 0.0, x_T) > 0.5))
    assert abs(plain - 0.25) < 5 * np.sqrt(0.25 * 0.75 / n), plain


BLOBS = GaussianMixture(jnp.zeros(2), jnp.array([[-2.0, 0.0], [2.0, 0.0]]), jnp.full((2, 2), 2 * np.log(0.5)))


def blobs(n: int, seed: int) -> tuple[jax.Array, jax.Array]:
    """Two separable blobs N((-+2, 0), 0.25 I), labels 0 and 1 (host draws)."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 2, n)
    x = np.asarray(BLOBS.means)[y] + 0.5 * g.normal(size=(n, 2))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


@partial(jax.jit, static_argnums=0)
def accuracies(graphdef, state, x0, y, eps, times):
    """Accuracy of the trained and of the exact (Bayes) classifier on x_t = alpha x0 + sigma
    eps, at each time."""
    model = nnx.merge(graphdef, state)
    exact = ExactNoisyClassifier(BLOBS, model.sde)

    def at(t):
        alpha, sigma = model.sde.marginal(t)
        xt = alpha * x0 + sigma * eps
        return (jnp.mean(jnp.argmax(model.log_probs(xt, t), -1) == y),
                jnp.mean(jnp.argmax(exact.log_probs(xt, t), -1) == y))

    return jax.lax.map(at, times)


def test_trained_noisy_classifier_matches_the_bayes_accuracy_at_every_noise_level():
    """After a brief fit, accuracy on clean points is near 1, and as t -> 1 the accuracy falls
    to chance, tracking the Bayes classifier's accuracy on the same noised points (which
    has the closed form Phi(2 alpha / sqrt(alpha^2 0.25 + sigma^2)))."""
    sde = VPSDE()
    model = NoisyClassifier(2, 2, (32, 32), sde, embed_dim=16, rngs=nnx.Rngs(0))
    result = fit(model, noisy_classifier_loss, blobs(4096, 3), key=jax.random.key(4),
                 steps=300, batch_size=256, optimizer=optax.adam(3e-3), progress=False)
    assert result.traces <= 1
    n = 4_000
    x0, y = blobs(n, 5)
    times = jnp.array([1e-3, 0.3, 0.5, 1.0])
    ours, bayes = (np.asarray(a, np.float64) for a in accuracies(*nnx.split(model), x0, y, normal(6, (n, 2)), times))
    se = np.sqrt(0.25 / n)
    np.testing.assert_array_less(ours, bayes + 5 * se)  # no classifier beats Bayes' on average
    np.testing.assert_array_less(bayes - 0.05, ours)
    assert ours[0] > 0.97
    assert abs(ours[-1] - 0.5) < 5 * se  # at t = 1 the label is gone
    assert np.all(np.diff(bayes) < 0)  # the Bayes accuracy falls with t
    alpha, sigma = (np.asarray(v, np.float64) for v in sde.marginal(times))
    closed = stats.norm.cdf(2 * alpha / np.sqrt(alpha**2 * 0.25 + sigma**2))
    np.testing.assert_array_less(np.abs(bayes - closed), 5 * np.sqrt(closed * (1 - closed) / n) + 1e-9)


_C = NoisyClassifier(2, 3, (4,), VPSDE(), embed_dim=4, rngs=nnx.Rngs(0))
_X = jnp.zeros((4, 2))


def _score(x, t):
    return -x


@bad_calls(
    [
        ("guided_y_2d", lambda: guided_score(_score, _C, jnp.zeros((4, 1), jnp.int32)), ValueError, "guided_score: argument 'y' must have shape (n,)"),
        ("guided_y_float", lambda: guided_score(_score, _C, jnp.zeros(4)), TypeError, "guided_score: argument 'y' must be an integer array"),
        ("guided_y_wrong_length", lambda: guided_score(_score, _C, jnp.zeros(3, jnp.int32))(_X, jnp.full(4, 0.5)), ValueError, "guided_score: argument 'y' has 3 labels for 4 states"),
        ("guided_zero_scale", lambda: guided_score(_score, _C, jnp.zeros(4, jnp.int32), scale=0.0), ValueError, "guided_score: argument 'scale' must be a finite number > 0"),
        ("guided_score_not_callable", lambda: guided_score(None, _C, jnp.zeros(4, jnp.int32)), TypeError, "guided_score: argument 'score_fn'"),
        ("loss_y_2d", lambda: noisy_classifier_loss(_C, (_X, jnp.zeros((4, 1), jnp.int32)), jax.random.key(0)), ValueError, "noisy_classifier_loss: argument 'y' must have shape (4,)"),
        ("loss_y_wrong_length", lambda: noisy_classifier_loss(_C, (_X, jnp.zeros(3, jnp.int32)), jax.random.key(0)), ValueError, "noisy_classifier_loss: argument 'y' must have shape (4,)"),
        ("loss_y_float", lambda: noisy_classifier_loss(_C, (_X, jnp.zeros(4)), jax.random.key(0)), TypeError, "noisy_classifier_loss: argument 'y' must be an integer array"),
        ("loss_x_wrong_d", lambda: noisy_classifier_loss(_C, (jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32)), jax.random.key(0)), ValueError, "noisy_classifier_loss: argument 'x' must have shape (n, 2)"),
        ("loss_t_min_one", lambda: noisy_classifier_loss(_C, (_X, jnp.zeros(4, jnp.int32)), jax.random.key(0), t_min=1.0), ValueError, "noisy_classifier_loss: argument 't_min' must be in (0, 1)"),
        ("classifier_wrong_d", lambda: _C.log_probs(jnp.zeros((4, 3)), 0.5), ValueError, "NoisyClassifier.log_probs: argument 'x' must have shape (n, 2)"),
        ("classifier_zero_classes", lambda: NoisyClassifier(2, 0, (4,), VPSDE(), rngs=nnx.Rngs(0)), ValueError, "NoisyClassifier: argument 'num_classes' must be a positive int"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
