"""Sphinx extension: the references page labels each work the way the text cites it.

The chapters cite author-year (``bibtex_reference_style: author_year``: "[Burda et al., 2016]"),
but sphinxcontrib-bibtex's default bibliography style labels entries alpha-style ("[BGS16]"),
so a reader cannot find a cited work by its citation. The ``book_author_year`` style here
labels each entry "Burda et al., 2016" (one author: "Hyvärinen, 2005"; two: "Larochelle and
Murray, 2011"), as the text cites it; two works of one author and year get a, b after the year
(the text cites both without it, each linking its own entry); entries are sorted by author and
year.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pybtex.database import Entry, Person
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx

STYLE = "book_author_year"


def surname(person: Person) -> str:
    """A person's surname as plain text, with its "von" part ("van den Oord") and LaTeX accents
    resolved ("Kynkäänniemi"), as the in-text citations write it."""
    parts = [*person.rich_prelast_names, *person.rich_last_names]
    return " ".join(Text(part).render_as("text") for part in parts)


def author_year(entry: Entry) -> str:
    """``Burda et al., 2016``: one or two surnames, else the first and et al., then the year."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [surname(p) for p in people]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) <= 2:
        who = " and ".join(names)
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        # Labels must be unique (sphinxcontrib-bibtex warns on a repeat): two works of one
        # author and year get a, b after it; the text cites both as the bare label.
        labels = [author_year(entry) for entry in sorted_entries]
        repeats, seen = Counter(labels), Counter()
        for label in labels:
            if repeats[label] > 1:
                seen[label] += 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle)


def setup(app: Sphinx) -> dict[str, object]:
    return {"parallel_read_safe": True, "parallel_write_safe": True}
