"""The built site in a real browser, with the network shut: Debian's Chromium driven by Playwright.

The smoke build (the session's ``site`` fixture) is served on 127.0.0.1 and every page is
opened at a desktop width and at a phone's 390 x 844, with every request to another host
refused and recorded. On every page: no console error and no uncaught exception, no failed
request, nothing asked of another host, every image loaded, every formula typeset by the
site's own MathJax (as many rendered as the page holds, none in error), and at the phone's
width no sideways scrolling. On a chapter: the phone's menu and contents buttons open their
drawers, and in dark mode every figure sits on an opaque background. Screenshots of that
chapter at desktop, phone and dark mode are saved in ``_generated/screenshots/``.

Chromium comes from Debian (``scripts/setup.sh`` installs it where apt can) and Playwright
from the pins, driving the system browser: nothing is downloaded at run time. Without a
Chromium these tests skip, except where ``DGM_REQUIRE_BROWSER=1`` (``.ci/run``) makes that a
failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT

SHOWN = "evaluation"  # the chapter photographed for a person to look at
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "_generated" / "screenshots"
CHROMIUM_FLAGS = [  # a closed network: no background services that would call home
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# MathJax typesets asynchronously; a page is read once its startup promise settles.
TYPESET = "() => (window.MathJax && MathJax.startup) ? MathJax.startup.promise.then(() => true) : true"
MATH = """() => [
  document.querySelectorAll('span.math, div.math').length,
  document.querySelectorAll('span.math mjx-container, div.math mjx-container').length,
  document.querySelectorAll('mjx-merror').length]"""
IMAGES = """() => Array.from(document.images)
  .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))"""
WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def chromium() -> str:
    found = os.environ.get("DGM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = ("no Chromium: install Debian's chromium (bash scripts/setup.sh does, where apt "
                   "can) or set DGM_CHROMIUM to a Chromium binary")
        if os.environ.get("DGM_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[object]:
    executable = chromium()
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


class Visit:
    """One page opened in a fresh context: what it logged, failed and asked of other hosts."""

    def __init__(self, browser, base: str, path: str, **context) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.remote: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("requestfailed", lambda r: r.url in self.remote or self.failed.append(r.url))
        self.page.route("**/*", lambda route: self._route(route, base))
        self.page.goto(base + path, wait_until="load")
        self.page.wait_for_function(TYPESET)

    def _route(self, route, base: str) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            self.remote.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


def pages(site: Path) -> list[str]:
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return [p for p in found if not p.startswith("_")]  # _modules/, _sources/: not the book's pages


def test_every_page_loads_clean_offline_and_fits_a_phone(site: Path, server: str, browser) -> None:
    problems = []
    for path in pages(site):
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            visit = Visit(browser, server, path, viewport=viewport)
            where = f"{path} ({name})"
            problems += [f"{where}: console: {e}" for e in visit.errors]
            problems += [f"{where}: request failed: {u}" for u in visit.failed]
            problems += [f"{where}: asked another host for {u}" for u in visit.remote]
            problems += [f"{where}: image did not load: {u}" for u in visit.page.evaluate(IMAGES)]
            held, typeset, errors = visit.page.evaluate(MATH)
            if typeset != held or errors:
                problems.append(f"{where}: {typeset} of {held} formulas typeset, {errors} in error")
            scroll, width = visit.page.evaluate(WIDTH)
            if name == "phone" and scroll > width:
                problems.append(f"{where}: the page is {scroll} px wide in a {width} px viewport")
            if path == f"chapters/{SHOWN}.html":  # for a person to look at
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                visit.page.screenshot(path=str(SCREENSHOTS / f"{SHOWN}-{name}.png"))
            visit.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("kind, label", [("primary", "menu"), ("secondary", "contents")])
def test_the_phone_buttons_open_their_drawers(server: str, browser, kind: str, label: str) -> None:
    visit = Visit(browser, server, f"chapters/{SHOWN}.html", viewport=PHONE)
    dialog = visit.page.locator(f"dialog#pst-{kind}-sidebar-modal")
    assert not dialog.evaluate("d => d.open")
    visible = visit.page.locator(f"button.{kind}-toggle:visible")
    assert visible.count() == 1, f"one visible {label} button on a phone, found {visible.count()}"
    visible.click()
    visit.page.wait_for_timeout(300)
    assert dialog.evaluate("d => d.open"), f"the phone's {label} button did not open its drawer"
    links = dialog.locator("a:visible")
    assert links.count() > 3, f"the {label} drawer shows {links.count()} links"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SCREENSHOTS / f"{SHOWN}-phone-{label}.png"))
    visit.close()


def test_dark_mode_keeps_figures_on_an_opaque_background(server: str, browser) -> None:
    visit = Visit(browser, server, f"chapters/{SHOWN}.html", viewport=DESKTOP, color_scheme="dark")
    assert visit.page.evaluate("document.documentElement.dataset.theme") == "dark"
    backgrounds = visit.page.evaluate("""() => Array.from(document.querySelectorAll('.cell_output img'))
      .map(i => getComputedStyle(i).backgroundColor)""")
    assert backgrounds, "no figure on the chapter"
    clear = [b for b in backgrounds if b in ("transparent", "rgba(0, 0, 0, 0)")]
    assert not clear, f"{len(clear)} of {len(backgrounds)} figures have no background in dark mode"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.locator(".cell_output img").nth(1).scroll_into_view_if_needed()
    visit.page.screenshot(path=str(SCREENSHOTS / f"{SHOWN}-dark.png"))
    visit.close()
