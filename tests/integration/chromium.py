"""What the admin page's browser tests share: Debian's chromium, driven by Playwright, and axe-core run in the page
(`make test` installs both). The `browser` fixture is in conftest.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("QBSYNC_SCREENSHOTS", ROOT / "build" / "screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# /work/.library/env/machines/python.md: without the background-networking flags Chromium keeps dialling out.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP, TABLET = {"width": 1280, "height": 860}, {"width": 820, "height": 1100}
TIMEOUT_MS = int(os.environ.get("QBSYNC_BROWSER_TIMEOUT_MS", "240000"))


def new_tab(browser):
    """A tab of its own context, at laptop size, with the tests' timeout: (context, tab)."""
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    return context, tab


def check_screen(page, shot: str) -> None:
    """axe-core in the page: no serious or critical violation; then a screenshot of the screen as `shot`.png."""
    # Evaluated through DevTools, which the page's Content-Security-Policy does not govern (a <script> would be).
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{shot}: {bad}"
    screenshot(page, shot)


def screenshot(page, shot: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
