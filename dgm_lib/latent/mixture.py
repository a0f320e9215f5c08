r"""Mixtures of diagonal Gaussians as density models: the first latent-variable model of the book.

A mixture with :math:`K` components over :math:`x \in \mathbb R^D` has a discrete latent
:math:`z \in \{1, \dots, K\}` and

.. math:: p(z = k) = \pi_k = \operatorname{softmax}(\text{logits})_k, \qquad
          p(x \mid z = k) = \mathcal N(x; \mu_k, \operatorname{diag} \sigma_k^2),

so :math:`p(x) = \sum_k \pi_k \mathcal N(x; \mu_k, \operatorname{diag}\sigma_k^2)` and, by
Bayes' rule, the posterior over the component (the *responsibilities*) is

.. math:: p(z = k \mid x) = \frac{\pi_k \mathcal N(x; \mu_k, \operatorname{diag}\sigma_k^2)}
          {\sum_j \pi_j \mathcal N(x; \mu_j, \operatorname{diag}\sigma_j^2)}.

The modules hold parameters only (logits, means, log-variances as ``nnx.Param``) and call the
pure functions of :mod:`dgm_lib.probability`. They follow the book's model contract:
``log_prob(x) -> (batch,)`` in nats and ``sample(key, n) -> (n, D)``. Train them with
:func:`dgm_lib.train.fit` and the loss :func:`dgm_lib.train.nll_loss`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import probability as prob
from ..checks import check_array, check_key, check_positive_int, check_rngs

Array = jax.Array

__all__ = [
    "ConditionalGaussianMixture",
    "GaussianMixture",
    "initial_parameters",
    "log_responsibilities",
]


def _log_responsibilities(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    joint = jax.nn.log_softmax(logits) + prob.log_diag_normal(x[:, None, :], means, log_vars)
    return joint - prob.log_mixture_of_gaussians(x, logits, means, log_vars)[:, None]


def log_responsibilities(x: Array, logits: Array, means: Array, log_vars: Array) -> Array:
    r"""Log-posterior over the components, :math:`\log p(z = k \mid x)`, in nats.

    .. math:: \log p(z = k \mid x) = \log \pi_k + \log \mathcal N(x; \mu_k,
              \operatorname{diag}\sigma_k^2) - \log p(x)

    Args:
        x: points, shape ``(batch, D)``.
        logits: unnormalised log mixture weights, shape ``(K,)``.
        means: component means, shape ``(K, D)``.
        log_vars: component log-variances, shape ``(K, D)``.

    Returns:
        shape ``(batch, K)``; each row's exponentials sum to one.
    """
    where = "log_responsibilities"
    x = check_array(where, "x", x, shape=("batch", "D"))
    logits = check_array(where, "logits", logits, shape=("K",))
    k = logits.shape[0]
    means = check_array(where, "means", means, shape=(k, x.shape[1]))
    log_vars = check_array(where, "log_vars", log_vars, shape=(k, x.shape[1]))
    return _log_responsibilities(x, logits, means, log_vars)


def _check_initial(where: str, x: Array, num_components: int) -> tuple[Array, int]:
    """``x`` as float32 ``(N, D)`` and K, with ``1 <= K <= N``."""
    x = check_array(where, "x", x, shape=("N", "D"))
    k = check_positive_int(where, "num_components", num_components)
    n = x.shape[0]
    if k > n:
        raise ValueError(
            f"{where}: argument 'num_components' ({k}) must be at most the number of data "
            f"points ({n})"
        )
    return x.astype(jnp.float32), k


def initial_parameters(key: Array, x: Array, num_components: int) -> tuple[Array, Array, Array]:
    r"""Starting parameters of a :math:`K`-component mixture for the data ``x``.

    Equal weights (logits 0); means at ``num_components`` distinct data points drawn at random;
    every component with the data's per-dimension variance shrunk by :math:`K^{-2/D}`, so that
    :math:`K` components of that width tile a region as wide as the data.

    Args:
        key: a ``jax.random.key`` choosing the data points.
        x: data, shape ``(N, D)`` with ``N >= num_components``.
        num_components: :math:`K`, a positive int.

    Returns:
        ``(logits (K,), means (K, D), log_vars (K, D))``, float32.
    """
    where = "initial_parameters"
    key = check_key(where, key)
    x, k = _check_initial(where, x, num_components)
    return _initial_parameters(key, x, k)


@partial(jax.jit, static_argnames="k")
def _initial_parameters(key: Array, x: Array, k: int) -> tuple[Array, Array, Array]:
    n, d = x.shape
    means = x[jax.random.choice(key, n, (k,), replace=False)]
    # 1e-6 keeps the log finite for a constant coordinate.
    log_var = jnp.log(jnp.var(x, axis=0) + 1e-6) - (2.0 / d) * np.log(k)
    return jnp.zeros((k,), jnp.float32), means, jnp.broadcast_to(log_var, (k, d))


def _check_sample(where: str, key: Array, n: int) -> tuple[Array, int]:
    return check_key(where, key), check_positive_int(where, "n", n)


class GaussianMixture(nnx.Module):
    r"""A mixture of :math:`K` diagonal Gaussians over :math:`\mathbb R^D`, trained by maximum
    likelihood.

    :math:`p(x) = \sum_{k=1}^{K} \pi_k \mathcal N(x; \mu_k, \operatorname{diag}\sigma_k^2)` with
    :math:`\pi = \operatorname{softmax}(\text{logits})`. The constructor takes the parameters;
    :meth:`GaussianMixture.from_data` draws them from the data.

    Args:
        logits: unnormalised log mixture weights, shape ``(K,)``.
        means: component means, shape ``(K, D)``.
        log_vars: component log-variances, shape ``(K, D)``.
    """

    def __init__(self, logits: Array, means: Array, log_vars: Array) -> None:
        where = "GaussianMixture"
        logits = check_array(where, "logits", logits, shape=("K",))
        k = logits.shape[0]
        means = check_array(where, "means", means, shape=(k, "D"))
        log_vars = check_array(where, "log_vars", log_vars, shape=(k, means.shape[1]))
        self.logits = nnx.Param(logits.astype(jnp.float32))
        self.means = nnx.Param(means.astype(jnp.float32))
        self.log_vars = nnx.Param(log_vars.astype(jnp.float32))

    @classmethod
    def from_data(cls, x: Array, num_components: int, *, rngs: nnx.Rngs) -> GaussianMixture:
        """A mixture started from the data as by :func:`initial_parameters` (means at
        ``num_components`` distinct rows of ``x``, shape ``(N, D)``), drawn with
        ``rngs.params()``."""
        where = "GaussianMixture.from_data"
        rngs = check_rngs(where, rngs)
        x, k = _check_initial(where, x, num_components)
        return cls(*_initial_parameters(rngs.params(), x, k))

    @property
    def num_components(self) -> int:
        """:math:`K`, the number of components."""
        return self.logits.shape[0]

    @property
    def d(self) -> int:
        """:math:`D`, the dimension of a data point."""
        return self.means.shape[1]

    def _params(self) -> tuple[Array, Array, Array]:
        return self.logits[...], self.means[...], self.log_vars[...]

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log p(x)` for each row of ``x`` (shape ``(batch, D)``); returns
        ``(batch,)``, nats."""
        x = check_array("GaussianMixture.log_prob", "x", x, shape=("batch", self.d))
        return prob.log_mixture_of_gaussians(x, *self._params())

    def sample(self, key: Array, n: int) -> Array:
        """``n`` draws by ancestral sampling (a component, then a Gaussian); shape ``(n, D)``."""
        key, n = _check_sample("GaussianMixture.sample", key, n)
        return prob.sample_mixture_of_gaussians(key, *self._params(), n)

    def responsibilities(self, x: Array) -> Array:
        r"""The posterior :math:`p(z = k \mid x)` for each row of ``x`` (shape ``(batch, D)``):
        ``(batch, K)``, rows summing to one."""
        x = check_array("GaussianMixture.responsibilities", "x", x, shape=("batch", self.d))
        return jnp.exp(_log_responsibilities(x, *self._params()))


class ConditionalGaussianMixture(nnx.Module):
    r"""One :math:`K`-component diagonal Gaussian mixture per class: a class-conditional
    density :math:`p(x \mid y)`.

    :math:`p(x \mid y = c) = \sum_{k} \pi_{ck} \mathcal N(x; \mu_{ck},
    \operatorname{diag}\sigma_{ck}^2)` with :math:`\pi_{c\cdot} = \operatorname{softmax}
    (\text{logits}_c)`. A conditional density, so its contract is the model contract with the
    condition added: ``log_prob(x, labels)`` is :math:`\log p(x_i \mid y_i)` per example and
    ``sample(key, n, label)`` draws from one class only (the class is the control signal).

    Args:
        logits: shape ``(C, K)``, one row of mixture logits per class.
        means: shape ``(C, K, D)``.
        log_vars: shape ``(C, K, D)``.
    """

    def __init__(self, logits: Array, means: Array, log_vars: Array) -> None:
        where = "ConditionalGaussianMixture"
        logits = check_array(where, "logits", logits, shape=("C", "K"))
        c, k = logits.shape
        means = check_array(where, "means", means, shape=(c, k, "D"))
        log_vars = check_array(where, "log_vars", log_vars, shape=(c, k, means.shape[2]))
        self.logits = nnx.Param(logits.astype(jnp.float32))
        self.means = nnx.Param(means.astype(jnp.float32))
        self.log_vars = nnx.Param(log_vars.astype(jnp.float32))

    @classmethod
    def from_data(
        cls, x: Array, labels: Array, num_classes: int, num_components: int, *, rngs: nnx.Rngs
    ) -> ConditionalGaussianMixture:
        """One mixture per class, each started as by :func:`initial_parameters` on its class's
        points (``x`` of shape ``(N, D)``, integer ``labels`` of shape ``(N,)`` in
        ``[0, num_classes)``), drawn with ``rngs.params()``."""
        where = "ConditionalGaussianMixture.from_data"
        rngs = check_rngs(where, rngs)
        x = check_array(where, "x", x, shape=("N", "D")).astype(jnp.float32)
        labels = np.asarray(check_array(where, "labels", labels, shape=(x.shape[0],), kind="int"))
        c = check_positive_int(where, "num_classes", num_classes)
        k = check_positive_int(where, "num_components", num_components)
        if labels.min() < 0 or labels.max() >= c:
            raise ValueError(
                f"{where}: argument 'labels' must lie in [0, {c}); got values in "
                f"[{labels.min()}, {labels.max()}]"
            )
        counts = np.bincount(labels, minlength=c)
        if counts.min() < k:
            raise ValueError(
                f"{where}: class {int(counts.argmin())} has {int(counts.min())} points, fewer "
                f"than num_components ({k}); every class needs at least that many"
            )
        keys = jax.random.split(rngs.params(), c)
        per_class = [_initial_parameters(keys[i], x[labels == i], k) for i in range(c)]
        return cls(*(jnp.stack(p) for p in zip(*per_class, strict=True)))

    @property
    def num_classes(self) -> int:
        """:math:`C`, the number of classes."""
        return self.logits.shape[0]

    @property
    def num_components(self) -> int:
        """:math:`K`, the number of components of each class's mixture."""
        return self.logits.shape[1]

    @property
    def d(self) -> int:
        """:math:`D`, the dimension of a data point."""
        return self.means.shape[2]

    def log_prob(self, x: Array, labels: Array) -> Array:
        r""":math:`\log p(x_i \mid y_i)` for rows ``x`` (``(batch, D)``) and integer ``labels``
        (``(batch,)``); returns ``(batch,)``, nats."""
        where = "ConditionalGaussianMixture.log_prob"
        x = check_array(where, "x", x, shape=("batch", self.d))
        labels = check_array(where, "labels", labels, shape=(x.shape[0],), kind="int")
        params = (self.logits[...][labels], self.means[...][labels], self.log_vars[...][labels])
        return jax.vmap(prob.log_mixture_of_gaussians)(x, *params)

    def sample(self, key: Array, n: int, label: int) -> Array:
        """``n`` draws from class ``label`` (a Python int in ``[0, C)``); shape ``(n, D)``."""
        where = "ConditionalGaussianMixture.sample"
        key, n = _check_sample(where, key, n)
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"{where}: argument 'label' must be an int; got {label!r}")
        if not 0 <= label < self.num_classes:
            raise ValueError(
                f"{where}: argument 'label' must lie in [0, {self.num_classes}); got {label}"
            )
        params = (self.logits[...][label], self.means[...][label], self.log_vars[...][label])
        return prob.sample_mixture_of_gaussians(key, *params, n)
