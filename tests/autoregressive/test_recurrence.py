"""Every autoregressive model's sampler recurrence against its one-pass conditionals.

``sample`` scans ``model.recurrence``: read the logit of one variable, write its value. A
model may carry far less than the canvas (a GRU its state, NADE and MADE the first layer's
pre-activations, PixelCNN a window of the padded image), so its arithmetic must be checked.
Oracles: ``conditionals(x)`` (one parallel pass) against the recurrence run along the same
``x`` (``teacher_forced_logits``); the generic canvas sampler drawing with the same keys.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.binary_oracles import perturbed

from dgm_lib.autoregressive import (
    FVSBN,
    MADE,
    NADE,
    CausalTransformer,
    GRUAutoregressive,
    IndependentBernoulli,
    MarkovChainBernoulli,
    PixelCNN,
    canvas_recurrence,
    sample_autoregressive,
    scan_sample,
    teacher_forced_logits,
)

PIXELCNN_SMALL = {"channels": 4, "n_layers": 2}
MODELS = {
    "independent": lambda: IndependentBernoulli(12),
    "markov": lambda: MarkovChainBernoulli(12),
    "FVSBN": lambda: FVSBN(12),
    "NADE": lambda: NADE(jax.random.key(0), 12, 5),
    "MADE no hidden layer": lambda: MADE(jax.random.key(0), 12, (), num_masks=2),
    "MADE one hidden layer": lambda: MADE(jax.random.key(0), 12, (16,), num_masks=2),
    "MADE two hidden layers": lambda: MADE(jax.random.key(0), 12, (16, 9), num_masks=2),
    "GRU": lambda: GRUAutoregressive(jax.random.key(0), 12, hidden=6),
    "transformer": lambda: CausalTransformer(jax.random.key(0), 12, width=8, n_heads=2),
    # image smaller than the window (7x7 kernel, reach 5), wider than tall, and 28x28
    "PixelCNN 3x4": lambda: PixelCNN(jax.random.key(0), (3, 4), **PIXELCNN_SMALL),
    "PixelCNN 4x3, 3x3 first kernel": lambda: PixelCNN(
        jax.random.key(0), (4, 3), first_kernel_size=3, **PIXELCNN_SMALL
    ),
    "PixelCNN 28x28": lambda: PixelCNN(jax.random.key(0), (28, 28), channels=8),
    "PixelCNN 6x5, no residual layer": lambda: PixelCNN(jax.random.key(0), (6, 5), n_layers=0),
}


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def model(request):
    return perturbed(MODELS[request.param](), seed=3)


def orders(model) -> list[int]:
    """The mask indices to check: every ordering of a MADE, the one of any other model."""
    return list(range(model.num_masks)) if isinstance(model, MADE) else [0]


def recurrence_and_order(model, canvas, mask_index):
    if isinstance(model, MADE):
        return model.recurrence(canvas, mask_index), model.order(mask_index)
    return model.recurrence(canvas), jnp.arange(model.d, dtype=jnp.int32)


def conditionals(model, x, mask_index):
    return model.conditionals(x, mask_index) if isinstance(model, MADE) else model.conditionals(x)


def test_the_recurrence_reads_the_one_pass_conditionals(model) -> None:
    """Write the data's values one by one, in the model's order: every read equals the
    logit of the parallel pass on the whole vector."""
    x = jax.random.bernoulli(jax.random.key(4), 0.4, (5, model.d)).astype(jnp.float32)
    for m in orders(model):
        recurrence, order = recurrence_and_order(model, jnp.zeros_like(x), m)
        read = np.asarray(teacher_forced_logits(recurrence, x, order))
        np.testing.assert_allclose(read, np.asarray(conditionals(model, x, m)), atol=2e-5)


def test_the_sampler_draws_what_the_canvas_sampler_draws(model) -> None:
    """The same keys, so the same uniforms: the model's own recurrence and a full pass per
    variable draw the same vectors, observed entries included."""
    n = 200
    k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
    values = jax.random.bernoulli(k1, 0.5, (n, model.d)).astype(jnp.float32)
    mask = jax.random.bernoulli(k2, 0.3, (n, model.d))
    canvas = jnp.where(mask, values, 0.0)
    for m in orders(model):
        own = model.sample(k3, n, (values, mask), m) if isinstance(model, MADE) else model.sample(
            k3, n, (values, mask)
        )
        _, order = recurrence_and_order(model, canvas, m)
        full = canvas_recurrence(lambda x, m=m: conditionals(model, x, m), canvas)
        generic = scan_sample(k3, full, values, mask, order)
        assert np.mean(np.asarray(own) == np.asarray(generic)) > 0.999  # a logit may round across


def test_the_pixelcnn_window_is_the_reach_of_its_masks() -> None:
    """A 7x7 type-A kernel reaches 3 rows up, each 3x3 type-B layer one more: 3 + 4 = 7, the
    rows above a pixel (and columns either side) whose inputs change its logit."""
    model = perturbed(PixelCNN(jax.random.key(0), (12, 20), channels=4), seed=6)
    assert model.reach() == 7
    x = jnp.full((1, 12 * 20), 0.5, jnp.float32)
    grad = jax.grad(lambda x: model.conditionals(x)[0, 11 * 20 + 10])(x).reshape(12, 20)
    rows, cols = np.nonzero(np.asarray(grad))
    assert rows.min() == 11 - 7 and cols.min() == 10 - 7 and cols.max() == 10 + 7


def test_sample_autoregressive_still_takes_any_conditionals_function() -> None:
    fv = perturbed(FVSBN(5), seed=7)
    x = sample_autoregressive(jax.random.key(8), fv.conditionals, 3, 5)
    assert x.shape == (3, 5) and set(np.unique(np.asarray(x))) <= {0.0, 1.0}


def test_teacher_forced_logits_rejects_bad_arguments() -> None:
    fv = FVSBN(3)
    x = jnp.zeros((2, 3))
    with pytest.raises(TypeError, match="teacher_forced_logits: argument 'recurrence' must be a Recurrence"):
        teacher_forced_logits(fv.conditionals, x)
    with pytest.raises(ValueError, match="teacher_forced_logits: argument 'order' must be a permutation"):
        teacher_forced_logits(fv.recurrence(x), x, jnp.array([0, 0, 1]))
    with pytest.raises(ValueError, match="teacher_forced_logits: argument 'x' must have"):
        teacher_forced_logits(fv.recurrence(x), jnp.zeros(3))
