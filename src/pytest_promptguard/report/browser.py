"""A headless Chromium, when the machine has one: for the screenshot of the HTML report."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, and quiet on a machine without network: no background requests, no sandbox (CI runs as root).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_browser(browser: str, page: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local page with a fresh profile; `args` say what to produce."""
    with tempfile.TemporaryDirectory(prefix="promptguard-chromium-") as profile:
        return subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1800) -> str | None:
    """Write a PNG of `page`; returns why not when it could not."""
    browser = find_browser()
    if browser is None:
        return "no Chromium found for the screenshot (install the chromium package)"
    try:
        done = run_browser(browser, page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"Chromium failed: {exc}"
    if not png.exists():
        return f"Chromium wrote no screenshot: {done.stderr.strip()[-300:]}"
    return None
