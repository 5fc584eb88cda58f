"""Open the built site in headless Chromium: screenshots, and failure on JavaScript errors.

Usage (after ``sphinx-build -b html docs docs/_build/html``)::

    python docs/check_site.py [--site docs/_build/html] [--out docs/_build/screenshots]

Serves the site on a free localhost port, opens the index, one API page, the benchmark
page and the OT guide (for its math) in Debian's ``chromium`` (through ``chromedriver`` and
selenium), saves a full-page screenshot of each, and exits 1 if a page logged a JavaScript console error (any frame:
the benchmark page embeds the plotly figure), if the page has no body text, or if the
benchmark page's plotly figure did not render. Every script (plotly.js, MathJax) must come
from the site itself: a CDN that cannot be reached offline shows up as a console error.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGES = {
    "index": "index.html",
    "api_sinkhorn": "api/generated/optkit.ot.sinkhorn.html",
    "benchmarks": "benchmarks.html",
    "guide_ot": "guide/ot.html",
}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1280,1000")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _serve(site: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def _plotly_rendered(driver) -> bool:
    from selenium.webdriver.common.by import By

    frames = driver.find_elements(By.TAG_NAME, "iframe")
    if not frames:
        return False
    driver.switch_to.frame(frames[0])
    try:
        return bool(driver.execute_script(
            "return typeof Plotly !== 'undefined' && "
            "document.querySelectorAll('.plot-container .main-svg').length > 0"))
    finally:
        driver.switch_to.default_content()


def check(site: Path, out: Path) -> list[str]:
    """Visit the pages; return the problems found (empty: all good)."""
    from selenium.webdriver.support.ui import WebDriverWait

    out.mkdir(parents=True, exist_ok=True)
    problems = []
    server = _serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    profile = tempfile.mkdtemp(prefix="optkit-chromium-")
    driver = _browser(profile)
    try:
        for name, path in PAGES.items():
            if not (site / path).is_file():
                problems.append(f"{path}: not built")
                continue
            driver.get(f"{base}/{path}")
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script("return document.readyState") == "complete")
            if name == "benchmarks":
                try:
                    WebDriverWait(driver, 30).until(_plotly_rendered)
                except Exception:
                    problems.append(f"{path}: the plotly figure did not render")
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1280, min(max(int(height), 800), 6000))
            shot = out / f"{name}.png"
            driver.save_screenshot(str(shot))
            print(f"{path}: screenshot {shot}")
            if not driver.execute_script("return document.body.innerText.trim().length"):
                problems.append(f"{path}: empty page")
            for entry in driver.get_log("browser"):
                if entry["level"] == "SEVERE":
                    problems.append(f"{path}: console error: {entry['message']}")
            driver.set_window_size(1280, 1000)
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=DOCS / "_build" / "html")
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots")
    args = parser.parse_args(argv)
    problems = check(args.site, args.out)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print("site check:", "failed" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
