# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html in a real browser: headless Chromium renders it offline, the per-host charts are
visible (their bar colours are on the screenshot) and hostile text stays text.

Skipped when Chromium is not installed (NETAUDIT_WITH_CHROMIUM=1 scripts/setup.sh installs it).
The screenshot is kept in tests/output/report-chromium.png.
"""

import os
import shutil
import struct
import subprocess
import sys
import zlib

import pytest

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
try:
    import ansible_collections.netaudit.netstat  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # not run through ansible-test: use the checkout's collections link
    sys.path.insert(0, os.path.join(_REPO, ".venv", "collections"))

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if CHROMIUM is None and os.environ.get("NETAUDIT_WITH_CHROMIUM") == "1":
    raise RuntimeError("NETAUDIT_WITH_CHROMIUM=1 but Chromium is not installed (scripts/setup.sh installs it)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

ERROR_RGB = (0xC6, 0x28, 0x28)
WARNING_RGB = (0xEF, 0x6C, 0x00)


def read_png(path):
    """(width, height, rows of (r, g, b)) for an 8-bit RGB / RGBA, non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _row in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def count_colour(rows, rgb, tolerance=8):
    return sum(1 for row in rows for px in row if all(abs(px[k] - rgb[k]) <= tolerance for k in range(3)))


def chromium(*args, cwd):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--user-data-dir=" + os.path.join(cwd, "profile"),
    ]
    return subprocess.run([CHROMIUM] + flags + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_html_renders_with_visible_charts(tmp_path):
    hostile = "<script>document.title='pwned'</script><b>bold</b> ]]> | `x` \x00\x1b[31m " + "Z" * 3000
    finding = {
        "rule": "unexpected-listener",
        "severity": "error",
        "subject": "tcp 0.0.0.0:8080",
        "actual": "listening: python3 (pid 1, user root)",
        "message": hostile,
    }
    warning = {"rule": "state-threshold", "severity": "warning", "subject": "tcp TIME_WAIT", "message": "x"}
    model = _report.build_report(
        {
            "web1": {"status": "ok", "compliant": False, "findings": [finding] * 1 + [warning]},
            "web2": {"status": "ok", "compliant": False, "findings": [finding]},
            "db1": {"status": "ok", "compliant": True, "findings": []},
            hostile[:60]: {"status": "unreachable", "error": hostile},
        }
    )
    _report.write_reports(model, str(tmp_path), formats=["html"])
    page = "file://" + str(tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    proc = chromium("--screenshot=" + str(shot), "--window-size=1280,1600", page, cwd=str(tmp_path))
    assert shot.exists(), proc.stderr
    out_dir = os.path.join(_REPO, "tests", "output")
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(str(shot), os.path.join(out_dir, "report-chromium.png"))

    _w, _h, rows = read_png(str(shot))
    assert count_colour(rows, ERROR_RGB) > 500  # error bars (and badges) are drawn
    assert count_colour(rows, WARNING_RGB) > 100  # the warning bar of web1

    dom = chromium("--dump-dom", page, cwd=str(tmp_path)).stdout
    assert "<title>Socket audit report</title>" in dom  # the hostile script never ran
    assert "<script" not in dom and "<b>bold</b>" not in dom
    assert "&lt;script&gt;" in dom
