"""``dgm_lib.chapter_times``: a recorded time reads back as written, replaces only its own
chapter and budget, is written atomically; the first-output sentence says the measurement of
this budget, or that there is none and what the other budgets measured; bad arguments and
damaged files are refused with the file and the remedy named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgm_lib import chapter_times as ct


def test_a_recorded_time_reads_back_and_replaces_only_its_chapter_and_budget(
    tmp_path: Path,
) -> None:
    path = tmp_path / "times.json"
    assert ct.read_times(path) == {}  # nothing measured yet
    first = ct.record_time("vae", "cpu", 229.34, "abc123", path)
    ct.record_time("flows", "cpu", 289.0, "abc123", path)
    ct.record_time("vae", "smoke", 40.0, None, path)
    times = ct.read_times(path)
    assert times["cpu"]["vae"] == first
    assert (first.seconds, first.commit, first.machine) == (229.3, "abc123", ct.machine())
    assert sorted(times["cpu"]) == ["flows", "vae"] and list(times["smoke"]) == ["vae"]
    again = ct.record_time("vae", "cpu", 200.0, "def456", path)
    times = ct.read_times(path)
    assert times["cpu"]["vae"] == again and times["cpu"]["flows"].seconds == 289.0
    assert list(json.loads(path.read_text())) == ["smoke", "cpu"]  # budgets in their order
    assert [p.name for p in tmp_path.iterdir()] == ["times.json"]  # no temporary file left


def test_the_sentence_gives_this_budgets_measurement_or_says_there_is_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "times.json"
    assert ct.expected_time("vae", "cpu", path) == (
        "expected time at cpu: not measured yet (bash scripts/reproduce.sh vae --budget cpu "
        "records it)"
    )
    ct.record_time("vae", "cpu", 289.0, "abc123", path)
    ct.record_time("vae", "smoke", 41.0, "abc123", path)
    cpu = ct.expected_time("vae", "cpu", path)
    assert cpu.startswith("expected time at cpu: about 5 min (measured on ")
    assert "commit abc123" in cpu and ct.machine() in cpu
    assert ct.expected_time("vae", "smoke", path).startswith("expected time at smoke: about 41 s")
    gpu = ct.expected_time("vae", "gpu", path)
    assert gpu.startswith("expected time at gpu: not measured yet")
    assert "measured: 41 s at smoke on" in gpu and "; 5 min at cpu on" in gpu


@pytest.mark.parametrize(("args", "message"), [
    (("VAE.md", "cpu", 1.0), "argument 'chapter' must be a chapter's file name"),
    (("vae", "huge", 1.0), "budget must be one of"),
    (("vae", "cpu", 0.0), "seconds must be positive"),
    (("vae", "cpu", float("nan")), "seconds must be positive"),
])
def test_bad_arguments_are_refused(tmp_path: Path, args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ct.record_time(*args, None, tmp_path / "times.json")
    assert not (tmp_path / "times.json").exists()


@pytest.mark.parametrize("text", ["{not json", '{"huge": {}}', '{"cpu": {"vae": {"secs": 1}}}',
                                  '{"cpu": []}'])
def test_a_damaged_file_is_refused_with_its_name(tmp_path: Path, text: str) -> None:
    path = tmp_path / "times.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"not a file of chapter times.*restore it from git"):
        ct.read_times(path)
    with pytest.raises(ValueError, match=str(path)):
        ct.record_time("vae", "cpu", 1.0, None, path)
    assert path.read_text() == text  # left as it was

