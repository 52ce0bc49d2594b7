"""Headless Chromium for the viewer tests: dump the DOM after scripts ran, take a screenshot (no selenium)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=3000"]


def find_chromium() -> str | None:
    return next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)


def _run(url: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = find_chromium()
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True,
                              text=True, timeout=timeout, check=True)


def dump_dom(page: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran (``fragment`` e.g. "step=3" sets the URL hash)."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    return _run(url, "--dump-dom").stdout


def screenshot(page: Path, out: Path, size: tuple[int, int] = (1200, 1600)) -> Path:
    _run(page.resolve().as_uri(), f"--screenshot={out}", f"--window-size={size[0]},{size[1]}")
    return out
