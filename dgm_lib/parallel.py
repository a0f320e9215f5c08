r"""Data parallelism over every local device: a batch is split along its leading axis, the rest
is replicated.

On a machine with several accelerators (the 8 cores of a Colab TPU, a workstation's GPUs),
:func:`dgm_lib.train.fit`, :func:`dgm_lib.train.evaluate` and the samplers that start from
states (the Langevin chains, the diffusion and score samplers) split their batch of examples or
chains over the local devices with ``jax.sharding``; the code that calls them does not change.
On one device nothing changes at all.

With :math:`D` local devices and a batch of :math:`B`, the devices form a mesh of shape
:math:`(d, D/d)` with :math:`d = \gcd(B, D)`, axes ``("batch", "replica")``: the batch is cut
into :math:`d` equal shards, each held by :math:`D/d` devices, and everything else (parameters,
optimizer state, the training set) is replicated on all :math:`D`. Every array the library
returns so lives on the same :math:`D` devices, and any two of them can meet in one computation.
A batch of 100 on 8 devices runs as 4 shards of 25, each on 2 devices: choose batches divisible
by :math:`D` to use every device.

A sharded step computes the same numbers as one device: a mean over the batch becomes a sum of
the shards' partial sums (an all-reduce), so only the order of the floating-point additions
differs, and with JAX's partitionable Threefry generator (the default) a random draw of shape
``(B, ...)`` is the same array however it is split.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["AXES", "batch_mesh", "replicate", "shard_batch", "shard_leading"]

AXES = ("batch", "replica")
"""Names of the mesh's two axes; the batch is split along the first and replicated along the
second."""


def batch_mesh(size: int) -> Mesh | None:
    r"""The mesh that splits a batch of ``size`` over the local devices, shape
    :math:`(\gcd(\text{size}, D), D / \gcd(\text{size}, D))`; None on a single device."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return None
    shards = math.gcd(size, len(devices))
    return Mesh(np.array(devices).reshape(shards, len(devices) // shards), AXES)


def _place(tree: Any, sharding: NamedSharding) -> Any:
    """Put every leaf of ``tree`` on ``sharding``: a transfer for concrete arrays, a sharding
    constraint for values being traced (a sampler called inside the caller's ``jax.jit``)."""

    def place(x: Any) -> Any:
        if isinstance(x, jax.core.Tracer):
            return jax.lax.with_sharding_constraint(x, sharding)
        return jax.device_put(x, sharding)

    return jax.tree.map(place, tree)


def shard_batch(tree: Any, mesh: Mesh | None) -> Any:
    """Every leaf of ``tree`` split along its leading (batch) axis over ``mesh``; ``tree``
    itself when ``mesh`` is None (one device)."""
    return tree if mesh is None else _place(tree, NamedSharding(mesh, PartitionSpec(AXES[0])))


def shard_leading(x: Any) -> Any:
    """``x`` (an array or pytree of arrays ``(n, ...)``: states, chains, examples) split along
    its leading axis over the local devices, by :func:`batch_mesh` of ``n``."""
    leaves = jax.tree.leaves(x)
    return x if not leaves else shard_batch(x, batch_mesh(leaves[0].shape[0]))


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Every leaf of ``tree`` replicated on all devices of ``mesh``; ``tree`` itself when
    ``mesh`` is None."""
    return tree if mesh is None else _place(tree, NamedSharding(mesh, PartitionSpec()))
