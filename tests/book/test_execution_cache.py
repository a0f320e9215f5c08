"""The execution cache is keyed on the library, the pins, the budget and the data settings."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from execution_cache import keep_newest, state_digest, use_state_cache

from dgm_lib.results import RESULTS_ENV


@pytest.fixture
def book(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "dgm_lib" / "sub").mkdir(parents=True)
    (tmp_path / "dgm_lib" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "dgm_lib" / "sub" / "m.py").write_text("y = 2\n")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "a.md").write_text("# A\n")
    (tmp_path / "requirements.txt").write_text("jax==1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    for name in ("DGM_DATA_DIR", "DGM_OFFLINE", RESULTS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DGM_BUDGET", "smoke")
    return tmp_path


def test_the_digest_follows_the_library_the_pins_the_budget_and_the_data(book: Path, monkeypatch) -> None:
    first = state_digest(book)
    (book / "chapters" / "a.md").write_text("# A, edited\n")  # jupyter-cache sees chapter edits
    assert state_digest(book) == first
    changes = [
        lambda: (book / "dgm_lib" / "sub" / "m.py").write_text("y = 3\n"),
        lambda: (book / "dgm_lib" / "new.py").write_text(""),
        lambda: (book / "requirements.txt").write_text("jax==2\n"),
        lambda: monkeypatch.setenv("DGM_BUDGET", "cpu"),
        lambda: monkeypatch.setenv("DGM_DATA_DIR", "/elsewhere"),
    ]
    seen = {first}
    for change in changes:
        change()
        digest = state_digest(book)
        assert digest not in seen, "a change the outputs depend on must give a new cache"
        seen.add(digest)


def test_only_the_newest_states_are_kept(tmp_path: Path) -> None:
    states = []
    for i in range(5):
        state = tmp_path / f"s{i}"
        state.mkdir()
        os.utime(state, (time.time() - 100 + i, time.time() - 100 + i))
        states.append(state)
    keep_newest(tmp_path, states[0], keep=3)  # the current one stays, however old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s0", "s3", "s4"]


def test_a_build_gets_the_cache_and_results_folder_of_its_state(book: Path) -> None:
    app = SimpleNamespace(srcdir=str(book), outdir=str(book / "out" / "_build" / "html"))
    config = SimpleNamespace(nb_execution_mode="cache", nb_execution_cache_path="")
    try:
        use_state_cache(app, config)
        digest = state_digest(book)
        assert Path(config.nb_execution_cache_path) == book / "out" / "_build" / ".jupyter_cache" / digest
        assert Path(os.environ[RESULTS_ENV]) == book / "_generated" / "results" / digest
        assert Path(config.nb_execution_cache_path).is_dir()
    finally:
        os.environ.pop(RESULTS_ENV, None)


def test_recording_a_run_turns_the_cache_off(book: Path, monkeypatch) -> None:
    monkeypatch.setenv(RESULTS_ENV, str(book / "results"))
    app = SimpleNamespace(srcdir=str(book), outdir=str(book / "out"))
    config = SimpleNamespace(nb_execution_mode="cache", nb_execution_cache_path="")
    use_state_cache(app, config)
    assert config.nb_execution_mode == "force" and os.environ[RESULTS_ENV] == str(book / "results")
