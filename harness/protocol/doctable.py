"""Generate `docs/fields.md`, the field reference, from the protocol description.

Nothing here is typed per field: every row comes from a node of `messages.py`, so a schema edit
shows up in the docs (and `tests/protocol/test_doctable.py` fails until the file is regenerated).

    python -m harness.protocol.doctable            # write docs/fields.md
    python -m harness.protocol.doctable --check    # exit 1 when docs/fields.md is stale
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from .codec import HEADER, HEADER_SIZE, MAX_BODY
from .messages import (
    ALARM_BITS_2016,
    ALARM_BITS_2025,
    COMMANDS,
    CONTROL_COMMANDS,
    EDITIONS,
    ENCRYPTION,
    PARAM_LENGTH_OF,
    READ_ONLY_PARAMS,
    RESPONSE_FLAGS,
    START,
    command_body,
    info_types,
    is_custom_command,
    parameters,
    response_bodies,
)
from .schema import ABNORMAL, INVALID, Count, InfoTypes, List, Node, Params, Raw, Scalar, Str, Struct, Switch, Time

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "fields.md"
ALARM_BITS = {2016: ALARM_BITS_2016, 2025: ALARM_BITS_2025}
TYPE_NAME = {"B": "BYTE", "H": "WORD", "I": "DWORD"}
COLUMNS = ("offset", "field", "type", "unit", "resolution / offset", "valid range", "sentinels", "codes / bits",
           "clause", "notes")


# ---------------------------------------------------------------------------------- one row


@dataclass(frozen=True)
class Row:
    offset: str
    path: str
    type: str
    unit: str = ""
    resolution: str = ""
    range: str = ""
    sentinels: str = ""
    codes: str = ""
    clause: str = ""
    notes: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.offset, f"`{self.path}`", self.type, self.unit, self.resolution, self.range, self.sentinels,
                self.codes, self.clause, self.notes)


def _num(value: float | Decimal, scale: float) -> str:
    # Decimal keeps 1e-06 as six places (repr() would give '1e-06' and lose them)
    places = max(0, -Decimal(str(scale)).as_tuple().exponent)  # type: ignore[operator]
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _phys(node: Scalar, raw: int) -> str:
    value = Decimal(raw) * Decimal(str(node.scale)) - Decimal(str(node.offset))
    return _num(value, node.scale)


def scalar_range(node: Scalar | Count) -> str:
    """The valid range in physical units (raw bounds for counts)."""
    if node.lo is None and node.hi is None:
        return ""
    if isinstance(node, Count):
        return f"{'' if node.lo is None else node.lo}…{'' if node.hi is None else node.hi}"
    lo = "" if node.lo is None else _phys(node, node.lo)
    hi = "" if node.hi is None else _phys(node, node.hi)
    return f"{lo}…{hi}"


def resolution(node: Scalar) -> str:
    if node.scale == 1 and node.offset == 0:
        return ""
    text = _num(Decimal(str(node.scale)), node.scale)
    if node.offset:
        text += f", offset {_num(Decimal(str(node.offset)), node.scale)}"  # subtracted, see the legend
    return text


def sentinels(node: Scalar) -> str:
    if not node.sentinels:
        return "none: all codes are values"
    w = node.size * 2
    return f"0x{ABNORMAL[node.fmt]:0{w}X} abnormal, 0x{INVALID[node.fmt]:0{w}X} invalid"


def codes(mapping: dict[int, str], *, hex_width: int = 2) -> str:
    return "; ".join(f"0x{k:0{hex_width}X} {v}" for k, v in mapping.items())


def bits(mapping: dict[int, str]) -> str:
    return "; ".join(f"bit{k} {v}" for k, v in mapping.items())


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- flattening


class Flattener:
    """Turns a Struct into rows; `alarm_link` replaces the long alarm bit list by a link."""

    def __init__(self, edition: int) -> None:
        self.edition = edition

    def rows(self, node: Struct, prefix: str = "", clause: str = "", item: bool = False) -> list[Row]:
        clause = node.clause or clause
        refs = _refs(node)
        out: list[Row] = []
        offset: int | None = 0
        for f in node.fields:
            shown = "" if offset is None else (f"+{offset}" if item else str(offset))
            out += self._field(f, prefix, shown, clause, refs, node)
            size = f.size
            offset = None if offset is None or size is None else offset + size
        return out

    def _field(self, f: Node, prefix: str, off: str, clause: str, refs: dict[str, Node], parent: Struct,
               ) -> list[Row]:
        path = prefix + f.name
        doc = getattr(f, "doc", "")
        if isinstance(f, Time):
            return [Row(off, path, "BYTE[6] time", notes=doc, clause=clause)]
        if isinstance(f, Scalar):
            return [self.scalar_row(f, path, off, clause)]
        if isinstance(f, Count):
            target = refs.get(f.name)
            what = "length in bytes of" if isinstance(target, (Str, Raw)) else "count of"
            return [Row(off, path, TYPE_NAME[f.fmt], range=scalar_range(f), clause=clause,
                        sentinels="0xFE…/0xFF…: no list follows" if isinstance(target, List) else "",
                        notes=_join(f"{what} `{prefix}{target.name}`" if target else "", doc))]
        if isinstance(f, (Str, Raw)):
            return [Row(off, path, _text_type(f, prefix), clause=clause, notes=doc)]
        if isinstance(f, List):
            return self._list(f, path, off, clause, parent, prefix)
        if isinstance(f, InfoTypes):
            return self._items(f, path, off, clause)
        if isinstance(f, Params):
            return [Row(off, f"{path}[]", f"list of (id BYTE + value) × `{prefix}{f.count}`", clause=clause,
                        codes=f"ids: see [Parameters](#e{self.edition}-parameters)", notes=doc)]
        if isinstance(f, Switch):
            return self._switch(f, path, off, clause, prefix)
        raise TypeError(f"no documentation rule for {f!r}")  # pragma: no cover - schema has no other kinds

    def scalar_row(self, f: Scalar, path: str, off: str, clause: str, type_prefix: str = "") -> Row:
        if f.bits is not None and f.bits is ALARM_BITS[self.edition]:
            code_text = f"bits: see [Alarm bits](#e{self.edition}-alarm-bits)"
        else:
            code_text = _join(codes(f.enum) if f.enum else "", bits(f.bits) if f.bits else "")
        return Row(off, path, type_prefix + TYPE_NAME[f.fmt], f.unit, resolution(f), scalar_range(f), sentinels(f),
                   code_text, clause, f.doc)

    def _list(self, f: List, path: str, off: str, clause: str, parent: Struct, prefix: str) -> list[Row]:
        counter = next((x for x in parent.fields if x.name == f.count), None)
        times = f"Σ`{prefix}{f.count}`" if isinstance(counter, List) else f"`{prefix}{f.count}`"
        item = f.item
        if isinstance(item, Scalar):
            row = self.scalar_row(item, f"{path}[]", off, clause, "list of ")
            return [replace(row, type=f"{row.type} × {times}", notes=_join(row.notes, f.doc))]
        if isinstance(item, Str):
            return [Row(off, f"{path}[]", f"list of {_text_type(item, prefix)} × {times}", clause=clause,
                        notes=_join(item.doc, f.doc))]
        if isinstance(item, Struct):
            size = f", {item.size} bytes each" if item.size is not None else ""
            head = Row(off, f"{path}[]", f"list of `{item.name}` × {times}{size}", clause=item.clause or clause,
                       notes=f.doc)
            return [head, *self.rows(item, f"{path}[].", clause, item=True)]
        raise TypeError(f"no documentation rule for list item {item!r}")  # pragma: no cover

    def _items(self, f: InfoTypes, path: str, off: str, clause: str) -> list[Row]:
        known = "; ".join(f"0x{code:02X} [{body.name}](#e{self.edition}-info-{code:02x})"
                          for code, body in f.known.items())
        custom = f"0x{f.custom.start:02X}–0x{f.custom.stop - 1:02X} user-defined (WORD length + bytes)"
        rows = [Row(off, f"{path}[].type", "BYTE", clause=clause, codes=_join(known, custom),
                    notes="items repeat to the end of the data unit, in any order")]
        rows.append(Row("", f"{path}[].data", "body of the type", clause=clause,
                        notes=f"see [Information types](#e{self.edition}-info-types)"))
        if f.signature_code is not None and f.signature is not None:
            rows.append(Row("", "signature_flag", "BYTE", codes=f"0x{f.signature_code:02X} signature follows",
                            clause=f.signature.clause, notes="ends the item list"))
            rows += self.rows(f.signature, "signature.", f.signature.clause, item=True)
        return rows

    def _switch(self, f: Switch, path: str, off: str, clause: str, prefix: str) -> list[Row]:
        rows = []
        for code, case in [*f.cases.items(), (None, f.default)]:
            when = f"{prefix}{f.on} = 0x{code:02X}" if code is not None else f"{prefix}{f.on} is any other code"
            sub = f"{path}[{when.split(' = ')[-1] if code is not None else 'other'}]"
            if isinstance(case, Struct):
                rows.append(Row(off, sub, f"`{case.name}`", clause=case.clause or clause, notes=f"when {when}"))
                rows += self.rows(case, f"{sub}.", clause, item=True)
            elif isinstance(case, (Str, Raw)):
                rows.append(Row(off, sub, _text_type(case, prefix), clause=clause,
                                notes=_join(f"when {when}", case.doc)))
            else:  # pragma: no cover - the schema's switches hold structs and byte strings
                raise TypeError(f"no documentation rule for switch case {case!r}")
        return rows


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _text_type(f: Str | Raw, prefix: str = "") -> str:
    kind = "STRING" if isinstance(f, Str) else "BYTE"
    if f.length is not None:
        return f"STRING {f.length}" if kind == "STRING" else f"BYTE[{f.length}]"
    if f.length_ref:
        return f"STRING n, n = `{prefix}{f.length_ref}`" if kind == "STRING" else f"BYTE[`{prefix}{f.length_ref}`]"
    return "STRING, to the end" if kind == "STRING" else "BYTE[], to the end"


def _refs(node: Struct) -> dict[str, Node]:
    """Count name -> the list or byte string whose size it gives (scanning nested items too)."""
    out: dict[str, Node] = {}
    for f in node.fields:
        if isinstance(f, List):
            out.setdefault(f.count, f)
        elif isinstance(f, (Str, Raw)) and f.length_ref:
            out.setdefault(f.length_ref, f)
        elif isinstance(f, Params):
            out.setdefault(f.count, f)
    return out


def header_struct(edition: int) -> Struct:
    """The frame header as nodes, checked against the codec's `HEADER` so the two cannot drift."""
    node = Struct("header", (
        Raw("start", 2, doc=f"`{START[edition].decode()}` marks the {edition} edition"),
        Scalar("command", sentinels=False, doc=f"see [Commands](#e{edition}-commands)"),
        Scalar("response", sentinels=False, enum=RESPONSE_FLAGS[edition]),
        Str("vin", 17, doc="VIN, or the platform's unique id; shorter ids are zero-padded"),
        Scalar("encryption", enum=ENCRYPTION[edition], doc="of the data unit"),
        Scalar("length", "H", unit="bytes", lo=0, hi=MAX_BODY, sentinels=False, doc="of the data unit"),
    ), clause="6.2 T2")
    fmt = ">" + "".join(f"{f.size}s" if isinstance(f, (Raw, Str)) else f.fmt for f in node.fields)  # type: ignore[attr-defined]
    if fmt != HEADER.format or struct.calcsize(fmt) != HEADER_SIZE:
        raise AssertionError(f"documented header {fmt} differs from codec.HEADER {HEADER.format}")
    return node


# ---------------------------------------------------------------------------------- sections


def _anchor(name: str) -> str:
    return f'<a id="{name}"></a>\n'


def _struct_table(flat: Flattener, node: Struct) -> str:
    size = f"{node.size} bytes" if node.size is not None else "variable length"
    rows = flat.rows(node)
    clause = f", clause {node.clause}" if node.clause else ""
    return f"*{size}{clause}*\n\n" + (table(COLUMNS, [r.cells() for r in rows]) if rows else "(empty)\n")


def _command_groups(edition: int) -> list[tuple[list[int], Struct]]:
    groups: list[tuple[list[int], Struct]] = []
    for code in COMMANDS:
        body = command_body(edition, code)
        if body is None:
            continue
        for codes_, seen in groups:
            if seen is body:  # 0x02/0x03 and 0x07/0x08 share one description
                codes_.append(code)
                break
        else:
            groups.append(([code], body))
    return groups


def _defined(edition: int) -> list[int]:
    return [c for c in COMMANDS if command_body(edition, c) is not None]


def _custom_command_range() -> str:
    codes_ = [c for c in range(256) if is_custom_command(c)]
    return f"0x{codes_[0]:02X}–0x{codes_[-1]:02X}" if codes_ else ""


def edition_section(edition: int) -> str:
    flat = Flattener(edition)
    e = edition
    out = [_anchor(f"e{e}"), f"## Edition {e}\n\n"]

    out += [_anchor(f"e{e}-header"), "### Frame header\n\n", _struct_table(flat, header_struct(e)), "\n"]
    out.append(table(("offset", "field", "type", "notes"),
                     [(f"{HEADER_SIZE}+N", "`bcc`", "BYTE",
                       f"XOR of bytes 2…{HEADER_SIZE - 1}+N; frame = {HEADER_SIZE + 1}+N bytes, "
                       f"at most {HEADER_SIZE + MAX_BODY + 1}")]) + "\n")

    out += [_anchor(f"e{e}-commands"), "### Commands\n\n"]
    rows = []
    for code, name in COMMANDS.items():
        body = command_body(e, code)
        if body is None:
            rows.append((f"0x{code:02X}", name, f"not defined in {e}: body kept as bytes", ""))
            continue
        answers = ", ".join(f"`{r.name}`" for r in response_bodies(e, code))
        rows.append((f"0x{code:02X}", name, f"[`{body.name}`](#e{e}-cmd-{code:02x})", answers))
    rows.append((_custom_command_range(), "platform custom", "body kept as bytes", ""))
    out += [table(("code", "command", "command body (flag 0xFE)", "response bodies, tried in order"), rows), "\n"]

    out += [_anchor(f"e{e}-response-flags"), "### Response flags\n\n",
            table(("code", "meaning"), [(f"0x{k:02X}", v) for k, v in RESPONSE_FLAGS[e].items()]), "\n"]
    out += [_anchor(f"e{e}-encryption"), "### Encryption codes\n\n",
            table(("code", "meaning"), [(f"0x{k:02X}", v) for k, v in ENCRYPTION[e].items()]), "\n"]

    out.append("### Data units\n\n")
    for codes_, body in _command_groups(e):
        for code in codes_:
            out.append(_anchor(f"e{e}-cmd-{code:02x}"))
        title = " / ".join(f"0x{c:02X} {COMMANDS[c]}" for c in codes_)
        out += [f"#### {title} (body `{body.name}`)\n\n", _struct_table(flat, body), "\n"]
    # response-only bodies (time only, the query answer), each once, naming the commands that use it
    shown = {id(b) for _, b in _command_groups(e)}
    users: dict[int, tuple[Struct, list[int]]] = {}
    for code in COMMANDS:
        for resp in response_bodies(e, code):
            if id(resp) not in shown and command_body(e, code) is not None:
                users.setdefault(id(resp), (resp, []))[1].append(code)
    for resp, codes_ in users.values():
        used = "every command" if len(codes_) == len(_defined(e)) else ", ".join(f"0x{c:02X}" for c in codes_)
        out += [f"#### Response body `{resp.name}` ({used})\n\n", _struct_table(flat, resp), "\n"]

    items = info_types(e)
    out += [_anchor(f"e{e}-info-types"), "### Information types (0x02 / 0x03 items)\n\n"]
    rows = [(f"0x{code:02X}", f"[`{b.name}`](#e{e}-info-{code:02x})",
             f"{b.size} bytes" if b.size is not None else "variable", b.clause) for code, b in items.known.items()]
    rows.append((f"0x{items.custom.start:02X}–0x{items.custom.stop - 1:02X}", "user-defined",
                 "WORD length + that many bytes", ""))
    if items.signature_code is not None and items.signature is not None:
        rows.append((f"0x{items.signature_code:02X}", f"[`{items.signature.name}`](#e{e}-signature)",
                     "variable; ends the data unit", items.signature.clause))
    out += [table(("type", "body", "size", "clause"), rows),
            "\nAny other type code stops the parse: it has no length prefix to skip by.\n\n"]
    for code, body in items.known.items():
        out += [_anchor(f"e{e}-info-{code:02x}"), f"#### 0x{code:02X} {body.name}\n\n", _struct_table(flat, body),
                "\n"]
    if items.signature is not None:
        out += [_anchor(f"e{e}-signature"), f"#### 0x{items.signature_code:02X} {items.signature.name}\n\n",
                _struct_table(flat, items.signature), "\n"]

    out += [_anchor(f"e{e}-parameters"), "### Parameters (0x80 query / 0x81 set)\n\n", _params_table(flat, e), "\n"]

    out += [_anchor(f"e{e}-control"), "### Control commands (0x82)\n\n", _control_table(e), "\n"]

    out += [_anchor(f"e{e}-alarm-bits"), "### Alarm bits (general alarm flags, bit 0 = LSB)\n\n",
            table(("bit", "alarm"), [(str(k), v) for k, v in sorted(ALARM_BITS[e].items())]),
            f"\nBits {max(ALARM_BITS[e]) + 1}–31 are reserved.\n\n"]
    return "".join(out)


def _params_table(flat: Flattener, edition: int) -> str:
    rows = []
    length_param = {name: pid for pid, name in ((p, parameters(edition)[p].name) for p in PARAM_LENGTH_OF)}
    for pid, node in parameters(edition).items():
        notes = []
        if pid in READ_ONLY_PARAMS:
            notes.append("read-only")
        if pid in PARAM_LENGTH_OF:
            notes.append(f"length of 0x{PARAM_LENGTH_OF[pid]:02X}, which must follow it")
        if isinstance(node, Scalar):
            row = flat.scalar_row(node, node.name, f"0x{pid:02X}", "T B.12")
        elif isinstance(node, (Str, Raw)):
            text = _text_type(node)
            if node.length_ref in length_param:
                text = text.replace(f"`{node.length_ref}`", f"parameter 0x{length_param[node.length_ref]:02X}")
            row = Row(f"0x{pid:02X}", node.name, text, clause="T B.12", notes=node.doc)
        else:  # pragma: no cover - parameters are scalars and strings
            raise TypeError(f"no documentation rule for parameter {node!r}")
        rows.append(replace(row, notes=_join(row.notes, *notes)).cells())
    return table(("id",) + COLUMNS[1:], rows)


def _control_table(edition: int) -> str:
    body = command_body(edition, 0x82)
    switch = next((f for f in body.fields if isinstance(f, Switch)), None) if body else None
    rows = []
    for code, name in CONTROL_COMMANDS.items():
        case = switch.cases.get(code, switch.default) if switch else None
        if isinstance(case, Struct):
            params = f"`{case.name}`: " + ", ".join(f"{f.name} {_short_type(f)}" for f in case.fields)
        elif isinstance(case, (Str, Raw)):
            params = _join(_text_type(case), case.doc)
        else:
            params = ""
        rows.append((f"0x{code:02X}", name, params))
    return table(("code", "command", "parameters"), rows)


def _short_type(f: Node) -> str:
    if isinstance(f, Scalar):
        rng = scalar_range(f)
        return TYPE_NAME[f.fmt] + (f" ({rng})" if rng else "")
    if isinstance(f, (Str, Raw)):
        return _text_type(f)
    return type(f).__name__


# ---------------------------------------------------------------------------------- edition diff


def _leaves(flat: Flattener, node: Struct) -> dict[str, Row]:
    return {r.path: r for r in flat.rows(node)}


def _leaf_name(path: str) -> str:
    return path.replace("[]", "").rsplit(".", 1)[-1]


def _similarity(a: dict[str, Row], b: dict[str, Row]) -> float:
    na, nb = {_leaf_name(p) for p in a}, {_leaf_name(p) for p in b}
    return len(na & nb) / len(na | nb) if na | nb else 1.0


ATTRS = (("type", "type"), ("unit", "unit"), ("resolution", "resolution/offset"), ("range", "range"),
         ("sentinels", "sentinels"), ("codes", "codes"))


def diff_structs(old: Struct, new: Struct) -> list[str]:
    """Field-level differences: added, removed, and changed width, scale, range, codes."""
    a, b = _leaves(Flattener(2016), old), _leaves(Flattener(2025), new)
    lines: list[str] = []
    if old.size != new.size:
        lines.append(f"size {_size(old)} → {_size(new)}")
    pairs: list[tuple[str, str]] = [(p, p) for p in a if p in b]
    rest_a = [p for p in a if p not in b]
    rest_b = [p for p in b if p not in a]
    # a list renamed (subsystems[] → packs[]) keeps its leaf names: pair those when unambiguous
    for p in list(rest_a):
        name = _leaf_name(p)
        cands = [q for q in rest_b if _leaf_name(q) == name]
        if len(cands) == 1 and sum(_leaf_name(x) == name for x in rest_a) == 1:
            pairs.append((p, cands[0]))
            rest_a.remove(p)
            rest_b.remove(cands[0])
    # a list head follows its items: subsystems[] pairs with packs[] when their fields paired
    for p in [x for x in rest_a if x.endswith("[]")]:
        heads = {y.split("[].", 1)[0] + "[]" for x, y in pairs if x.startswith(p + ".") and "[]." in y}
        heads &= set(rest_b)
        if len(heads) == 1:
            q = heads.pop()
            pairs.append((p, q))
            rest_a.remove(p)
            rest_b.remove(q)
    for p in rest_a:
        lines.append(f"removed `{p}` ({a[p].type})")
    for q in rest_b:
        lines.append(f"added `{q}` ({b[q].type})")
    for p, q in pairs:
        ra, rb = _unlinked(a[p]), _unlinked(b[q])
        changes = []
        for attr, label in ATTRS:
            va, vb = getattr(ra, attr), getattr(rb, attr)
            if va != vb and not (attr == "codes" and "Alarm bits" in va):
                changes.append(_change(label, va, vb))
        name = f"`{p}`" if p == q else f"`{p}` → `{q}`"
        if changes or p != q:
            lines.append(f"{name}: " + ("; ".join(changes) if changes else "renamed"))
    return lines


def _unlinked(row: Row) -> Row:
    # links differ by edition anchor only; that is not a schema difference
    return replace(row, codes=row.codes.replace("#e2016-", "#e-").replace("#e2025-", "#e-"))


def _change(label: str, old: str, new: str) -> str:
    if label == "codes" and ";" in old + new:
        oa = dict(_split_code(x) for x in old.split("; ") if x)
        ob = dict(_split_code(x) for x in new.split("; ") if x)
        parts = [f"+{k} {v}" for k, v in ob.items() if k not in oa]
        parts += [f"−{k} {v}" for k, v in oa.items() if k not in ob]
        parts += [f"{k} {oa[k]} → {ob[k]}" for k in oa if k in ob and oa[k] != ob[k]]
        return "codes " + ", ".join(parts)
    return f"{label} {old or '—'} → {new or '—'}"


def _split_code(text: str) -> tuple[str, str]:
    key, _, rest = text.partition(" ")
    return key, rest


def _size(node: Struct) -> str:
    return f"{node.size} bytes" if node.size is not None else "variable"


def _pair_info_types() -> tuple[list[tuple[int, Struct, int, Struct, str]], list[tuple[int, Struct]],
                                list[tuple[int, Struct]]]:
    """Pair 2016 and 2025 information types: same name, then near-identical fields, then a body that
    alone fills the gap between two paired neighbours (as a line diff pairs a changed line)."""
    old, new = info_types(2016).known, info_types(2025).known
    f16, f25 = Flattener(2016), Flattener(2025)
    leaves16 = {c: _leaves(f16, s) for c, s in old.items()}
    leaves25 = {c: _leaves(f25, s) for c, s in new.items()}
    paired: dict[int, tuple[int, str]] = {}
    for ca, sa in old.items():
        same = [cb for cb, sb in new.items() if sb.name == sa.name]
        if same:
            paired[ca] = (same[0], "same name")
    for ca in old:
        if ca in paired:
            continue
        taken = {cb for cb, _ in paired.values()}
        best = max(((_similarity(leaves16[ca], leaves25[cb]), cb) for cb in new if cb not in taken), default=None)
        if best and best[0] >= 0.9:
            paired[ca] = (best[1], f"renamed, {best[0]:.0%} of field names shared")
    # gaps: between consecutive pairs, exactly one unpaired body on each side with fields in common
    anchors = sorted([(-1, -1), *((ca, cb) for ca, (cb, _) in paired.items()), (256, 256)])
    for (a0, b0), (a1, b1) in zip(anchors, anchors[1:], strict=False):
        gap16 = [c for c in old if a0 < c < a1 and c not in paired]
        taken = {cb for cb, _ in paired.values()}
        gap25 = [c for c in new if b0 < c < b1 and c not in taken]
        if len(gap16) == 1 and len(gap25) == 1:
            score = _similarity(leaves16[gap16[0]], leaves25[gap25[0]])
            if score > 0:
                paired[gap16[0]] = (gap25[0], f"same place between unchanged neighbours, "
                                              f"{score:.0%} of field names shared")
    pairs = [(ca, old[ca], cb, new[cb], how) for ca, (cb, how) in sorted(paired.items())]
    taken = {cb for cb, _ in paired.values()}
    return (pairs, [(c, s) for c, s in old.items() if c not in paired],
            [(c, s) for c, s in new.items() if c not in taken])


def changes_section() -> str:
    out = [_anchor("changes"), "## 2016 → 2025 changes\n\n",
           "Derived by comparing the two editions' descriptions; each line links to the full tables.\n\n"]
    lines: list[str] = []
    lines.append(f"- start symbol `{START[2016].decode()}` → `{START[2025].decode()}` "
                 "(the header layout is unchanged)")
    for title, tables in (("response flags", RESPONSE_FLAGS), ("encryption codes", ENCRYPTION)):
        lines += [f"- {title}: {x}" for x in _dict_diff(tables[2016], tables[2025])]
    added = [c for c in COMMANDS if command_body(2016, c) is None and command_body(2025, c) is not None]
    if added:
        lines.append("- new commands: " + ", ".join(f"[0x{c:02X} {COMMANDS[c]}](#e2025-cmd-{c:02x})" for c in added))
    out.append("\n".join(lines) + "\n\n")

    out.append("### Data units\n\n")
    for code in COMMANDS:
        a, b = command_body(2016, code), command_body(2025, code)
        if a is None or b is None or a.name in ("realtime",):
            continue
        diff = diff_structs(a, b)
        if diff:
            out.append(f"- [0x{code:02X} {a.name}](#e2025-cmd-{code:02x}):\n" + _bullets(diff, 2))
    same = [c for c in COMMANDS if (a := command_body(2016, c)) is not None and (b := command_body(2025, c))
            is not None and a.name != "realtime" and not diff_structs(a, b)]
    out.append("- unchanged: " + ", ".join(f"0x{c:02X} {COMMANDS[c]}" for c in same) + "\n")
    out.append("- 0x02 realtime / 0x03 reissue: see the information types below\n\n")

    pairs, removed, added_t = _pair_info_types()
    out.append("### Information types\n\n")
    codes_ = sorted(set(info_types(2016).known) | set(info_types(2025).known))
    rows = [(f"0x{c:02X}", getattr(info_types(2016).known.get(c), "name", "—"),
             getattr(info_types(2025).known.get(c), "name", "—")) for c in codes_]
    out += [table(("type", "2016", "2025"), rows), "\n"]
    for ca, sa, cb, sb, how in pairs:
        diff = diff_structs(sa, sb)
        moved = f"0x{ca:02X} → 0x{cb:02X}" if ca != cb else f"0x{ca:02X}"
        head = f"- [{sa.name}](#e2016-info-{ca:02x}) → [{sb.name}](#e2025-info-{cb:02x}) ({moved}; {how})"
        out.append(head + (":\n" + _bullets(diff, 2) if diff else ": unchanged\n"))
    for c, s in removed:
        out.append(f"- removed: [0x{c:02X} {s.name}](#e2016-info-{c:02x})\n")
    for c, s in added_t:
        out.append(f"- added: [0x{c:02X} {s.name}](#e2025-info-{c:02x})\n")
    sig = info_types(2025).signature
    if info_types(2016).signature is None and sig is not None:
        out.append(f"- added: 0x{info_types(2025).signature_code:02X} [{sig.name}](#e2025-signature) block "
                   "ends the real-time/reissue data unit\n")
    out.append("\n### Parameters\n\n")
    lines = []
    p16, p25 = parameters(2016), parameters(2025)
    flat16, flat25 = Flattener(2016), Flattener(2025)
    for pid in sorted(set(p16) | set(p25)):
        if pid not in p16 or pid not in p25:
            lines.append(f"0x{pid:02X} {'added' if pid in p25 else 'removed'}")
            continue
        a16, a25 = p16[pid], p25[pid]
        if isinstance(a16, Scalar) and isinstance(a25, Scalar):
            ra = flat16.scalar_row(a16, a16.name, "", "")
            rb = flat25.scalar_row(a25, a25.name, "", "")
            ch = [_change(label, getattr(ra, k), getattr(rb, k)) for k, label in ATTRS
                  if getattr(ra, k) != getattr(rb, k)]
            if ch:
                lines.append(f"0x{pid:02X} `{a16.name}`: " + "; ".join(ch))
    out.append(_bullets(lines or ["unchanged"], 0) + "\n")

    out.append("### Alarm bits\n\n")
    out.append(_bullets(_dict_diff(ALARM_BITS_2016, ALARM_BITS_2025, key=lambda k: f"bit {k}") or ["unchanged"], 0))
    return "".join(out) + "\n"


def _dict_diff(old: dict[int, str], new: dict[int, str], key: object = None) -> list[str]:
    fmt = key if callable(key) else (lambda k: f"0x{k:02X}")
    out = [f"added {fmt(k)} {v}" for k, v in new.items() if k not in old]
    out += [f"removed {fmt(k)} {v}" for k, v in old.items() if k not in new]
    out += [f"{fmt(k)} {old[k]} → {new[k]}" for k in old if k in new and old[k] != new[k]]
    return out


def _bullets(lines: list[str], indent: int) -> str:
    return "".join(" " * indent + f"- {_esc_inline(x)}\n" for x in lines)


def _esc_inline(text: str) -> str:
    return text.replace("\n", " ")


# ---------------------------------------------------------------------------------- document


def render() -> str:
    """The whole of docs/fields.md."""
    intro = (
        "# GB/T 32960.3 field reference\n\n"
        "Generated by `python -m harness.protocol.doctable` from `harness/protocol/messages.py`; "
        "do not edit by hand (`--check` tells when this file is stale).\n\n"
        "How to read the tables:\n\n"
        "- **offset** counts bytes from the start of the data unit or information-type body (after its type "
        "byte); `+N` counts from the start of a list item. It is blank after the first variable-length field.\n"
        "- **type**: BYTE, WORD, DWORD are unsigned big-endian 8/16/32-bit; STRING n is n bytes of ASCII "
        "(GB 18030 allowed); BYTE[n] is raw bytes; `list of X × n` repeats X as often as the named count says.\n"
        "- **resolution / offset**: physical = raw × resolution − offset. **valid range** is physical "
        "(raw bounds for counts).\n"
        "- **sentinels**: 0xFE… abnormal and 0xFF… invalid, by field width; a count holding one means no "
        "list follows.\n"
        "- Count fields are computed on encode and do not appear in decoded bodies.\n\n"
        "Contents: [2016 → 2025 changes](#changes) · "
        + " · ".join(f"[Edition {e}](#e{e}) ([header](#e{e}-header), [commands](#e{e}-commands), "
                     f"[info types](#e{e}-info-types), [parameters](#e{e}-parameters), "
                     f"[alarm bits](#e{e}-alarm-bits))" for e in EDITIONS)
        + "\n\n"
    )
    text = intro + changes_section() + "".join(edition_section(e) for e in EDITIONS)
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m harness.protocol.doctable", description=summary)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the schema")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: docs/fields.md")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m harness.protocol.doctable", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
