"""A headless Chromium screenshot of the HTML report, kept as a test artefact for a human to look at.

The PNG goes to $GBT32960_TEST_ARTEFACTS (default reports/test-artefacts/) with the sample report it
shows. Chromium is required (CI installs it from .ci/apt-packages.txt): this test fails, never skips,
when it is missing.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from harness.report.writer import write_all

WIDTH, HEIGHT = 1280, 2000


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium is not installed: the HTML report's screenshot needs it. "
                         "Install it (Debian: apt-get install -y chromium; CI reads .ci/apt-packages.txt)")


def screenshot(page: Path, png: Path, profile: Path, height: int = HEIGHT) -> None:
    png.unlink(missing_ok=True)
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
           f"--window-size={WIDTH},{height}", page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and png.exists(), f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed pixel rows of a PNG (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def test_screenshot_of_the_report(run, tmp_path, artefacts):
    folder = artefacts / "sample-report"
    shutil.rmtree(folder, ignore_errors=True)
    index = write_all(run, folder)
    for page, name, height in ((index, "report-index.png", HEIGHT),
                               (folder / "cases" / "GBT32960.3-2016_B.3.5.3_02.html", "report-case-fail.png", HEIGHT)):
        png = artefacts / name
        screenshot(page, png, tmp_path / "chromium-profile", height)
        width, h, pixels = _png(png)
        assert (width, h) == (WIDTH, height)
        # a blank or error page compresses to a few kB and has few distinct byte values
        assert png.stat().st_size > 40_000, f"{png} is suspiciously small"
        assert len(set(pixels[:: 7])) > 100, f"{png} looks blank"
