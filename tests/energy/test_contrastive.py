"""Properties of dgm_lib.energy.contrastive: the CD-k gradient is biased for small k and tends
to the exact log-likelihood gradient (jax.grad of the log-probability with the exact Z) as k
grows, beyond Monte Carlo noise measured from independent replicates; persistent CD keeps its
chains in a PersistentChains variable that fit carries and updates, and learns."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.energy_oracles import random_rbm

from dgm_lib.energy import PCD, RBM, PersistentChains, cd_loss, contrastive_loss, pcd_loss
from dgm_lib.train import fit


def flat(state) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(state)])


@functools.partial(nnx.jit, static_argnames="k")
def cd_gradient(rbm: RBM, batch: jax.Array, key: jax.Array, k: int):
    """The CD-k estimate of the log-likelihood gradient: minus the gradient of cd_loss."""
    return nnx.grad(lambda m: -cd_loss(m, batch, key, k=k))(rbm)


@nnx.jit
def exact_gradient(rbm: RBM, data: jax.Array):
    """The exact gradient of the mean log-likelihood, log Z by enumeration (jit: one compile
    instead of an eager pass over hundreds of small ops)."""
    return nnx.grad(lambda m: jnp.mean(m.log_prob(data)))(rbm)


def test_cd_k_gradient_tends_to_the_exact_gradient_as_k_grows():
    rbm = random_rbm(6, 3, seed=0)
    data = jnp.asarray(np.random.default_rng(1).integers(0, 2, (8, 6)), jnp.float32)
    exact = flat(exact_gradient(rbm, data))
    replicas = jnp.tile(data, (8000, 1))  # 8,000 chains from each data point: small MC noise

    def estimate(k: int) -> tuple[float, float]:
        """(bias, noise): the distance of the mean of two independent estimates from the
        exact gradient, and the norm of that mean's Monte Carlo error, |g1 - g2| / 2."""
        g1 = flat(cd_gradient(rbm, replicas, jax.random.key(10), k))
        g2 = flat(cd_gradient(rbm, replicas, jax.random.key(11), k))
        return np.linalg.norm((g1 + g2) / 2 - exact), np.linalg.norm(g1 - g2) / 2

    bias_1, noise_1 = estimate(1)
    bias_50, noise_50 = estimate(50)
    # CD-1 is biased far beyond its noise; CD-50 is unbiased within its noise (a distance
    # three times the noise norm would be a real bias: in 27 dimensions the ratio of two such
    # Gaussian norms stays near 1).
    assert bias_1 > 8 * noise_1, (bias_1, noise_1)
    assert bias_50 < 3 * noise_50, (bias_50, noise_50)
    assert bias_50 < bias_1 / 5, (bias_50, bias_1)
    assert bias_1 < 0.5 * np.linalg.norm(exact)  # and CD-1 still points the right way


@nnx.jit
def cd_and_reference(rbm: RBM, batch: jax.Array, key: jax.Array):
    """cd_loss with k = 3, and the surrogate on 3 Gibbs sweeps from the batch written out (one
    compiled program instead of hundreds of eager ops)."""
    negative = rbm.gibbs_chain(key, batch, num_steps=3).final
    f_data, f_negative = rbm.free_energy(batch), rbm.free_energy(negative)
    return (
        cd_loss(rbm, batch, key, k=3),
        jnp.mean(f_data) - jnp.mean(f_negative),
        contrastive_loss(f_data, f_negative),
    )


def test_cd_loss_is_the_contrastive_surrogate_on_k_gibbs_sweeps_from_the_data():
    rbm = random_rbm(5, 4, seed=2)
    batch = jnp.asarray(np.random.default_rng(3).integers(0, 2, (16, 5)), jnp.float32)
    ours, expected, surrogate = cd_and_reference(rbm, batch, jax.random.key(4))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surrogate, expected, rtol=1e-6)


@nnx.jit
def pcd_and_reference(pcd: PCD, batch: jax.Array, key: jax.Array):
    """pcd_loss with k = 2 (which stores the chains back into ``pcd``), and the chains advanced
    2 sweeps from where they were, with the surrogate on them."""
    start = pcd.chains[...]
    loss = pcd_loss(pcd, batch, key, k=2)
    advanced = pcd.rbm.gibbs_chain(key, start, num_steps=2).final  # from the chains, not the data
    expected = jnp.mean(pcd.rbm.free_energy(batch)) - jnp.mean(pcd.rbm.free_energy(advanced))
    return start, loss, advanced, expected


def test_pcd_loss_advances_the_persistent_chains_and_stores_them():
    rbm = random_rbm(5, 4, seed=5)
    pcd = PCD(rbm, 40, rngs=nnx.Rngs(6))
    assert isinstance(pcd.chains, PersistentChains)
    assert not isinstance(pcd.chains, nnx.Param)  # fit must not train the chains
    assert pcd.chains[...].shape == (40, 5)
    batch = jnp.asarray(np.random.default_rng(7).integers(0, 2, (16, 5)), jnp.float32)
    start, loss, advanced, expected = pcd_and_reference(pcd, batch, jax.random.key(8))
    np.testing.assert_array_equal(pcd.chains[...], advanced)
    assert not np.array_equal(np.asarray(advanced), np.asarray(start))
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


def test_fit_carries_the_persistent_chains_and_pcd_learns():
    # Data from a product of Bernoullis: an RBM with W = 0 represents it, so the best RBM's
    # mean log-likelihood is at least the product's maximum-likelihood value.
    probs = np.array([0.1, 0.9, 0.3, 0.7, 0.5, 0.2])
    data = (np.random.default_rng(9).random((500, 6)) < probs).astype(np.float32)
    p_hat = data.mean(axis=0)
    product_ll = float(np.sum(p_hat * np.log(p_hat) + (1 - p_hat) * np.log(1 - p_hat)))
    rbm = random_rbm(6, 3, seed=10, scale=1.0)
    pcd = PCD(rbm, 100, rngs=nnx.Rngs(11))
    start_chains = np.asarray(pcd.chains[...])
    start_w = np.asarray(rbm.W[...])
    before = float(jnp.mean(rbm.log_prob(data)))
    result = fit(
        pcd, functools.partial(pcd_loss, k=1), data, key=jax.random.key(12), steps=300,
        batch_size=100, optimizer=optax.adam(0.03), progress=False,
    )
    assert result.traces <= 1
    chains = np.asarray(pcd.chains[...])
    assert chains.shape == start_chains.shape and set(np.unique(chains)) <= {0.0, 1.0}
    assert np.mean(chains != start_chains) > 0.2  # the chains moved, and fit kept them
    assert np.abs(np.asarray(rbm.W[...]) - start_w).max() > 0.1  # the RBM was trained
    after = float(jnp.mean(rbm.log_prob(data)))
    assert before < product_ll - 0.5  # far from the optimum at the start ...
    assert after > product_ll - 0.1, (before, after, product_ll)  # ... close to it after


_R = random_rbm(3, 2)
_B = jnp.zeros((4, 3))


@bad_calls(
    [
        ("cd_k_zero", lambda: cd_loss(_R, _B, jax.random.key(0), k=0), ValueError, "cd_loss: argument 'k' must be a positive int"),
        ("cd_wrong_width", lambda: cd_loss(_R, jnp.zeros((4, 5)), jax.random.key(0)), ValueError, "argument 'v' must have shape (n, 3)"),
        ("pcd_k_zero", lambda: pcd_loss(PCD(_R, 2, rngs=nnx.Rngs(0)), _B, jax.random.key(0), k=0), ValueError, "pcd_loss: argument 'k' must be a positive int"),
        ("pcd_no_chains", lambda: PCD(_R, 0, rngs=nnx.Rngs(0)), ValueError, "PCD: argument 'num_chains' must be a positive int"),
        ("pcd_no_rngs", lambda: PCD(_R, 3, rngs=None), TypeError, "PCD: argument 'rngs' must be an nnx.Rngs"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
