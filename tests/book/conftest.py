"""One smoke build of the whole site, shared by the site's file checks and its browser checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import ROOT


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The book built by ``scripts/build.sh`` at the smoke budget, warnings as errors; or, with
    ``DGM_SITE=path/to/_build/html``, a site built before (to rerun these checks without a build)."""
    if os.environ.get("DGM_SITE"):
        return Path(os.environ["DGM_SITE"]).resolve()
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "DGM_BUDGET": "smoke"}
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build.sh"), str(out)],
        env=env, capture_output=True, text=True, timeout=1500,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, "book build failed (warnings are errors):\n" + log[-6000:]
    return out / "_build" / "html"
