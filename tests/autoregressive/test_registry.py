"""The contract of every autoregressive model of binary vectors in dgm_lib.autoregressive.

ONE registry of small models (``REGISTRY``, D <= 10) drives the generic tests: adding a model
there adds it to the normalisation, Jacobian, recurrence, sampler and bad-argument tests.
Every MADE ordering is an entry of its own (:class:`Ordering`), beside the ensemble that a
MADE's ``log_prob`` defines. Parameters are moved away from their initialisation first (many
start at zero), so a test cannot pass because a model ignores its input.

Oracles: brute-force enumeration of all 2**D binary vectors (the total mass must be one);
``jax.jacrev`` (which inputs each conditional really reads; reverse mode, as NADE writes its
gradient out and has no forward mode) against what the model claims it
reads (the mask product of a MADE, the reach of a PixelCNN's kernels); the one-pass
``conditionals`` against the sampler's recurrence run along the same vector; the generic
canvas sampler (a full pass per variable) drawing with the same keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming
from support.binary_oracles import log_prob, perturbed

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
    pixelcnn_mask,
    scan_sample,
    teacher_forced_logits,
)
from dgm_lib.enumeration import log_sum_over_binary
from dgm_lib.masks import mask_connectivity


class Ordering(nnx.Module):
    """One ordering of a MADE as a model of its own: the contract with ``mask_index`` fixed
    (``log_prob`` is that ordering's ``ordering_log_prob``)."""

    def __init__(self, made: MADE, mask_index: int) -> None:
        self.made, self.mask_index, self.d = made, mask_index, made.d

    def log_prob(self, x):
        return self.made.ordering_log_prob(x, self.mask_index)

    def conditionals(self, x):
        return self.made.conditionals(x, mask_index=self.mask_index)

    def recurrence(self, canvas):
        return self.made.recurrence(canvas, mask_index=self.mask_index)

    def order(self):
        return self.made.order(self.mask_index)

    def sample(self, key, n, observed=None):
        return self.made.sample(key, n, observed, mask_index=self.mask_index)


# ------------------------------------------------------------------ what each model reads


def earlier(model) -> np.ndarray:
    """``(D, D)`` bool: ``[i, j]`` true when x_j comes before x_i in the model's ordering."""
    rank = np.empty(model.d, int)
    rank[np.asarray(order_of(model))] = np.arange(model.d)
    return rank[None, :] < rank[:, None]


def previous(model) -> np.ndarray:
    return np.eye(model.d, k=-1, dtype=bool)


def nothing(model) -> np.ndarray:
    return np.zeros((model.d, model.d), bool)


def made_paths(model) -> np.ndarray:
    """The paths the masks of the ordering leave, output i <- input j."""
    made, m = (model.made, model.mask_index) if isinstance(model, Ordering) else (model, 0)
    return np.asarray(mask_connectivity(made.masks(m))) > 0


def pixelcnn_reach(model: PixelCNN) -> np.ndarray:
    """Pixels joined to each output through the masked kernels (type A first, then type B):
    the Minkowski sum of the taps each layer keeps, clipped to the image."""
    h, w = model.image_shape

    def taps(k: int, kind: str) -> set[tuple[int, int]]:
        return {(int(r) - k // 2, int(c) - k // 2) for r, c in np.argwhere(pixelcnn_mask(k, kind))}

    field = taps(model.first_kernel_size, "A")
    for _ in range(model.num_layers):
        field = {(a + c, b + d) for a, b in field for c, d in taps(model.kernel_size, "B")}
    reach = np.zeros((h * w, h * w), bool)
    for r in range(h):
        for c in range(w):
            for dr, dc in field:
                if 0 <= r + dr < h and 0 <= c + dc < w:
                    reach[r * w + c, (r + dr) * w + c + dc] = True
    return reach


def order_of(model) -> np.ndarray:
    return np.asarray(model.order()) if hasattr(model, "order") else np.arange(model.d)


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class Entry:
    """A small model: ``make(rngs)``; ``reads(model)``, the (D, D) inputs its conditionals
    claim to read (the autodiff Jacobian must be non-zero exactly there, over many inputs);
    ``min_dependence``, for a model without ReLUs, the least |Jacobian| on those entries at
    one input (``None`` for ReLU networks, whose dependence can switch off at an input);
    ``scale``, the standard deviation of the noise added to every parameter."""

    make: Callable[[nnx.Rngs], nnx.Module]
    reads: Callable[[nnx.Module], np.ndarray]
    min_dependence: float | None
    scale: float = 1.5


def _made(d, hidden, num_masks, mask_index=None, **kw) -> Callable[[nnx.Rngs], nnx.Module]:
    def make(rngs: nnx.Rngs) -> nnx.Module:
        made = MADE(d, hidden, num_masks=num_masks, rngs=rngs, **kw)
        return made if mask_index is None else Ordering(made, mask_index)

    return make


PIXELCNN_SMALL = {"channels": 6, "num_layers": 2, "first_kernel_size": 3}
REGISTRY: dict[str, Entry] = {
    "independent D=10": Entry(lambda r: IndependentBernoulli(10), nothing, None),
    "independent D=1": Entry(lambda r: IndependentBernoulli(1), nothing, None),
    "Markov chain D=10": Entry(lambda r: MarkovChainBernoulli(10), previous, 1e-3),
    "Markov chain D=1": Entry(lambda r: MarkovChainBernoulli(1), previous, 1e-3),
    "FVSBN D=10": Entry(lambda r: FVSBN(10), earlier, 1e-3),
    "FVSBN D=1": Entry(lambda r: FVSBN(1), earlier, 1e-3),
    "NADE D=10": Entry(lambda r: NADE(10, 6, rngs=r), earlier, 1e-4, scale=1.0),
    "NADE D=1": Entry(lambda r: NADE(1, 3, rngs=r), earlier, 1e-4, scale=1.0),
    **{
        f"MADE (16, 16), ordering {m}": Entry(_made(9, (16, 16), 3, m), made_paths, None)
        for m in range(3)
    },
    "MADE (16, 16), ensemble of 3": Entry(_made(9, (16, 16), 3), made_paths, None),
    "MADE no hidden layer, ordering 1": Entry(_made(7, (), 2, 1), made_paths, None),
    "MADE (5, 3), ordering 1": Entry(_made(6, (5, 3), 2, 1), made_paths, None),
    "MADE deterministic degrees, ordering 1": Entry(
        _made(5, (8,), 2, 1, random_degrees=False), made_paths, None
    ),
    "MADE D=2, ensemble of 2": Entry(_made(2, (4,), 2), made_paths, None),
    "MADE D=2, ordering 1": Entry(_made(2, (4,), 2, 1), made_paths, None),
    "PixelCNN 3x3": Entry(
        lambda r: PixelCNN((3, 3), **PIXELCNN_SMALL, rngs=r), pixelcnn_reach, None, scale=0.5
    ),
    # the 7x7 first kernel reaches past every edge of the image; wider than tall
    "PixelCNN 2x5, 7x7 first kernel": Entry(
        lambda r: PixelCNN((2, 5), channels=4, num_layers=2, rngs=r), pixelcnn_reach, None,
        scale=0.5,
    ),
    "PixelCNN 3x2, no residual layer": Entry(
        lambda r: PixelCNN((3, 2), channels=4, num_layers=0, first_kernel_size=3, rngs=r),
        pixelcnn_reach, None, scale=0.5,
    ),
    "GRU D=8": Entry(lambda r: GRUAutoregressive(8, 8, rngs=r), earlier, 1e-6, scale=0.5),
    "GRU D=1": Entry(lambda r: GRUAutoregressive(1, 8, rngs=r), earlier, 1e-6, scale=0.5),
    "transformer D=8": Entry(
        lambda r: CausalTransformer(8, width=8, num_layers=2, num_heads=2, rngs=r), earlier,
        1e-6, scale=0.5,
    ),
    "transformer D=1": Entry(
        lambda r: CausalTransformer(1, width=8, num_layers=2, num_heads=2, rngs=r), earlier,
        1e-6, scale=0.5,
    ),
}


@pytest.fixture(scope="module", params=list(REGISTRY), ids=list(REGISTRY))
def entry(request) -> tuple[Entry, nnx.Module]:
    """The registry's model with every parameter moved by N(0, scale^2) noise."""
    spec = REGISTRY[request.param]
    seed = list(REGISTRY).index(request.param)
    return spec, perturbed(spec.make(nnx.Rngs(seed)), seed=seed + 100, scale=spec.scale)


# ------------------------------------------------------------------ the generic tests


def test_log_probs_of_all_binary_vectors_sum_to_one(entry) -> None:
    _, model = entry
    assert abs(float(log_sum_over_binary(lambda x: log_prob(model, x), model.d))) < 1e-5


@partial(jax.jit, static_argnums=0)
def _jacobians(graphdef, state, points):
    model = nnx.merge(graphdef, state, copy=True)
    return jax.vmap(jax.jacrev(lambda v: model.conditionals(v[None])[0]))(points)


def test_conditionals_are_autoregressive_in_the_models_ordering(entry) -> None:
    """At every input the Jacobian of the logits is zero on and above the diagonal in the
    model's ordering; over many inputs it is non-zero exactly where the model claims to read
    (so the check can fail), and for a model without ReLUs it is at one input too."""
    spec, model = entry
    d = model.d
    k1, k2 = jax.random.split(jax.random.key(2))
    near = jax.random.uniform(k1, (8, d), minval=0.1, maxval=0.9)  # non-binary is fine
    wide = 4.0 * jax.random.normal(k2, (248, d))  # spread wide: every ReLU unit on somewhere
    jac = np.asarray(_jacobians(*nnx.split(model), jnp.concatenate([near, wide])))
    assert jac.shape == (256, d, d)
    allowed = earlier(model)
    assert np.all(jac[:, ~allowed] == 0.0)  # exactly zero, at every input
    claims = spec.reads(model)
    assert not np.any(claims & ~allowed)  # the claim itself is autoregressive
    assert claims.any() or d == 1 or spec.reads is nothing
    np.testing.assert_array_equal(np.any(jac != 0.0, axis=0), claims)
    if spec.min_dependence is not None:
        assert np.all(np.abs(jac[0][claims]) > spec.min_dependence)


def test_the_recurrence_reads_the_one_pass_conditionals(entry) -> None:
    """Write the data's values one by one, in the model's order: every read of the sampler's
    recurrence equals the logit of the parallel pass on the whole vector."""
    _, model = entry
    x = jax.random.bernoulli(jax.random.key(4), 0.4, (5, model.d)).astype(jnp.float32)
    read = teacher_forced_logits(model.recurrence(jnp.zeros_like(x)), x, order_of(model))
    np.testing.assert_allclose(np.asarray(read), np.asarray(model.conditionals(x)), atol=2e-5)


def test_the_sampler_keeps_observed_values_and_draws_what_the_canvas_sampler_draws(
    entry,
) -> None:
    """The same keys, so the same uniforms: the model's own recurrence and a full pass per
    variable draw the same vectors; observed entries are kept exactly (a mask per sample or
    one for all); ``sample`` is one scan over the dimensions."""
    _, model = entry
    if isinstance(model, MADE) and model.num_masks > 1:
        pytest.skip("an ensemble samples a mixture of orderings and refuses observed values: "
                    "test_made.py checks both (chi-square against log_prob, the error)")
    n, d = 200, model.d
    k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
    values = jax.random.bernoulli(k1, 0.5, (n, d)).astype(jnp.float32)
    mask = jax.random.bernoulli(k2, 0.3, (n, d))
    own = np.asarray(model.sample(k3, n, (values, mask)))
    canvas = jnp.where(mask, values, 0.0)
    full = canvas_recurrence(model.conditionals, canvas)
    generic = np.asarray(scan_sample(k3, full, values, mask, order_of(model)))
    assert set(np.unique(own)) <= {0.0, 1.0}
    np.testing.assert_array_equal(own[np.asarray(mask)], np.asarray(values)[np.asarray(mask)])
    assert np.mean(own == generic) > 0.999  # a logit may round across the threshold
    shared = np.asarray(mask[0])  # one mask of shape (D,) for every sample
    kept = np.asarray(model.sample(k3, n, (values, mask[0])))
    np.testing.assert_array_equal(kept[:, shared], np.asarray(values)[:, shared])
    jaxpr = str(jax.make_jaxpr(lambda k: model.sample(k, 4))(jax.random.key(0)))
    assert "scan" in jaxpr and f"length={d}" in jaxpr


def _where(model, method: str) -> str:
    """The name an error message starts with."""
    if isinstance(model, Ordering):
        return "MADE.ordering_log_prob" if method == "log_prob" else f"MADE.{method}"
    return f"{type(model).__name__}.{method}"


def _generic_bad_calls(model):
    d, key = model.d, jax.random.key(0)
    x = jnp.zeros((2, d))
    ok_mask = jnp.zeros(d, bool)
    lp, cond, rec, smp = (_where(model, m) for m in ("log_prob", "conditionals", "recurrence", "sample"))
    return {
        "log_prob wrong D": (lambda: model.log_prob(jnp.zeros((2, d + 1))), ValueError, f"{lp}: argument 'x' must have shape (batch, {d})"),
        "log_prob 1-D": (lambda: model.log_prob(jnp.zeros(d)), ValueError, f"{lp}: argument 'x' must have shape (batch, {d})"),
        "log_prob int": (lambda: model.log_prob(jnp.zeros((2, d), jnp.int32)), TypeError, f"{lp}: argument 'x' must be a floating-point array"),
        "conditionals wrong D": (lambda: model.conditionals(jnp.zeros((2, d + 2))), ValueError, f"{cond}: argument 'x' must have shape (batch, {d})"),
        "conditionals bool": (lambda: model.conditionals(jnp.zeros((2, d), bool)), TypeError, f"{cond}: argument 'x' must be a floating-point array"),
        "recurrence canvas": (lambda: model.recurrence(jnp.zeros((2, d, 1))), ValueError, f"{rec}: argument 'canvas' must have shape (batch, {d})"),
        "sample key int": (lambda: model.sample(0, 2), TypeError, f"{smp}: argument 'key'"),
        "sample key batch": (lambda: model.sample(jax.random.split(key, 2), 2), TypeError, f"{smp}: argument 'key' must be a single random key"),
        "sample n zero": (lambda: model.sample(key, 0), ValueError, f"{smp}: argument 'n' must be a positive int"),
        "sample n float": (lambda: model.sample(key, 2.0), ValueError, f"{smp}: argument 'n' must be a positive int"),
        "observed not a pair": (lambda: model.sample(key, 2, observed=x), TypeError, f"{smp}: argument 'observed' must be None or a pair"),
        "observed values shape": (lambda: model.sample(key, 2, observed=(jnp.zeros((3, d)), ok_mask)), ValueError, f"{smp}: argument 'observed values' must have shape (2, {d})"),
        "observed mask dtype": (lambda: model.sample(key, 2, observed=(x, jnp.zeros(d))), TypeError, f"{smp}: argument 'observed mask' must be a boolean array"),
        "observed mask shape": (lambda: model.sample(key, 2, observed=(x, jnp.zeros(d + 1, bool))), ValueError, f"{smp}: argument 'observed mask' must have shape (2, {d})"),
    }


GENERIC_BAD_CALLS = list(_generic_bad_calls(FVSBN(1)))


@pytest.mark.parametrize("case", GENERIC_BAD_CALLS)
def test_wrong_arguments_raise_errors_naming_the_method_and_the_argument(entry, case) -> None:
    _, model = entry
    assert_raises_naming(*_generic_bad_calls(model)[case])
