"""The results record: what a chapter writes is what the results page reads, whole or not at all."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from dgm_lib import files, results
from dgm_lib.results import Results, Row, load_record, read_records


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv("DGM_BUDGET", "smoke")
    return tmp_path / "smoke"


def test_record_round_trips(folder) -> None:
    rec = Results("toychapter")
    built = rec.add("model A", data="toy data, test split", nll=1.25, nll_stderr=0.01,
                    nll_kind="exact", bits_per_dim=0.9, steps=100, epochs=2.5, seconds=3.0,
                    sample_metrics={"fd": 1.5}, sample_space="features X, 500 vs 500")
    paper = rec.published("model A", data="toy data, test split", nll=1.0, nll_kind="bound",
                          cite="somekey2020", note="as published")
    back = load_record(folder / "toychapter.json")
    assert back.rows == (built, paper)  # the same name as trained and as published: two rows
    assert back.chapter == "toychapter" and back.budget == "smoke"
    assert back.header["devices"] and back.header["date"].endswith("UTC")
    assert back.header["schema"] == results.SCHEMA
    assert [r.path for r in read_records(folder.parent)] == [folder / "toychapter.json"]


def test_opening_a_record_starts_it_afresh_and_rows_replace(folder) -> None:
    first = Results("toychapter")
    first.add("m", data="d", nll=2.0, nll_kind="exact")
    first.add("m", data="d", nll=1.5, nll_kind="exact")          # a rerun cell replaces its row
    first.add("m", data="other data", nll=3.0, nll_kind="exact")  # another data set: a new row
    assert [(r.data, r.nll) for r in load_record(first.path).rows] == [("d", 1.5),
                                                                       ("other data", 3.0)]
    Results("toychapter")
    assert load_record(first.path).rows == ()


@pytest.mark.parametrize(("samples", "shape"), [
    (np.random.default_rng(0).uniform(size=(20, 8, 8)), "images"),
    (np.random.default_rng(0).normal(size=(500, 2)), "points"),
])
def test_thumbnail_is_a_small_png(folder, samples, shape) -> None:
    row = Results("toychapter").add(f"model {shape}", data="d", samples=samples)
    picture = imread(folder / row.thumbnail)
    assert picture.shape[:2] == (128, 128)  # 1.6 inches at 80 dpi
    assert picture[..., :3].std() > 0.01, "the picture is blank"


def test_images_drawn_are_the_first_sixteen(folder) -> None:
    dark = np.zeros((32, 4, 4))
    dark[16:] = 1.0  # images after the sixteenth are white: they must not be drawn
    row = Results("toychapter").add("m", data="d", samples=dark)
    grey = imread(folder / row.thumbnail)[..., :3].mean(-1)
    assert np.median(grey) < 0.2


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(nll=math.nan, nll_kind="exact"), "finite number"),
    (dict(nll=1.0), "what kind of number"),
    (dict(nll=1.0, nll_kind="approximate"), "what kind of number"),
    (dict(nll_stderr=0.1), "need an 'nll'"),
    (dict(sample_metrics={"fd": 1.0}), "sample_space"),
    (dict(sample_metrics={"fd": math.inf}, sample_space="s"), "finite number"),
    (dict(steps=-1), "non-negative"),
    (dict(data=" "), "non-empty"),
])
def test_bad_rows_are_refused(kwargs, match) -> None:
    fields = {"data": "d", **kwargs}
    with pytest.raises(ValueError, match=match):
        Row("m", **fields)


def test_published_rows_need_a_citation(folder) -> None:
    with pytest.raises(ValueError, match="cite"):
        Results("toychapter").published("m", data="d", cite="")


@pytest.mark.parametrize("chapter", ["", "Autoregressive", "chapters/x", "x.md", 3])
def test_chapter_names_are_file_stems(folder, chapter) -> None:
    with pytest.raises(ValueError, match=r"file name without '\.md'"):
        Results(chapter)


@pytest.mark.parametrize("samples", [np.zeros((5, 3)), np.zeros((0, 4, 4)), np.full((2, 2), np.nan)])
def test_bad_samples_are_refused(folder, samples) -> None:
    with pytest.raises(ValueError, match="samples"):
        Results("toychapter").add("m", data="d", samples=samples)


def test_a_failed_write_keeps_the_old_record(folder, monkeypatch) -> None:
    rec = Results("toychapter")
    rec.add("kept", data="d", nll=1.0, nll_kind="exact")
    before = rec.path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken)
    with pytest.raises(OSError, match="disk full"):
        rec.add("lost", data="d", nll=2.0, nll_kind="exact")
    assert rec.path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["toychapter.json"]  # no temporary file


def test_atomic_file_writes_whole_files_only(tmp_path) -> None:
    target = tmp_path / "sub" / "f.txt"
    with files.atomic_file(target, "w") as out:
        out.write("one")
    with pytest.raises(RuntimeError), files.atomic_file(target, "w") as out:
        out.write("two, half")
        raise RuntimeError
    assert target.read_text() == "one"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
    with pytest.raises(ValueError, match="'wb' or 'w'"), files.atomic_file(target, "a"):
        pass


def test_reading_refuses_other_schemas_and_unknown_fields(tmp_path) -> None:
    path = tmp_path / "smoke" / "x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"schema": 99, "rows": []}))
    with pytest.raises(ValueError, match=r"x\.json is not a results record of schema 1"):
        load_record(path)
    path.write_text(json.dumps({"schema": 1, "chapter": "x", "rows": [{"model": "m",
                                                                        "data": "d", "loss": 1}]}))
    with pytest.raises(ValueError, match=r"row 0: unknown fields \['loss'\]"):
        load_record(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the record"):
        load_record(path)


def test_the_commit_is_dirty_for_code_changes_not_for_the_recorded_runs(tmp_path,
                                                                        monkeypatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "dgm_lib").mkdir()
    for name in ("results/cpu/vae.json", "dgm_lib/chapter_times.json", "dgm_lib/train.py"):
        (tmp_path / name).write_text("{}")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.chdir(tmp_path / "dgm_lib")  # chapters run from a subfolder
    clean = results.commit()
    assert clean is not None and not clean.endswith("+dirty")
    (tmp_path / "results/cpu/vae.json").write_text('{"seconds": 1}')
    (tmp_path / "dgm_lib/chapter_times.json").write_text('{"vae": 1}')
    assert results.commit() == clean  # a recorded run is not a change to the code
    (tmp_path / "dgm_lib/train.py").write_text("changed")
    assert results.commit() == clean + "+dirty"
