"""Fully visible autoregressive models: normalisation, causality, sampling, inpainting.

Oracles: brute-force enumeration of all 2**D binary vectors (the total mass must be one),
``jax.jacfwd`` (the autoregressive property read off the Jacobian), the conditionals written
out one dimension at a time in float64 NumPy, ``scipy.stats.chisquare`` (sample frequencies
against exp(log_prob)), and closed-form maximum-likelihood counts (what ``train.fit`` must
reach for the independent and Markov models).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value

from dgm_lib import train
from dgm_lib.autoregressive import (
    FVSBN,
    IndependentBernoulli,
    MarkovChainBernoulli,
    fvsbn_logits,
    independent_logits,
    log_prob_from_logits,
    markov_chain_logits,
    sample_autoregressive,
)
from dgm_lib.enumeration import all_binary_vectors, log_sum_over_binary
from dgm_lib.masks import strictly_lower_mask
from dgm_lib.train import nll_loss

MODELS = [IndependentBernoulli, MarkovChainBernoulli, FVSBN]
IDS = [m.__name__ for m in MODELS]


def randomised(cls, d: int, seed: int = 0, scale: float = 1.5):
    """A model with every parameter drawn from N(0, scale^2): no zero, no symmetry."""
    model = cls(d)
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


@pytest.mark.parametrize("cls", MODELS, ids=IDS)
@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_log_probs_of_all_binary_vectors_sum_to_one(cls, d) -> None:
    model = randomised(cls, d, seed=d)
    assert abs(float(log_sum_over_binary(model.log_prob, d))) < 1e-5


@pytest.mark.parametrize("cls", MODELS, ids=IDS)
def test_conditionals_are_autoregressive(cls) -> None:
    d = 7
    model = randomised(cls, d, seed=1)
    x = jax.random.uniform(jax.random.key(2), (d,), minval=0.1, maxval=0.9)  # non-binary is fine
    jac = np.asarray(jax.jacfwd(lambda v: model.conditionals(v[None])[0])(x))
    assert jac.shape == (d, d)
    assert np.all(jac[np.triu_indices(d)] == 0.0)  # on and above the diagonal
    # ...and the dependence the model claims is really there, so the check can fail:
    if cls is MarkovChainBernoulli:
        assert np.all(np.abs(np.diag(jac, k=-1)) > 1e-3)
        assert np.all(jac[np.tril_indices(d, k=-2)] == 0.0)
    if cls is FVSBN:
        assert np.all(np.abs(jac[np.tril_indices(d, k=-1)]) > 1e-3)
    if cls is IndependentBernoulli:
        assert np.all(jac == 0.0)


def test_conditionals_equal_their_definitions_one_dimension_at_a_time() -> None:
    d = 6
    x = np.asarray(all_binary_vectors(d))[::3]
    ind, mc, fv = (randomised(c, d, seed=4) for c in MODELS)
    b = np.asarray(ind.logits[...], np.float64)
    a = np.asarray(mc.logits[...], np.float64)
    bias, w = np.asarray(fv.bias[...], np.float64), np.asarray(fv.weight[...], np.float64)
    want_ind = np.tile(b, (len(x), 1))
    want_mc = np.empty_like(x, dtype=np.float64)
    want_fv = np.empty_like(x, dtype=np.float64)
    for n, row in enumerate(x):
        for i in range(d):
            prev = int(row[i - 1]) if i > 0 else 0
            want_mc[n, i] = a[i, prev]
            want_fv[n, i] = bias[i] + sum(w[i, j] * row[j] for j in range(i))
    np.testing.assert_allclose(ind.conditionals(x), want_ind, atol=1e-5)
    np.testing.assert_allclose(mc.conditionals(x), want_mc, atol=1e-5)
    np.testing.assert_allclose(fv.conditionals(x), want_fv, atol=1e-4)


def test_log_prob_is_the_sum_of_bernoulli_log_masses() -> None:
    x = np.asarray(all_binary_vectors(4))
    logits = np.asarray(jax.random.normal(jax.random.key(5), x.shape), np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    want = np.sum(np.log(np.where(x == 1, p, 1.0 - p)), axis=1)
    np.testing.assert_allclose(log_prob_from_logits(x, logits.astype(np.float32)), want, rtol=1e-5)


def test_strictly_lower_mask_keeps_only_earlier_variables() -> None:
    m = np.asarray(strictly_lower_mask(5))
    np.testing.assert_array_equal(m, np.array([[float(j < i) for j in range(5)] for i in range(5)]))


@pytest.mark.parametrize("cls", MODELS, ids=IDS)
def test_samples_follow_the_density(cls) -> None:
    d = 5
    model = randomised(cls, d, seed=6, scale=1.0)
    samples = np.asarray(model.sample(jax.random.key(7), 20_000))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert chi_square_p_value(samples, model.log_prob(all_binary_vectors(d))) > 1e-3


def test_sampling_in_another_order_follows_that_models_density() -> None:
    """A model that is autoregressive in reversed order, sampled in that order."""
    d = 5
    base = randomised(FVSBN, d, seed=8, scale=1.0)
    reverse = np.arange(d)[::-1]

    def conditionals(x):
        return base.conditionals(x[:, ::-1])[:, ::-1]

    samples = np.asarray(
        sample_autoregressive(jax.random.key(9), conditionals, 20_000, d, order=reverse)
    )
    log_p = log_prob_from_logits(all_binary_vectors(d), conditionals(all_binary_vectors(d)))
    assert chi_square_p_value(samples, log_p) > 1e-3
    # In the natural order the same conditionals would use entries not yet drawn: wrong law.
    wrong = np.asarray(sample_autoregressive(jax.random.key(9), conditionals, 20_000, d))
    assert chi_square_p_value(wrong, log_p) < 1e-6


@pytest.mark.parametrize("cls", MODELS, ids=IDS)
@pytest.mark.parametrize("per_sample", [True, False], ids=["mask_n_by_d", "mask_d"])
def test_observed_values_are_kept_exactly(cls, per_sample) -> None:
    d, n = 8, 50
    model = randomised(cls, d, seed=10)
    k1, k2, k3 = jax.random.split(jax.random.key(11), 3)
    values = jax.random.bernoulli(k1, 0.5, (n, d)).astype(jnp.float32)
    mask = jax.random.bernoulli(k2, 0.5, (n, d) if per_sample else (d,))
    x = np.asarray(model.sample(k3, n, observed=(values, mask)))
    full_mask = np.broadcast_to(np.asarray(mask), (n, d))
    np.testing.assert_array_equal(x[full_mask], np.asarray(values)[full_mask])
    assert set(np.unique(x)) <= {0.0, 1.0}


def test_inpainting_an_observed_prefix_samples_the_exact_conditional() -> None:
    d, n, prefix = 5, 20_000, np.array([1.0, 0.0])
    model = randomised(FVSBN, d, seed=12, scale=1.0)
    values = jnp.broadcast_to(jnp.concatenate([prefix, jnp.zeros(d - 2)]), (n, d))
    mask = jnp.arange(d) < 2
    x = np.asarray(model.sample(jax.random.key(13), n, observed=(values, mask)))
    rest = np.asarray(all_binary_vectors(d - 2))
    full = np.concatenate([np.broadcast_to(prefix, (len(rest), 2)), rest], axis=1)
    log_p = np.asarray(model.log_prob(full), np.float64)  # p(x_rest | prefix) up to a constant
    assert chi_square_p_value(x[:, 2:], log_p) > 1e-3


@pytest.mark.parametrize("cls", MODELS, ids=IDS)
def test_sample_is_one_scan_over_dimensions(cls) -> None:
    model = randomised(cls, 6)
    jaxpr = str(jax.make_jaxpr(lambda k: model.sample(k, 4))(jax.random.key(0)))
    assert "scan" in jaxpr and "length=6" in jaxpr
    pure = str(
        jax.make_jaxpr(lambda k: sample_autoregressive(k, model.conditionals, 4, 6))(
            jax.random.key(0)
        )
    )
    assert "scan" in pure


def test_fit_reaches_the_closed_form_maximum_likelihood() -> None:
    """Independent: p(x_i = 1) is the frequency. Markov: p(x_i = 1 | x_{i-1} = v) is the
    frequency among the examples with x_{i-1} = v. Both are convex, so Adam gets there."""
    d, n = 4, 2_000
    data = np.asarray(randomised(FVSBN, d, seed=14).sample(jax.random.key(15), n))
    opt = optax.adam(optax.cosine_decay_schedule(0.1, 1_500))
    ind = train.fit(IndependentBernoulli(d), nll_loss, data, key=jax.random.key(0), steps=1_500,
                    batch_size=n, optimizer=opt, progress=False).model
    mc = train.fit(MarkovChainBernoulli(d), nll_loss, data, key=jax.random.key(0), steps=1_500,
                   batch_size=n, optimizer=opt, progress=False).model
    np.testing.assert_allclose(jax.nn.sigmoid(ind.logits[...]), data.mean(0), atol=2e-3)
    p_mc = np.asarray(jax.nn.sigmoid(mc.logits[...]))
    assert abs(p_mc[0, 0] - data[:, 0].mean()) < 2e-3
    for i in range(1, d):
        for v in (0, 1):
            rows = data[:, i - 1] == v
            assert abs(p_mc[i, v] - data[rows, i].mean()) < 2e-3
    mle_nll = -float(jnp.mean(ind.log_prob(data)))
    assert abs(float(nll_loss(ind, data, jax.random.key(0))) - mle_nll) < 1e-6


def _bad_calls():
    fv, ind, mc = FVSBN(3), IndependentBernoulli(3), MarkovChainBernoulli(3)
    key = jax.random.key(0)
    x = jnp.zeros((2, 3))
    ok_obs = (jnp.zeros((2, 3)), jnp.zeros(3, bool))
    return [
        ("fv.log_prob wrong D", lambda: fv.log_prob(jnp.zeros((2, 4))), ValueError, "FVSBN.log_prob: argument 'x' must have shape (batch, 3)"),
        ("fv.log_prob int", lambda: fv.log_prob(jnp.zeros((2, 3), jnp.int32)), TypeError, "FVSBN.log_prob: argument 'x' must be a floating-point array"),
        ("ind.log_prob 1-D", lambda: ind.log_prob(jnp.zeros(3)), ValueError, "IndependentBernoulli.log_prob: argument 'x'"),
        ("mc.conditionals", lambda: mc.conditionals(jnp.zeros((2, 2))), ValueError, "MarkovChainBernoulli.conditionals: argument 'x' must have shape (batch, 3)"),
        ("sample key", lambda: fv.sample(0, 2), TypeError, "FVSBN.sample: argument 'key'"),
        ("sample n", lambda: fv.sample(key, 0), ValueError, "FVSBN.sample: argument 'n' must be a positive int"),
        ("sample observed not pair", lambda: fv.sample(key, 2, observed=jnp.zeros((2, 3))), TypeError, "FVSBN.sample: argument 'observed' must be None or a pair"),
        ("sample observed values", lambda: fv.sample(key, 2, observed=(jnp.zeros((3, 3)), jnp.zeros(3, bool))), ValueError, "FVSBN.sample: argument 'observed values' must have shape (2, 3)"),
        ("sample observed mask dtype", lambda: fv.sample(key, 2, observed=(jnp.zeros((2, 3)), jnp.zeros(3))), TypeError, "FVSBN.sample: argument 'observed mask' must be a boolean array"),
        ("sample observed mask shape", lambda: fv.sample(key, 2, observed=(jnp.zeros((2, 3)), jnp.zeros(4, bool))), ValueError, "FVSBN.sample: argument 'observed mask' must have shape (2, 3)"),
        ("constructor d", lambda: FVSBN(0), ValueError, "FVSBN: argument 'd' must be a positive int"),
        ("mask d", lambda: strictly_lower_mask(-1), ValueError, "strictly_lower_mask: argument 'd'"),
        ("log_prob_from_logits shapes", lambda: log_prob_from_logits(x, jnp.zeros((2, 4))), ValueError, "log_prob_from_logits: argument 'logits' must have shape (2, 3)"),
        ("log_prob_from_logits x", lambda: log_prob_from_logits(jnp.zeros(3), jnp.zeros(3)), ValueError, "log_prob_from_logits: argument 'x' must have shape (batch, D)"),
        ("independent_logits", lambda: independent_logits(jnp.zeros(3), jnp.zeros((2, 4))), ValueError, "independent_logits: argument 'x' must have shape (batch, 3)"),
        ("independent_logits b", lambda: independent_logits(jnp.zeros((3, 1)), x), ValueError, "independent_logits: argument 'logits' must have shape (D,)"),
        ("markov_chain_logits", lambda: markov_chain_logits(jnp.zeros((3, 3)), x), ValueError, "markov_chain_logits: argument 'logits' must have shape (D, 2)"),
        ("markov_chain_logits x", lambda: markov_chain_logits(jnp.zeros((3, 2)), jnp.zeros((2, 2))), ValueError, "markov_chain_logits: argument 'x' must have shape (batch, 3)"),
        ("fvsbn_logits weight", lambda: fvsbn_logits(jnp.zeros(3), jnp.zeros((3, 2)), x), ValueError, "fvsbn_logits: argument 'weight' must have shape (3, 3)"),
        ("fvsbn_logits int x", lambda: fvsbn_logits(jnp.zeros(3), jnp.zeros((3, 3)), jnp.zeros((2, 3), jnp.int32)), TypeError, "fvsbn_logits: argument 'x' must be a floating-point array"),
        ("sample_autoregressive fn", lambda: sample_autoregressive(key, "f", 2, 3), TypeError, "sample_autoregressive: argument 'conditionals' must be a callable"),
        ("sample_autoregressive d", lambda: sample_autoregressive(key, fv.conditionals, 2, 0), ValueError, "sample_autoregressive: argument 'd' must be a positive int"),
        ("sample_autoregressive order", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, order=jnp.array([0, 0, 1])), ValueError, "sample_autoregressive: argument 'order' must be a permutation"),
        ("sample_autoregressive order dtype", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, order=jnp.zeros(3)), TypeError, "sample_autoregressive: argument 'order' must be an integer array"),
        ("sample_autoregressive observed", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, observed=(ok_obs[0][:1], ok_obs[1])), ValueError, "sample_autoregressive: argument 'observed values' must have shape (2, 3)"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
