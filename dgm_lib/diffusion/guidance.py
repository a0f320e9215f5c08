r"""Classifier-free guidance (Ho and Salimans 2022).

One network learns both the conditional noise :math:`\hat\varepsilon(x_t, t, y)` and the
unconditional one :math:`\hat\varepsilon(x_t, t, \varnothing)`, by replacing the label with a
"no label" token on a random share of training examples. Since :math:`\hat\varepsilon = -\sqrt{1
- \bar\alpha_t}\, \nabla \log p_t`, the guided noise

.. math:: \tilde\varepsilon = (1 + w)\, \hat\varepsilon(x_t, t, y) - w\, \hat\varepsilon(x_t,
          t, \varnothing)

is the noise of the score :math:`\nabla \log p_t(x \mid y) + w\, \nabla \log p_t(y \mid x)`,
Bayes' rule with an implicit classifier raised to the power :math:`1 + w`: :math:`w = 0` is the
conditional model, larger :math:`w` trades diversity for samples the class explains better.
"""

from __future__ import annotations

from jax import Array

__all__ = ["classifier_free_guidance"]


def classifier_free_guidance(eps_cond: Array, eps_uncond: Array, weight: Array | float) -> Array:
    r""":math:`(1 + w)\, \hat\varepsilon_{\text{cond}} - w\, \hat\varepsilon_{\text{uncond}}`
    (module docstring); ``weight`` a scalar or broadcastable against the noise."""
    return eps_cond + weight * (eps_cond - eps_uncond)
