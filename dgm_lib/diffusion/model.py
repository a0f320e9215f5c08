r"""A diffusion model: a network of :math:`(x_t, t)`, the schedule it was trained for, and what
it predicts; with the training loss.

The network reads the time as :math:`t/T \in (0, 1]` (so the score chapter's networks,
:class:`~dgm_lib.score.networks.ScoreMLP` and :class:`~dgm_lib.score.networks.ScoreUNet`, serve
unchanged) and predicts the noise, the data or the velocity
(:data:`~dgm_lib.diffusion.process.Prediction`); :meth:`DiffusionModel.eps` converts any of them
to the noise, which is what the samplers and the ELBO read.

The loss draws :math:`t \sim U\{1, \dots, T\}` and :math:`x_t \sim q(x_t \mid x_0)` and weighs
the squared error of the noise,

.. math:: \mathcal L(\theta) = \mathbb E_{t, x_0, \varepsilon}\left[ w_t\, \lVert \varepsilon -
          \hat\varepsilon_\theta(x_t, t) \rVert^2 \right],

with :math:`w_t = 1` for ``"simple"`` (Ho et al.'s :math:`L_{\text{simple}}`) or :math:`w_t = T
\cdot` :func:`~dgm_lib.diffusion.elbo.elbo_weights` for ``"elbo"`` (then the loss plus the
constants of :func:`~dgm_lib.diffusion.elbo.elbo_constants` and the prior term is
:math:`-\mathrm{ELBO}`). Since :math:`\lVert \varepsilon - \hat\varepsilon \rVert^2 =
(1 - \bar\alpha_t) \lVert s_\theta + \varepsilon/\sqrt{1 - \bar\alpha_t} \rVert^2`,
:math:`L_{\text{simple}}` is denoising score matching with the :math:`\sigma^2` weighting of
the score chapter, summed over the noise levels of the schedule. A network that predicts
:math:`x_0` under this loss is trained on :math:`\mathrm{SNR}(t)\, \lVert x_0 - \hat x_0
\rVert^2`: the loss is in the noise's units whatever the network outputs.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import check_array, check_batch, check_key
from ..score.sde import broadcast_time
from .elbo import elbo_weights
from .guidance import classifier_free_guidance
from .process import Prediction, check_times, eps_from_prediction, marginal
from .schedule import Schedule

__all__ = ["DiffusionModel", "Weighting", "diffusion_loss"]

Weighting = Literal["simple", "elbo"]
"""The weights of the loss over times (module docstring)."""



class DiffusionModel(nnx.Module):
    r"""A network ``net(x, t / T)`` (or ``net(x, t / T, labels)``) with its schedule: the noise
    :math:`\hat\varepsilon_\theta(x_t, t)`, the score, the guided noise.

    Args:
        net: a module mapping states ``(n, ...)`` and times ``(n,)`` in :math:`(0, 1]` to the
            states' shape; class-conditional if it has a ``labels`` embedding
            (:class:`~dgm_lib.score.networks.LabelEmbedding`).
        schedule: the noise schedule (data, held as a static attribute).
        prediction: what ``net`` outputs: ``"eps"``, ``"x0"`` or ``"v"``.
    """

    def __init__(self, net: nnx.Module, schedule: Schedule, *, prediction: Prediction = "eps"):
        where = "DiffusionModel"
        if not callable(net):
            raise TypeError(f"{where}: argument 'net' must be a module net(x, t); got "
                            f"{type(net).__name__}")
        if not isinstance(schedule, Schedule):
            raise TypeError(f"{where}: argument 'schedule' must be a Schedule (linear_schedule(), "
                            f"cosine_schedule(), ...); got {type(schedule).__name__}")
        if prediction not in ("eps", "x0", "v"):
            raise ValueError(f"{where}: argument 'prediction' must be 'eps', 'x0' or 'v'; got "
                             f"{prediction!r}")
        self.net, self.schedule, self.prediction = net, schedule, prediction
        label_table = getattr(net, "labels", None)
        self.num_classes = None if label_table is None else label_table.num_classes

    def eps(self, x: Array, t: Array, labels: Array | None = None) -> Array:
        r""":math:`\hat\varepsilon_\theta(x_t, t)` for states ``(n, ...)`` at integer times
        ``t`` (scalar or ``(n,)``, in :math:`\{1, \dots, T\}`); ``labels`` ``(n,)`` for a
        conditional model (its "no label" index :math:`K`, or None, for the unconditional
        noise)."""
        where = "DiffusionModel.eps"
        x = check_batch(where, "x", x)
        t = jnp.broadcast_to(check_times(where, t, self.schedule), x.shape[:1])
        u = t.astype(jnp.float32) / self.schedule.num_steps
        if self.num_classes is None and labels is not None:
            raise ValueError(f"{where}: 'labels' given to an unconditional model (its network has "
                             "no label embedding; give it num_classes)")
        out = self.net(x, u) if self.num_classes is None else self.net(x, u, labels)
        return eps_from_prediction(self.schedule, self.prediction, x, t, out)

    def guided_eps(self, x: Array, t: Array, labels: Array, weight: Array) -> Array:
        r"""The classifier-free guided noise :math:`(1 + w)\hat\varepsilon(x, t, y) - w
        \hat\varepsilon(x, t, \varnothing)` (:mod:`~dgm_lib.diffusion.guidance`), both in one
        network call on the doubled batch."""
        where = "DiffusionModel.guided_eps"
        if self.num_classes is None:
            raise ValueError(f"{where}: guidance needs a class-conditional network (give it "
                             "num_classes)")
        x = check_batch(where, "x", x)
        n = x.shape[0]
        labels = check_array(where, "labels", labels, shape=(n,), kind="int")
        t = jnp.broadcast_to(check_times(where, t, self.schedule), (n,))
        both = self.eps(jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                        jnp.concatenate([labels, jnp.full((n,), self.num_classes, jnp.int32)]))
        return classifier_free_guidance(both[:n], both[n:], weight)

    def score(self, x: Array, t: Array, labels: Array | None = None) -> Array:
        r""":math:`s_\theta(x_t, t) = -\hat\varepsilon_\theta(x_t, t) / \sqrt{1 - \bar
        \alpha_t}`."""
        t = check_times("DiffusionModel.score", t, self.schedule)
        t = jnp.broadcast_to(t, jnp.shape(x)[:1])
        return -self.eps(x, t, labels) / broadcast_time(marginal(self.schedule, t)[1], x)


def diffusion_loss(model: DiffusionModel, x0: Array, key: Array, *, labels: Array | None = None,
                   drop_labels: float = 0.0, weighting: Weighting = "simple") -> Array:
    r"""The loss of the module docstring on clean data ``x0`` ``(batch, ...)``, for
    :func:`dgm_lib.train.fit`.

    Args:
        model: the model.
        x0: the data.
        key: a ``jax.random.key``.
        labels: integer labels ``(batch,)`` for a conditional model.
        drop_labels: the share of examples whose label is replaced by "no label" (0.1 to 0.2 for
            classifier-free guidance).
        weighting: ``"simple"`` or ``"elbo"`` (see :data:`Weighting`).
    """
    where = "diffusion_loss"
    key = check_key(where, key)
    x0 = check_batch(where, "x0", x0)
    if weighting not in ("simple", "elbo"):
        raise ValueError(f"{where}: argument 'weighting' must be 'simple' or 'elbo'; got "
                         f"{weighting!r}")
    if not 0.0 <= drop_labels < 1.0:
        raise ValueError(f"{where}: argument 'drop_labels' must be in [0, 1); got {drop_labels}")
    n, T = x0.shape[0], model.schedule.num_steps
    time_key, noise_key, drop_key = jax.random.split(key, 3)
    t = jax.random.randint(time_key, (n,), 1, T + 1)
    eps = jax.random.normal(noise_key, x0.shape)
    a, s = (broadcast_time(c, x0) for c in marginal(model.schedule, t))
    if labels is not None and model.num_classes is None:
        raise ValueError(f"{where}: 'labels' given to an unconditional model")
    if labels is not None and drop_labels > 0:
        dropped = jax.random.bernoulli(drop_key, drop_labels, (n,))
        labels = jnp.where(dropped, model.num_classes, labels)
    err = jnp.sum(jnp.square(eps - model.eps(a * x0 + s * eps, t, labels)).reshape(n, -1), 1)
    if weighting == "simple":
        return jnp.mean(err)
    weights = jnp.asarray(T * elbo_weights(model.schedule), jnp.float32)
    return jnp.mean(weights[t - 1] * err)
