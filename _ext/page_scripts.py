"""Sphinx extension: each script of a page once.

sphinx-thebe 0.3.1 is set up twice in a Jupyter Book build, so its inline configuration,
``const THEBE_JS_URL = ...``, lands twice on every page, and the browser refuses the second
copy with a console error ("Identifier 'THEBE_JS_URL' has already been declared"); so does
sphinx-togglebutton's. At
``html-page-context`` this drops a script that repeats one already on the page (same file, or
same inline body, and same attributes), keeping the first, so the order of the rest is kept.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _identity(script: Any) -> tuple:
    """File and attributes (an inline script's body is an attribute); an inline script is
    registered with the file None by one extension and "" by another."""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items())))


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Keep the first of scripts that are the same file, or the same inline body."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        identity = _identity(script)
        if identity not in seen:
            seen.add(identity)
            kept.append(script)
    scripts[:] = kept  # in place: handlers that run later add a page's own scripts to it


def setup(app: Sphinx) -> dict[str, object]:
    # Early: Sphinx stops calling html-page-context handlers at the first that returns a value.
    app.connect("html-page-context", drop_repeated_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
