r"""A score model: a noise-prediction network and the forward SDE it was trained for, with the
denoising score-matching loss over all times.

For :math:`x_t = \alpha(t) x_0 + \sigma(t) \varepsilon` the score of the noised data satisfies
:math:`\nabla \log p_t(x_t) = -\mathbb E[\varepsilon \mid x_t] / \sigma(t)` (Tweedie), so a network
:math:`\hat\varepsilon_\theta(x_t, t)` trained to predict the noise gives the score
:math:`s_\theta = -\hat\varepsilon_\theta / \sigma(t)`. Denoising score matching at time
:math:`t` (:func:`dgm_lib.score_matching.denoising_objective` on the scaled data
:math:`\alpha x_0`, noise :math:`\sigma`), weighted by :math:`\lambda(t) = \sigma(t)^2` and
averaged over :math:`t \sim U[t_{\min}, 1]`, is

.. math:: \mathcal L(\theta) = \mathbb E_{t, x_0, \varepsilon}\left[\tfrac12 \sigma(t)^2
          \left\lVert s_\theta(x_t, t) + \varepsilon/\sigma(t) \right\rVert^2\right]
          = \mathbb E\left[\tfrac12 \left\lVert \hat\varepsilon_\theta(x_t, t) - \varepsilon
          \right\rVert^2\right],

the :math:`\sigma^2` weighting of noise-conditional score networks (Song and Ermon 2019), under
which every noise level contributes on the same scale, and the noise-prediction loss of DDPM.

**Preconditioning** (Karras et al. 2022), when the data's standard deviation :math:`s` is given:
:math:`x_t` has variance :math:`v = \alpha^2 s^2 + \sigma^2` per coordinate for data of that
spread, and the best linear guess of the noise from it is :math:`\frac{\sigma}{v} x_t`, leaving
an error of variance :math:`\alpha^2 s^2 / v`. So the network :math:`F_\theta` reads the
standardised input and predicts only the rescaled remainder,

.. math:: \hat\varepsilon_\theta(x_t, t) = \frac{\sigma}{v}\, x_t + \frac{\alpha s}{\sqrt v}\,
          F_\theta\!\left(\frac{x_t}{\sqrt v}, t\right),

whose input and target both have unit scale at every :math:`t`: at large :math:`t` the noise is
almost all of :math:`x_t` and the skip term carries it; at small :math:`t` the network predicts the
noise itself. Without it, a network must learn the identity map at large :math:`t` through its
hidden layers, which an MLP narrower than the data cannot do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import check_array, check_key, check_positive_float
from ..score_matching import denoising_objective
from .sampling import TimeScoreFn
from .sde import SDE, broadcast_time, check_t_min

__all__ = ["ScoreModel", "dsm_loss", "tweedie_denoise"]


class ScoreModel(nnx.Module):
    r"""A noise-prediction network ``net(x, t)`` (e.g. :class:`~dgm_lib.score.networks.ScoreMLP`)
    with the forward SDE that defines its times: :math:`\hat\varepsilon_\theta(x, t)` and the
    score :math:`s_\theta(x, t) = -\hat\varepsilon_\theta(x, t)/\sigma(t)`.

    Args:
        net: a module mapping states ``(n, ...)`` and times ``(n,)`` to the states' shape.
        sde: the forward SDE (:class:`~dgm_lib.score.sde.VESDE`,
            :class:`~dgm_lib.score.sde.VPSDE`): data, held as a static attribute.
        data_std: the data's standard deviation per coordinate :math:`s`, to precondition the
            network (module docstring); None: the network outputs
            :math:`\hat\varepsilon_\theta` itself.
    """

    def __init__(self, net: nnx.Module, sde: SDE, *, data_std: float | None = None):
        if not callable(net):
            raise TypeError(f"ScoreModel: argument 'net' must be a module net(x, t); got "
                            f"{type(net).__name__}")
        self.net = net
        self.sde = sde
        self.data_std = None if data_std is None else check_positive_float(
            "ScoreModel", "data_std", data_std)

    def eps(self, x: Array, t: Array) -> Array:
        r""":math:`\hat\varepsilon_\theta(x, t)` for states ``(n, ...)`` and a time (scalar or
        ``(n,)``)."""
        x = check_array("ScoreModel.eps", "x", x)
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1])
        if self.data_std is None:
            return self.net(x, t)
        alpha, sigma = (broadcast_time(a, x) for a in self.sde.marginal(t))
        v = jnp.square(alpha * self.data_std) + jnp.square(sigma)
        return sigma / v * x + alpha * self.data_std / jnp.sqrt(v) * self.net(x / jnp.sqrt(v), t)

    def score(self, x: Array, t: Array) -> Array:
        r""":math:`s_\theta(x, t) = -\hat\varepsilon_\theta(x, t)/\sigma(t)`."""
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), jnp.shape(x)[:1])
        return -self.eps(x, t) / broadcast_time(self.sde.marginal(t)[1], x)


def dsm_loss(model: ScoreModel, batch: Array, key: Array, *, t_min: float = 1e-3) -> Array:
    r"""The :math:`\sigma^2`-weighted denoising score-matching loss of ``model`` on clean data
    ``batch`` ``(batch, ...)``, times :math:`t \sim U[t_{\min}, 1]` (module docstring), for
    :func:`dgm_lib.train.fit`."""
    where = "dsm_loss"
    key = check_key(where, key)
    t_min = check_t_min(where, t_min)
    batch = check_array(where, "batch", batch)
    time_key, noise_key = jax.random.split(key)
    t = jax.random.uniform(time_key, batch.shape[:1], minval=t_min, maxval=1.0)
    alpha, sigma = model.sde.marginal(t)
    terms = denoising_objective(noise_key, lambda x: model.score(x, t),
                                broadcast_time(alpha, batch) * batch, sigma)
    return jnp.mean(jnp.square(sigma) * terms)


def tweedie_denoise(sde: SDE, score_fn: TimeScoreFn, x: Array, t: float) -> Array:
    r"""The posterior mean of the clean data given states ``x`` ``(n, ...)`` at time ``t``, by
    Tweedie's formula: for :math:`x_t = \alpha x_0 + \sigma \varepsilon`,

    .. math:: \mathbb E[x_0 \mid x_t] = \frac{x_t + \sigma^2 \nabla_{x_t} \log p_t(x_t)}{\alpha},

    with the model's score in place of the true one: the last step of a sampler that stops at
    :math:`t_{\min} > 0`, removing the noise that is left there (Efron 2011 on Tweedie;
    Song et al. 2021 end their samplers the same way)."""
    where = "tweedie_denoise"
    x = check_array(where, "x", x)
    t = check_positive_float(where, "t", t)
    times = jnp.full(x.shape[:1], t, jnp.float32)
    alpha, sigma = (broadcast_time(a, x) for a in sde.marginal(times))
    return (x + jnp.square(sigma) * score_fn(x, times)) / alpha
