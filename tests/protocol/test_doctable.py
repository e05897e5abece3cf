"""docs/fields.md is generated from the schema: the committed file must match the generator, and a
few rows are checked against the standard so a generator bug cannot hide behind a regenerated file."""

from pathlib import Path

import pytest

from harness.protocol import doctable
from harness.protocol.messages import info_types

DOC = Path(__file__).resolve().parents[2] / "docs" / "fields.md"


@pytest.fixture(scope="module")
def text() -> str:
    return doctable.render()


def _section(text: str, anchor: str) -> str:
    """The text from an anchor up to the next level-2/level-4 heading's anchor."""
    start = text.index(f'<a id="{anchor}"></a>')
    end = text.find('<a id="', start + 1)
    return text[start:end if end != -1 else None]


def _row(section: str, path: str) -> list[str]:
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) > 2 and cells[1] == f"`{path}`":
            return cells
    raise AssertionError(f"no row for {path}")


def test_committed_file_is_current(text):
    assert DOC.read_text(encoding="utf-8") == text, "run: python -m harness.protocol.doctable"


def test_render_is_deterministic(text):
    assert doctable.render() == text


def test_check_mode(tmp_path, capsys):
    out = tmp_path / "fields.md"
    assert doctable.main(["--check", "--output", str(out)]) == 1  # missing
    assert doctable.main(["--output", str(out)]) == 0
    assert doctable.main(["--check", "--output", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "hand edit\n", encoding="utf-8")
    assert doctable.main(["--check", "--output", str(out)]) == 1


def test_2016_vehicle_speed(text):
    cells = _row(_section(text, "e2016-info-01"), "speed")
    offset, _, typ, unit, res, rng, sentinels = cells[:7]
    assert (offset, typ, unit, res, rng) == ("3", "WORD", "km/h", "0.1", "0…220")
    assert sentinels == "0xFFFE abnormal, 0xFFFF invalid"


def test_2025_motor_torque_is_dword(text):
    cells = _row(_section(text, "e2025-info-02"), "motors[].torque")
    assert cells[0] == "+5"
    assert cells[2] == "DWORD"
    assert cells[4] == "0.1, offset 20000"
    assert cells[5] == "-20000…20000"


def test_2016_temperature_offset_and_insulation_without_sentinels(text):
    sec = _section(text, "e2016-info-02")
    assert _row(sec, "motors[].temperature")[4:6] == ["1, offset 40", "-40…210"]
    assert _row(_section(text, "e2016-info-01"), "insulation_resistance")[6] == "none: all codes are values"
    assert _row(_section(text, "e2025-info-01"), "insulation_resistance")[6] == "0xFFFE abnormal, 0xFFFF invalid"


def test_micro_degree_resolution_keeps_its_digits(text):
    # repr(1e-06) has no '.', so a naive decimals count would print 0 places
    cells = _row(_section(text, "e2025-info-05"), "longitude")
    assert cells[4] == "0.000001" and cells[5] == "0…180"


def test_every_info_type_and_command_has_a_section(text):
    for edition in (2016, 2025):
        for code, body in info_types(edition).known.items():
            assert f'<a id="e{edition}-info-{code:02x}"></a>\n#### 0x{code:02X} {body.name}' in text
    for anchor in ("e2025-cmd-09", "e2025-cmd-0a", "e2025-cmd-0b", "e2025-signature", "e2016-parameters",
                   "e2025-control", "e2016-alarm-bits", "e2016-header", "e2025-encryption", "e2016-response-flags"):
        assert f'<a id="{anchor}"></a>' in text
    assert '<a id="e2016-cmd-09"></a>' not in text  # activation is 2025 only


def test_alarm_flags_link_to_the_bit_table(text):
    assert "bits: see [Alarm bits](#e2025-alarm-bits)" in _row(_section(text, "e2025-info-06"), "flags")[7]
    bits = _section(text, "e2025-alarm-bits")
    assert "| 27 | fuel_cell_stack_over_temperature |" in bits


def test_changes_section(text):
    changes = _section(text, "changes")
    assert "`motors[].torque`: type WORD → DWORD" in changes
    assert "size 20 bytes → 18 bytes" in changes  # vehicle
    assert "added `datum` (BYTE)" in changes
    assert "removed: [0x06 extremes](#e2016-info-06)" in changes
    assert "[ress_voltage](#e2016-info-08) → [min_parallel_unit_voltage](#e2025-info-07)" in changes
    assert "0x02 `report_period`: type WORD → BYTE" in changes
    assert "added bit 27 fuel_cell_stack_over_temperature" in changes
    assert "added 0x04 sm2" in changes


def test_header_matches_codec():
    node = doctable.header_struct(2025)
    assert node.size == 24
    assert [f.name for f in node.fields] == ["start", "command", "response", "vin", "encryption", "length"]


def test_no_broken_links(text):
    import re

    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links <= anchors, links - anchors
