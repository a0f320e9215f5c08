r"""The classifier two-sample test (C2ST; Lopez-Paz and Oquab 2017): do two samples come from
one law? Ask a classifier.

Label the points of ``a`` 1 and those of ``b`` 0, train a classifier on a random half of them,
and count the correct answers on the other half. Under :math:`P = Q` no classifier can do better
than chance on held-out points, so the number correct out of :math:`n` test points (balanced
classes) is :math:`\operatorname{Bin}(n, \tfrac12)`, and the one-sided p-value is
:math:`\Pr[\operatorname{Bin}(n, \tfrac12) \ge \text{correct}]`. A classifier that finds a real
difference is accurate above one half, and its accuracy says how different the laws look to it:
the idea a GAN's discriminator is built on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import Array
from scipy import stats

from ..checks import check_host_array, check_key, check_positive_int
from ..nn import MLP, host_rng
from ..train import fit

__all__ = ["C2STResult", "c2st"]


class C2STResult(NamedTuple):
    """The result of :func:`c2st`.

    Attributes:
        accuracy: the classifier's accuracy on the held-out half.
        p_value: :math:`\\Pr[\\operatorname{Bin}(n, 1/2) \\ge \\text{correct}]`.
        num_test: :math:`n`, the held-out points (half from each sample).
    """

    accuracy: float
    p_value: float
    num_test: int


def _bce(model: MLP, batch: tuple[Array, Array], key: Array) -> Array:
    x, y = batch
    logits = model(x)[:, 0]
    return jnp.mean(jax.nn.softplus(logits) - y * logits)


def c2st(
    key: Array,
    a: Array,
    b: Array,
    *,
    hidden_sizes: Sequence[int] = (32, 32),
    steps: int = 500,
    learning_rate: float = 1e-2,
    test_fraction: float = 0.5,
) -> C2STResult:
    """The classifier two-sample test (module docstring) of ``a`` ``(n_a, d)`` against ``b``
    ``(n_b, d)``: the larger sample is subsampled to the size of the smaller, each is split
    into a training and a held-out part (``test_fraction`` of it held out), the points are
    standardised with the training part's mean and scale, and an MLP with ``hidden_sizes``
    (ReLU) is trained by :func:`~dgm_lib.train.fit` for ``steps`` Adam steps on the logistic
    loss, in batches of at most 256."""
    where = "c2st"
    key = check_key(where, key)
    a = check_host_array(where, "a", a, ("n_a", "d")).astype(np.float32)
    b = check_host_array(where, "b", b, ("n_b", a.shape[1])).astype(np.float32)
    steps = check_positive_int(where, "steps", steps)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"{where}: argument 'test_fraction' must lie in (0, 1); got {test_fraction!r}"
        )
    n = min(a.shape[0], b.shape[0])
    n_test = round(test_fraction * n)
    if n_test < 2 or n - n_test < 2:
        raise ValueError(
            f"{where}: each sample needs at least 2 training and 2 held-out points; the smaller "
            f"sample has {n} points, of which test_fraction = {test_fraction} holds out {n_test}"
        )
    split_key, fit_key = jax.random.split(key)
    rng = host_rng(split_key)
    a, b = a[rng.permutation(a.shape[0])[:n]], b[rng.permutation(b.shape[0])[:n]]
    x_train = np.concatenate([a[n_test:], b[n_test:]])
    y_train = np.concatenate([np.ones(n - n_test), np.zeros(n - n_test)]).astype(np.float32)
    mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
    model = MLP([a.shape[1], *hidden_sizes, 1], rngs=nnx.Rngs(int(rng.integers(2**31))))
    fit(model, _bce, ((x_train - mean) / scale, y_train), key=fit_key, steps=steps,
        batch_size=min(256, x_train.shape[0]), optimizer=optax.adam(learning_rate),
        progress=False)
    correct = int(np.sum(np.asarray(model((a[:n_test] - mean) / scale))[:, 0] > 0)
                  + np.sum(np.asarray(model((b[:n_test] - mean) / scale))[:, 0] <= 0))
    num_test = 2 * n_test
    return C2STResult(correct / num_test, float(stats.binom.sf(correct - 1, num_test, 0.5)),
                      num_test)
