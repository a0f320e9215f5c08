"""The one contract of dgm_lib (DESIGN section 3), checked on the public API of every part:
constructors take Flax NNX's ``rngs`` (keyword-only) and never a ``key``; everything random
takes ``key`` first; sizes are spelled one way; and every public name has a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import jax
import numpy as np
import pytest
from flax import nnx

import dgm_lib
from dgm_lib.nn import Frozen

SUBPACKAGES = sorted(
    name for _, name, is_pkg in pkgutil.iter_modules(dgm_lib.__path__) if is_pkg
)
FOUNDATION = sorted(
    name for _, name, is_pkg in pkgutil.iter_modules(dgm_lib.__path__) if not is_pkg
)
# Spellings the contract replaced: data dimension `d`, `hidden_size(s)`, `num_*` for counts.
FORBIDDEN_ARGUMENTS = {"dim", "data_dim", "hidden", "n_layers", "n_heads", "n_components"}


def public_objects() -> list[tuple[str, object]]:
    found = []
    for part in [*SUBPACKAGES, *FOUNDATION]:
        module = importlib.import_module(f"dgm_lib.{part}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.append((f"{part}.{name}", obj))
    return found


def callables_of(obj: object) -> list[tuple[str, object]]:
    """The function itself, or a class's constructor and public methods defined in dgm_lib."""
    if inspect.isfunction(obj):
        return [("", obj)]
    out = []
    for name, member in vars(obj).items():
        if inspect.isfunction(member) and (name == "__init__" or not name.startswith("_")):
            out.append((f".{name}", member))
        elif isinstance(member, (classmethod, staticmethod)):
            out.append((f".{name}", member.__func__))
    return out


PUBLIC = public_objects()
SIGNATURES = [
    (f"{name}{suffix}", fn) for name, obj in PUBLIC for suffix, fn in callables_of(obj)
]


def test_every_part_of_the_library_is_walked():
    assert {"autoregressive", "background", "flows", "latent"} <= set(SUBPACKAGES)
    walked = {name.split(".")[0] for name, _ in PUBLIC}
    assert set(SUBPACKAGES) <= walked and {"probability", "train", "nn", "masks"} <= walked
    assert len(SIGNATURES) > len(PUBLIC) > 100


@pytest.mark.parametrize("name, fn", SIGNATURES, ids=[n for n, _ in SIGNATURES])
def test_key_comes_first_and_constructors_take_rngs(name, fn):
    params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]
    names = [p.name for p in params]
    if name.endswith(".__init__") or ".from_" in name:
        assert "key" not in names, f"{name}: a constructor takes rngs: nnx.Rngs, not a key"
        if "rngs" in names:
            assert params[names.index("rngs")].kind is inspect.Parameter.KEYWORD_ONLY, name
    elif "key" in names and not name.startswith("checks."):
        # Random functions take the key first; a loss for fit is (model, batch, key), and an
        # optional source of randomness may be a keyword-only key.
        keyword = params[names.index("key")].kind is inspect.Parameter.KEYWORD_ONLY
        assert names[0] in ("key", "model") or keyword, f"{name}: key first; got {names}"
    assert not FORBIDDEN_ARGUMENTS & set(names), f"{name}: spell sizes d, hidden_size(s), num_*"


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_every_public_name_has_a_docstring(name, obj):
    assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    for suffix, fn in callables_of(obj):
        if suffix != ".__init__":
            assert (fn.__doc__ or "").strip(), f"{name}{suffix} has no docstring"


MODULE_CLASSES = [
    (name, obj) for name, obj in PUBLIC if inspect.isclass(obj) and issubclass(obj, nnx.Module)
]


def _arrays(module: nnx.Module) -> list[np.ndarray]:
    """Trained parameters and the fixed random arrays a model draws once (``Frozen``)."""
    state = nnx.state(module, nnx.Any(nnx.Param, Frozen))
    return [np.asarray(a) for a in jax.tree.leaves(state)]


@pytest.mark.parametrize("name, cls", MODULE_CLASSES, ids=[n for n, _ in MODULE_CLASSES])
def test_a_constructor_with_rngs_draws_its_initial_values_from_them(name, cls):
    """Where a constructor takes ``rngs``, the seed decides the parameters: the same seed gives
    the same values, another seed different ones (so no hidden key or global state)."""
    if "rngs" not in inspect.signature(cls.__init__).parameters:
        pytest.skip(f"{name} has no random initialisation")
    build = EXAMPLES.get(name)
    assert build is not None, f"add a small example of {name} to EXAMPLES"
    a, b, c = build(nnx.Rngs(0)), build(nnx.Rngs(0)), build(nnx.Rngs(1))
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(_arrays(a), _arrays(c), strict=True))


def _examples() -> dict:
    from dgm_lib import adversarial as A
    from dgm_lib import autoregressive as ar
    from dgm_lib import energy as E
    from dgm_lib import flows as F
    from dgm_lib import latent as L
    from dgm_lib import nn
    from dgm_lib import score as S

    return {
        "autoregressive.NADE": lambda r: ar.NADE(6, 4, rngs=r),
        "autoregressive.RNADE": lambda r: ar.RNADE(2, 4, 3, rngs=r),
        "autoregressive.MADE": lambda r: ar.MADE(6, (8,), num_masks=2, rngs=r),
        "autoregressive.PixelCNN": lambda r: ar.PixelCNN((4, 4), rngs=r),
        "autoregressive.GRUAutoregressive": lambda r: ar.GRUAutoregressive(6, 4, rngs=r),
        "autoregressive.CausalTransformer": lambda r: ar.CausalTransformer(6, rngs=r),
        "adversarial.Critic": lambda r: A.Critic((3,), (4,), rngs=r),
        "adversarial.Generator": lambda r: A.Generator(2, (4,), (3,), rngs=r),
        "energy.RBM": lambda r: E.RBM(6, 3, rngs=r),
        "energy.PCD": lambda r: E.PCD(E.RBM(6, 3, rngs=r), 4, rngs=r),
        "energy.MLPEnergy": lambda r: E.MLPEnergy(6, (4,), rngs=r),
        "energy.ReplayEBM": lambda r: E.ReplayEBM(E.MLPEnergy(6, (4,), rngs=r), buffer_size=5, rngs=r),
        "flows.Planar": lambda r: F.Planar(2, rngs=r),
        "flows.AdditiveCoupling": lambda r: F.AdditiveCoupling(F.half_mask(2, 0), 4, rngs=r),
        "flows.AffineCoupling": lambda r: F.AffineCoupling(F.half_mask(2, 0), 4, rngs=r),
        "flows.MAF": lambda r: F.MAF(3, 4, rngs=r),
        "flows.Conv1x1": lambda r: F.Conv1x1((2, 2, 3), rngs=r),
        "flows.Stack": lambda r: F.Stack(lambda q, k: F.Planar(2, rngs=q), 2, rngs=r),
        "latent.VAE": lambda r: L.VAE(6, 2, (4,), rngs=r),
        "latent.LinearGaussianVAE": lambda r: L.LinearGaussianVAE(3, 1, rngs=r),
        "nn.MLP": lambda r: nn.MLP((2, 3, 1), rngs=r),
        "nn.Conv2d": lambda r: nn.Conv2d(2, 3, rngs=r),
        "score.TimeEmbedding": lambda r: S.TimeEmbedding(4, rngs=r),
        "score.LabelEmbedding": lambda r: S.LabelEmbedding(3, 4, rngs=r),
        "score.ScoreMLP": lambda r: S.ScoreMLP(2, (4,), embed_dim=4, rngs=r),
        "score.ScoreUNet": lambda r: S.ScoreUNet(1, (4, 4), embed_dim=4, rngs=r),
        "score.NoisyClassifier": lambda r: S.NoisyClassifier(2, 3, (4,), S.VPSDE(), embed_dim=4,
                                                             rngs=r),
    }


EXAMPLES = _examples()
