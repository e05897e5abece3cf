"""The byte walker: the slow, talkative reading of a frame from the same description.

It yields one row per field (offset, bytes, path, value, unit), finds the exact byte and field of
any error, and, in strict mode, reports out-of-range values as findings. The fast codec calls it
only when its own decode fails; the CLI uses it for the annotated table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import errors
from .codec import HEADER, HEADER_SIZE, Frame, body_candidates, decode
from .compiler import _text, text_bytes
from .messages import COMMANDS, EDITION_OF_START, ENCRYPTION, RESPONSE_FLAGS
from .schema import (
    ABNORMAL,
    FMT_SIZE,
    INVALID,
    Count,
    InfoTypes,
    List,
    Params,
    Raw,
    Scalar,
    Sentinel,
    Str,
    Struct,
    Switch,
    Time,
    Timestamp,
)


class Row(NamedTuple):
    offset: int
    size: int
    path: str
    raw: bytes
    value: Any
    shown: str
    unit: str


@dataclass
class Explanation:
    rows: list[Row] = field(default_factory=list)
    frame: Frame | None = None
    error: errors.ProtocolError | None = None
    findings: list[errors.Finding] = field(default_factory=list)


class _Walker:
    def __init__(self, body: bytes, base: int, clause: str, strict: bool) -> None:
        self.b = body
        self.base = base
        self.o = 0
        self.clause = clause
        self.strict = strict
        self.rows: list[Row] = []
        self.findings: list[errors.Finding] = []
        self.count_fmt: dict[str, str] = {}

    # -- helpers
    def _take(self, n: int, path: str, what: str = "") -> bytes:
        if n < 0 or self.o + n > len(self.b):
            left = len(self.b) - self.o
            raise errors.Truncated(f"{what or path} needs {n} byte(s) but the data unit has {left} left",
                                   offset=self.base + self.o, path=path, clause=self.clause)
        raw = self.b[self.o:self.o + n]
        self.o += n
        return raw

    def _row(self, start: int, path: str, raw: bytes, value: Any, shown: str, unit: str = "") -> None:
        self.rows.append(Row(self.base + start, len(raw), path, raw, value, shown, unit))

    def _finding(self, start: int, path: str, message: str) -> None:
        if self.strict:
            self.findings.append(errors.Finding(self.base + start, path, message, self.clause))

    # -- nodes
    def scalar(self, node: Scalar | Count, path: str) -> int:
        start = self.o
        raw = self._take(FMT_SIZE[node.fmt], path)
        (value,) = struct.unpack(">" + node.fmt, raw)
        if isinstance(node, Scalar):
            shown = _show_scalar(node, value)
            self._row(start, path, raw, value, shown, node.unit)
            if not node.in_range(value):
                self._finding(start, path, f"{node.name} = {shown} {node.unit} is outside {node.range_text()}")
            elif node.enum and value not in node.enum and not node.sentinel(value):
                self._finding(start, path, f"{node.name} = 0x{value:X} is not a defined code")
        else:
            self._row(start, path, raw, value, str(value) if value < ABNORMAL[node.fmt] else "sentinel: no list")
            too_big = node.hi is not None and node.hi < value < ABNORMAL[node.fmt]
            if (node.lo is not None and value < node.lo) or too_big:
                self._finding(start, path, f"{node.name} = {value} is outside {node.lo}…{node.hi}")
        return value

    def struct(self, node: Struct, path: str) -> dict:
        outer = self.clause
        self.clause = node.clause or outer  # findings and errors cite the innermost table
        try:
            return self._struct(node, path)
        finally:
            self.clause = outer

    def _struct(self, node: Struct, path: str) -> dict:
        d: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for f in node.fields:
            sub = f"{path}.{f.name}"
            if isinstance(f, Time):
                start = self.o
                t = Timestamp(*self._take(6, sub))
                self._row(start, sub, bytes(t), t, str(t))
                d[f.name] = t
            elif isinstance(f, Scalar):
                d[f.name] = self.scalar(f, sub)
            elif isinstance(f, Count):
                counts[f.name] = self.scalar(f, sub)
                self.count_fmt[f.name] = f.fmt
            elif isinstance(f, (Str, Raw)):
                n = f.length if f.length is not None else (
                    self._ref(f.length_ref, d, counts) if f.length_ref else len(self.b) - self.o)
                start = self.o
                raw = self._take(n, sub)
                value = _text(raw) if isinstance(f, Str) else raw
                self._row(start, sub, raw, value, _show_text(raw) if isinstance(f, Str) else raw.hex())
                d[f.name] = value
            elif isinstance(f, List):
                d[f.name] = self.sequence(f, sub, d, counts)
            elif isinstance(f, InfoTypes):
                self.items(f, path, d)
            elif isinstance(f, Params):
                n = counts[f.count]
                d[f.name] = Sentinel(n) if n >= ABNORMAL["B"] else self.params(f, sub, n)
            elif isinstance(f, Switch):
                case = f.cases.get(d[f.on], f.default)
                if isinstance(case, Struct):
                    d[f.name] = self.struct(case, sub)
                else:
                    start = self.o
                    raw = self._take(len(self.b) - self.o, sub)
                    d[f.name] = _text(raw) if isinstance(case, Str) else raw
                    self._row(start, sub, raw, d[f.name], _show_text(raw) if isinstance(case, Str) else raw.hex())
        return d

    def _ref(self, ref: str, d: dict, counts: dict) -> int:
        if ref in counts:
            return counts[ref]
        value = d[ref]
        if isinstance(value, Sentinel):
            return 0  # a sentinel list counts as empty
        return sum(value) if isinstance(value, list) else value

    def sequence(self, node: List, path: str, d: dict, counts: dict) -> list[Any] | Sentinel:
        n = self._ref(node.count, d, counts)
        if node.count in counts and n >= ABNORMAL[self.count_fmt[node.count]]:
            return Sentinel(n)
        item = node.item
        out: list = []
        for j in range(n):
            sub = f"{path}[{j}]"
            if isinstance(item, Scalar):
                out.append(self.scalar(item, sub))
            elif isinstance(item, Struct):
                out.append(self.struct(item, sub))
            elif isinstance(item, Str):
                width = item.length if item.length is not None else self._ref(item.length_ref or "", d, counts)
                out.append(self._str_item(item, sub, width))
            else:  # pragma: no cover
                raise TypeError(f"cannot walk {item!r}")
        return out

    def _str_item(self, item: Str, path: str, width: int) -> str:
        start = self.o
        raw = self._take(width, path)
        self._row(start, path, raw, _text(raw), _show_text(raw))
        return _text(raw)

    def items(self, node: InfoTypes, path: str, d: dict) -> None:
        items: list[dict] = []
        d["items"] = items
        while self.o < len(self.b):
            j = len(items)
            sub = f"{path}.items[{j}]"
            start = self.o
            t = self.b[self.o]
            self.o += 1
            body = node.known.get(t)
            if body is not None:
                self._row(start, f"{sub}.type", bytes((t,)), t, f"0x{t:02X} {body.name}")
                items.append({"type": t, "data": self.struct(body, f"{sub}.data")})
            elif t in node.custom:
                self._row(start, f"{sub}.type", bytes((t,)), t, f"0x{t:02X} user-defined")
                ln_start = self.o
                (ln,) = struct.unpack(">H", self._take(2, f"{sub}.length"))
                self._row(ln_start, f"{sub}.length", self.b[ln_start:self.o], ln, str(ln), "bytes")
                data_start = self.o
                data = self._take(ln, f"{sub}.data", f"user-defined type 0x{t:02X}")
                self._row(data_start, f"{sub}.data", data, data, data.hex())
                self._finding(start, sub, f"user-defined information type 0x{t:02X} ({ln} bytes)")
                items.append({"type": t, "data": data})
            elif t == node.signature_code and node.signature is not None:
                self._row(start, f"{path}.signature_flag", bytes((t,)), t, "0xFF signature follows")
                d["signature"] = self.struct(node.signature, f"{path}.signature")
                return
            else:
                raise errors.UnknownInfoType(
                    f"information type 0x{t:02X} is not defined and has no length prefix; parsing cannot go on",
                    offset=self.base + start, path=f"{sub}.type", clause=self.clause)

    def params(self, node: Params, path: str, count: int) -> list[dict]:
        out: list[dict] = []
        lengths: dict[int, int] = {}
        target = {v: k for k, v in node.length_of.items()}
        for j in range(count):
            sub = f"{path}[{j}]"
            start = self.o
            pid = self._take(1, f"{sub}.id")[0]
            p = node.table.get(pid)
            if p is None:
                raise errors.UnknownParameter(f"parameter id 0x{pid:02X} has no defined width",
                                              offset=self.base + start, path=f"{sub}.id", clause="T B.12")
            self._row(start, f"{sub}.id", bytes((pid,)), pid, f"0x{pid:02X} {p.name}")
            if isinstance(p, Scalar):
                v: Any = self.scalar(p, f"{sub}.value")
            else:
                assert isinstance(p, Str)
                width = p.length if p.length is not None else lengths.get(target.get(pid, -1))
                if width is None:
                    raise errors.BodyError(f"parameter 0x{pid:02X} must follow its length parameter "
                                           f"0x{target[pid]:02X}", offset=self.base + start, path=f"{sub}.id",
                                           clause="T B.12")
                v = self._str_item(p, f"{sub}.value", width)
            if pid in node.length_of:
                lengths[pid] = v
            out.append({"id": pid, "value": v})
        return out


def _show_scalar(node: Scalar, raw: int) -> str:
    phys = node.physical(raw)
    if isinstance(phys, str):
        return phys.upper()
    if node.enum and raw in node.enum:
        return f"{raw} ({node.enum[raw]})"
    if node.bits:
        set_bits = [name for bit, name in node.bits.items() if raw >> bit & 1]
        return f"0x{raw:0{node.size * 2}X}" + (f" [{', '.join(set_bits)}]" if set_bits else "")
    return str(phys)


def _show_text(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("gb18030", "replace")


def walk_body(edition: int, node: Struct, body: bytes, *, base: int = HEADER_SIZE, strict: bool = False,
              ) -> tuple[dict, _Walker]:
    """Walk one data unit; raises the precise error, including bytes left over."""
    w = _Walker(body, base, node.clause, strict)
    value = w.struct(node, node.name)
    if w.o != len(body):
        raise errors.TrailingBytes(f"{len(body) - w.o} byte(s) left after the last field of {node.name}",
                                   offset=base + w.o, path=node.name, clause=node.clause)
    return value, w


def diagnose(edition: int, node: Struct, body: bytes) -> errors.ProtocolError:
    """The typed error for a data unit the fast codec rejected (offsets from the data unit)."""
    try:
        walk_body(edition, node, body, base=0)
    except errors.ProtocolError as exc:
        exc.edition = edition
        return exc
    return errors.ProtocolError("the fast codec rejected a data unit the walker accepts (a harness bug)",
                                path=node.name)


def explain(data: bytes, *, strict: bool = False) -> Explanation:
    """Annotate every byte of one frame; errors are recorded, not raised."""
    data = bytes(data)
    ex = Explanation()
    try:
        ex.frame = decode(data)
    except errors.ProtocolError as exc:
        ex.error = exc
    if len(data) < HEADER_SIZE:
        return ex
    start, command, ack, vin, enc, length = HEADER.unpack_from(data, 0)
    edition = EDITION_OF_START.get(start, 2016)
    header = [
        (0, 2, "header.start", start, f"{start.decode('latin-1')} (edition {edition})"),
        (2, 1, "header.command", command, f"0x{command:02X} {COMMANDS.get(command, 'custom/reserved')}"),
        (3, 1, "header.response", ack, f"0x{ack:02X} {RESPONSE_FLAGS[edition].get(ack, 'reserved')}"),
        (4, 17, "header.vin", vin, _show_text(vin)),
        (21, 1, "header.encryption", enc, f"0x{enc:02X} {ENCRYPTION[edition].get(enc, 'reserved')}"),
        (22, 2, "header.length", length, str(length)),
    ]
    for off, size, path, value, shown in header:
        unit = "bytes" if path.endswith("length") else ""
        ex.rows.append(Row(off, size, path, data[off:off + size], value, shown, unit))
    body = data[HEADER_SIZE:HEADER_SIZE + length]
    candidates = body_candidates(edition, command, ack) if enc == 0x01 else ()
    walker = None
    for node in candidates:
        try:
            _, walker = walk_body(edition, node, body, strict=strict)
            break
        except errors.ProtocolError:
            continue
    if walker is None and candidates:
        walker = _Walker(body, HEADER_SIZE, candidates[-1].clause, strict)
        try:
            walker.struct(candidates[-1], candidates[-1].name)
        except errors.ProtocolError:
            pass  # the rows up to the error stay; the error itself is ex.error
    if walker is not None:
        ex.rows += walker.rows
        ex.findings += walker.findings
    elif body:
        note = "ciphertext" if enc != 1 else ""
        ex.rows.append(Row(HEADER_SIZE, len(body), "body", body, body, body.hex()[:64], note))
    if len(data) > HEADER_SIZE + length:
        ex.rows.append(Row(HEADER_SIZE + length, 1, "bcc", data[HEADER_SIZE + length:][:1],
                           data[HEADER_SIZE + length], f"0x{data[HEADER_SIZE + length]:02X}", ""))
    return ex


def locate_value_error(node: Struct, value: Any, path: str | None = None) -> tuple[str, str] | None:
    """Slow path of encoding: the field path and reason of the first value that cannot be encoded."""
    path = path or node.name
    if not isinstance(value, dict):
        return path, f"expected a mapping for {node.name}, got {type(value).__name__}"
    for f in node.fields:
        sub = f"{path}.{f.name}"
        if isinstance(f, Count):
            continue
        if isinstance(f, InfoTypes):
            found = _locate_items(f, value, path)
        elif f.name not in value:
            return sub, "missing"
        else:
            found = _locate_field(f, value[f.name], sub, value)
        if found:
            return found
    return None


def _locate_field(f: Any, v: Any, path: str, parent: dict) -> tuple[str, str] | None:
    if isinstance(f, Scalar):
        if not isinstance(v, int) or not 0 <= v <= INVALID[f.fmt]:
            return path, f"{v!r} does not fit a {FMT_SIZE[f.fmt]}-byte unsigned field"
    elif isinstance(f, Time):
        if not (isinstance(v, tuple) and len(v) == 6 and all(isinstance(x, int) and 0 <= x <= 255 for x in v)):
            return path, f"{v!r} is not a 6-byte time"
    elif isinstance(f, (Str, Raw)):
        if not isinstance(v, (str, bytes, bytearray)):
            return path, f"expected text or bytes, got {type(v).__name__}"
        if f.length is not None and len(text_bytes(v) if isinstance(v, str) else v) > f.length:
            return path, f"longer than {f.length} bytes"
    elif isinstance(f, List):
        if isinstance(v, Sentinel):
            return None
        if not isinstance(v, list):
            return path, f"expected a list, got {type(v).__name__}"
        for j, item in enumerate(v):
            found = (locate_value_error(f.item, item, f"{path}[{j}]") if isinstance(f.item, Struct)
                     else _locate_field(f.item, item, f"{path}[{j}]", parent))
            if found:
                return found
    elif isinstance(f, Struct):
        return locate_value_error(f, v, path)
    elif isinstance(f, Switch):
        case = f.cases.get(parent.get(f.on, -1), f.default)
        return _locate_field(case, v, path, parent)
    elif isinstance(f, Params):
        for j, item in enumerate(v if isinstance(v, list) else []):
            p = f.table.get(item.get("id", -1)) if isinstance(item, dict) else None
            if p is None:
                return f"{path}[{j}].id", "not a parameter with a defined width"
            found = _locate_field(p, item.get("value"), f"{path}[{j}].value", parent)
            if found:
                return found
    return None


def _locate_items(f: InfoTypes, value: dict, path: str) -> tuple[str, str] | None:
    for j, item in enumerate(value.get("items", [])):
        sub = f"{path}.items[{j}]"
        t = item.get("type") if isinstance(item, dict) else None
        body = f.known.get(t) if isinstance(t, int) else None
        if body is not None:
            found = locate_value_error(body, item.get("data"), f"{sub}.data")
            if found:
                return found
        elif not (isinstance(t, int) and t in f.custom):
            return f"{sub}.type", f"information type {t!r} is not defined in this edition"
    if value.get("signature") is not None and f.signature is not None:
        return locate_value_error(f.signature, value["signature"], f"{path}.signature")
    return None
