"""Sphinx extension: a rebuild re-executes only the chapters whose code or library changed.

Jupyter Book 1 caches executions (``execute_notebooks: cache``, jupyter-cache) keyed on a
notebook's code cells alone, so after an edit to ``dgm_lib`` every page would keep the outputs
of the old library. Here the cache is keyed on everything else the outputs depend on too: the
library's source files, the pinned requirements, the budget and the data settings. Each such
state has its own cache, ``<output>/_build/.jupyter_cache/<digest>``, in which jupyter-cache
re-executes a chapter whose code cells changed and reuses the others; a new library state
starts an empty one, so every chapter runs again. The chapters' results records go to a folder
of the same state (``_generated/results/<digest>``), so the results page never mixes the
numbers of two libraries. The newest few states are kept, older ones removed.

``DGM_RESULTS_DIR`` set by hand (recording a long run into ``results/``) turns the cache off:
every chapter executes and writes its record there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from dgm_lib.budgets import budget_and_reason
from dgm_lib.results import RESULTS_ENV

KEEP = 3  # cache states kept: a few budgets, or a library edit and its undo
SETTINGS = ("DGM_DATA_DIR", "DGM_OFFLINE")  # environment the outputs depend on
logger = logging.getLogger(__name__)


def state_digest(root: Path) -> str:
    """A digest of what a chapter's outputs depend on besides its own code cells."""
    h = hashlib.sha256()
    pins = [root / "requirements.txt", root / "pyproject.toml"]
    files = [*sorted((root / "dgm_lib").rglob("*.py")), *pins]
    for path in files:
        h.update(f"{path.relative_to(root).as_posix()}\0".encode())
        h.update(path.read_bytes())
    h.update(f"budget={budget_and_reason()[0]}\0".encode())
    for name in SETTINGS:
        h.update(f"{name}={os.environ.get(name, '')}\0".encode())
    return h.hexdigest()[:16]


def keep_newest(folder: Path, current: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used states in ``folder`` (``current`` stays)."""
    states = sorted((p for p in folder.iterdir() if p.is_dir() and p != current),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in states[keep - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def use_state_cache(app: Sphinx, config: Config) -> None:
    if config.nb_execution_mode != "cache":
        return
    if RESULTS_ENV in os.environ:
        config.nb_execution_mode = "force"
        logger.info(f"execution cache: off ({RESULTS_ENV} is set: every chapter records its run)")
        return
    root = Path(app.srcdir)
    digest = state_digest(root)
    cache = Path(app.outdir).parent / ".jupyter_cache" / digest
    results = root / "_generated" / "results" / digest
    for state in (cache, results):
        state.mkdir(parents=True, exist_ok=True)
        state.touch()  # its mtime says when it was last used
        keep_newest(state.parent, state)
    config.nb_execution_cache_path = str(cache)
    os.environ[RESULTS_ENV] = str(results)
    logger.info(f"execution cache: {cache} (library, requirements, budget and data: {digest})")


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", use_state_cache, priority=800)  # after myst-nb's own defaults
    return {"parallel_read_safe": True, "parallel_write_safe": True}
