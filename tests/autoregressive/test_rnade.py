"""RNADE: a normalised density on R^D, autoregressive conditionals, exact sampling, training.

Oracles: a midpoint sum over a 2-D grid (the density must integrate to one), ``jax.jacfwd``
(the autoregressive property), the mixture parameters written out one dimension at a time in
float64 NumPy with ``scipy.stats.norm`` densities, ``scipy.stats.kstest`` on the Rosenblatt
transform u_i = F(x_i | x_<i) of the samples (uniform and independent iff the samples follow
the model), the one-pass mixture parameters against the sampler's recurrence run along the
same vector, and Gibbs' inequality (no model's NLL is below the data's entropy).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.special as sp
import scipy.stats as st
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import toy2d, train
from dgm_lib.autoregressive import (
    RNADE,
    log_prob_from_mixtures,
    rnade_mixtures,
    teacher_forced_logits,
)
from dgm_lib.train import nll_loss


def rnade(
    d: int, hidden_size: int = 6, k: int = 3, seed: int = 0, scale: float = 0.5
) -> RNADE:
    """An RNADE whose parameters are all N(0, scale^2) draws, none zero."""
    model = RNADE(d, hidden_size, k, rngs=nnx.Rngs(seed))
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    rng = np.random.default_rng(seed + 100)
    new = [jnp.asarray(scale * rng.standard_normal(leaf.shape), jnp.float32) for leaf in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def conditional_cdf(model: RNADE, x: np.ndarray) -> np.ndarray:
    """The Rosenblatt transform u_i = F(x_i | x_<i), float64, shape (n, D)."""
    logits, means, log_vars = (np.asarray(p, np.float64) for p in model.conditionals(x))
    weights = sp.softmax(logits, axis=-1)
    cdf = st.norm.cdf(x[..., None], means, np.exp(0.5 * log_vars))
    return np.sum(weights * cdf, axis=-1)


def test_rnade_density_integrates_to_one_over_a_grid() -> None:
    model = rnade(2, seed=1)
    step, half = 0.03, 12.0
    ticks = np.arange(-half + step / 2, half, step)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2).astype(np.float32)
    log_p = np.asarray(model.log_prob(grid), np.float64)
    assert abs(np.exp(log_p).sum() * step**2 - 1.0) < 1e-3


def test_rnade_conditionals_are_autoregressive() -> None:
    d = 4
    model = rnade(d, hidden_size=8, seed=2, scale=1.0)
    points = 2.0 * jax.random.normal(jax.random.key(3), (64, d))
    for name, jac in zip(
        ("logits", "means", "log_vars"),
        jax.vmap(jax.jacfwd(lambda v: model.conditionals(v[None])))(points),
        strict=True,
    ):
        dependence = np.abs(np.asarray(jac)).max(axis=(0, 1, 3))  # (D out, D in)
        assert np.all(np.triu(dependence) == 0.0), name
        assert np.all(dependence[np.tril_indices(d, k=-1)] > 1e-4), name  # so it can fail


def test_rnade_log_prob_equals_the_chain_rule_written_out_in_float64() -> None:
    d, h, k = 3, 5, 4
    model = rnade(d, hidden_size=h, k=k, seed=4)
    w, c = np.asarray(model.weight[...], np.float64), np.asarray(model.bias[...], np.float64)
    v = np.asarray(model.out_weight[...], np.float64)
    b = np.asarray(model.out_bias[...], np.float64)
    x = np.random.default_rng(5).normal(size=(7, d))
    want = np.zeros(len(x))
    for n, row in enumerate(x):
        for i in range(d):
            hidden = np.maximum(c + w[:, :i] @ row[:i], 0.0)
            out = b[i] + hidden @ v[i]
            alpha, mu, log_var = out[:k], out[k : 2 * k], out[2 * k :]
            log_w = alpha - sp.logsumexp(alpha)
            want[n] += sp.logsumexp(log_w + st.norm.logpdf(row[i], mu, np.exp(0.5 * log_var)))
    np.testing.assert_allclose(model.log_prob(x.astype(np.float32)), want, rtol=1e-5, atol=1e-5)


def test_rnade_samples_follow_the_density() -> None:
    """Under the model, u_i = F(x_i | x_<i) are iid uniform (the Rosenblatt transform)."""
    model = rnade(2, seed=6, scale=1.0)
    x = np.asarray(model.sample(jax.random.key(7), 5_000), np.float64)
    u = conditional_cdf(model, x)
    assert st.kstest(u[:, 0], "uniform").pvalue > 1e-3
    low = x[:, 0] < np.median(x[:, 0])  # x_2 given small and given large x_1
    assert st.kstest(u[low, 1], "uniform").pvalue > 1e-3
    assert st.kstest(u[~low, 1], "uniform").pvalue > 1e-3
    # The transform of another model's samples is not uniform, so the test can fail.
    other = np.asarray(rnade(2, seed=8, scale=1.0).sample(jax.random.key(7), 5_000), np.float64)
    assert st.kstest(conditional_cdf(model, other)[:, 0], "uniform").pvalue < 1e-6


def test_the_recurrence_reads_the_one_pass_mixture_parameters() -> None:
    """The sampler carries the running pre-activation; read along given data, it returns the
    mixture parameters of the parallel pass, variable by variable."""
    model = rnade(3, hidden_size=8, k=4, seed=16, scale=1.0)
    x = 2.0 * jax.random.normal(jax.random.key(17), (6, 3))
    read = teacher_forced_logits(model.recurrence(jnp.zeros_like(x)), x)
    for name, got, want in zip(("logits", "means", "log_vars"), read, model.conditionals(x),
                               strict=True):
        assert got.shape == (6, 3, 4), name
        np.testing.assert_allclose(got, want, atol=2e-5, err_msg=name)


def test_rnade_sample_is_one_scan_over_dimensions() -> None:
    model = rnade(3, seed=15)
    jaxpr = str(jax.make_jaxpr(lambda k: model.sample(k, 4))(jax.random.key(0)))
    assert "scan" in jaxpr and "length=3" in jaxpr


def test_rnade_observed_values_are_kept_and_condition_the_later_draws() -> None:
    n = 4_000
    model = rnade(2, seed=9, scale=1.0)
    values = jnp.full((n, 2), 1.7)
    mask = jnp.array([True, False])
    x = np.asarray(model.sample(jax.random.key(10), n, observed=(values, mask)), np.float64)
    assert np.all(x[:, 0] == np.float32(1.7))
    assert st.kstest(conditional_cdf(model, x)[:, 1], "uniform").pvalue > 1e-3


def test_rnade_fit_compiles_once_and_its_nll_stays_above_the_entropy() -> None:
    """Gibbs: E_p[-log q] = H(p) + KL(p || q) >= H(p) for any model q."""
    name = "eight_gaussians"
    train_x = toy2d.sample(jax.random.key(11), name, 4_096)
    test_x = toy2d.sample(jax.random.key(12), name, 20_000)
    model = RNADE(2, 32, 8, rngs=nnx.Rngs(13))
    before = -float(model.log_prob(test_x).mean())
    result = train.fit(model, nll_loss, train_x, key=jax.random.key(14), steps=400,
                       batch_size=256, optimizer=optax.adam(1e-2), steps_per_dispatch=200,
                       progress=False)
    assert result.traces <= 1
    log_q = np.asarray(model.log_prob(test_x), np.float64)
    nll, stderr = -log_q.mean(), log_q.std() / np.sqrt(len(log_q))
    assert nll < before - 0.5
    assert nll > toy2d.entropy(name) - 4 * stderr


def _bad_calls():
    rngs = nnx.Rngs(0)
    model = RNADE(2, 3, 4, rngs=rngs)
    key = jax.random.key(0)
    w, c, v, b = jnp.zeros((3, 2)), jnp.zeros(3), jnp.zeros((2, 3, 12)), jnp.zeros((2, 12))
    x = jnp.zeros((5, 2))
    p = jnp.zeros((5, 2, 4))
    return [
        ("RNADE rngs", lambda: RNADE(2, 3, 4, rngs=key), TypeError, "RNADE: argument 'rngs' must be an nnx.Rngs"),
        ("RNADE no rngs", lambda: RNADE(2, 3, 4), TypeError, "rngs"),
        ("RNADE d", lambda: RNADE(0, 3, 4, rngs=rngs), ValueError, "RNADE: argument 'd' must be a positive int"),
        ("RNADE hidden_size", lambda: RNADE(2, 0, 4, rngs=rngs), ValueError, "RNADE: argument 'hidden_size' must be a positive int"),
        ("RNADE components", lambda: RNADE(2, 3, 0, rngs=rngs), ValueError, "RNADE: argument 'num_components'"),
        ("log_prob shape", lambda: model.log_prob(jnp.zeros((5, 3))), ValueError, "RNADE.log_prob: argument 'x' must have shape (batch, 2)"),
        ("log_prob dtype", lambda: model.log_prob(jnp.zeros((5, 2), bool)), TypeError, "RNADE.log_prob: argument 'x' must be a floating-point array"),
        ("conditionals 1-D", lambda: model.conditionals(jnp.zeros(2)), ValueError, "RNADE.conditionals: argument 'x' must have shape (batch, 2)"),
        ("sample key", lambda: model.sample(3, 2), TypeError, "RNADE.sample: argument 'key'"),
        ("sample n", lambda: model.sample(key, -1), ValueError, "RNADE.sample: argument 'n' must be a positive int"),
        ("sample observed", lambda: model.sample(key, 2, observed=(jnp.zeros((3, 2)), jnp.zeros(2, bool))), ValueError, "RNADE.sample: argument 'observed values' must have shape (2, 2)"),
        ("sample observed mask", lambda: model.sample(key, 2, observed=(jnp.zeros((2, 2)), jnp.zeros(2))), TypeError, "RNADE.sample: argument 'observed mask' must be a boolean array"),
        ("recurrence canvas", lambda: model.recurrence(jnp.zeros((2, 3))), ValueError, "RNADE.recurrence: argument 'canvas' must have shape (batch, 2)"),
        ("mixtures out_weight", lambda: rnade_mixtures(w, c, jnp.zeros((2, 3, 10)), b, x), ValueError, "rnade_mixtures: argument 'out_weight' must have shape (2, 3, 3K)"),
        ("mixtures out_bias", lambda: rnade_mixtures(w, c, v, jnp.zeros((2, 9)), x), ValueError, "rnade_mixtures: argument 'out_bias' must have shape (2, 12)"),
        ("mixtures bias", lambda: rnade_mixtures(w, jnp.zeros(2), v, b, x), ValueError, "rnade_mixtures: argument 'bias' must have shape (3,)"),
        ("mixtures x", lambda: rnade_mixtures(w, c, v, b, jnp.zeros((5, 3))), ValueError, "rnade_mixtures: argument 'x' must have shape (batch, 2)"),
        ("log_prob_from_mixtures means", lambda: log_prob_from_mixtures(x, p, jnp.zeros((5, 2, 3)), p), ValueError, "log_prob_from_mixtures: argument 'means' must have shape (5, 2, 4)"),
        ("log_prob_from_mixtures logits", lambda: log_prob_from_mixtures(x, jnp.zeros((5, 3, 4)), p, p), ValueError, "log_prob_from_mixtures: argument 'logits' must have shape (5, 2, K)"),
        ("log_prob_from_mixtures x", lambda: log_prob_from_mixtures(jnp.zeros((5, 2), jnp.int32).astype(bool), p, p, p), TypeError, "log_prob_from_mixtures: argument 'x' must be a floating-point array"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
