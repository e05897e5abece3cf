"""The HTML report: well-formed, self-contained, escaped, with the matrix and every case and its evidence."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import unquote

from harness.report.html import write_html
from harness.report.model import VERDICTS
from harness.report.writer import write_all

from .htmlcheck import Page
from .runs import make_run


def _page(path: Path) -> Page:
    page = Page(path.read_text("utf-8"))
    assert not page.problems, f"{path.name}: {page.problems[:5]}"
    return page


def _local_links_resolve(page: Page, at: Path) -> None:
    for href in page.links:
        if href.startswith("#"):
            assert href[1:] in page.ids, f"dangling anchor {href}"
            continue
        assert "://" not in href, f"link leaves the report: {href}"
        target = (at.parent / unquote(href.split("#")[0])).resolve()
        assert target.exists(), f"{at.name}: broken link {href}"


def test_index_has_the_cover_matrix_and_every_case(run, tmp_path):
    index = write_all(run, tmp_path)
    page = _page(index)
    text = page.content
    for word in ("Reference enterprise platform 0.1", "enterprise", "mixed", "compressed (heartbeat 1 s",
                 "gbt32960 conformance --sut reference --report out/", "gbt32960-harness", "0.1.0",
                 "PICS", "PIXIT", "Verdicts by clause"):
        assert word in text, word
    for case in run.cases:
        assert case.case_id in text
    assert "matrix" in page.classes
    # the clause x verdict matrix: a header per verdict, and B.3.5.3 has one FAIL and one ERROR
    matrix = re.search(r'<table class="matrix">.*?</table>', index.read_text("utf-8"), re.S).group(0)
    for v in VERDICTS:
        assert f">{v}</span>" in matrix.replace("N/A", "N/A")
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*B\.3\.5\.3(?:(?!</tr>).)*</tr>", matrix, re.S).group(0)
    assert re.findall(r'<td class="num c-(\w+)">(\d+)</td>', row) == [("FAIL", "1"), ("ERROR", "1")]
    assert "1 red verdict" not in text and "3 red verdict(s)" in text
    assert "s3cret" not in text  # credentials masked in the PIXIT table
    _local_links_resolve(page, index)


def test_case_pages_hold_the_evidence(run, tmp_path):
    index = write_all(run, tmp_path)
    fail = run.cases[1]
    path = tmp_path / "cases" / "GBT32960.3-2016_B.3.5.3_02.html"
    assert path.exists()
    page = _page(path)
    text = page.content
    assert fail.requirement in text
    assert "duplicate login answered 0x01 success <expected 0x03> & the older link stayed open" in text
    assert "second_login_ack.header.response" in text and "0x03 duplicate" in text
    assert "listening on 0.0.0.0:32960" in text  # party logs
    assert "two logins 0.5 s apart" in text
    assert fail.rerun in text
    assert "frames sent" in text
    assert page.tags["details"] >= 8  # hex and decoded JSON of each of the 4 frames, party logs
    assert '"0x01 vehicle_login"' in text  # decoded JSON
    assert "0000  23 23 01 fe" in text  # hex dump
    assert "../evidence/GBT32960.3-2016_B.3.5.3_02.pcap" in page.links
    assert "../evidence/GBT32960.3-2016_B.3.5.3_02.log" in page.links
    _local_links_resolve(page, path)
    inconc = _page(tmp_path / "cases" / "NOTICE-2016_1.2_04.html")
    assert "enterprise-&gt;local" not in inconc.content and "enterprise->local" in inconc.content
    assert "BCC 0x25 should be 0xDA" in inconc.content
    assert "relay latency p95 s" in inconc.content
    assert index.exists()


def test_everything_is_escaped(tmp_path):
    run = make_run(name='<script>alert("sut")</script>')
    run.cases[0].requirement = "<b>bold</b> & <img src=x onerror=alert(1)>"
    run.cases[1].evidence.party_logs["evil"] = "</pre><script>alert(2)</script>"
    run.pics["<x>"] = "<y>"
    index = write_html(run, tmp_path)
    for path in [index, *sorted((tmp_path / "cases").iterdir())]:
        raw = path.read_text("utf-8")
        assert "<script" not in raw and "<img" not in raw and "<b>" not in raw
        _page(path)
    assert "&lt;script&gt;alert(&quot;sut&quot;)&lt;/script&gt;" in index.read_text("utf-8")


def test_no_case_is_never_a_pass(tmp_path):
    run = make_run(verdicts=())
    page = _page(write_html(run, tmp_path))
    assert "NO CASES" in page.content and "No case ran." in page.content


def test_merge_shows_both_suts_side_by_side(tmp_path):
    a = make_run("Maker A platform 2.3", kind="image")
    b = make_run("Maker B platform 1.0", kind="tcp", address="tcp://127.0.0.1:42960")
    b.cases[1].verdict, b.cases[1].reason = "PASS", ""  # B answers the duplicate login right
    b.cases[6].verdict = "XFAIL"
    del b.cases[4]  # B's run did not select the SM4 case
    for run, folder in ((a, tmp_path / "a"), (b, tmp_path / "b")):
        write_all(run, folder)
    index = write_html([a, b], tmp_path / "merged", sources=[tmp_path / "a", tmp_path / "b"])
    page = _page(index)
    text = page.content
    assert "Maker A platform 2.3" in text and "Maker B platform 1.0" in text
    assert "tcp://127.0.0.1:42960" in text
    html = index.read_text("utf-8")
    # the case x SUT matrix: one row per case id, one verdict cell per SUT
    rows = re.findall(r'<tr><td class="mono">([^<]+)</td>.*?</tr>', html, re.S)
    ids = {c.case_id for c in a.cases} | {c.case_id for c in b.cases}
    assert set(rows) == ids
    assert "verdicts differ between SUTs on 2" in text
    assert text.count("≠") == 3  # the column heading and two rows
    assert text.count("not run") == 1
    _local_links_resolve(page, index)
    # each SUT's own report, with its evidence copied next to it
    sub = sorted(p.name for p in (tmp_path / "merged").iterdir() if p.is_dir())
    assert sub == ["sut-1-Maker_A_platform_2.3", "sut-2-Maker_B_platform_1.0"]
    for folder in sub:
        own = tmp_path / "merged" / folder / "index.html"
        _local_links_resolve(_page(own), own)
        assert list((tmp_path / "merged" / folder / "evidence").glob("*.pcap"))


def test_one_case_id_per_edition_stays_apart(tmp_path):
    """The plugin runs some cases once per edition under one id: pages, rows and comparison keep both."""
    a = make_run("A", verdicts=("PASS", "FAIL"))
    twin = copy.deepcopy(a.cases[1])
    twin.edition, twin.verdict, twin.reason = "2025", "PASS", ""
    a.cases.append(twin)
    b = copy.deepcopy(a)
    b.sut.name = "B"
    b.cases[2].verdict = "FAIL"
    index = write_html(a, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a" / "cases").iterdir()) == [
        "GBT32960.3-2016_B.3.5.2_01.html", "GBT32960.3-2016_B.3.5.3_02-2.html", "GBT32960.3-2016_B.3.5.3_02.html"]
    _local_links_resolve(_page(index), index)
    merged = write_html([a, b], tmp_path / "m")
    html = merged.read_text("utf-8")
    rows = re.findall(r'<tr><td class="mono">([^<]+)</td><td class="small">([^<]*)</td>', html)
    assert rows == [("GBT32960.3-2016/B.3.5.2/01", "2016"), ("GBT32960.3-2016/B.3.5.3/02", "2016"),
                    ("GBT32960.3-2016/B.3.5.3/02", "2025")]
    assert "verdicts differ between SUTs on 1" in _page(merged).content
