"""Tests of dgm_lib.structural_key: equal for objects that compute the same thing, different
whenever a value the computation reads differs, None for what cannot be keyed by value."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dgm_lib.structural_key import MAX_ARRAY_BYTES, structural_key
from dgm_lib.train import Player, nll_loss

_LEVEL = [1.0]


def scaled(value):
    return lambda x: value * x


def reads_level(x):
    return _LEVEL[0] * x


@dataclasses.dataclass(frozen=True)
class Config:
    width: int
    rate: float


@pytest.mark.parametrize(
    "make",
    [
        lambda: optax.adam(1e-3),
        lambda: optax.adamw(optax.cosine_decay_schedule(1e-3, 100), weight_decay=1e-4),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1, momentum=0.9)),
        lambda: functools.partial(jnp.sum, axis=1),
        lambda: scaled(2.0),
        lambda: scaled(np.arange(3.0)),
        lambda: Config(4, 0.5),
        lambda: [Player(nll_loss, "critic", optax.adam(1e-4), repeats=5)],
        lambda: {"k": jax.random.key(3), "dtype": jnp.float32},
        lambda: nnx.PathContains("critic"),
    ],
)
def test_two_separately_made_equal_objects_have_equal_hashable_keys(make):
    a, b = make(), make()
    assert a is not b
    key = structural_key(a)
    assert key is not None and key == structural_key(b) and hash(key) == hash(structural_key(b))


@pytest.mark.parametrize(
    "a, b",
    [
        (optax.adam(1e-3), optax.adam(2e-3)),  # a hyperparameter in a closure cell
        (optax.adam(1e-3), optax.sgd(1e-3)),  # different code
        (scaled(2.0), scaled(2)),  # a float is not an int
        (scaled(0.0), scaled(-0.0)),  # the sign of zero (1/x tells them apart)
        (scaled(np.zeros(3)), scaled(np.zeros(4))),  # array shape
        (scaled(np.zeros(3)), scaled(np.zeros(3, np.float32))),  # array dtype
        (scaled(np.array([1.0, 2.0])), scaled(np.array([1.0, 3.0]))),  # array values
        (scaled(jax.random.key(0)), scaled(jax.random.key(1))),  # a captured key
        (Config(4, 0.5), Config(4, 0.25)),  # a dataclass field
        (functools.partial(jnp.sum, axis=1), functools.partial(jnp.sum, axis=0)),
        (
            [Player(nll_loss, "critic", optax.adam(1e-4))],
            [Player(nll_loss, "gen", optax.adam(1e-4))],
        ),
    ],
)
def test_objects_that_compute_different_things_have_different_keys(a, b):
    assert structural_key(a) != structural_key(b)


def test_a_changed_global_changes_the_key_of_the_function_that_reads_it():
    _LEVEL[0] = 1.0
    before = structural_key(reads_level)
    _LEVEL[0] = 2.0
    assert structural_key(reads_level) != before
    _LEVEL[0] = 1.0
    assert structural_key(reads_level) == before


def test_the_globals_of_functions_defined_inside_a_function_are_read_too():
    def outer(x):
        return (lambda y: _LEVEL[0] * y)(x)

    _LEVEL[0] = 1.0
    before = structural_key(outer)
    _LEVEL[0] = 3.0
    assert structural_key(outer) != before
    _LEVEL[0] = 1.0


def test_a_recursive_function_has_a_key():
    def countdown(n):
        return 0 if n == 0 else countdown(n - 1)

    assert structural_key(countdown) is not None


@pytest.mark.parametrize(
    "obj",
    [
        nnx.Linear(2, 2, rngs=nnx.Rngs(0)),  # mutable parameters
        nnx.Param(jnp.zeros(2)),
        np.random.default_rng(0),
        np.zeros(MAX_ARRAY_BYTES // 8 + 1),  # too large to digest
        object(),
    ],
)
def test_what_cannot_be_keyed_by_value_gives_none_also_when_captured(obj):
    assert structural_key(obj) is None
    assert structural_key(lambda x: (obj, x)) is None
    assert structural_key([Player(lambda m, b, k: (obj, b), "w", optax.sgd(0.1))]) is None
