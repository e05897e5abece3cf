"""Every GB/T 27930 message of both versions, declared once (spec gbt27930.md §2, §4).

A layout is a tuple of fields; `compile_codec` turns each (message, version) layout into an encoder
and a decoder. Values are raw integers (little-endian on the wire), ASCII strings, or bytes; bit
groups decode to a dict of their 2-bit (or wider) fields. Bits and bytes the standard leaves
undefined are filled with 1 (2015 §7.9); optional fields left out are sent as 0xFF.

The encoder takes `Style` switches so the simulators' defects (big-endian values, zero-filled
reserved bits) come from the same description, not from a second codec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.charging.can import BMS, CHARGER, Frame, can_id

VERSIONS = ("2011", "2015")
V10 = b"\x00\x01\x00"  # 2011 (carried in BRM)
V11 = b"\x01\x01\x00"  # 2015 (CHM and BRM)


class DecodeError(ValueError):
    """Data that does not fit a message's layout (wrong length); names the message and version."""


@dataclass(frozen=True)
class Uint:
    """An unsigned little-endian integer of `size` bytes; phys = raw * scale - offset."""

    name: str
    size: int = 1
    unit: str = ""
    scale: float = 1
    offset: float = 0


@dataclass(frozen=True)
class Text:
    """ASCII, padded with 0xFF (optional fields are all 0xFF when absent)."""

    name: str
    size: int


@dataclass(frozen=True)
class Raw:
    """Opaque bytes (versions, BCD time, BMS software version); `size` 0 means the rest of the data."""

    name: str
    size: int


@dataclass(frozen=True)
class Bits:
    """`size` bytes of bit fields: (name, lsb position, width); every other bit is reserved (1)."""

    name: str
    size: int
    fields: tuple[tuple[str, int, int], ...]

    @property
    def defined_mask(self) -> int:
        mask = 0
        for _, pos, width in self.fields:
            mask |= ((1 << width) - 1) << pos
        return mask


Field = Uint | Text | Raw | Bits


@dataclass(frozen=True)
class Message:
    name: str
    pf: int
    priority: int
    sender: int
    period: str  # the Timers field that paces it
    layouts: dict[str, tuple[Field, ...]]
    tp: bool = False  # sent with the J1939 transport (longer than 8 bytes)
    doc: str = ""

    @property
    def pgn(self) -> int:
        return self.pf << 8

    @property
    def receiver(self) -> int:
        return BMS if self.sender == CHARGER else CHARGER

    @property
    def can_id(self) -> int:
        return can_id(self.priority, self.pgn, self.receiver, self.sender)

    def size(self, version: str) -> int | None:
        layout = self.layouts[version]
        if any(isinstance(f, Raw) and f.size == 0 for f in layout):
            return None
        return sum(f.size for f in layout)


def _two_bit(*names: str, start: int = 0) -> tuple[tuple[str, int, int], ...]:
    return tuple((n, start + 2 * i, 2) for i, n in enumerate(names))


V, A, T = "V", "A", "°C"
volt = lambda name: Uint(name, 2, V, 0.1)  # noqa: E731 - 0.1 V/bit is the common case
amp = lambda name: Uint(name, 2, A, 0.1, 400)  # noqa: E731 - 0.1 A/bit, -400 A offset (§1)
temp = lambda name: Uint(name, 1, T, 1, 50)  # noqa: E731 - 1 °C/bit, -50 °C offset
cellv = lambda name: Uint(name, 2, V, 0.01)  # noqa: E731

_BRM_2011 = (Raw("version", 3), Uint("battery_type"), Uint("capacity", 2, "Ah", 0.1), volt("rated_voltage"),
             Text("manufacturer", 4), Raw("pack_serial", 4), Uint("production_year", 1, "a", 1, -1985),
             Uint("production_month"), Uint("production_day"), Uint("charge_count", 3), Uint("ownership"),
             Raw("reserved", 1), Text("vin", 17))
_BST = {
    "2011": (Bits("stop_reason", 1, _two_bit("soc_reached", "total_voltage_reached", "cell_voltage_reached")),
             Bits("fault", 2, _two_bit("insulation", "connector_overtemp", "bms_overtemp", "connector_fault",
                                       "pack_overtemp", "other")),
             Bits("error", 1, _two_bit("overcurrent", "voltage_abnormal"))),
    "2015": (Bits("stop_reason", 1, _two_bit("soc_reached", "total_voltage_reached", "cell_voltage_reached",
                                             "charger_stopped")),
             Bits("fault", 2, _two_bit("insulation", "connector_overtemp", "bms_overtemp", "connector_fault",
                                       "pack_overtemp", "hv_relay_fault", "cp2_voltage_fault", "other")),
             Bits("error", 1, _two_bit("overcurrent", "voltage_abnormal"))),
}
_CST = {
    v: (Bits("stop_reason", 1, _two_bit("condition_reached", "manual", "fault", *(("bms_stopped",) if v == "2015"
                                                                                   else ()))),
        Bits("fault", 2, _two_bit("charger_overtemp", "connector_fault", "internal_overtemp", "no_energy",
                                  "emergency_stop", "other")),
        Bits("error", 1, _two_bit("current_mismatch", "voltage_abnormal")))
    for v in VERSIONS
}
_BEM = (Bits("timeouts", 4, (("crm_00", 0, 2), ("crm_aa", 2, 2), ("cts_cml", 8, 2), ("cro", 10, 2),
                              ("ccs", 16, 2), ("cst", 18, 2), ("csd", 24, 2))),)
_CEM = (Bits("timeouts", 4, (("brm", 0, 2), ("bcp", 8, 2), ("bro", 10, 2), ("bcs", 16, 2), ("bcl", 18, 2),
                              ("bst", 20, 2), ("bsd", 24, 2))),)


def _both(*fields: Field) -> dict[str, tuple[Field, ...]]:
    return {"2011": fields, "2015": fields}


C, B = CHARGER, BMS
MESSAGES: dict[str, Message] = {m.name: m for m in (
    Message("CHM", 0x26, 6, C, "charge_period", {"2015": (Raw("version", 3),)}, doc="charger handshake (2015)"),
    Message("BHM", 0x27, 6, B, "charge_period", {"2015": (volt("max_voltage"),)}, doc="BMS handshake (2015)"),
    Message("CRM", 0x01, 6, C, "charge_period",
            {"2011": (Uint("result"), Uint("charger_no"), Text("region", 6)),
             "2015": (Uint("result"), Uint("charger_no", 4), Text("region", 3))}, doc="charger recognition"),
    Message("BRM", 0x02, 7, B, "charge_period",
            {"2011": _BRM_2011, "2015": (*_BRM_2011, Raw("software_version", 8))}, tp=True,
            doc="BMS and vehicle identification"),
    Message("BCP", 0x06, 7, B, "charge_period_slow",
            _both(cellv("max_cell_voltage"), amp("max_current"), Uint("energy", 2, "kWh", 0.1), volt("max_voltage"),
                  temp("max_temperature"), Uint("soc", 2, "%", 0.1), volt("voltage")), tp=True,
            doc="battery charging parameters"),
    Message("CTS", 0x07, 6, C, "charge_period_slow", _both(Raw("bcd_time", 7)), doc="charger time (BCD)"),
    Message("CML", 0x08, 6, C, "charge_period",
            {"2011": (volt("max_voltage"), volt("min_voltage"), amp("max_current")),
             "2015": (volt("max_voltage"), volt("min_voltage"), amp("max_current"), amp("min_current"))},
            doc="charger maximum output"),
    Message("BRO", 0x09, 4, B, "charge_period", _both(Uint("ready")), doc="BMS ready (0xAA)"),
    Message("CRO", 0x0A, 4, C, "charge_period", _both(Uint("ready")), doc="charger ready (0xAA)"),
    Message("BCL", 0x10, 6, B, "charge_period_fast",
            _both(volt("voltage_demand"), amp("current_demand"), Uint("mode")), doc="charging demand"),
    Message("BCS", 0x11, 7, B, "charge_period",
            _both(volt("voltage"), amp("current"), Bits("cell_max", 2, (("cell_voltage", 0, 12), ("group", 12, 4))),
                  Uint("soc", 1, "%"), Uint("remaining", 2, "min")), tp=True, doc="battery charging status"),
    Message("CCS", 0x12, 6, C, "charge_period_fast",
            {"2011": (volt("voltage"), amp("current"), Uint("minutes", 2, "min")),
             "2015": (volt("voltage"), amp("current"), Uint("minutes", 2, "min"), Bits("permit", 1, (("en", 0, 2),)))},
            doc="charger charging status"),
    Message("BSM", 0x13, 6, B, "charge_period",
            _both(Uint("max_cell_no"), temp("max_temperature"), Uint("max_probe"), temp("min_temperature"),
                  Uint("min_probe"),
                  Bits("status", 1, _two_bit("cell_voltage", "soc", "overcurrent", "overtemp")),
                  Bits("status2", 1, _two_bit("insulation", "connector", "permit"))), doc="battery state"),
    Message("BMV", 0x15, 7, B, "charge_period_info", _both(Raw("cells", 0)), tp=True, doc="cell voltages (optional)"),
    Message("BMT", 0x16, 7, B, "charge_period_info", _both(Raw("probes", 0)), tp=True, doc="temperatures (optional)"),
    Message("BSP", 0x17, 7, B, "charge_period_info", _both(Raw("reserved", 0)), tp=True, doc="reserved (optional)"),
    Message("BST", 0x19, 4, B, "charge_period_stop", _BST, doc="BMS stop"),
    Message("CST", 0x1A, 4, C, "charge_period_stop", _CST, doc="charger stop"),
    Message("BSD", 0x1C, 6, B, "charge_period",
            _both(Uint("soc", 1, "%"), cellv("min_cell_voltage"), cellv("max_cell_voltage"), temp("min_temperature"),
                  temp("max_temperature")), doc="BMS statistics"),
    Message("CSD", 0x1D, 6, C, "charge_period",
            {"2011": (Uint("minutes", 2, "min"), Uint("energy", 2, "kWh", 0.1), Uint("charger_no")),
             "2015": (Uint("minutes", 2, "min"), Uint("energy", 2, "kWh", 0.1), Uint("charger_no", 4))},
            doc="charger statistics"),
    Message("BEM", 0x1E, 2, B, "charge_period", _both(*_BEM), doc="BMS error (timeouts)"),
    Message("CEM", 0x1F, 2, C, "charge_period", _both(*_CEM), doc="charger error (timeouts)"),
)}
BY_KEY: dict[tuple[int, int], Message] = {(m.pf, m.sender): m for m in MESSAGES.values()}


# ------------------------------------------------------------------------------------ codec


@dataclass(frozen=True)
class Style:
    """How an encoder deviates from the standard (defect switches); the default is correct."""

    byteorder: str = "little"
    fill: int = 0xFF  # reserved bytes; reserved bits follow (0xFF -> 1, 0x00 -> 0)


CORRECT = Style()


@dataclass
class Codec:
    message: Message
    version: str
    size: int | None
    encode: Callable[[dict[str, Any], Style], bytes] = field(repr=False)
    decode: Callable[[bytes, bool], dict[str, Any]] = field(repr=False)


def _compile(msg: Message, version: str) -> Codec:
    layout = msg.layouts[version]
    size = msg.size(version)

    def encode(values: dict[str, Any], style: Style = CORRECT) -> bytes:
        out = bytearray()
        for f in layout:
            v = values.get(f.name)
            if isinstance(f, Uint):
                out += (bytes([style.fill]) * f.size if v is None else int(v).to_bytes(f.size, style.byteorder))
            elif isinstance(f, Text):
                raw = (v or "").encode("ascii")[: f.size]
                out += raw + bytes([style.fill]) * (f.size - len(raw))
            elif isinstance(f, Raw):
                raw = bytes(v) if v is not None else bytes([style.fill]) * f.size
                out += raw if f.size == 0 else raw[: f.size].ljust(f.size, bytes([style.fill]))
            else:
                word = 0
                for name, pos, width in f.fields:
                    word |= (int((v or {}).get(name, 0)) & ((1 << width) - 1)) << pos
                if style.fill:
                    word |= ~f.defined_mask & ((1 << (8 * f.size)) - 1)
                out += word.to_bytes(f.size, style.byteorder)
        return bytes(out)

    def decode(data: bytes, strict: bool = True) -> dict[str, Any]:
        if size is not None and (len(data) < size or (strict and len(data) != size)):
            raise DecodeError(f"{msg.name} ({version}): {len(data)} bytes, layout has {size}")
        values: dict[str, Any] = {}
        at = 0
        for f in layout:
            n = len(data) - at if isinstance(f, Raw) and f.size == 0 else f.size
            chunk = data[at: at + n]
            at += n
            if isinstance(f, Uint):
                values[f.name] = int.from_bytes(chunk, "little")
            elif isinstance(f, Text):
                values[f.name] = chunk.rstrip(b"\xff").decode("ascii", "replace")
            elif isinstance(f, Raw):
                values[f.name] = bytes(chunk)
            else:
                word = int.from_bytes(chunk, "little")
                values[f.name] = {name: (word >> pos) & ((1 << width) - 1) for name, pos, width in f.fields}
                values[f.name]["_reserved_ok"] = (word | f.defined_mask) == (1 << (8 * f.size)) - 1
        return values

    return Codec(msg, version, size, encode, decode)


CODECS: dict[tuple[str, str], Codec] = {
    (m.name, v): _compile(m, v) for m in MESSAGES.values() for v in m.layouts
}


def encode(name: str, version: str, values: dict[str, Any], style: Style = CORRECT) -> bytes:
    """The data bytes of message `name` in `version`'s layout."""
    return CODECS[name, version].encode(values, style)


def decode(name: str, version: str, data: bytes, strict: bool = True) -> dict[str, Any]:
    """Values of message `name`; `strict=False` ignores trailing bytes (a 2011 reader of an 8-byte CML)."""
    return CODECS[name, version].decode(data, strict)


def frame(name: str, version: str, values: dict[str, Any], style: Style = CORRECT) -> Frame:
    """A single-frame message (8 bytes or less) under its own identifier."""
    return Frame(MESSAGES[name].can_id, encode(name, version, values, style))


def identify(fr: Frame) -> Message | None:
    """The message a frame carries by identifier (TP.CM/DT frames are not messages themselves)."""
    return BY_KEY.get(((fr.can_id >> 16) & 0xFF, fr.src))


def physical(name: str, version: str, values: dict[str, Any]) -> dict[str, Any]:
    """Values scaled to physical units (for traces and reports); raw 0xFF… stays 'invalid'."""
    out: dict[str, Any] = {}
    for f in MESSAGES[name].layouts[version]:
        v = values.get(f.name)
        if isinstance(f, Uint) and v is not None:
            if v == (1 << (8 * f.size)) - 1 and f.size > 1:
                out[f.name] = "invalid"
            elif f.scale == 1 and f.offset == 0:
                out[f.name] = v
            else:
                out[f.name] = round(v * f.scale - f.offset, 3)
        elif isinstance(f, Raw) and v is not None:
            out[f.name] = v.hex()
        elif isinstance(f, Bits) and v is not None:
            out[f.name] = {k: x for k, x in v.items() if not k.startswith("_") and x}
        else:
            out[f.name] = v
    return out
