r"""Controllable generation: conditional sampling with a classifier trained on noisy data
(Song et al. 2021, section 5).

Bayes' rule at every time, :math:`p_t(x \mid y) \propto p_t(x)\, p_t(y \mid x)`, turns into a sum
of scores, because the normaliser :math:`p_t(y)` does not depend on :math:`x`:

.. math:: \nabla_x \log p_t(x \mid y) = \nabla_x \log p_t(x) + \nabla_x \log p_t(y \mid x).

The unconditional score model stays as it is; a classifier :math:`p_t(y \mid x_t)` trained on
noised data :math:`x_t` (a classifier of clean data is meaningless on the noise the sampler
starts from) supplies the second term, and any sampler of :mod:`~dgm_lib.score.sampling` then
samples :math:`p(x \mid y)`. A scale :math:`w` on the classifier term samples
:math:`\propto p_t(x)\, p_t(y \mid x)^w`: sharper classes for :math:`w > 1`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax import Array

from ..checks import (
    check_array,
    check_callable,
    check_hidden_sizes,
    check_key,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP
from .networks import TimeEmbedding
from .sampling import TimeScoreFn
from .sde import SDE, check_t_min, perturb

__all__ = ["NoisyClassifier", "guided_score", "noisy_classifier_loss"]


class NoisyClassifier(nnx.Module):
    r"""A classifier of noised data, :math:`p_t(y \mid x_t) = \operatorname{softmax}(
    \mathrm{MLP}([x_t, \gamma(t)]))`, on vectors ``(n, d)``, for the forward SDE ``sde``.

    Args:
        d: the data dimension.
        num_classes: the number of labels.
        hidden_sizes: the hidden widths.
        sde: the forward SDE whose marginals it is trained on.
        embed_dim: the size of the time embedding.
        rngs: ``nnx.Rngs`` for the weights.
    """

    def __init__(self, d: int, num_classes: int, hidden_sizes: Sequence[int], sde: SDE, *,
                 embed_dim: int = 64, rngs: nnx.Rngs):
        where = "NoisyClassifier"
        self.d = check_positive_int(where, "d", d)
        self.num_classes = check_positive_int(where, "num_classes", num_classes)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        rngs = check_rngs(where, rngs)
        self.sde = sde
        self.embed = TimeEmbedding(embed_dim, rngs=rngs)
        self.net = MLP((d + embed_dim, *hidden_sizes, num_classes), "silu", rngs=rngs)

    def log_probs(self, x: Array, t: Array) -> Array:
        r""":math:`\log p_t(y \mid x)` for every class, ``(n, num_classes)``, for states
        ``(n, d)`` and a time (scalar or ``(n,)``)."""
        x = check_array("NoisyClassifier.log_probs", "x", x, shape=("n", self.d))
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1])
        return jax.nn.log_softmax(self.net(jnp.concatenate([x, self.embed(t)], -1)), axis=-1)


def noisy_classifier_loss(model: NoisyClassifier, batch: tuple[Array, Array], key: Array, *,
                          t_min: float = 1e-3) -> Array:
    r"""Cross-entropy of the classifier on :math:`(x_t, y)` with :math:`t \sim U[t_{\min}, 1]`
    and :math:`x_t` drawn from the forward marginal of the clean ``batch = (x, y)``, for
    :func:`dgm_lib.train.fit`."""
    where = "noisy_classifier_loss"
    key = check_key(where, key)
    t_min = check_t_min(where, t_min)
    x, y = batch
    x = check_array(where, "x", x, shape=("n", model.d))
    y = check_array(where, "y", y, shape=(x.shape[0],), kind="int")
    time_key, noise_key = jax.random.split(key)
    t = jax.random.uniform(time_key, x.shape[:1], minval=t_min, maxval=1.0)
    x_t, _ = perturb(noise_key, model.sde, x, t)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        model.log_probs(x_t, t), y))


def guided_score(score_fn: TimeScoreFn, classifier: NoisyClassifier, y: Array, *,
                 scale: float = 1.0) -> TimeScoreFn:
    r"""The conditional score :math:`s(x, t) + w\, \nabla_x \log p_t(y \mid x)` (module
    docstring) for labels ``y`` ``(n,)`` of the states to be sampled, with guidance scale
    :math:`w` = ``scale``."""
    where = "guided_score"
    check_callable(where, "score_fn", score_fn, "a callable (x, t) -> score shaped like x")
    y = check_array(where, "y", y, shape=("n",), kind="int")
    scale = check_positive_float(where, "scale", scale)

    def log_likelihood(x: Array, t: Array) -> Array:
        return jnp.sum(jnp.take_along_axis(classifier.log_probs(x, t), y[:, None], axis=1))

    def score(x: Array, t: Array) -> Array:
        if y.shape[0] != jnp.shape(x)[0]:
            raise ValueError(f"{where}: argument 'y' has {y.shape[0]} labels for "
                             f"{jnp.shape(x)[0]} states")
        return score_fn(x, t) + scale * jax.grad(log_likelihood)(x, t)

    return score
