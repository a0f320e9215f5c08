"""Properties of dgm_lib.score.ScoreUNet: images in, same shape out; the time changes the
output; trained with the DSM loss by
fit it denoises far better than it did at the start; bad image sizes get clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dgm_lib.score import VPSDE, ScoreModel, ScoreUNet, dsm_loss
from dgm_lib.train import fit


def randomised(net: ScoreUNet, seed: int = 0) -> ScoreUNet:
    """The network with its zero-initialised convolutions drawn at random, so every path
    carries signal (at initialisation the residual branches and the output are zero)."""
    params = nnx.state(net, nnx.Param)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [0.1 * jax.random.normal(k, p.shape) if not np.any(p) and p.ndim == 4 else p
           for k, p in zip(keys, leaves, strict=True)]  # fmt: skip
    nnx.update(net, jax.tree.unflatten(treedef, new))
    return net


def test_the_output_has_the_input_shape_and_starts_at_zero():
    net = ScoreUNet(2, (8, 16, 16), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (3, 12, 8, 2))
    out = net(x, jnp.array([0.1, 0.5, 0.9]))
    assert out.shape == x.shape and not np.any(out)  # the last convolution starts at zero


def test_the_time_changes_the_output():
    net = randomised(ScoreUNet(1, (8, 16), rngs=nnx.Rngs(0)))
    x = jnp.broadcast_to(jax.random.normal(jax.random.key(3), (1, 8, 8, 1)), (2, 8, 8, 1))
    out = net(x, jnp.array([0.1, 0.9]))
    assert float(jnp.abs(out[0] - out[1]).mean()) > 1e-3 * float(jnp.abs(out).mean())


def test_trained_with_dsm_it_denoises_much_better_than_it_started():
    # Images that are one random brightness times a fixed pattern: a 1-D data manifold. At
    # the start the network outputs zero and ScoreModel's preconditioning alone is the best
    # linear denoiser for data of that variance; a U-Net that learned the pattern removes
    # far more noise (measured: the last 50 steps' loss is 0.20 of the first 20 steps').
    rng = np.random.default_rng(0)
    pattern = np.sin(np.arange(8)[:, None] / 2.0) * np.cos(np.arange(8)[None, :] / 3.0)
    x = (rng.normal(size=(512, 1, 1, 1)) * pattern[None, :, :, None]).astype(np.float32)
    model = ScoreModel(ScoreUNet(1, (16, 16), rngs=nnx.Rngs(0)), VPSDE(), data_std=float(x.std()))
    result = fit(model, dsm_loss, x, key=jax.random.key(0), steps=300, batch_size=64,
                 optimizer=optax.adam(2e-3), progress=False)  # fmt: skip
    assert result.traces <= 1
    assert np.mean(result.losses[-50:]) < 0.4 * np.mean(result.losses[:20])


@pytest.mark.parametrize(
    "make, x, message",
    [
        (lambda: ScoreUNet(1, (8, 8, 8), rngs=nnx.Rngs(0)), jnp.zeros((2, 10, 8, 1)),
         "ScoreUNet: image height and width must be divisible by 4"),
        (lambda: ScoreUNet(1, (8, 8), rngs=nnx.Rngs(0)), jnp.zeros((2, 8, 8, 3)),
         "ScoreUNet: argument 'x'"),
        (lambda: ScoreUNet(1, (), rngs=nnx.Rngs(0)), None, "ScoreUNet: argument 'features'"),
    ],
)  # fmt: skip
def test_bad_image_sizes_raise_errors_naming_the_problem(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x, jnp.full((2,), 0.5))
