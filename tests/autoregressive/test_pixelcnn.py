"""PixelCNN: masks, the broken type-B first layer, the blind spot, the sampler's window,
sampling, training.

Normalisation, the autoregressive Jacobian against the reach of the masks, the recurrence, the
sampler and the methods' bad arguments are tested for every model (small images) in
``test_contract.py``. Oracles here: the mask rules written out offset by offset; a float64
NumPy loop for the masked convolution; brute-force enumeration of all binary images;
``jax.jacfwd``; the set of offsets a stack of masks can reach, grown by Minkowski sums in
plain Python; the one-pass conditionals against the window recurrence on larger images;
``scipy.stats.chisquare`` (sample frequencies against exp(log_prob)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value, jacobian, log_prob, perturbed

from dgm_lib import train
from dgm_lib.autoregressive import (
    PixelCNN,
    PixelCNNParams,
    masked_conv2d,
    pixelcnn_logits,
    pixelcnn_mask,
    receptive_field,
    teacher_forced_logits,
)
from dgm_lib.enumeration import all_binary_vectors, log_sum_over_binary
from dgm_lib.train import nll_loss

SMALL = {"channels": 6, "num_layers": 2, "first_kernel_size": 3}


def small_pixelcnn(shape=(3, 3), seed: int = 0, **kwargs) -> PixelCNN:
    model = PixelCNN(shape, **{**SMALL, **kwargs}, rngs=nnx.Rngs(seed))
    return perturbed(model, seed=seed + 1)


def jacobian_at_random_input(model, seed: int = 2) -> np.ndarray:
    return jacobian(model, jax.random.uniform(jax.random.key(seed), (model.d,), minval=0.1, maxval=0.9))


N = 20_000  # samples per sampling test: one compiled sampler per model structure


def violations(jac: np.ndarray) -> int:
    """How many entries on or above the diagonal (raster order) are non-zero."""
    return int(np.count_nonzero(jac[np.triu_indices(jac.shape[0])]))


# ----------------------------------------------------------------------------- masks, convolution


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_mask_keeps_exactly_the_offsets_before_the_centre_in_raster_order(k, mask_type) -> None:
    m = k // 2
    want = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            dr, dc = i - m, j - m
            earlier = dr < 0 or (dr == 0 and dc < 0)
            want[i, j] = earlier or (mask_type == "B" and dr == 0 and dc == 0)
    np.testing.assert_array_equal(pixelcnn_mask(k, mask_type), want)


def test_masked_conv2d_equals_the_masked_sum_written_out() -> None:
    k, c_in, c_out, h, w = 3, 2, 3, 4, 5
    keys = jax.random.split(jax.random.key(3), 3)
    x = np.asarray(jax.random.normal(keys[0], (2, h, w, c_in)), np.float64)
    kern = np.asarray(jax.random.normal(keys[1], (k, k, c_in, c_out)), np.float64)
    bias = np.asarray(jax.random.normal(keys[2], (c_out,)), np.float64)
    for mask_type in ("A", "B"):
        want = np.broadcast_to(bias, (2, h, w, c_out)).copy()
        for r in range(h):
            for c in range(w):
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        allowed = dr < 0 or (dr == 0 and dc < 0) or (mask_type == "B" and dr == dc == 0)
                        if allowed and 0 <= r + dr < h and 0 <= c + dc < w:
                            want[:, r, c] += x[:, r + dr, c + dc] @ kern[dr + 1, dc + 1]
        got = masked_conv2d(x.astype(np.float32), kern.astype(np.float32), bias.astype(np.float32), mask_type)
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_a_valid_masked_conv2d_is_the_same_one_where_no_padding_is_read(k, mask_type) -> None:
    """'valid' keeps the outputs whose masked inputs all lie in x: the 'same' output with
    m = k // 2 rows cut at the top and m columns on each side, and nothing cut at the bottom."""
    m = k // 2
    keys = jax.random.split(jax.random.key(30), 3)
    x = jax.random.normal(keys[0], (2, 6, 7, 2))
    kern, bias = jax.random.normal(keys[1], (k, k, 2, 3)), jax.random.normal(keys[2], (3,))
    valid = masked_conv2d(x, kern, bias, mask_type, padding="valid")
    same = masked_conv2d(x, kern, bias, mask_type)
    assert valid.shape == (2, 6 - m, 7 - 2 * m, 3)
    np.testing.assert_allclose(valid, same[:, m:, m : 7 - m], atol=1e-5)


# ----------------------------------------------------------------------------- a distribution


def test_pixelcnn_log_prob_is_the_sum_of_bernoulli_log_masses_of_pixelcnn_logits() -> None:
    model = small_pixelcnn((3, 3), seed=5)
    x = np.asarray(all_binary_vectors(9))[::7]
    logits = np.asarray(pixelcnn_logits(model.params(), x.reshape(-1, 3, 3)), np.float64).reshape(-1, 9)
    p = 1.0 / (1.0 + np.exp(-logits))
    want = np.sum(np.log(np.where(x == 1, p, 1.0 - p)), axis=1)
    np.testing.assert_allclose(log_prob(model, x), want, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- causality


def test_a_type_b_first_layer_makes_the_jacobian_check_report_a_violation() -> None:
    broken = small_pixelcnn((3, 3), seed=6, first_mask="B")
    jac = jacobian_at_random_input(broken)
    assert violations(jac) > 0
    assert np.all(np.abs(np.diag(jac)) > 1e-6)  # each logit sees its own pixel
    # ... and it is no longer a distribution: it puts mass where it "predicts" its input.
    assert abs(float(log_sum_over_binary(lambda x: log_prob(broken, x), 9))) > 1e-2


def reachable_offsets(first: int, kernel: int, num_layers: int) -> set[tuple[int, int]]:
    """Offsets (dr, dc) of the inputs a stack of masked kernels connects to an output:
    Minkowski sums of the allowed offsets of each layer, type A first, then type B."""

    def allowed(k: int, with_centre: bool) -> set[tuple[int, int]]:
        m = k // 2
        return {
            (dr, dc)
            for dr in range(-m, m + 1)
            for dc in range(-m, m + 1)
            if dr < 0 or (dr == 0 and dc < 0) or (with_centre and dr == dc == 0)
        }

    field = allowed(first, False)
    for _ in range(num_layers):
        field = {(a + c, b + d) for a, b in field for c, d in allowed(kernel, True)}
    return field


def test_receptive_field_of_a_two_layer_pixelcnn_has_the_blind_spot() -> None:
    """3x3 type A then 3x3 type B: pixel (4, 3) of a 7x7 image sees the two rows above within
    two columns and the two pixels to its left, EXCEPT (3, 5), up and two to the right:
    earlier in raster order, yet no path of masks reaches it."""
    model = small_pixelcnn((7, 7), seed=7, num_layers=1)
    field = np.asarray(receptive_field(model, (7, 7), (4, 3))) > 0
    want = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 1, 1, 0],
            [0, 1, 1, 1, 1, 0, 0],
            [0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        bool,
    )
    np.testing.assert_array_equal(field, want)
    assert 3 * 7 + 5 < 4 * 7 + 3  # the blind-spot pixel (3, 5) is earlier in raster order


def test_receptive_field_is_exactly_what_the_masks_allow() -> None:
    h = w = 13
    pixel = (9, 6)
    model = small_pixelcnn((h, w), seed=8, first_kernel_size=5, num_layers=3)
    field = np.asarray(receptive_field(model, (h, w), pixel)) > 0
    want = np.zeros((h, w), bool)
    for dr, dc in reachable_offsets(5, 3, 3):
        r, c = pixel[0] + dr, pixel[1] + dc
        if 0 <= r < h and 0 <= c < w:
            want[r, c] = True
    np.testing.assert_array_equal(field, want)
    earlier = (np.arange(h * w) < pixel[0] * w + pixel[1]).reshape(h, w)
    assert not np.any(field & ~earlier)  # never a later pixel
    assert np.any(earlier[pixel[0] - 1] & ~field[pixel[0] - 1])  # the blind spot up-right


def test_receptive_field_equals_the_row_of_the_jacobian() -> None:
    model = small_pixelcnn((3, 4), seed=9)
    x = jax.random.uniform(jax.random.key(10), (3, 4))
    jac = jacobian(model, x.reshape(12)).reshape(12, 3, 4)
    field = np.asarray(receptive_field(model, (3, 4), (2, 1), x))
    np.testing.assert_allclose(field, np.abs(jac[2 * 4 + 1]), rtol=1e-5)
    np.testing.assert_array_equal(field == 0, jac[2 * 4 + 1] == 0)


# ----------------------------------------------------------------------------- sampling


def test_pixelcnn_samples_follow_the_density() -> None:
    model = small_pixelcnn((2, 3), seed=11)
    samples = np.asarray(model.sample(jax.random.key(12), N))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert chi_square_p_value(samples, log_prob(model, all_binary_vectors(6))) > 1e-3


def test_inpainting_the_bottom_row_samples_the_exact_conditional() -> None:
    n, top = N, np.array([1.0, 0.0, 1.0])
    model = small_pixelcnn((2, 3), seed=13)
    values = jnp.broadcast_to(jnp.concatenate([top, jnp.zeros(3)]), (n, 6))
    mask = jnp.arange(6) < 3
    x = np.asarray(model.sample(jax.random.key(14), n, observed=(values, mask)))
    np.testing.assert_array_equal(x[:, :3], np.broadcast_to(top, (n, 3)))
    rest = np.asarray(all_binary_vectors(3))
    full = np.concatenate([np.broadcast_to(top, (8, 3)), rest], axis=1)
    assert chi_square_p_value(x[:, 3:], log_prob(model, full)) > 1e-3


# image larger than the window (7x7 kernel, reach 7), taller than wide, and no residual layer
LARGER = {
    "28x28": lambda: PixelCNN((28, 28), channels=8, rngs=nnx.Rngs(0)),
    "4x3, 3x3 first kernel": lambda: PixelCNN(
        (4, 3), channels=4, num_layers=2, first_kernel_size=3, rngs=nnx.Rngs(0)
    ),
    "6x5, no residual layer": lambda: PixelCNN((6, 5), num_layers=0, rngs=nnx.Rngs(0)),
}


@pytest.mark.parametrize("name", list(LARGER))
def test_the_window_recurrence_reads_the_one_pass_conditionals_on_larger_images(name) -> None:
    """The contract test covers images of at most 10 pixels; the window of the sampler's
    recurrence is cut at every edge of a larger image too."""
    model = perturbed(LARGER[name](), seed=3)
    x = jax.random.bernoulli(jax.random.key(4), 0.4, (5, model.d)).astype(jnp.float32)
    read = np.asarray(teacher_forced_logits(model.recurrence(jnp.zeros_like(x)), x))
    full = np.asarray(model.conditionals(x))
    # Two summation orders in float32: they agree to a few ulps of the largest logit (about 260
    # here, whose ulp is 1.5e-5); a window cut wrongly misses whole terms, of the logits' size.
    np.testing.assert_allclose(read, full, atol=2e-6 * float(np.abs(full).max()))


def test_the_window_is_the_reach_of_the_masks() -> None:
    """A 7x7 type-A kernel reaches 3 rows up, each 3x3 type-B layer one more: 3 + 4 = 7, the
    rows above a pixel (and columns either side) whose inputs change its logit."""
    model = perturbed(PixelCNN((12, 20), channels=4, rngs=nnx.Rngs(0)), seed=6)
    assert model.reach() == 7
    x = jnp.full((1, 12 * 20), 0.5, jnp.float32)
    grad = jax.grad(lambda x: model.conditionals(x)[0, 11 * 20 + 10])(x).reshape(12, 20)
    rows, cols = np.nonzero(np.asarray(grad))
    assert rows.min() == 11 - 7 and cols.min() == 10 - 7 and cols.max() == 10 + 7


# ----------------------------------------------------------------------------- training


def test_training_with_fit_compiles_once_and_lowers_the_nll() -> None:
    data = np.asarray(jax.random.bernoulli(jax.random.key(18), 0.3, (64, 16)), np.float32)
    data[:, :4] = 1.0  # a learnable structure: the first row is always on
    model = PixelCNN((4, 4), channels=8, num_layers=1, first_kernel_size=3, rngs=nnx.Rngs(19))
    before = -float(jnp.mean(log_prob(model, data)))
    result = train.fit(model, nll_loss, data, key=jax.random.key(20), steps=40, batch_size=16,
                       optimizer=optax.adam(1e-2), steps_per_dispatch=20, progress=False)
    assert result.traces <= 1
    assert np.all(np.isfinite(result.losses))
    assert -float(jnp.mean(log_prob(model, data))) < before - 1.0


# ----------------------------------------------------------------------------- errors


def _bad_calls():
    rngs = nnx.Rngs(0)
    model = PixelCNN((2, 3), **SMALL, rngs=rngs)
    kern = jnp.zeros((3, 3, 2, 4))
    params = model.params()
    return [
        ("mask even", lambda: pixelcnn_mask(4, "A"), ValueError, "pixelcnn_mask: argument 'kernel_size' must be odd"),
        ("mask zero", lambda: pixelcnn_mask(0, "A"), ValueError, "pixelcnn_mask: argument 'kernel_size' must be a positive int"),
        ("mask type", lambda: pixelcnn_mask(3, "C"), ValueError, "pixelcnn_mask: argument 'mask_type' must be 'A' or 'B'"),
        ("conv x channels", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 3)), kern, jnp.zeros(4), "A"), ValueError, "masked_conv2d: argument 'x' must have shape (batch, H, W, 2)"),
        ("conv x int", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2), jnp.int32), kern, jnp.zeros(4), "A"), TypeError, "masked_conv2d: argument 'x' must be a floating-point array"),
        ("conv kernel even", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((2, 2, 2, 4)), jnp.zeros(4), "A"), ValueError, "masked_conv2d: argument 'kernel' must be square with an odd size"),
        ("conv kernel rank", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2)), jnp.zeros(4), "A"), ValueError, "masked_conv2d: argument 'kernel' must have shape (k, k, C_in, C_out)"),
        ("conv bias", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2)), kern, jnp.zeros(3), "A"), ValueError, "masked_conv2d: argument 'bias' must have shape (4,)"),
        ("conv padding", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2)), kern, jnp.zeros(4), "A", "full"), ValueError, "masked_conv2d: argument 'padding' must be 'same' or 'valid'"),
        ("conv valid too small", lambda: masked_conv2d(jnp.zeros((1, 4, 2, 2)), kern, jnp.zeros(4), "A", "valid"), ValueError, "masked_conv2d: a 'valid' 3x3 convolution needs at least 2 rows and 3 columns"),
        ("conv mask type", lambda: masked_conv2d(jnp.zeros((1, 4, 4, 2)), kern, jnp.zeros(4), "a"), ValueError, "masked_conv2d: argument 'mask_type' must be 'A' or 'B'"),
        ("logits images", lambda: pixelcnn_logits(params, jnp.zeros((2, 6))), ValueError, "pixelcnn_logits: argument 'images' must have shape (batch, H, W)"),
        ("logits first_mask", lambda: pixelcnn_logits(params, jnp.zeros((2, 2, 3)), "C"), ValueError, "pixelcnn_logits: argument 'first_mask' must be 'A' or 'B'"),
        ("logits params", lambda: pixelcnn_logits(PixelCNNParams(*params[:6], jnp.zeros(5), params[7]), jnp.zeros((2, 2, 3))), ValueError, "pixelcnn_logits: argument 'out_kernel' must have shape (6,)"),
        ("logits hidden_kernel", lambda: pixelcnn_logits(params._replace(hidden_kernel=jnp.zeros((6, 5))), jnp.zeros((2, 2, 3))), ValueError, "pixelcnn_logits: argument 'hidden_kernel' must have shape (6, 6)"),
        ("logits res_kernels", lambda: pixelcnn_logits(params._replace(res_kernels=jnp.zeros((2, 3, 3, 6, 5))), jnp.zeros((2, 2, 3))), ValueError, "pixelcnn_logits: argument 'res_kernels' must have shape (L, k, k, 6, 6)"),
        ("logits even first kernel", lambda: pixelcnn_logits(params._replace(first_kernel=jnp.zeros((2, 2, 1, 6))), jnp.zeros((2, 2, 3))), ValueError, "pixelcnn_logits: argument 'first_kernel' must have an odd kernel size"),
        ("logits not params", lambda: pixelcnn_logits(tuple(params), jnp.zeros((2, 2, 3))), TypeError, "pixelcnn_logits: argument 'params' must be a PixelCNNParams"),
        ("log_prob images", lambda: model.log_prob(jnp.zeros((2, 2, 3))), ValueError, "PixelCNN.log_prob: argument 'x' must have shape (batch, 6)"),
        ("ctor rngs", lambda: PixelCNN((2, 3), rngs=jax.random.key(0)), TypeError, "PixelCNN: argument 'rngs' must be an nnx.Rngs"),
        ("ctor no rngs", lambda: PixelCNN((2, 3)), TypeError, "rngs"),
        ("ctor shape", lambda: PixelCNN(6, rngs=rngs), ValueError, "PixelCNN: argument 'image_shape' must be a pair (H, W)"),
        ("ctor H", lambda: PixelCNN((0, 3), rngs=rngs), ValueError, "PixelCNN: argument 'image_shape[0]' must be a positive int"),
        ("ctor channels", lambda: PixelCNN((2, 3), channels=0, rngs=rngs), ValueError, "PixelCNN: argument 'channels' must be a positive int"),
        ("ctor kernel", lambda: PixelCNN((2, 3), kernel_size=2, rngs=rngs), ValueError, "PixelCNN: argument 'kernel_size' must be odd"),
        ("ctor first kernel", lambda: PixelCNN((2, 3), first_kernel_size=4, rngs=rngs), ValueError, "PixelCNN: argument 'first_kernel_size' must be odd"),
        ("ctor layers", lambda: PixelCNN((2, 3), num_layers=-1, rngs=rngs), ValueError, "PixelCNN: argument 'num_layers' must be an int >= 0"),
        ("ctor first mask", lambda: PixelCNN((2, 3), first_mask="C", rngs=rngs), ValueError, "PixelCNN: argument 'first_mask' must be 'A' or 'B'"),
        ("field shape", lambda: receptive_field(model, (3, 3), (0, 0)), ValueError, "receptive_field: argument 'model' must be an AutoregressiveBernoulli over 3*3 = 9 pixels"),
        ("field pixel", lambda: receptive_field(model, (2, 3), (2, 0)), ValueError, "receptive_field: argument 'pixel' must be a pair (row, col)"),
        ("field x", lambda: receptive_field(model, (2, 3), (1, 0), jnp.zeros(6)), ValueError, "receptive_field: argument 'x' must have shape (2, 3)"),
        ("field image_shape", lambda: receptive_field(model, 6, (1, 0)), ValueError, "receptive_field: argument 'image_shape' must be a pair (H, W)"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
