"""MADE: masks from degrees, the orderings, the probability-averaged ensemble (its
``log_prob``), sampling, order-agnostic training.

Normalisation of every ordering and of the ensemble, the autoregressive Jacobian of every
ordering against its mask product, the recurrence, the sampler and the methods' bad arguments
are tested for every model in ``test_contract.py``. Oracles here: the mask product (which
inputs an output may read, the nflows-style test), brute-force enumeration of all 2**D binary
vectors, a float64 NumPy masked MLP, ``scipy.stats.chisquare`` (samples against
exp(log_prob)) and ``scipy.special.logsumexp`` (the ensemble).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special as sp
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value

from dgm_lib import train
from dgm_lib.autoregressive import (
    MADE,
    MNIST_BEST_HIDDEN_SIZES,
    MNIST_BEST_LEARNING_RATE,
    MNIST_BEST_NUM_MASKS,
    MNIST_HIDDEN_SIZES,
    log_prob_from_logits,
    made_loss,
)
from dgm_lib.enumeration import all_binary_vectors
from dgm_lib.masks import (
    autoregressive_violations,
    input_degrees,
    made_degrees,
    made_masks,
    mask_connectivity,
    masked_mlp,
    masks_from_degrees,
)


def made(d: int, hidden=(8, 8), num_masks: int = 3, seed: int = 0, scale: float = 1.0, **kw):
    """A MADE whose weights and biases are all N(0, scale^2) draws: none zero."""
    model = MADE(d, hidden, num_masks=num_masks, rngs=nnx.Rngs(seed), **kw)
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    rng = np.random.default_rng(seed + 100)  # host draws: no device compile per shape
    new = [jnp.asarray(scale * rng.standard_normal(leaf.shape), jnp.float32) for leaf in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def in_order(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rows and columns permuted so that index t is the t-th variable of the ordering."""
    return np.asarray(a)[np.ix_(order, order)]


# ------------------------------------------------------------------ degrees and masks


def test_input_degrees_are_one_plus_the_rank_in_the_ordering() -> None:
    order = np.array([3, 0, 4, 1, 2])
    np.testing.assert_array_equal(input_degrees(order), [2, 4, 5, 1, 3])


def test_hidden_degrees_lie_between_the_previous_minimum_and_d_minus_1() -> None:
    d = 8
    order = np.asarray(jax.random.permutation(jax.random.key(0), d))
    first = np.asarray(made_degrees(jax.random.key(1), order, (300,))[1])
    assert set(first) == set(range(1, d))  # 300 draws cover 1..D-1, never 0 or D
    # A narrow first layer raises the floor of the next: degrees (6, 5) at this seed.
    narrow, wide = (np.asarray(m) for m in made_degrees(jax.random.key(0), order, (2, 300))[1:])
    assert narrow.min() == 5
    assert set(wide) == set(range(5, d))
    fixed = made_degrees(None, order, (9,))[1]
    np.testing.assert_array_equal(fixed, [1, 2, 3, 4, 5, 6, 7, 1, 2])


@pytest.mark.parametrize("hidden", [(), (5,), (9, 4), (3, 8, 6)], ids=str)
@pytest.mark.parametrize("random_degrees", [True, False], ids=["random", "deterministic"])
def test_mask_product_is_strictly_triangular_in_the_ordering(hidden, random_degrees) -> None:
    d = 7
    order = np.asarray(jax.random.permutation(jax.random.key(2), d))
    key = jax.random.key(3) if random_degrees else None
    masks = made_masks(key, order, hidden)
    assert [m.shape for m in masks] == list(zip((d, *hidden), (*hidden, d), strict=True))
    c = in_order(mask_connectivity(masks), order)
    assert np.all(np.triu(c) == 0)  # nothing on or above the diagonal, in the ordering
    assert not np.any(autoregressive_violations(mask_connectivity(masks), order))
    if not random_degrees and all(h >= d - 1 for h in hidden):
        assert np.all(np.tril(c, k=-1)[np.tril_indices(d, k=-1)] > 0)  # all allowed paths


def test_a_broken_output_mask_is_reported_as_a_violation() -> None:
    """With >= instead of > in the output layer, output i sees x_i itself: the checker must
    say so, and the model stops being normalised."""
    d, hidden = 5, (6,)
    order = np.array([2, 4, 0, 1, 3])
    degrees = made_degrees(jax.random.key(4), order, hidden)
    good = masks_from_degrees(degrees)
    broken = [*good[:-1], (degrees[0][None, :] >= degrees[-1][:, None]).astype(jnp.float32)]
    assert not np.any(autoregressive_violations(mask_connectivity(good), order))
    bad = np.asarray(autoregressive_violations(mask_connectivity(broken), order))
    assert bad.any() and np.all(bad == np.diag(np.diag(bad)))  # the diagonal: x_i -> out_i
    model = made(d, hidden, num_masks=1, seed=5)
    weights = [w[...] for w in model.weights]
    biases = [b[...] for b in model.biases]
    x = all_binary_vectors(d)
    good_total = sp.logsumexp(log_prob_from_logits(x, masked_mlp(weights, biases, good, x)))
    bad_total = sp.logsumexp(log_prob_from_logits(x, masked_mlp(weights, biases, broken, x)))
    assert abs(good_total) < 1e-5 and abs(bad_total) > 1e-2


def test_masked_mlp_equals_a_float64_numpy_forward_pass() -> None:
    d, hidden = 5, (6, 4)
    model = made(d, hidden, num_masks=1, seed=6)
    masks = [np.asarray(m, np.float64) for m in model.masks(0)]
    weights = [np.asarray(w[...], np.float64) for w in model.weights]
    biases = [np.asarray(b[...], np.float64) for b in model.biases]
    x = np.asarray(all_binary_vectors(d))
    h = x
    for i, (w, b, m) in enumerate(zip(weights, biases, masks, strict=True)):
        h = h @ (w * m) + b
        h = np.maximum(h, 0.0) if i < len(weights) - 1 else h
    np.testing.assert_allclose(model.conditionals(x), h, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ the model


def test_log_prob_is_the_ensemble_and_with_one_mask_the_one_ordering() -> None:
    x = all_binary_vectors(5)
    one = made(5, hidden=(7,), num_masks=1, seed=20)
    np.testing.assert_array_equal(one.log_prob(x), one.ordering_log_prob(x, 0))
    three = made(5, hidden=(7,), num_masks=3, seed=20)
    per = np.stack([np.asarray(three.ordering_log_prob(x, m), np.float64) for m in range(3)])
    want = sp.logsumexp(per, axis=0) - np.log(3)
    np.testing.assert_allclose(three.log_prob(x), want, atol=1e-5)
    assert np.max(np.abs(np.asarray(three.log_prob(x)) - per[0])) > 1e-2  # not mask 0 alone


def test_the_orderings_differ_and_mask_zero_is_the_natural_order() -> None:
    model = made(8, num_masks=4, seed=7)
    orders = [tuple(np.asarray(model.order(m))) for m in range(4)]
    assert orders[0] == tuple(range(8)) and len(set(orders)) == 4
    fixed = made(8, num_masks=3, seed=7, order_agnostic=False)
    assert {tuple(np.asarray(fixed.order(m))) for m in range(3)} == {tuple(range(8))}
    # connectivity-agnostic: same ordering, different hidden degrees, different masks
    assert not np.array_equal(fixed.masks(1)[0], fixed.masks(2)[0])


def test_a_wide_made_connects_most_earlier_inputs_in_every_ordering() -> None:
    """The contract test checks that the Jacobian reads exactly the paths of the masks; here,
    that a wide MADE's masks leave most earlier inputs connected (the check could fail)."""
    model = made(6, hidden=(30, 30), num_masks=3, seed=8)
    for m in range(3):
        order = np.asarray(model.order(m))
        allowed = in_order(mask_connectivity(model.masks(m)), order) > 0
        assert not np.any(np.triu(allowed))
        assert allowed[np.tril_indices(6, k=-1)].mean() > 0.8


@pytest.mark.parametrize("mask_index", [0, 2])
def test_made_samples_follow_the_density_of_their_ordering(mask_index) -> None:
    d = 5
    model = made(d, hidden=(10,), num_masks=3, seed=10)
    samples = np.asarray(model.sample(jax.random.key(11), 20_000, mask_index=mask_index))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    log_p = model.ordering_log_prob(all_binary_vectors(d), mask_index)
    assert chi_square_p_value(samples, log_p) > 1e-3
    # ...and not the density of another ordering, so the test can fail.
    other = model.ordering_log_prob(all_binary_vectors(d), 1)
    assert chi_square_p_value(samples, other) < 1e-6


def test_made_samples_by_default_follow_the_ensemble_density_log_prob_defines() -> None:
    d = 5
    model = made(d, hidden=(10,), num_masks=3, seed=10)
    samples = np.asarray(model.sample(jax.random.key(12), 20_000))
    assert chi_square_p_value(samples, model.log_prob(all_binary_vectors(d))) > 1e-3
    # ...and not the density of one of its orderings, so the test can fail.
    one = model.ordering_log_prob(all_binary_vectors(d), 0)
    assert chi_square_p_value(samples, one) < 1e-6


def test_ensemble_sampling_with_observed_values_asks_for_one_ordering() -> None:
    model = made(4, hidden=(8,), num_masks=2, seed=1)
    observed = (jnp.zeros((3, 4)), jnp.array([True, False, False, False]))
    with pytest.raises(ValueError, match="needs one of them: pass mask_index"):
        model.sample(jax.random.key(0), 3, observed=observed)
    kept = model.sample(jax.random.key(0), 3, observed=observed, mask_index=0)
    np.testing.assert_array_equal(kept[:, 0], 0.0)


def test_ensemble_averages_probabilities_and_averaging_logits_is_not_normalised() -> None:
    d, num_masks = 6, 4
    model = made(d, num_masks=num_masks, seed=18, scale=1.5)
    x = all_binary_vectors(d)
    per = np.stack([np.asarray(model.ordering_log_prob(x, m), np.float64) for m in range(num_masks)])
    ensemble = np.asarray(model.log_prob(x), np.float64)
    np.testing.assert_allclose(ensemble, sp.logsumexp(per, axis=0) - np.log(num_masks), atol=1e-5)
    assert np.all(ensemble >= per.mean(0) - 1e-5)  # Jensen: log-mean-exp >= mean of logs
    assert abs(sp.logsumexp(ensemble)) < 1e-5
    mean_logits = jnp.mean(jnp.stack([model.conditionals(x, mask_index=m) for m in range(num_masks)]), 0)
    logit_average = np.asarray(log_prob_from_logits(x, mean_logits), np.float64)
    # Total mass exp(0.0410) = 1.0418 at this seed, against a float32 error near 1e-6: not a
    # distribution, so its "NLL" is not comparable with a likelihood.
    assert abs(sp.logsumexp(logit_average)) > 1e-2


def test_made_fit_with_random_orderings_compiles_once_and_uses_every_mask() -> None:
    d, num_masks = 6, 4
    teacher = made(d, num_masks=1, seed=15, scale=2.0)
    data = np.asarray(teacher.sample(jax.random.key(16), 512))
    model = MADE(d, (16,), num_masks=num_masks, rngs=nnx.Rngs(17))
    keys = [jax.random.key(s) for s in range(40)]
    losses = {round(float(made_loss(model, data, k)), 5) for k in keys}
    assert len(losses) == num_masks  # the key picks the ordering: all four occur
    per_ordering = {round(-float(model.ordering_log_prob(data, m).mean()), 5) for m in range(4)}
    assert losses == per_ordering  # each loss is one ordering's mean NLL
    before = float(-model.log_prob(data).mean())
    result = train.fit(model, made_loss, data, key=jax.random.key(18), steps=200, batch_size=64,
                       optimizer=optax.adam(1e-2), steps_per_dispatch=100, progress=False)
    assert result.traces <= 1
    assert float(-model.log_prob(data).mean()) < before - 0.3


def test_paper_configurations_are_the_published_ones() -> None:
    assert MNIST_HIDDEN_SIZES == (500,)
    assert (MNIST_BEST_HIDDEN_SIZES, MNIST_BEST_NUM_MASKS) == ((8000, 8000), 32)
    assert MNIST_BEST_LEARNING_RATE == 0.01
    model = MADE(20, MNIST_HIDDEN_SIZES, rngs=nnx.Rngs(0))
    sizes = [leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]
    assert sum(sizes) == 20 * 500 + 500 + 500 * 20 + 20


def _bad_calls():
    rngs = nnx.Rngs(0)
    model = MADE(3, (4,), num_masks=2, rngs=rngs)
    key = jax.random.key(0)
    x = jnp.zeros((2, 3))
    order = jnp.arange(3)
    return [
        ("MADE d", lambda: MADE(1, (4,), rngs=rngs), ValueError, "MADE: argument 'd' must be at least 2"),
        ("MADE rngs", lambda: MADE(3, (4,), rngs=key), TypeError, "MADE: argument 'rngs' must be an nnx.Rngs"),
        ("MADE no rngs", lambda: MADE(3, (4,)), TypeError, "rngs"),
        ("MADE hidden int", lambda: MADE(3, 4, rngs=rngs), TypeError, "MADE: argument 'hidden_sizes' must be a sequence"),
        ("MADE hidden zero", lambda: MADE(3, (4, 0), rngs=rngs), ValueError, "MADE: argument 'hidden_sizes' must be a positive int"),
        ("MADE num_masks", lambda: MADE(3, (4,), num_masks=0, rngs=rngs), ValueError, "MADE: argument 'num_masks'"),
        ("MADE order_agnostic", lambda: MADE(3, (4,), order_agnostic="yes", rngs=rngs), TypeError, "MADE: argument 'order_agnostic' must be True or False"),
        ("MADE random_degrees", lambda: MADE(3, (4,), random_degrees=1, rngs=rngs), TypeError, "MADE: argument 'random_degrees' must be True or False"),
        ("log_prob x", lambda: model.log_prob(jnp.zeros((2, 4))), ValueError, "MADE.log_prob: argument 'x' must have shape (batch, 3)"),
        ("log_prob dtype", lambda: model.log_prob(jnp.zeros((2, 3), jnp.int32)), TypeError, "MADE.log_prob: argument 'x' must be a floating-point array"),
        ("log_prob no mask_index", lambda: model.log_prob(x, 1), TypeError, "positional argument"),
        ("ordering x", lambda: model.ordering_log_prob(jnp.zeros((2, 2)), 0), ValueError, "MADE.ordering_log_prob: argument 'x' must have shape (batch, 3)"),
        ("ordering mask_index", lambda: model.ordering_log_prob(x, 2), ValueError, "MADE.ordering_log_prob: argument 'mask_index' must lie in [0, 2)"),
        ("ordering mask_index float", lambda: model.ordering_log_prob(x, jnp.float32(1)), TypeError, "MADE.ordering_log_prob: argument 'mask_index' must be an integer array"),
        ("ordering mask_index shape", lambda: model.ordering_log_prob(x, jnp.zeros(2, jnp.int32)), ValueError, "MADE.ordering_log_prob: argument 'mask_index' must have shape ()"),
        ("conditionals mask_index", lambda: model.conditionals(x, mask_index=3), ValueError, "MADE.conditionals: argument 'mask_index' must lie in [0, 2)"),
        ("conditionals positional mask_index", lambda: model.conditionals(x, 1), TypeError, "positional argument"),
        ("recurrence mask_index", lambda: model.recurrence(x, mask_index=2), ValueError, "MADE.recurrence: argument 'mask_index' must lie in [0, 2)"),
        ("sample mask_index", lambda: model.sample(key, 2, mask_index=-1), ValueError, "MADE.sample: argument 'mask_index' must lie in [0, 2)"),
        ("masks mask_index", lambda: model.masks(5), ValueError, "MADE.masks: argument 'mask_index' must lie in [0, 2)"),
        ("order mask_index", lambda: model.order(True), TypeError, "MADE.order: argument 'mask_index' must be an int"),
        ("made_loss key", lambda: made_loss(model, x, 0), TypeError, "made_loss: argument 'key'"),
        ("made_loss x", lambda: made_loss(model, jnp.zeros((2, 4)), key), ValueError, "made_loss: argument 'x' must have shape (batch, 3)"),
        ("made_loss model", lambda: made_loss(object(), x, key), TypeError, "made_loss: argument 'model' must be a MADE"),
        ("input_degrees perm", lambda: input_degrees(jnp.array([0, 0, 1])), ValueError, "input_degrees: argument 'order' must be a permutation"),
        ("input_degrees dtype", lambda: input_degrees(jnp.zeros(3)), TypeError, "input_degrees: argument 'order' must be an integer array"),
        ("made_degrees order", lambda: made_degrees(None, jnp.zeros((3, 1), jnp.int32), (4,)), ValueError, "made_degrees: argument 'order' must have shape (D,)"),
        ("made_degrees d", lambda: made_degrees(None, jnp.arange(1), (4,)), ValueError, "made_degrees: argument 'd' must be at least 2"),
        ("made_masks hidden", lambda: made_masks(None, order, 4), TypeError, "made_degrees: argument 'hidden_sizes' must be a sequence"),
        ("masks_from_degrees", lambda: masks_from_degrees([jnp.arange(3), jnp.ones((2, 2), jnp.int32)]), ValueError, "masks_from_degrees: argument 'degrees[1]' must have shape (size,)"),
        ("masks_from_degrees float", lambda: masks_from_degrees([jnp.arange(3.0)]), TypeError, "masks_from_degrees: argument 'degrees[0]' must be an integer array"),
        ("connectivity chain", lambda: mask_connectivity([jnp.ones((3, 4)), jnp.ones((5, 3))]), ValueError, "mask_connectivity: argument 'masks[1]' must have shape (4, H)"),
        ("connectivity square", lambda: mask_connectivity([jnp.ones((3, 4)), jnp.ones((4, 2))]), ValueError, "mask_connectivity: argument 'masks[1]' must have shape (H, 3)"),
        ("violations shape", lambda: autoregressive_violations(jnp.ones((3, 2)), order), ValueError, "autoregressive_violations: argument 'dependence' must have shape (D, D)"),
        ("violations order", lambda: autoregressive_violations(jnp.ones((3, 3)), jnp.arange(4)), ValueError, "autoregressive_violations: argument 'order' must have shape (3,)"),
        ("mlp lengths", lambda: masked_mlp([jnp.ones((3, 3))], [], [jnp.ones((3, 3))], jnp.ones((2, 3))), ValueError, "masked_mlp: arguments 'weights', 'biases' and 'masks' must be non-empty lists of the same length"),
        ("mlp weight", lambda: masked_mlp([jnp.ones((2, 3))], [jnp.ones(3)], [jnp.ones((2, 3))], jnp.ones((2, 3))), ValueError, "masked_mlp: argument 'weights[0]' must have shape (3, out)"),
        ("mlp mask", lambda: masked_mlp([jnp.ones((3, 3))], [jnp.ones(3)], [jnp.ones((3, 2))], jnp.ones((2, 3))), ValueError, "masked_mlp: argument 'masks[0]' must have shape (3, 3)"),
        ("mlp x", lambda: masked_mlp([jnp.ones((3, 3))], [jnp.ones(3)], [jnp.ones((3, 3))], jnp.ones(3)), ValueError, "masked_mlp: argument 'x' must have shape (batch, D)"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
