"""``scripts/reproduce.sh``: a chapter executed at a budget with every fit checkpointed writes
its results record and its executed notebook; run again, it resumes from the checkpoints (every
fit loads, none trains, none rewrites its file) and records the same numbers; checkpoints of
another version of the source are discarded first; a wrong chapter or budget is refused with
the choices named. The chapter's wall time is recorded for its first output."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from book_notebooks import chapter_sources
from results_page import declared_models
from support import ROOT

from dgm_lib.chapter_times import TIMES_FILE, read_times

SCRIPT = ROOT / "scripts" / "reproduce.py"
CHAPTER = "background"  # trains with fit and records results, in about 30 s at smoke


def reproduce(*args: str, shell: bool = False) -> subprocess.CompletedProcess:
    """Run the Python script behind ``scripts/reproduce.sh`` (the test command has set up the
    environment the shell script would), or with ``shell`` the documented command itself."""
    command = ["bash", str(ROOT / "scripts" / "reproduce.sh")] if shell else [sys.executable,
                                                                           str(SCRIPT)]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def script_module():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_recorded_run_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    times = tmp_path / "times.json"
    options = ["--budget", "smoke", "--results-dir", str(tmp_path / "results"),
               "--work-dir", str(tmp_path / "work"), "--times-file", str(times)]
    first = reproduce(CHAPTER, *options)
    assert first.returncode == 0, first.stderr[-4000:]
    assert "0 checkpoints to resume from" in first.stdout
    work = tmp_path / "work" / "smoke" / CHAPTER
    saved = {path.name: path.read_bytes() for path in work.glob("fit-*.npz")}
    assert len(saved) >= 3
    record_path = tmp_path / "results" / "smoke" / f"{CHAPTER}.json"
    record = json.loads(record_path.read_text())
    assert (record["budget"], record["chapter"], record["resumed_fits"]) == ("smoke", CHAPTER, 0)
    assert record["commit"] and record["devices"] and record["date"]
    executed = nbformat.read(work / f"{CHAPTER}.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    measured = read_times(times)["smoke"][CHAPTER]  # the chapter's wall time, for its first line
    assert measured.commit == record["commit"] and measured.seconds > record["seconds"]

    second = reproduce(CHAPTER, *options)
    assert second.returncode == 0, second.stderr[-4000:]
    assert f"{len(saved)} checkpoints to resume from" in second.stdout
    assert f"not recorded in {times}: {len(saved)} checkpoints resumed" in second.stdout
    assert read_times(times)["smoke"][CHAPTER] == measured  # the whole run's time is kept
    assert {path.name: path.read_bytes() for path in work.glob("fit-*.npz")} == saved
    again = json.loads(record_path.read_text())
    assert 0 < again["resumed_fits"] <= len(saved)  # the fits loaded before its last row
    built = {r["model"]: r["nll"] for r in record["rows"] if r["source"] == "build"}
    assert {r["model"]: r["nll"] for r in again["rows"] if r["source"] == "build"} == built


def test_checkpoints_of_another_source_are_discarded(tmp_path: Path) -> None:
    module = script_module()
    for name in ("fit-000.npz", "fit-001.npz"):
        (tmp_path / name).write_bytes(b"old")
    (tmp_path / module.SOURCE_FILE).write_text("an older digest\n")
    assert module.prepare_checkpoints(tmp_path, "digest") == 0
    assert not list(tmp_path.glob("fit-*.npz"))
    (tmp_path / "fit-000.npz").write_bytes(b"this source's")
    assert module.prepare_checkpoints(tmp_path, "digest") == 1


def test_the_source_digest_follows_the_chapter_and_the_library() -> None:
    module = script_module()
    assert module.source_digest("background") != module.source_digest("vae")
    assert module.source_digest("vae") == module.source_digest("vae")


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-chapter"], "no chapter 'no-such-chapter'; choose one of"),
    (["results"], "no chapter 'results'"),  # a page without code
    (["vae", "--budget", "huge"], "DGM_BUDGET='huge' is not a budget"),
])
def test_a_wrong_chapter_or_budget_is_refused(args: list[str], message: str) -> None:
    done = reproduce(*args, shell=args == ["no-such-chapter"])  # the shell script passes it on
    assert done.returncode == 2
    assert message in done.stderr


def test_every_chapter_has_a_recorded_time_and_record_at_cpu() -> None:
    """The committed measurements cover the book: a chapter added or renamed without
    ``reproduce.sh CHAPTER --budget cpu`` would print "not measured yet" at the default budget."""
    measured = read_times(TIMES_FILE).get("cpu", {})
    for source in chapter_sources(ROOT):
        assert source.stem in measured, f"{source.stem}: no time at cpu in {TIMES_FILE.name}"
        assert 0 < measured[source.stem].seconds < 8 * 60, (source.stem, measured[source.stem])
        if declared_models(source):
            assert (ROOT / "results" / "cpu" / f"{source.stem}.json").is_file(), source.stem
