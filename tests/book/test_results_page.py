"""The results page: every model a chapter declares is on it, grouped by data, labelled by source.

The page is built from records on disk; these tests write records into a scratch book (its own
``_toc.yml`` and chapters) and read the Markdown the extension would put on the page. The
real book's chapters are checked for what the extension relies on: each chapter that declares
models in its front matter opens its own record.
"""

from __future__ import annotations

import json
import re

import pytest
import results_page as rp
from book_notebooks import chapter_sources
from support import ROOT

from dgm_lib import checkpoints, results

HEADER = "---\njupytext:\n  formats: md:myst\nkernelspec:\n  name: python3\n{extra}---\n# T\n"


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A scratch book of two chapters, 'alpha' (declares two models) and 'beta' (none)."""
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: chapters/alpha\n"
        "  - file: chapters/beta\n  - file: chapters/results\n")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "alpha.md").write_text(
        HEADER.format(extra='results: [model one, "model two, big"]\n'))
    (tmp_path / "chapters" / "beta.md").write_text(HEADER.format(extra=""))
    (tmp_path / "chapters" / "results.md").write_text("# Results\n{results-tables}\n")
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "_generated" / "results"))
    monkeypatch.setenv("DGM_BUDGET", "cpu")
    monkeypatch.setattr(checkpoints, "_RESUMED", [])  # fits resumed earlier in this process
    return tmp_path


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]


def test_declared_models_read_from_front_matter(book) -> None:
    assert rp.declared_models(book / "chapters" / "alpha.md") == ["model one", "model two, big"]
    assert rp.declared_models(book / "chapters" / "beta.md") == []


def test_missing_record_and_missing_models_are_reported(book) -> None:
    _, problems = rp.results_markdown(book)
    assert problems == ["alpha: no results record (it must execute and open "
                        "dgm.results.Results('alpha'))"]
    rec = results.Results("alpha")
    rec.add("model one", data="d", nll=1.0, nll_kind="exact")
    rec.published("model two, big", data="d", nll=0.5, nll_kind="exact", cite="k2020")
    _, problems = rp.results_markdown(book)
    assert problems == ["alpha: no row for model two, big"]  # a published row does not count
    rec.add("model two, big", data="d", nll=0.9, nll_kind="exact")
    assert rp.results_markdown(book)[1] == []


def test_tables_group_by_data_and_order_build_recorded_paper(book) -> None:
    rec = results.Results("alpha")
    rec.published("paper model", data="set A", nll=0.5, nll_kind="bound", cite="k2020")
    rec.add("model one", data="set A", nll=1.0, nll_stderr=0.1, nll_kind="estimate",
            steps=1_000, epochs=2.0, seconds=12.0, sample_metrics={"fd": 3.25, "recall": 0.5},
            sample_space="classifier features, 500 vs 500", samples=[[0.0, 1.0], [1.0, 0.0]])
    rec.add("model two, big", data="set B", nll=2.0, nll_kind="exact")
    recorded = book / "results" / "gpu"
    recorded.mkdir(parents=True)
    (recorded / "alpha.json").write_text(
        (book / "_generated" / "results" / "cpu" / "alpha.json").read_text()
        .replace('"budget": "cpu"', '"budget": "gpu"'))
    markdown, problems = rp.results_markdown(book)
    assert problems == []
    sections = re.findall(r"^## (.+)$", markdown, re.M)
    assert sections == ["set A", "set B"]
    set_a = markdown.split("## set B")[0]
    rows = _rows(set_a)
    assert rows[0].startswith("| model | chapter | source | training | test NLL")
    assert "FD" in rows[0] and "recall" in rows[0] and "bits/dim" not in rows[0]
    sources = [r.split(" | ")[2] for r in rows[1:]]
    assert sources[0] == "this build" and sources[1].startswith("recorded run (cpu:0")
    assert "another commit" not in sources[1] and "resumed" not in sources[1]
    assert sources[2] == "{cite}`k2020`" and len(sources) == 3  # recorded papers are not doubled
    assert "≈ 1.00 ± 0.20" in rows[1] and "≤ 0.50" in rows[3]
    assert "budget cpu; 1,000 steps (2.0 epochs); 12 s" in rows[1]
    assert "budget gpu" in rows[2]
    assert "3.25" in rows[1] and "0.5" in rows[1]
    assert "![samples of model one](../_generated/results/cpu/alpha-model-one-set-a.png)" in rows[1]
    assert "Sample metrics: classifier features, 500 vs 500." in set_a


def test_a_recorded_run_says_when_its_commit_is_not_this_builds_and_when_fits_resumed(
    book,
) -> None:
    rec = results.Results("alpha")
    rec.add("model one", data="d", nll=1.0, nll_kind="exact")
    built = (book / "_generated" / "results" / "cpu" / "alpha.json").read_text()
    build_commit = rec._header["commit"]
    recorded = book / "results" / "gpu"
    recorded.mkdir(parents=True)
    (recorded / "alpha.json").write_text(
        built.replace('"budget": "cpu"', '"budget": "gpu"')
        .replace(f'"commit": {json.dumps(build_commit)}', '"commit": "0123abc"')
        .replace('"resumed_fits": 0', '"resumed_fits": 2'))
    source = _rows(rp.results_markdown(book)[0])[2].split(" | ")[2]
    assert source.startswith("recorded run (cpu:0") and "commit 0123abc" in source
    assert f"**from another commit than this build's ({build_commit})**" in source
    assert "2 fits resumed from checkpoints, timed from the resume" in source


def test_records_of_chapters_not_in_the_book_are_left_out(book) -> None:
    results.Results("gamma").add("stray", data="d", nll=1.0, nll_kind="exact")
    markdown, _ = rp.results_markdown(book)
    assert "stray" not in markdown


def test_every_declaring_chapter_opens_its_own_record() -> None:
    declaring = [p for p in chapter_sources(ROOT) if rp.declared_models(p)]
    assert len(declaring) >= 6, "the chapters that train models declare them"
    for source in chapter_sources(ROOT):
        text = source.read_text(encoding="utf-8")
        opened = re.findall(r'dgm\.results\.Results\("([^"]+)"\)', text)
        if rp.declared_models(source):
            assert opened == [source.stem], f"{source.stem} must open Results({source.stem!r})"
            for model in rp.declared_models(source):
                assert model in text, f"{source.stem}: declared model {model!r} is never named"
        else:
            assert not opened, f"{source.stem} records results but declares no models"
