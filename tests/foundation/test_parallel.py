"""Data parallelism (:mod:`dgm_lib.parallel`): on 8 devices ``fit``, ``evaluate`` and every
sampler that starts from states split their batch over the devices and return what one device
returns, and ``fit`` still compiles its step once.

JAX fixes its devices when it starts, so ``support/parallel_run.py`` runs in two fresh
processes: the CPU split into 8 devices (``--xla_force_host_platform_device_count=8``), and one
device. The 8-device run must agree with the single device to float tolerance (a loss averaged
over one shard instead of the batch, or chains drawing per-shard noise, would not), and its
batches must be split: 64 examples or chains as 8 rows a device, a batch of 100 as 4 shards of
25 (``gcd(100, 8) = 4``), read from the partitioned program and from the returned arrays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from support import ROOT

SCRIPT = ROOT / "tests" / "support" / "parallel_run.py"
SAMPLERS = ("ula", "mala", "annealed_langevin", "ais", "ancestral_sample", "ddim_sample",
            "euler_maruyama", "probability_flow_ode", "probability_flow_log_prob")


def run(devices: int) -> dict:
    """The script's record in a fresh process whose CPU is split into ``devices`` devices."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT / "tests"))
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    return run(8), run(1)


def test_the_runs_saw_8_devices_and_1(runs: tuple[dict, dict]) -> None:
    sharded, single = runs
    assert (sharded["devices"]["count"], single["devices"]["count"]) == (8, 1)


@pytest.mark.parametrize("name", ["fit64", "fit100", "evaluate64", "evaluate100", "validation",
                                  *SAMPLERS])
def test_8_devices_compute_what_one_device_computes(runs: tuple[dict, dict], name: str) -> None:
    sharded, single = runs
    np.testing.assert_allclose(sharded[name]["values"], single[name]["values"],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "rows"), [
    ("fit64", 8), ("fit100", 25), ("evaluate64", 8), ("evaluate100", 25),
    *((name, 8) for name in SAMPLERS),
])
def test_the_batch_is_split_over_the_devices(runs: tuple[dict, dict], name: str,
                                             rows: int) -> None:
    sharded, single = runs
    assert sharded[name]["shard_rows"] == [rows]
    assert single[name]["shard_rows"] == [rows * {8: 8, 25: 4}[rows]]


@pytest.mark.parametrize("batch", [64, 100])
def test_fit_on_8_devices_compiles_once_and_returns_replicated_parameters(
    runs: tuple[dict, dict], batch: int
) -> None:
    sharded, _ = runs
    first, again = sharded[f"fit{batch}"]["traces"]
    assert (first, again) == (1, 0)  # three dispatches, the last shorter: one compilation
    assert sharded[f"fit{batch}"]["params"] == [8, True]
