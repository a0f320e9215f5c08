"""A committed notebook runs the way Colab runs it: a fresh Python, its own install cell, the end.

A new virtual environment gets nothing but a kernel and a notebook runner (ipykernel and
nbclient, as Colab has); the notebook's first cell then installs dgm_lib itself, here from
this repository's committed HEAD (``DGM_LIB_SOURCE=git+file://...@<commit>``, where Colab uses
the repository URL of ``_config.yml``), and the whole notebook executes at the smoke budget.
pip takes every version from ``requirements.txt`` (``PIP_CONSTRAINT``), so the run is the same
on every machine. Uncommitted changes are not in it: commit first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

NOTEBOOK = ROOT / "notebooks" / "probability.ipynb"  # the first chapter: no data set needed
RUNNER = "ipykernel", "nbclient"
EXECUTE = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=900, kernel_name="python3").execute()
nbformat.write(nb, sys.argv[2])
"""


def pins(names: tuple[str, ...]) -> list[str]:
    """``name==version`` of each name, as requirements.txt pins it."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    found = []
    for name in names:
        match = re.search(rf"^{re.escape(name)}==\S+$", text, re.M | re.I)
        assert match, f"requirements.txt pins no {name}"
        found.append(match.group(0))
    return found


def head_commit() -> str:
    run = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip("not a git checkout: the install cell needs a commit to install from")
    return run.stdout.strip()


@pytest.mark.slow
def test_a_notebook_installs_itself_in_a_fresh_environment_and_runs_to_the_end(tmp_path: Path) -> None:
    commit = head_commit()
    venv = tmp_path / "fresh"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "JUPYTER"))},
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PIP_CONSTRAINT": str(ROOT / "requirements.txt"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "DGM_LIB_SOURCE": f"git+file://{ROOT}@{commit}",
        "DGM_BUDGET": "smoke",
        "MPLBACKEND": "Agg",
    }
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", *pins(RUNNER)], env=env,
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    bare = subprocess.run([str(python), "-c", "import dgm_lib"], env=env, capture_output=True)
    assert bare.returncode != 0, "the fresh environment must not have dgm_lib before the notebook runs"
    executed = tmp_path / "executed.ipynb"
    run = subprocess.run([str(python), "-c", EXECUTE, str(NOTEBOOK), str(executed)], env=env,
                         capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    assert run.returncode == 0, f"the notebook failed in a fresh environment:\n{run.stderr[-5000:]}"
    text = executed.read_text(encoding="utf-8")
    assert f"installed dgm_lib from git+file://{ROOT}@{commit}" in text, "the install cell did not say so"
    assert "budget: smoke (DGM_BUDGET=smoke)" in text
    # the measured chapter times ship with the package (package data), as on Colab
    assert re.search(r"expected time at smoke: .*measured: \S+ \w+ at cpu on ", text), text[:3000]
