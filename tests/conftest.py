"""Shared test set-up: the repository root, a CPU-only JAX unless told otherwise, full matmuls."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax

# The tests compare with float64 oracles; on a GPU, float32 matmuls would otherwise use TF32.
jax.config.update("jax_default_matmul_precision", "highest")

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # the shared helpers: `from support.bad_calls import ...`
sys.path.insert(0, str(TESTS.parent / "_ext"))
