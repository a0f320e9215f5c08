"""MADE: masks from degrees, the autoregressive property in every ordering, normalisation of
each ordering and of the probability-averaged ensemble, sampling, order-agnostic training.

Oracles: brute-force enumeration of all 2**D binary vectors (total mass one), ``jax.jacfwd``
(which inputs each conditional really reads), the mask product (which inputs it may read,
the nflows-style test), a float64 NumPy masked MLP, ``scipy.stats.chisquare`` (samples
against exp(log_prob)) and ``scipy.special.logsumexp`` (the ensemble).
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
from dgm_lib.enumeration import all_binary_vectors, log_sum_over_binary
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
    model = MADE(jax.random.key(seed), d, hidden, num_masks=num_masks, **kw)
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


@pytest.mark.parametrize("d", [2, 5, 9])
def test_made_probabilities_sum_to_one_in_every_ordering_and_for_the_ensemble(d) -> None:
    model = made(d, num_masks=3, seed=d, scale=1.5)
    for m in range(3):
        assert abs(float(log_sum_over_binary(lambda x, m=m: model.log_prob(x, m), d))) < 1e-5
    assert abs(float(log_sum_over_binary(model.ensemble_log_prob, d))) < 1e-5


def test_the_orderings_differ_and_mask_zero_is_the_natural_order() -> None:
    model = made(8, num_masks=4, seed=7)
    orders = [tuple(np.asarray(model.order(m))) for m in range(4)]
    assert orders[0] == tuple(range(8)) and len(set(orders)) == 4
    fixed = made(8, num_masks=3, seed=7, order_agnostic=False)
    assert {tuple(np.asarray(fixed.order(m))) for m in range(3)} == {tuple(range(8))}
    # connectivity-agnostic: same ordering, different hidden degrees, different masks
    assert not np.array_equal(fixed.masks(1)[0], fixed.masks(2)[0])


def test_made_conditionals_are_autoregressive_in_the_models_ordering() -> None:
    d = 6
    model = made(d, hidden=(30, 30), num_masks=3, seed=8)
    # Real-valued points spread wide, so that every ReLU unit is on at some of them.
    points = 4.0 * jax.random.normal(jax.random.key(9), (256, d))
    for m in range(3):
        order = np.asarray(model.order(m))

        def f(v, m=m):
            return model.conditionals(v[None], m)[0]

        jacs = np.asarray(jax.vmap(jax.jacfwd(f))(points))
        assert not np.any(autoregressive_violations(np.abs(jacs).max(0), order))
        j = in_order(np.abs(jacs).max(0), order)
        assert np.all(np.triu(j) == 0.0)
        # The Jacobian reads exactly the paths the masks allow (union over the points, since
        # a ReLU can be off at one point), so the check could fail.
        allowed = in_order(mask_connectivity(model.masks(m)), order) > 0
        np.testing.assert_array_equal(j > 0, allowed)
        assert allowed[np.tril_indices(d, k=-1)].mean() > 0.8


@pytest.mark.parametrize("mask_index", [0, 2])
def test_made_samples_follow_the_density_of_their_ordering(mask_index) -> None:
    d = 5
    model = made(d, hidden=(10,), num_masks=3, seed=10)
    samples = np.asarray(model.sample(jax.random.key(11), 20_000, mask_index=mask_index))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    log_p = model.log_prob(all_binary_vectors(d), mask_index)
    assert chi_square_p_value(samples, log_p) > 1e-3
    # ...and not the density of another ordering, so the test can fail.
    other = model.log_prob(all_binary_vectors(d), 1)
    assert chi_square_p_value(samples, other) < 1e-6


def test_made_sample_is_one_scan_over_dimensions_for_any_mask() -> None:
    model = made(6, num_masks=3, seed=19)
    jaxpr = str(jax.make_jaxpr(lambda k: model.sample(k, 4, mask_index=2))(jax.random.key(0)))
    assert "scan" in jaxpr and "length=6" in jaxpr


def test_made_observed_values_are_kept_exactly() -> None:
    d, n = 8, 50
    model = made(d, num_masks=2, seed=12, scale=2.0)
    k1, k2, k3 = jax.random.split(jax.random.key(13), 3)
    values = jax.random.bernoulli(k1, 0.5, (n, d)).astype(jnp.float32)
    mask = np.asarray(jax.random.bernoulli(k2, 0.5, (d,)))
    x = np.asarray(model.sample(k3, n, observed=(values, mask), mask_index=1))
    np.testing.assert_array_equal(x[:, mask], np.asarray(values)[:, mask])
    assert set(np.unique(x)) <= {0.0, 1.0}


def test_ensemble_averages_probabilities_and_averaging_logits_is_not_normalised() -> None:
    d, num_masks = 6, 4
    model = made(d, num_masks=num_masks, seed=15, scale=1.5)
    x = all_binary_vectors(d)
    per = np.stack([np.asarray(model.log_prob(x, m), np.float64) for m in range(num_masks)])
    ensemble = np.asarray(model.ensemble_log_prob(x), np.float64)
    np.testing.assert_allclose(ensemble, sp.logsumexp(per, axis=0) - np.log(num_masks), atol=1e-5)
    assert np.all(ensemble >= per.mean(0) - 1e-5)  # Jensen: log-mean-exp >= mean of logs
    assert abs(sp.logsumexp(ensemble)) < 1e-5
    mean_logits = jnp.mean(jnp.stack([model.conditionals(x, m) for m in range(num_masks)]), 0)
    logit_average = np.asarray(log_prob_from_logits(x, mean_logits), np.float64)
    # Total mass exp(0.0144) = 1.0145 at this seed, against a float32 error near 1e-6: not a
    # distribution, so its "NLL" is not comparable with a likelihood.
    assert abs(sp.logsumexp(logit_average)) > 1e-2


def test_made_fit_with_random_orderings_compiles_once_and_uses_every_mask() -> None:
    d, num_masks = 6, 4
    teacher = made(d, num_masks=1, seed=15, scale=2.0)
    data = np.asarray(teacher.sample(jax.random.key(16), 512))
    model = MADE(jax.random.key(17), d, (16,), num_masks=num_masks)
    keys = [jax.random.key(s) for s in range(40)]
    losses = {round(float(made_loss(model, data, k)), 5) for k in keys}
    assert len(losses) == num_masks  # the key picks the ordering: all four occur
    before = float(-model.ensemble_log_prob(data).mean())
    result = train.fit(model, made_loss, data, key=jax.random.key(18), steps=200, batch_size=64,
                       optimizer=optax.adam(1e-2), steps_per_dispatch=100, progress=False)
    assert result.traces == 1
    assert float(-model.ensemble_log_prob(data).mean()) < before - 0.3


def test_paper_configurations_are_the_published_ones() -> None:
    assert MNIST_HIDDEN_SIZES == (500,)
    assert (MNIST_BEST_HIDDEN_SIZES, MNIST_BEST_NUM_MASKS) == ((8000, 8000), 32)
    assert MNIST_BEST_LEARNING_RATE == 0.01
    model = MADE(jax.random.key(0), 20, MNIST_HIDDEN_SIZES)
    sizes = [leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]
    assert sum(sizes) == 20 * 500 + 500 + 500 * 20 + 20


def _bad_calls():
    model = MADE(jax.random.key(0), 3, (4,), num_masks=2)
    key = jax.random.key(0)
    order = jnp.arange(3)
    return [
        ("MADE d", lambda: MADE(key, 1, (4,)), ValueError, "MADE: argument 'd' must be at least 2"),
        ("MADE key", lambda: MADE(5, 3, (4,)), TypeError, "MADE: argument 'key'"),
        ("MADE hidden int", lambda: MADE(key, 3, 4), TypeError, "MADE: argument 'hidden_sizes' must be a sequence"),
        ("MADE hidden zero", lambda: MADE(key, 3, (4, 0)), ValueError, "MADE: argument 'hidden_sizes' must be a positive int"),
        ("MADE num_masks", lambda: MADE(key, 3, (4,), num_masks=0), ValueError, "MADE: argument 'num_masks'"),
        ("log_prob x", lambda: model.log_prob(jnp.zeros((2, 4))), ValueError, "MADE.log_prob: argument 'x' must have shape (batch, 3)"),
        ("log_prob dtype", lambda: model.log_prob(jnp.zeros((2, 3), jnp.int32)), TypeError, "MADE.log_prob: argument 'x' must be a floating-point array"),
        ("log_prob mask_index", lambda: model.log_prob(jnp.zeros((2, 3)), 2), ValueError, "MADE.log_prob: argument 'mask_index' must lie in [0, 2)"),
        ("log_prob mask_index float", lambda: model.log_prob(jnp.zeros((2, 3)), jnp.float32(1)), TypeError, "MADE.log_prob: argument 'mask_index' must be an integer array"),
        ("conditionals x", lambda: model.conditionals(jnp.zeros(3)), ValueError, "MADE.conditionals: argument 'x' must have shape (batch, 3)"),
        ("ensemble x", lambda: model.ensemble_log_prob(jnp.zeros((2, 2))), ValueError, "MADE.ensemble_log_prob: argument 'x' must have shape (batch, 3)"),
        ("sample mask_index", lambda: model.sample(key, 2, mask_index=-1), ValueError, "MADE.sample: argument 'mask_index' must lie in [0, 2)"),
        ("sample key", lambda: model.sample(0, 2), TypeError, "MADE.sample: argument 'key'"),
        ("sample observed", lambda: model.sample(key, 2, observed=(jnp.zeros((2, 3)), jnp.zeros(2, bool))), ValueError, "MADE.sample: argument 'observed mask' must have shape (2, 3)"),
        ("masks mask_index", lambda: model.masks(5), ValueError, "MADE.masks: argument 'mask_index' must lie in [0, 2)"),
        ("order mask_index", lambda: model.order(True), TypeError, "MADE.order: argument 'mask_index' must be an int"),
        ("made_loss key", lambda: made_loss(model, jnp.zeros((2, 3)), 0), TypeError, "made_loss: argument 'key'"),
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
