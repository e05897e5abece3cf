"""The HTML report's forwarding view: per forwarding case, the figures of issue 7 and a timeline picture
(an inline SVG, frames over time on each link) drawn from the case's evidence frames."""

from __future__ import annotations

import re

from harness.protocol import samples
from harness.protocol.codec import encode
from harness.report.evidence import frame_evidence
from harness.report.html import is_forwarding, timeline_svg, write_html
from harness.report.model import CaseResult, Evidence
from reference_impl.core import rewrite_command

from .htmlcheck import Page
from .runs import T0, VEHICLE_LINK, make_run

PROXY_LINK = "proxy enterprise->local"


def _forwarding_case() -> CaseResult:
    live = encode(samples.realtime_2016_full(cells=4))
    reissue = rewrite_command(live, 0x03)
    frames = [frame_evidence(live, VEHICLE_LINK, "->", T0 + i) for i in range(4)]
    frames += [frame_evidence(live, PROXY_LINK, "->", T0 + 0.01)]
    frames += [frame_evidence(reissue, PROXY_LINK, "->", T0 + 5 + i / 10) for i in range(1, 4)]
    counts = {"frames sent": 4, "frames relayed": 4, "frames reissued": 3, "frames duplicated": 0, "frames lost": 0,
              "time to drain (s)": 1.234}
    return CaseResult(case_id="NOTICE-2016/1.2/b/04", clause="1.2/b", standard="NOTICE-2016",
                      requirement="held frames are reissued <exactly once>", verdict="PASS", reason="",
                      nodeid="scenarios/notice/test_forwarding_faults.py::x[2016]", edition="2016", role="enterprise",
                      duration=7.5, rerun="gbt32960 conformance --case NOTICE-2016/1.2/b/04",
                      evidence=Evidence(frames=frames, counts=counts, notes=["partition of 3 s on enterprise->local"]))


def test_timeline_draws_each_frame_in_its_links_lane_and_colour():
    case = _forwarding_case()
    svg = timeline_svg(case.evidence.frames)
    page = Page(svg)
    assert not page.problems, page.problems
    assert page.tags["svg"] == 1
    marks = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="3" height="10" fill="(#[0-9a-f]{6})"', svg)
    assert len(marks) == len(case.evidence.frames) == 8
    by_lane: dict[str, list[str]] = {}
    for y, colour in marks:
        by_lane.setdefault(y, []).append(colour)
    # two lanes (vehicle, proxy): real-time marks blue in both, the three reissues orange on the proxy's lane
    assert sorted(len(v) for v in by_lane.values()) == [4, 4]
    assert sorted(c for v in by_lane.values() for c in v).count("#d1670a") == 3
    assert VEHICLE_LINK[:14] in svg and "enterprise-&gt;local (4)" in svg  # each lane says how many frames
    assert "+0.00 s" in svg and "+5.30 s" in svg  # the axis spans first to last frame


def test_case_page_shows_the_figures_and_the_picture(tmp_path):
    run = make_run()
    case = _forwarding_case()
    run.cases.append(case)
    assert is_forwarding(case)
    write_html(run, tmp_path)
    pages = [p for p in (tmp_path / "cases").iterdir() if "1.2" in p.name and "b" in p.name and "04" in p.name]
    assert pages, sorted(p.name for p in (tmp_path / "cases").iterdir())
    text = pages[0].read_text("utf-8")
    page = Page(text)
    assert not page.problems, page.problems[:5]
    assert "Forwarding figures" in page.content and "Timeline" in page.content
    figures = re.search(r'<table class="figures">(.*?)</table>', text, re.S)
    assert figures is not None
    for name, value in (("frames sent", "4"), ("frames reissued", "3"), ("frames lost", "0"),
                        ("time to drain (s)", "1.234")):
        assert f">{name}<" in figures.group(1) and f">{value}<" in figures.group(1)
    assert "&lt;exactly once&gt;" in text  # still escaped


def test_no_timeline_for_a_case_without_forwarding_figures(tmp_path):
    run = make_run()
    for c in run.cases:
        c.evidence.counts = {}
    write_html(run, tmp_path)
    for p in (tmp_path / "cases").iterdir():
        assert "<svg" not in p.read_text("utf-8")
