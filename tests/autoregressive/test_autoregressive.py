"""Fully visible autoregressive models and the shared machinery: definitions, sampling in any
order, inpainting, training, the pure functions and the one sampler.

The contract every model shares (normalisation, the autoregressive Jacobian, the recurrence,
the sampler, bad arguments of the methods) is tested once, for all models, in
``test_contract.py``. Oracles here: the conditionals written out one dimension at a time in
float64 NumPy, ``scipy.stats.chisquare`` (sample frequencies against exp(log_prob)), and
closed-form maximum-likelihood counts (what ``train.fit`` must reach for the independent and
Markov models).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value, perturbed

from dgm_lib import train
from dgm_lib.autoregressive import (
    FVSBN,
    IndependentBernoulli,
    MarkovChainBernoulli,
    canvas_recurrence,
    fvsbn_logits,
    independent_logits,
    log_prob_from_logits,
    markov_chain_logits,
    sample_autoregressive,
    scan_sample,
    teacher_forced_logits,
)
from dgm_lib.enumeration import all_binary_vectors
from dgm_lib.masks import strictly_lower_mask
from dgm_lib.probability import sample_bernoulli
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


def test_sample_autoregressive_is_one_scan_and_takes_any_conditionals_function() -> None:
    fv = perturbed(FVSBN(5), seed=7)
    x = sample_autoregressive(jax.random.key(8), fv.conditionals, 3, 5)
    assert x.shape == (3, 5) and set(np.unique(np.asarray(x))) <= {0.0, 1.0}
    pure = str(
        jax.make_jaxpr(lambda k: sample_autoregressive(k, fv.conditionals, 4, 5))(
            jax.random.key(0)
        )
    )
    assert "scan" in pure and "length=5" in pure


def test_scan_sample_takes_the_draw_as_an_argument() -> None:
    """A draw that ignores the conditional is what the sampler writes; observed entries are
    still kept, and the draw sees what ``read`` returns."""
    fv = perturbed(FVSBN(4), seed=9)
    values = jnp.ones((3, 4))
    mask = jnp.array([False, True, False, False])
    canvas = jnp.where(mask, values, 0.0)
    seen = []

    def draw(key, logits):
        seen.append(logits.shape)
        return jnp.full(logits.shape, 0.5)

    x = np.asarray(scan_sample(jax.random.key(0), fv.recurrence(canvas), values,
                               jnp.broadcast_to(mask, (3, 4)), draw=draw))
    np.testing.assert_array_equal(x, np.where(np.asarray(mask), 1.0, 0.5)[None].repeat(3, 0))
    assert set(seen) == {(3,)}  # traced inside the scan, on one logit per sample

def test_the_default_draw_makes_the_numbers_of_a_draw_per_step_from_its_key() -> None:
    """The Bernoulli draw's noise is made for every step at once before the scan; it must be
    the noise step t's own ``sample_bernoulli(keys[t], logits)`` would make (observed entries
    kept in both), so the sampler's documented key use holds."""
    fv = perturbed(FVSBN(12), seed=10)
    values = jnp.asarray(np.random.default_rng(1).integers(0, 2, (64, 12)), jnp.float32)
    mask = jnp.zeros((64, 12), bool).at[:, :3].set(True)
    canvas = jnp.where(mask, values, 0.0)
    order = jnp.asarray(np.random.default_rng(2).permutation(12))
    at_once = scan_sample(jax.random.key(4), fv.recurrence(canvas), values, mask, order)
    per_step = scan_sample(jax.random.key(4), fv.recurrence(canvas), values, mask, order,
                           draw=lambda key, logits: sample_bernoulli(key, logits))
    np.testing.assert_array_equal(np.asarray(at_once), np.asarray(per_step))
    assert 0.2 < float(at_once[:, 3:].mean()) < 0.8  # draws, not a constant


def test_fit_reaches_the_closed_form_maximum_likelihood() -> None:
    """Independent: p(x_i = 1) is the frequency. Markov: p(x_i = 1 | x_{i-1} = v) is the
    frequency among the examples with x_{i-1} = v. Both are convex, so Adam gets there."""
    d, n = 4, 2_000
    data = np.asarray(randomised(FVSBN, d, seed=14).sample(jax.random.key(15), n))
    opt = optax.adam(optax.cosine_decay_schedule(0.1, 1_500))
    ind, mc = IndependentBernoulli(d), MarkovChainBernoulli(d)  # fit trains them in place
    for model in (ind, mc):
        train.fit(model, nll_loss, data, key=jax.random.key(0), steps=1_500, batch_size=n,
                  optimizer=opt, progress=False)
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
    fv = FVSBN(3)
    key = jax.random.key(0)
    x = jnp.zeros((2, 3))
    ok_obs = (jnp.zeros((2, 3)), jnp.zeros(3, bool))
    rec = fv.recurrence(x)
    mask = jnp.zeros((2, 3), bool)
    return [
        ("constructor d", lambda: FVSBN(0), ValueError, "FVSBN: argument 'd' must be a positive int"),
        ("independent d", lambda: IndependentBernoulli(2.0), ValueError, "IndependentBernoulli: argument 'd' must be a positive int"),
        ("markov d", lambda: MarkovChainBernoulli(True), ValueError, "MarkovChainBernoulli: argument 'd' must be a positive int"),
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
        ("sample_autoregressive key", lambda: sample_autoregressive(1, fv.conditionals, 2, 3), TypeError, "sample_autoregressive: argument 'key'"),
        ("sample_autoregressive d", lambda: sample_autoregressive(key, fv.conditionals, 2, 0), ValueError, "sample_autoregressive: argument 'd' must be a positive int"),
        ("sample_autoregressive order", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, order=jnp.array([0, 0, 1])), ValueError, "sample_autoregressive: argument 'order' must be a permutation"),
        ("sample_autoregressive order dtype", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, order=jnp.zeros(3)), TypeError, "sample_autoregressive: argument 'order' must be an integer array"),
        ("sample_autoregressive observed", lambda: sample_autoregressive(key, fv.conditionals, 2, 3, observed=(ok_obs[0][:1], ok_obs[1])), ValueError, "sample_autoregressive: argument 'observed values' must have shape (2, 3)"),
        ("scan_sample key", lambda: scan_sample(0, rec, x, mask), TypeError, "scan_sample: argument 'key'"),
        ("scan_sample recurrence", lambda: scan_sample(key, fv.conditionals, x, mask), TypeError, "scan_sample: argument 'recurrence' must be a Recurrence"),
        ("scan_sample values", lambda: scan_sample(key, rec, jnp.zeros(3), mask), ValueError, "scan_sample: argument 'values' must have shape (n, D)"),
        ("scan_sample mask", lambda: scan_sample(key, rec, x, jnp.zeros(3, bool)), ValueError, "scan_sample: argument 'mask' must have shape (2, 3)"),
        ("scan_sample mask dtype", lambda: scan_sample(key, rec, x, jnp.zeros((2, 3))), TypeError, "scan_sample: argument 'mask' must be a boolean array"),
        ("scan_sample order", lambda: scan_sample(key, rec, x, mask, jnp.array([2, 2, 0])), ValueError, "scan_sample: argument 'order' must be a permutation"),
        ("scan_sample draw", lambda: scan_sample(key, rec, x, mask, draw="bernoulli"), TypeError, "scan_sample: argument 'draw' must be a callable"),
        ("canvas_recurrence fn", lambda: canvas_recurrence(None, x), TypeError, "canvas_recurrence: argument 'conditionals' must be a callable"),
        ("canvas_recurrence canvas", lambda: canvas_recurrence(fv.conditionals, jnp.zeros(3)), ValueError, "canvas_recurrence: argument 'canvas' must have shape (n, D)"),
        ("teacher_forced recurrence", lambda: teacher_forced_logits(fv.conditionals, x), TypeError, "teacher_forced_logits: argument 'recurrence' must be a Recurrence"),
        ("teacher_forced order", lambda: teacher_forced_logits(rec, x, jnp.array([0, 0, 1])), ValueError, "teacher_forced_logits: argument 'order' must be a permutation"),
        ("teacher_forced x", lambda: teacher_forced_logits(rec, jnp.zeros(3)), ValueError, "teacher_forced_logits: argument 'x' must have"),
        ("Recurrence is a tuple", lambda: teacher_forced_logits((rec.state, rec.read, rec.write), x), TypeError, "argument 'recurrence' must be a Recurrence"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)

