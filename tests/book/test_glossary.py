"""The glossary speaks the course notes' words, and every glossary link of the book resolves.

chapters/glossary.md holds Sphinx ``{glossary}`` blocks: each entry is a term line, optional
alias lines, then an indented definition that starts with the Chinese term and a period, e.g.
``  链式法则. $p(x_1, ...``. A Chinese term may carry a second form in parentheses,
``高斯分布（正态分布）``, and ends with the marker ``（本书译名）`` when it is the book's own
translation (the notes write the concept only in English, or not at all). Every unmarked form
must appear verbatim in the Chinese course notes, ../shared/notes/cs236-notes-zh.md; a marked
one must not (or the glossary would hide a term the notes do use), save the exceptions below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT

GLOSSARY = ROOT / "chapters" / "glossary.md"
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
NOTES = ROOT.parent / "shared" / "notes" / "cs236-notes-zh.md"
MARK = "（本书译名）"

# Marked terms whose words occur in the notes for another concept: form -> why it stays marked.
MARKED_BUT_IN_NOTES = {
    "先验": "the notes' 先验 is 先验知识 / 先验条件 (prior knowledge), never the prior p(z)",
}

FENCE = re.compile(r"^```\{glossary\}[^\n]*\n(.*?)^```", re.M | re.S)
TERM_FIELD = re.compile(r"^(?P<term>[^.]+?)\.(?:\s|$)")  # the text before the first ". "
TERM_FORMAT = re.compile(r"^(?P<main>[^（）$]+?)(?P<alts>(?:（[^（）$]+）)*)$")
CJK = re.compile(r"[\u4e00-\u9fff]")
ROLE = re.compile(r"\{term\}`([^`]+)`")


@dataclass(frozen=True)
class Entry:
    names: tuple[str, ...]  # the term, then its aliases
    definition: str  # the indented lines joined by spaces
    line: int  # of the term in glossary.md

    @property
    def chinese(self) -> str:
        """The Chinese term as written, marker included ('' when there is none)."""
        match = TERM_FIELD.match(self.definition)
        return match["term"].strip() if match else ""

    @property
    def book_own(self) -> bool:
        return self.chinese.endswith(MARK)

    @property
    def forms(self) -> list[str]:
        """The main Chinese term and its parenthesised forms, without the marker."""
        term = self.chinese.removesuffix(MARK) if self.book_own else self.chinese
        match = TERM_FORMAT.match(term)
        if not match:
            return []
        alts = re.findall(r"（([^（）]+)）", match["alts"])
        return [match["main"].strip()] + [a.strip() for alt in alts for a in alt.split("、")]

    def __str__(self) -> str:
        return f"glossary.md:{self.line} {self.names[0]!r} ({self.chinese[:24] or 'no term'})"


def parse_glossary(text: str) -> list[Entry]:
    """Every entry of every ``{glossary}`` block, in order."""
    entries: list[Entry] = []
    for fence in FENCE.finditer(text):
        first = text.count("\n", 0, fence.start(1)) + 1
        groups: list[tuple[int, list[str], list[str]]] = []  # (line, names, definition lines)
        for offset, line in enumerate(fence[1].splitlines()):
            if not line.strip() or (not groups and line.startswith(":")):
                continue  # blank lines and the block's options (:sorted:)
            if not line[0].isspace():  # a term or alias line
                if not groups or groups[-1][2]:  # the first term, or one after a definition
                    groups.append((first + offset, [], []))
                groups[-1][1].append(line.strip())
            else:
                assert groups, f"glossary.md:{first + offset}: a definition without a term"
                groups[-1][2].append(line.strip())
        entries += [Entry(tuple(names), " ".join(body), line) for line, names, body in groups]
    return entries


ENTRIES = parse_glossary(GLOSSARY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def notes() -> str:
    if not NOTES.is_file():
        pytest.skip(f"no course notes at {NOTES} (the shared folder next to the repository)")
    return NOTES.read_text(encoding="utf-8")


def test_glossary_has_one_block_per_part_and_every_entry_a_definition() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    sections = re.findall(r"^## ", text, re.M)
    assert len(sections) >= 4 and len(FENCE.findall(text)) == len(sections)
    assert len(ENTRIES) > 100, f"only {len(ENTRIES)} entries parsed"
    assert not [str(e) for e in ENTRIES if not e.definition], "entries without a definition"


def test_every_entry_starts_with_a_well_formed_chinese_term() -> None:
    """'Main（other form）（本书译名）.', the main term Chinese or the entry's own name kept as is
    (PixelCNN, Transformer), the marker at most once and only at the end."""
    bad = []
    for entry in ENTRIES:
        forms = entry.forms
        names = {name.lower() for name in entry.names}
        if (
            not forms
            or MARK in entry.chinese.removesuffix(MARK)
            or not (CJK.search(forms[0]) or forms[0].lower() in names)
        ):
            bad.append(str(entry))
    assert not bad, "definitions that do not start with a Chinese term:\n" + "\n".join(bad)


def test_every_term_of_the_notes_appears_verbatim_in_the_notes(notes: str) -> None:
    missing = [
        f"{entry}: {form!r}"
        for entry in ENTRIES
        if not entry.book_own
        for form in entry.forms
        if form not in notes
    ]
    assert not missing, (
        f"Chinese terms not in {NOTES.name}: use the notes' own term, or mark the term {MARK}:\n"
        + "\n".join(missing)
    )


def test_no_term_marked_as_the_books_own_is_in_the_notes(notes: str) -> None:
    found = [
        f"{entry}: {form!r}"
        for entry in ENTRIES
        if entry.book_own
        for form in entry.forms
        if form in notes and form not in MARKED_BUT_IN_NOTES
    ]
    assert not found, (
        f"terms marked {MARK} that the notes do use: drop the marker (or, when the notes use"
        " the words for another concept, say so in MARKED_BUT_IN_NOTES):\n" + "\n".join(found)
    )
    stale = [form for form in MARKED_BUT_IN_NOTES if form not in notes]
    assert not stale, f"MARKED_BUT_IN_NOTES lists forms the notes no longer use: {stale}"


def test_no_two_entries_share_a_term_or_alias() -> None:
    """Sphinx resolves a term case-insensitively, so 'KL divergence' and 'kl divergence' clash."""
    seen: dict[str, Entry] = {}
    clashes = []
    for entry in ENTRIES:
        for name in entry.names:
            key = name.lower()
            if key in seen:
                clashes.append(f"{name!r}: {seen[key]} and {entry}")
            seen.setdefault(key, entry)
    assert not clashes, "terms defined twice:\n" + "\n".join(clashes)


def test_no_two_entries_share_a_chinese_term() -> None:
    seen: dict[str, Entry] = {}
    clashes = []
    for entry in ENTRIES:
        main = entry.forms[0] if entry.forms else ""
        if main in seen:
            clashes.append(f"{main!r}: {seen[main]} and {entry}")
        seen.setdefault(main, entry)
    assert not clashes, "one Chinese term for two entries:\n" + "\n".join(clashes)


def term_references(path: Path) -> list[tuple[int, str]]:
    """(line, target) of each {term}`text <target>` or {term}`target` in a file."""
    text = path.read_text(encoding="utf-8")
    refs = []
    for match in ROLE.finditer(text):
        content = " ".join(match[1].split())
        target = re.fullmatch(r".*<(.+)>", content)
        refs.append((text.count("\n", 0, match.start()) + 1, target[1] if target else content))
    return refs


def test_every_term_link_of_the_chapters_resolves_to_an_entry() -> None:
    names = {name.lower() for entry in ENTRIES for name in entry.names}
    refs = [(path, line, target) for path in CHAPTERS for line, target in term_references(path)]
    assert refs, "no {term} link found in chapters/*.md"
    dangling = [
        f"{path.relative_to(ROOT)}:{line}: {{term}}`{target}`"
        for path, line, target in refs
        if target.strip().lower() not in names
    ]
    assert not dangling, "term links with no glossary entry or alias:\n" + "\n".join(dangling)
