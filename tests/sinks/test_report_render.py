"""The report in every format, and the HTML page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fold.replay import ReplayResult
from reports.month import CLAIM_EMAIL, CLAIM_SUBJECT, render_report


def statement_with_credit(replay: ReplayResult) -> dict[str, Any]:
    sts = [o for o in replay.outputs if o["kind"] == "contract_month"]
    return max(sts, key=lambda s: (s["counted_downtime_minutes"], s["contract_id"]))


def claims_of(replay: ReplayResult, contract_id: str) -> list[dict[str, Any]]:
    return [
        o
        for o in replay.outputs
        if o["kind"] == "claim_decision" and o["contract_id"] == contract_id
    ]


def test_json_report_has_every_section(replay: ReplayResult) -> None:
    st = statement_with_credit(replay)
    data = json.loads(render_report(st, claims_of(replay, st["contract_id"]), "json"))
    assert data["statement"]["uptime_percent"] == st["uptime_percent"]
    assert data["statement"]["credit_amount"] == st["credit_amount"]
    counted = [p for p in data["periods"] if p["treatment"] == "counted"]
    excluded = [p for p in data["periods"] if p["treatment"] != "counted"]
    assert len(counted) == len(st["downtime_incidents"])
    assert len(excluded) == len(st.get("excluded_periods", []))
    assert data["readings"][0]["reading"] == "contract"
    assert [r["reading"] for r in data["readings"][1:]] == [
        r["reading"] for r in st.get("readings", []) if r["differs"]
    ]
    ev = data["claim_evidence"]
    assert ev["subject"] == CLAIM_SUBJECT
    assert ev["email_to"] == CLAIM_EMAIL
    assert len(ev["incidents"]) == len(st["downtime_incidents"])


def test_claim_deadline_is_sixty_days_after_the_end() -> None:
    st = {
        "contract_id": "C-1",
        "client_id": "acme",
        "month": "2026-03",
        "timezone": "Europe/London",
        "status": "final",
        "revision": 0,
        "minutes_in_month": 44580,
        "down_minutes": 5,
        "counted_downtime_minutes": 5,
        "excluded_minutes": {},
        "no_data_minutes": 0,
        "uptime_percent": "99.9887",
        "meets_target": True,
        "credit_basis": "platform",
        "credit_percent": "0",
        "credit_amount": "0.00",
        "currency": "GBP",
        "affected_services": [],
        "computed_at": "2026-04-10T00:00:00Z",
        "period_start": "2026-03-01T00:00:00Z",
        "period_end": "2026-03-31T23:00:00Z",
        "services": {},
        "downtime_incidents": [
            {
                "service": "api",
                "start": "2026-03-30T23:58:00Z",
                "end": "2026-03-31T00:03:00Z",
                "duration_minutes": 5,
                "causes": [],
                "incident_ids": [],
            }
        ],
    }
    data = json.loads(render_report(st, [], "json"))
    (inc,) = data["claim_evidence"]["incidents"]
    assert inc["claim_deadline_utc"] == "2026-05-30T00:03:00Z"
    # Local times: London is on BST (UTC+1) from 29 March.
    assert (inc["date"], inc["start"], inc["end"]) == ("2026-03-31", "00:58", "01:03")


def test_table_and_csv_show_the_numbers(replay: ReplayResult) -> None:
    st = statement_with_credit(replay)
    claims = claims_of(replay, st["contract_id"])
    table = render_report(st, claims, "table")
    assert st["uptime_percent"] in table
    assert st["credit_amount"] in table
    assert CLAIM_SUBJECT in table
    assert CLAIM_EMAIL in table
    rows = list(csv.reader(io.StringIO(render_report(st, claims, "csv"))))
    head, values = (r[1:] for r in rows if r and r[0] == "statement")
    fields = dict(zip(head, values, strict=True))
    assert fields["uptime_percent"] == st["uptime_percent"]
    assert fields["credit_amount"] == st["credit_amount"]
    assert sum(1 for r in rows if r and r[0] == "claim_evidence") == 1 + len(
        st["downtime_incidents"]
    )
    with pytest.raises(ValueError, match="unknown report format"):
        render_report(st, claims, "pdf")


# --- headless Chromium ----------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA PNG.

    Up and Sub rows are unfiltered with numpy; Average and Paeth rows (a
    minority in Chromium's screenshots) byte by byte.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, depth
            assert colour in (2, 6), colour
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        cur = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).copy()
        if ftype == 1:
            cur = (
                (np.cumsum(cur.reshape(width, bpp), axis=0, dtype=np.uint64) % 256)
                .astype(np.uint8)
                .reshape(stride)
            )
        elif ftype == 2:
            cur = cur + prev  # uint8 arithmetic wraps modulo 256, as PNG wants
        elif ftype in (3, 4):
            line, up = bytearray(cur.tobytes()), prev.tobytes()
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = up[i]
                if ftype == 3:
                    line[i] = (line[i] + (a + b) // 2) & 0xFF
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
            cur = np.frombuffer(bytes(line), np.uint8).copy()
        rows.append(cur.tobytes())
        prev = cur
    return width, height, bpp, rows


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    return exe


def _run(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=True)


def test_html_report_renders_in_chromium(replay: ReplayResult, tmp_path: Path) -> None:
    exe = _chromium()
    st = statement_with_credit(replay)
    page = tmp_path / "report.html"
    page.write_text(render_report(st, claims_of(replay, st["contract_id"]), "html"), "utf-8")
    png = tmp_path / "report.png"
    _run(exe, tmp_path / "p1", f"--screenshot={png}", "--window-size=1200,1600", page.as_uri())
    width, height, bpp, rows = _png_pixels(png.read_bytes())
    assert (width, height) == (1200, 1600)
    colours = {row[i : i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    assert len(colours) > 20, "the screenshot is blank"
    # The timeline's counted-downtime red is on the page.
    assert any(c[0] > 180 and c[1] < 90 and c[2] < 90 for c in colours)
    dom = _run(exe, tmp_path / "p2", "--dump-dom", page.as_uri()).stdout.decode()
    assert f"{st['uptime_percent']} %" in dom
    assert f"{st['credit_amount']} {st['currency']}" in dom
    assert CLAIM_SUBJECT in dom
    assert CLAIM_EMAIL in dom
    assert "<svg" in dom


def _console(exe: str, profile: Path, page: Path) -> tuple[str, list[str]]:
    """The rendered DOM of ``page`` and every console message (errors included) it logged."""
    proc = _run(exe, profile, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    messages = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ":CONSOLE" in ln]
    return proc.stdout.decode(), messages


def test_chromium_renders_coverage_progress_and_the_working(tmp_path: Path) -> None:
    """A month in progress with low coverage: banners, coverage and the working are on the
    rendered page, and the page logs nothing to the console (a broken page does)."""
    from tests.helpers import run
    from tests.sinks.test_report_explained import month_events

    exe = _chromium()
    outs = run(month_events(), "2026-03-02T00:00:00Z").outputs
    (st,) = [o for o in outs if o["kind"] == "contract_month"]
    page = tmp_path / "progress.html"
    page.write_text(render_report(st, [], "html", "customer"), "utf-8")
    dom, messages = _console(exe, tmp_path / "p1", page)
    assert messages == []
    assert "Month in progress: 1,440 of 44,640 minutes elapsed, 43,200 still to come" in dom
    assert "Low monitoring coverage: 41.6666 %" in dom
    assert "<b>41.6666 %</b>" in dom  # the coverage figure
    assert "(44,640 - 52) / 44,640 = 99.8835 %" in dom
    assert 'fill="url(#future)"' in dom
    png = tmp_path / "progress.png"
    _run(exe, tmp_path / "p2", f"--screenshot={png}", "--window-size=1200,1400", page.as_uri())
    _, _, bpp, rows = _png_pixels(png.read_bytes())
    colours = {row[i : i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    # the no-data grey #8a94a6 of the timeline is on the screen
    assert any(
        abs(c[0] - 0x8A) < 8 and abs(c[1] - 0x94) < 8 and abs(c[2] - 0xA6) < 8 for c in colours
    )
    broken = tmp_path / "broken.html"
    broken.write_text('<p>x</p><script>throw new Error("kaput")</script>', "utf-8")
    assert any("kaput" in m for m in _console(exe, tmp_path / "p3", broken)[1])
