"""A JSON view of a decoded `Frame`, with physical values and units, and its inverse.

`frame_to_json` walks the description nodes alongside the decoded value, so every scalar comes out
as ``{"value": 60.0, "unit": "km/h", "raw": 600}`` (enums add ``"label"``, bit fields ``"flags"``),
a sentinel as ``{"sentinel": "abnormal", "raw": 254}``, bytes as hex strings and times as
``"2021-04-16 07:29:27"``. Counts are left out: the codec derives them from the lists.

`frame_from_json` reads that form back, and also a short hand-written form where a scalar is just
its physical number (or an enum label, or ``"abnormal"``/``"invalid"``). When a scalar carries
``raw``, the raw value wins, so ``encode(frame_from_json(frame_to_json(f))) == encode(f)`` byte for
byte, sentinels and padding included.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any

from . import errors
from .codec import COMMAND_FLAG, Frame, body_candidates
from .messages import COMMANDS, COMMANDS_2025_ONLY, EDITIONS, ENCRYPTION, RESPONSE_FLAGS, is_custom_command
from .schema import (
    ABNORMAL,
    FMT_SIZE,
    INVALID,
    Count,
    InfoTypes,
    List,
    Node,
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

__all__ = ["command_label", "frame_from_json", "frame_to_json", "frames_from_json"]

# Top-level keys `frame_from_json` ignores: `gbt32960 decode`/`pcap` add them beside the frame.
INFORMATIVE_KEYS = frozenset({"findings", "stream_offset", "capture_time", "flow"})

_SENTINEL_NAMES = ("abnormal", "invalid")


# ------------------------------------------------------------------------------------ labels


def command_label(edition: int, command: int) -> str:
    if is_custom_command(command):
        name = "platform_custom"
    elif edition == 2016 and command in COMMANDS_2025_ONLY:
        name = "reserved"
    else:
        name = COMMANDS.get(command, "reserved")
    return f"0x{command:02X} {name}"


def response_label(edition: int, ack: int) -> str:
    return f"0x{ack:02X} {RESPONSE_FLAGS[edition].get(ack, 'reserved')}"


def encryption_label(edition: int, encryption: int) -> str:
    return ENCRYPTION[edition].get(encryption, f"0x{encryption:02X}")


# ------------------------------------------------------------------------------ frame -> JSON


def frame_to_json(frame: Frame) -> dict[str, Any]:
    """A JSON-able dict of one frame (see the module text for the form)."""
    ed = frame.edition
    if ed not in EDITIONS:
        raise errors.EncodeError(f"edition {ed} is neither 2016 nor 2025", path="edition")
    out: dict[str, Any] = {
        "edition": ed,
        "command": command_label(ed, frame.command),
        "response": response_label(ed, frame.ack),
        "vin": _text_to_json(frame.vin, fixed=True),
        "encryption": encryption_label(ed, frame.encryption),
    }
    body = frame.body
    if body is None:
        out["body"] = None
    elif isinstance(body, (bytes, bytearray, memoryview)):
        out["body"] = bytes(body).hex()  # ciphertext or a command with no defined body
    else:
        node = _pick(body_candidates(ed, frame.command, frame.ack), set(body))
        if node is None:
            raise errors.EncodeError(f"command 0x{frame.command:02X} has no defined body in {ed}; use bytes",
                                     path="body")
        out["body"] = _struct_to_json(node, body, "body")
    return out


def _struct_to_json(node: Struct, value: dict, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in node.fields:
        if isinstance(f, Count):
            continue  # derived from its list on encode
        sub = f"{path}.{f.name}"
        if isinstance(f, InfoTypes):
            out["items"] = [_item_to_json(f, item, f"{path}.items[{j}]") for j, item in enumerate(value["items"])]
            if value.get("signature") is not None and f.signature is not None:
                out["signature"] = _struct_to_json(f.signature, value["signature"], f"{path}.signature")
            continue
        if f.name not in value:
            raise errors.EncodeError(f"field {f.name!r} is missing", path=sub)
        v = value[f.name]
        if isinstance(f, Switch):
            out[f.name] = _node_to_json(f.cases.get(value[f.on], f.default), v, sub)
        else:
            out[f.name] = _node_to_json(f, v, sub)
    return out


def _node_to_json(node: Node, v: Any, path: str, padded: bool = True) -> Any:
    if isinstance(node, Scalar):
        return scalar_to_json(node, v)
    if isinstance(node, Time):
        return _time_to_json(v)
    if isinstance(node, Str):
        # the encoder NUL-pads fixed-width fields (not list items), so only those drop trailing NULs
        return _text_to_json(v, fixed=node.length is not None and padded)
    if isinstance(node, Raw):
        return bytes(v).hex()
    if isinstance(node, Struct):
        return _struct_to_json(node, v, path)
    if isinstance(node, List):
        return _list_to_json(node, v, path)
    if isinstance(node, Params):
        if isinstance(v, Sentinel):  # a sentinel count: no parameter follows
            return {"sentinel": v.kind, "raw": int(v)}
        return [_param_to_json(node, p, f"{path}[{j}]") for j, p in enumerate(v)]
    raise errors.EncodeError(f"no JSON form for {type(node).__name__}", path=path)  # pragma: no cover


def scalar_to_json(node: Scalar, raw: int) -> dict[str, Any]:
    """``{"value", "unit", "raw"}`` (+ ``label`` / ``flags``), or ``{"sentinel", "raw"}``."""
    raw = int(raw)
    kind = node.sentinel(raw)
    if kind:
        return {"sentinel": kind, "raw": raw}
    out: dict[str, Any] = {"value": physical(node, raw)}
    if node.unit:
        out["unit"] = node.unit
    out["raw"] = raw
    if node.enum is not None:
        out["label"] = node.enum.get(raw, "undefined")
    if node.bits is not None:
        out["flags"] = [name for bit, name in sorted(node.bits.items()) if raw >> bit & 1]
    return out


def physical(node: Scalar, raw: int) -> float | int | str:
    """`Scalar.physical`, but with the decimals of scales such as 1e-06 kept.

    Why not `node.physical` alone: `schema._decimals` reads decimals from `repr(scale)`, which is
    '1e-06' for the position scale, so it rounds longitude/latitude to whole degrees.
    """
    kind = node.sentinel(raw)
    if kind:
        return kind
    if node.scale == 1 and node.offset == 0:
        return raw
    places = max(_places(node.scale), _places(node.offset))
    return round(raw * node.scale - node.offset, places)


def _places(x: float) -> int:
    exponent = Decimal(repr(x)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _time_to_json(t: Timestamp) -> str | dict[str, str]:
    try:
        t.to_datetime()
    except ValueError:
        return {"hex": bytes(t).hex()}  # not a calendar time: keep the bytes
    return str(t)


def _text_to_json(value: str | bytes, *, fixed: bool) -> str | dict[str, str]:
    raw = value if isinstance(value, bytes) else value.encode("ascii", "surrogateescape")
    # fixed widths are NUL-padded on encode, so trailing NULs are padding, not content
    shown = raw.rstrip(b"\0") if fixed else raw
    try:
        return shown.decode("ascii")
    except UnicodeDecodeError:
        # non-ASCII (GB 18030 or garbage): a JSON string could not carry the bytes faithfully
        return {"hex": raw.hex(), "text": shown.decode("gb18030", "replace")}


def _list_to_json(node: List, v: Any, path: str) -> Any:
    if isinstance(v, Sentinel):
        return {"sentinel": v.kind, "raw": int(v)}
    item = node.item
    if isinstance(item, Scalar):
        # compact: one unit for the list, physical and raw values side by side
        out: dict[str, Any] = {}
        if item.unit:
            out["unit"] = item.unit
        out["value"] = [physical(item, int(x)) for x in v]
        out["raw"] = [int(x) for x in v]
        return out
    return [_node_to_json(item, x, f"{path}[{j}]", padded=False) for j, x in enumerate(v)]


def _item_to_json(node: InfoTypes, item: dict, path: str) -> dict[str, Any]:
    t = item["type"]
    body = node.known.get(t)
    if body is not None:
        return {"type": f"0x{t:02X} {body.name}", "data": _struct_to_json(body, item["data"], f"{path}.data")}
    return {"type": f"0x{t:02X} user-defined", "data": bytes(item["data"]).hex()}


def _param_to_json(node: Params, p: dict, path: str) -> dict[str, Any]:
    pid = p["id"]
    spec = node.table.get(pid)
    if spec is None:
        raise errors.EncodeError(f"parameter 0x{pid:02X} has no defined width", path=f"{path}.id")
    return {"id": f"0x{pid:02X} {spec.name}", "value": _node_to_json(spec, p["value"], f"{path}.value")}


def _pick(candidates: tuple[Struct, ...], keys: set[str]) -> Struct | None:
    """The candidate layout whose fields are exactly `keys` (counts optional), else the last one."""
    for node in candidates:
        names, counts = _field_names(node)
        if keys - counts - {"signature"} == names:
            return node
    return candidates[-1] if candidates else None


def _field_names(node: Struct) -> tuple[set[str], set[str]]:
    names = {"items" if isinstance(f, InfoTypes) else f.name for f in node.fields if not isinstance(f, Count)}
    counts = {f.name for f in node.fields if isinstance(f, Count)}
    return names, counts


# ------------------------------------------------------------------------------ JSON -> frame


def frames_from_json(obj: Any) -> list[Frame]:
    """One frame from a dict, several from a list (the output of ``gbt32960 decode --json``)."""
    if isinstance(obj, list):
        out = []
        for j, x in enumerate(obj):
            try:
                out.append(frame_from_json(x))
            except errors.ProtocolError as exc:
                exc.path = f"[{j}].{exc.path}" if exc.path else f"[{j}]"
                exc.args = (str(exc),)
                raise
        return out
    return [frame_from_json(obj)]


def frame_from_json(obj: Any) -> Frame:
    """Build a `Frame` from `frame_to_json`'s form or the short form; errors name the JSON path."""
    if not isinstance(obj, dict):
        raise _err("a frame is a JSON object", "")
    unknown = set(obj) - {"edition", "command", "response", "vin", "encryption", "body"} - INFORMATIVE_KEYS
    if unknown:
        raise _err(f"unknown key(s) {sorted(unknown)}", "")
    ed = obj.get("edition", 2016)
    if ed not in EDITIONS or isinstance(ed, bool):
        raise _err(f"edition must be 2016 or 2025, not {ed!r}", "edition")
    if "command" not in obj:
        raise _err("the command is required", "command")
    command = _code(obj["command"], {v: k for k, v in COMMANDS.items()}, "command")
    ack = _code(obj.get("response", COMMAND_FLAG), {v: k for k, v in RESPONSE_FLAGS[ed].items()}, "response")
    enc = _code(obj.get("encryption", 0x01), {v: k for k, v in ENCRYPTION[ed].items()}, "encryption")
    vin = _text_from_json(obj.get("vin", ""), "vin")
    frame = Frame(command, ack, vin, None, ed, enc)
    body = obj.get("body")
    if body is None:
        frame.body = None
    elif isinstance(body, (str, dict)) and _is_hex_form(body):
        frame.body = _hex(body, "body")
    elif isinstance(body, dict):
        node = _pick(body_candidates(ed, command, ack), set(body))
        if node is None:
            raise _err(f"command 0x{command:02X} has no defined body in {ed}; give the body as hex", "body")
        frame.body = _struct_from_json(node, body, "body")
    else:
        raise _err("the body is an object, a hex string or null", "body")
    return frame


def _err(message: str, path: str) -> errors.EncodeError:
    return errors.EncodeError(message, path=path)


def _is_hex_form(obj: Any) -> bool:
    return isinstance(obj, str) or (isinstance(obj, dict) and set(obj) <= {"hex", "text"} and "hex" in obj)


def _hex(obj: Any, path: str) -> bytes:
    text = obj["hex"] if isinstance(obj, dict) else obj
    if not isinstance(text, str):
        raise _err("expected a hex string", path)
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise _err(f"not hex: {exc}", path) from exc


def _code(obj: Any, names: dict[str, int], path: str) -> int:
    """A BYTE code given as 2, "0x02", "0x02 realtime" or "realtime"."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        value = obj
    elif isinstance(obj, str) and obj.strip():
        head = obj.split()[0]
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", head):
            value = int(head, 0)
        elif obj.strip() in names:
            value = names[obj.strip()]
        else:
            raise _err(f"{obj!r} is not a code or one of {sorted(names)}", path)
    else:
        raise _err(f"expected a code (number or \"0xNN name\"), not {obj!r}", path)
    if not 0 <= value <= 0xFF:
        raise _err(f"code {value} does not fit in a byte", path)
    return value


def _text_from_json(obj: Any, path: str) -> str:
    if isinstance(obj, dict) and "hex" in obj:
        return _hex(obj, path).decode("ascii", "surrogateescape")
    if not isinstance(obj, str):
        raise _err(f"expected a string, not {obj!r}", path)
    try:
        obj.encode("ascii", "surrogateescape")
        return obj
    except UnicodeEncodeError:
        # STRING is GB 18030 when it holds Chinese (spec §1); keep the codec's byte-per-char text
        return obj.encode("gb18030").decode("ascii", "surrogateescape")


def _struct_from_json(node: Struct, obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _err(f"{node.name} is a JSON object", path)
    names, counts = _field_names(node)
    has_sig = any(isinstance(f, InfoTypes) and f.signature is not None for f in node.fields)
    unknown = set(obj) - names - counts - ({"signature"} if has_sig else set())
    if unknown:
        raise _err(f"unknown key(s) {sorted(unknown)} for {node.name} (fields: {', '.join(sorted(names))})", path)
    d: dict[str, Any] = {}
    count_fmt = {f.name: f.fmt for f in node.fields if isinstance(f, Count)}
    for f in node.fields:
        if isinstance(f, Count):
            continue
        sub = f"{path}.{f.name}"
        if isinstance(f, InfoTypes):
            items = obj.get("items", [])
            if not isinstance(items, list):
                raise _err("items is a list", f"{path}.items")
            d["items"] = [_item_from_json(f, x, f"{path}.items[{j}]") for j, x in enumerate(items)]
            if obj.get("signature") is not None and f.signature is not None:
                d["signature"] = _struct_from_json(f.signature, obj["signature"], f"{path}.signature")
            continue
        if f.name not in obj:
            raise _err(f"field {f.name!r} is missing", sub)
        v = obj[f.name]
        if isinstance(f, Switch):
            d[f.name] = _node_from_json(f.cases.get(d[f.on], f.default), v, sub, count_fmt)
        else:
            d[f.name] = _node_from_json(f, v, sub, count_fmt)
    _check_counts(node, obj, d, path)
    return d


def _node_from_json(node: Node, v: Any, path: str, count_fmt: dict[str, str]) -> Any:
    if isinstance(node, Scalar):
        return scalar_from_json(node, v, path)
    if isinstance(node, Time):
        return _time_from_json(v, path)
    if isinstance(node, Str):
        return _text_from_json(v, path)
    if isinstance(node, Raw):
        return _hex(v, path)
    if isinstance(node, Struct):
        return _struct_from_json(node, v, path)
    if isinstance(node, List):
        return _list_from_json(node, v, path, count_fmt)
    if isinstance(node, Params):
        if isinstance(v, str) and v in _SENTINEL_NAMES:
            return Sentinel(_sentinel_raw("B", v, path))
        if isinstance(v, dict) and "sentinel" in v:
            return Sentinel(v["raw"] if isinstance(v.get("raw"), int) else _sentinel_raw("B", v["sentinel"], path))
        if not isinstance(v, list):
            raise _err("a parameter list is a JSON list", path)
        return [_param_from_json(node, p, f"{path}[{j}]") for j, p in enumerate(v)]
    raise _err(f"no JSON form for {type(node).__name__}", path)  # pragma: no cover


def scalar_from_json(node: Scalar, obj: Any, path: str) -> int:
    """The raw value of a scalar: ``raw`` wins, then ``sentinel``, then the physical ``value``."""
    if isinstance(obj, dict):
        if "raw" in obj:
            raw = obj["raw"]
            if isinstance(raw, str) and re.fullmatch(r"0[xX][0-9a-fA-F]+", raw):
                raw = int(raw, 16)
            if not isinstance(raw, int) or isinstance(raw, bool):
                raise _err(f"raw must be an integer, not {raw!r}", path)
        elif "sentinel" in obj:
            raw = _sentinel_raw(node.fmt, obj["sentinel"], path)
        elif "value" in obj:
            return scalar_from_json(node, obj["value"], path)
        elif "label" in obj:
            return scalar_from_json(node, obj["label"], path)
        else:
            raise _err("a scalar object needs raw, value or sentinel", path)
    elif isinstance(obj, bool):
        raise _err(f"{obj!r} is not a number", path)
    elif isinstance(obj, (int, float)):
        raw = _raw_from_physical(node, obj, path)
    elif isinstance(obj, str):
        if obj in _SENTINEL_NAMES:
            raw = _sentinel_raw(node.fmt, obj, path)
        elif node.enum and obj in node.enum.values():
            raw = next(k for k, name in node.enum.items() if name == obj)
        else:
            choices = f" (one of {sorted(node.enum.values())})" if node.enum else ""
            raise _err(f"{obj!r} is not a value of {node.name}{choices}", path)
    else:
        raise _err(f"{obj!r} is not a value of {node.name}", path)
    if not 0 <= raw < 1 << (8 * FMT_SIZE[node.fmt]):
        raise _err(f"raw value {raw} does not fit in {FMT_SIZE[node.fmt]} byte(s)", path)
    return raw


def _raw_from_physical(node: Scalar, value: float, path: str) -> int:
    if not math.isfinite(value):
        raise _err(f"{value!r} is not a finite number", path)
    if node.scale == 1 and node.offset == 0:
        if value != int(value):
            raise _err(f"{node.name} takes whole numbers, not {value!r}", path)
        return int(value)
    return node.raw_from_physical(value)


def _sentinel_raw(fmt: str, kind: Any, path: str) -> int:
    if kind == "abnormal":
        return ABNORMAL[fmt]
    if kind == "invalid":
        return INVALID[fmt]
    raise _err(f"sentinel must be 'abnormal' or 'invalid', not {kind!r}", path)


def _time_from_json(obj: Any, path: str) -> Timestamp:
    if isinstance(obj, dict) and "hex" in obj:
        raw = _hex(obj, path)
        if len(raw) != 6:
            raise _err("a time is 6 bytes", path)
        return Timestamp(*raw)
    if isinstance(obj, list) and len(obj) == 6 and all(isinstance(x, int) and 0 <= x <= 255 for x in obj):
        return Timestamp(*obj)
    if isinstance(obj, str):
        try:
            when = _dt.datetime.fromisoformat(obj.strip())
        except ValueError as exc:
            raise _err(f"time {obj!r} is not 'YYYY-MM-DD hh:mm:ss'", path) from exc
        if not 2000 <= when.year <= 2255:
            raise _err(f"year {when.year} does not fit the YY byte (2000-2255)", path)
        return Timestamp.from_datetime(when)
    raise _err(f"time {obj!r} is not 'YYYY-MM-DD hh:mm:ss', {{'hex': ...}} or 6 bytes", path)


def _list_from_json(node: List, obj: Any, path: str, count_fmt: dict[str, str]) -> Any:
    item = node.item
    is_sentinel = obj in _SENTINEL_NAMES if isinstance(obj, str) else (
        isinstance(obj, dict) and "sentinel" in obj and "value" not in obj)
    if is_sentinel:
        # a sentinel count: no list follows (spec §4); short form "abnormal" or full {"sentinel", "raw"}
        fmt = count_fmt.get(node.count)
        if fmt is None:
            raise _err(f"{node.name} takes its length from {node.count}, which has no sentinel", path)
        raw = obj.get("raw") if isinstance(obj, dict) else None
        kind = obj["sentinel"] if isinstance(obj, dict) else obj
        raw = raw if isinstance(raw, int) else _sentinel_raw(fmt, kind, path)
        if not ABNORMAL[fmt] <= raw <= INVALID[fmt]:
            raise _err(f"a sentinel count is 0x{ABNORMAL[fmt]:X} or 0x{INVALID[fmt]:X}, not {raw}", path)
        return Sentinel(raw)
    if isinstance(obj, dict) and isinstance(item, Scalar):
        values = obj.get("raw", obj.get("value"))
        if not isinstance(values, list):
            raise _err("a scalar list object needs a raw or value list", path)
        if "raw" in obj:
            return [scalar_from_json(item, {"raw": x}, f"{path}[{j}]") for j, x in enumerate(values)]
        obj = values
    if not isinstance(obj, list):
        raise _err(f"{node.name} is a JSON list", path)
    return [_node_from_json(item, x, f"{path}[{j}]", count_fmt) for j, x in enumerate(obj)]


def _item_from_json(node: InfoTypes, obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or "type" not in obj or "data" not in obj:
        raise _err("an information item is {\"type\": ..., \"data\": ...}", path)
    names = {body.name: code for code, body in node.known.items()}
    t = _code(obj["type"], names, f"{path}.type")
    body = node.known.get(t)
    if body is not None:
        return {"type": t, "data": _struct_from_json(body, obj["data"], f"{path}.data")}
    if t in node.custom:
        return {"type": t, "data": _hex(obj["data"], f"{path}.data")}
    raise _err(f"information type 0x{t:02X} is not defined in this edition", f"{path}.type")


def _param_from_json(node: Params, obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or "id" not in obj or "value" not in obj:
        raise _err("a parameter is {\"id\": ..., \"value\": ...}", path)
    pid = _code(obj["id"], {spec.name: pid for pid, spec in node.table.items()}, f"{path}.id")
    spec = node.table.get(pid)
    if spec is None:
        raise _err(f"parameter 0x{pid:02X} has no defined width", f"{path}.id")
    return {"id": pid, "value": _node_from_json(spec, obj["value"], f"{path}.value", {})}


def _check_counts(node: Struct, obj: dict, d: dict, path: str) -> None:
    """Counts are derived on encode; one given in the JSON must agree with its list."""
    for f in node.fields:
        if not isinstance(f, Count) or f.name not in obj:
            continue
        given = obj[f.name]
        if isinstance(given, dict):
            given = given.get("raw", given.get("value"))
        actual = None
        for g in node.fields:
            if isinstance(g, List) and g.count == f.name:
                v = d[g.name]
                actual = int(v) if isinstance(v, Sentinel) else len(v)
            elif isinstance(g, Params) and g.count == f.name:
                actual = len(d[g.name])
            elif isinstance(g, (Str, Raw)) and g.length_ref == f.name:
                v = d[g.name]
                actual = len(v if isinstance(v, bytes) else v.encode("ascii", "surrogateescape"))
        if actual is not None and given != actual:
            raise _err(f"{f.name} is {given!r} but the data holds {actual}; counts are derived, drop it or fix it",
                       f"{path}.{f.name}")
