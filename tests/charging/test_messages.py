"""Known answers from the spec notes (gbt27930.md §1, §2, §4) and property round trips."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.charging import messages as m
from harness.charging.can import BMS, CHARGER, Frame, can_id, candump_line, from_scapy, parse_candump_line, to_scapy

# identifiers from the catalogue table (§2), cross-checked there by four sources
IDS = {"CHM": 0x1826F456, "BHM": 0x182756F4, "CRM": 0x1801F456, "BRM": 0x1C0256F4, "BCP": 0x1C0656F4,
       "CTS": 0x1807F456, "CML": 0x1808F456, "BRO": 0x100956F4, "CRO": 0x100AF456, "BCL": 0x181056F4,
       "BCS": 0x1C1156F4, "CCS": 0x1812F456, "BSM": 0x181356F4, "BMV": 0x1C1556F4, "BMT": 0x1C1656F4,
       "BSP": 0x1C1756F4, "BST": 0x101956F4, "CST": 0x101AF456, "BSD": 0x181C56F4, "CSD": 0x181DF456,
       "BEM": 0x081E56F4, "CEM": 0x081FF456}
# data lengths per version (§2, §4); None: variable; absent: not in that version
SIZES = {"CHM": (None, 3), "BHM": (None, 2), "CRM": (8, 8), "BRM": (41, 49), "BCP": (13, 13), "CTS": (7, 7),
         "CML": (6, 8), "BRO": (1, 1), "CRO": (1, 1), "BCL": (5, 5), "BCS": (9, 9), "CCS": (6, 7), "BSM": (7, 7),
         "BST": (4, 4), "CST": (4, 4), "BSD": (7, 7), "CSD": (5, 8), "BEM": (4, 4), "CEM": (4, 4)}


def test_every_message_is_described():
    assert set(m.MESSAGES) == set(IDS)


@pytest.mark.parametrize("name", sorted(IDS))
def test_identifier(name):
    msg = m.MESSAGES[name]
    assert msg.can_id == IDS[name]
    fr = Frame(msg.can_id, b"")
    assert (fr.priority, fr.pgn, fr.src) == (msg.priority, msg.pgn, msg.sender)
    assert fr.dst == (BMS if msg.sender == CHARGER else CHARGER)
    assert m.identify(fr) is msg


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sizes_per_version(name):
    v2011, v2015 = SIZES[name]
    msg = m.MESSAGES[name]
    assert (msg.size("2011") if "2011" in msg.layouts else None) == v2011
    assert msg.size("2015") == v2015
    assert len(m.encode(name, "2015", {})) == v2015


def test_can_id_layout_and_scapy():
    assert can_id(6, 0x2600, BMS, CHARGER) == 0x1826F456
    pkt = to_scapy(Frame(0x1826F456, b"\x01\x01\x00"))
    assert pkt.flags == "extended" and pkt.identifier == 0x1826F456 and pkt.length == 3
    assert from_scapy(type(pkt)(bytes(pkt))) == Frame(0x1826F456, b"\x01\x01\x00")
    with pytest.raises(ValueError):
        can_id(8, 0x2600, BMS, CHARGER)


def test_candump_line_round_trip():
    line = candump_line(1.5, Frame(0x081FF456, bytes.fromhex("FDF0C0FC")))
    assert line == "(1.500000) vcan0 081FF456#FDF0C0FC"
    assert parse_candump_line(line) == (1.5, Frame(0x081FF456, bytes.fromhex("FDF0C0FC")))
    with pytest.raises(ValueError):
        parse_candump_line("garbage")


# ---------------------------------------------------------------- known answers


def test_chm_and_version_bytes():
    assert m.encode("CHM", "2015", {"version": m.V11}) == bytes.fromhex("010100")
    assert m.V10 == bytes.fromhex("000100")


def test_cem_bem_known_answers():
    assert m.encode("CEM", "2015", {}).hex() == "fcf0c0fc"  # idle base
    assert m.encode("CEM", "2015", {"timeouts": {"brm": 1}}).hex() == "fdf0c0fc"  # DN.1001-1003
    assert m.encode("CEM", "2015", {"timeouts": {"bcp": 1}}).hex() == "fcf1c0fc"  # DN.1004, DN.2001-2002
    assert m.encode("BEM", "2015", {}).hex() == "f0f0f0fc"
    assert m.decode("CEM", "2015", bytes.fromhex("fdf0c0fc"))["timeouts"]["brm"] == 1


def test_current_encoding_offset():
    # 100 A of charging current is 3000 (0x0BB8): 0.1 A/bit, -400 A offset (§1)
    data = m.encode("BCL", "2015", {"voltage_demand": 4000, "current_demand": 3000, "mode": 2})
    assert data.hex() == "a00fb80b02"
    assert m.physical("BCL", "2015", m.decode("BCL", "2015", data))["current_demand"] == -100.0


def test_ccs_permit_byte_and_2011_length():
    data = m.encode("CCS", "2015", {"voltage": 1, "current": 2, "minutes": 3, "permit": {"en": 1}})
    assert data[6] == 0xFD and len(data) == 7
    assert m.encode("CCS", "2015", {"permit": {"en": 0}})[6] == 0xFC
    assert len(m.encode("CCS", "2011", {"voltage": 1})) == 6
    # a 2011 reader ignores the extra permit byte (§4), a strict one does not
    assert m.decode("CCS", "2011", data, strict=False)["minutes"] == 3
    with pytest.raises(m.DecodeError):
        m.decode("CCS", "2011", data)


def test_bst_other_fault_position_per_version():
    assert m.encode("BST", "2011", {"fault": {"other": 1}})[2] & 0x0F == 0x04
    assert m.encode("BST", "2015", {"fault": {"other": 1}})[2] == 0x40


def test_crm_layouts_per_version():
    v15 = m.encode("CRM", "2015", {"result": 0xAA, "charger_no": 0x01020304})
    assert v15.hex() == "aa04030201ffffff"
    v11 = m.encode("CRM", "2011", {"result": 0xAA, "charger_no": 7, "region": "BJ"})
    assert v11.hex() == "aa07424affffffff"


def test_cts_bcd_year():
    data = m.encode("CTS", "2015", {"bcd_time": bytes.fromhex("00304511062420")})
    assert data[5:7] == bytes.fromhex("2420")  # 2024 sent as 24 20


def test_bcs_group_nibble():
    data = m.encode("BCS", "2015", {"cell_max": {"cell_voltage": 345, "group": 1}})
    assert int.from_bytes(data[4:6], "little") == (1 << 12) | 345


def test_bms_and_csd_2011_vs_2015():
    assert len(m.encode("CSD", "2011", {"charger_no": 5})) == 5
    assert m.encode("CSD", "2015", {"charger_no": 5})[4:8] == bytes.fromhex("05000000")
    assert len(m.encode("CML", "2011", {})) == 6 and len(m.encode("CML", "2015", {})) == 8


def test_reserved_and_optional_filled_with_ones():
    brm = m.encode("BRM", "2015", {"version": m.V11, "battery_type": 3, "capacity": 1500, "rated_voltage": 3500})
    assert brm[8:] == b"\xff" * 41  # B9-49 optional: 0xFF when unused
    bsm = m.encode("BSM", "2015", {"status2": {"permit": 1}})
    assert bsm[6] == 0xD0  # 7.7-7.8 reserved set


def test_styles_big_endian_and_zero_fill():
    assert m.encode("BHM", "2015", {"max_voltage": 4200}, m.Style(byteorder="big")).hex() == "1068"
    assert m.encode("CEM", "2015", {"timeouts": {"brm": 1}}, m.Style(fill=0)).hex() == "01000000"


def test_short_data_is_a_decode_error_naming_the_message():
    with pytest.raises(m.DecodeError, match="BRM .2015.: 41 bytes, layout has 49"):
        m.decode("BRM", "2015", b"\x00" * 41)


# ---------------------------------------------------------------- property round trips


def _field_strategy(f):
    if isinstance(f, m.Uint):
        return st.integers(0, (1 << (8 * f.size)) - 1)
    if isinstance(f, m.Text):
        return st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=f.size)
    if isinstance(f, m.Raw):
        return st.binary(min_size=f.size, max_size=f.size) if f.size else st.binary(max_size=64)
    return st.fixed_dictionaries({name: st.integers(0, (1 << w) - 1) for name, _, w in f.fields})


LAYOUTS = sorted(m.CODECS)


@pytest.mark.parametrize("key", LAYOUTS, ids=[f"{n}-{v}" for n, v in LAYOUTS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_values_round_trip(key, data):
    name, version = key
    layout = m.MESSAGES[name].layouts[version]
    values = {f.name: data.draw(_field_strategy(f)) for f in layout}
    raw = m.encode(name, version, values)
    back = m.decode(name, version, raw)
    for f in layout:
        got = back[f.name]
        if isinstance(f, m.Bits):
            assert got.pop("_reserved_ok") is True
        assert got == values[f.name], f.name
    assert m.encode(name, version, back) == raw


def test_generated_field_table_is_current():
    from harness.charging import doctable

    assert doctable.DOC.read_text(encoding="utf-8") == doctable.render(), "run: python -m harness.charging.doctable"
