"""Compile description nodes into fast decode/encode functions.

Each `Struct` becomes one generated Python function that reads runs of fixed-width fields with a
single precompiled `struct.Struct`. The generated code only handles well-formed input: any
surprise (short data, an unknown type code) raises `Fallback`, and the caller asks the byte
walker in `explain` for the precise, typed error. That keeps the hot path free of bookkeeping.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import Any

from .schema import (
    ABNORMAL,
    FMT_SIZE,
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

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray], None]


class Fallback(Exception):
    """Raised by generated code when input is not well-formed; the walker explains it."""


@cache
def array_struct(fmt: str, n: int) -> struct.Struct:
    return struct.Struct(f">{n}{fmt}")


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "surrogateescape")


def text_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("ascii", "surrogateescape")


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {}

    def const(self, obj: Any) -> str:
        name = f"_k{len(self.ns)}"
        self.ns[name] = obj
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _is_fixed(node: Node) -> bool:
    return isinstance(node, (Scalar, Time))


def _refs_of(fields: tuple[Node, ...]) -> dict[str, Node]:
    """Map a Count's name to the node whose length it carries."""
    out: dict[str, Node] = {}
    for f in fields:
        if isinstance(f, (List, Params)):
            out[f.count] = f
        elif isinstance(f, (Str, Raw)) and f.length_ref:
            out[f.length_ref] = f
    return out


# ------------------------------------------------------------------------------------- decode


@cache
def decoder(node: Struct) -> Decoder:
    src = _Source()
    src.ns.update(Timestamp=Timestamp, Sentinel=Sentinel, Fallback=Fallback, _text=_text, array_struct=array_struct)
    src.emit(0, "def _decode(b, o):")
    src.emit(1, "d = {}")
    counts: dict[str, str] = {}
    fields = node.fields
    i = 0
    while i < len(fields):
        f = fields[i]
        if _is_fixed(f):
            run = []
            while i < len(fields) and _is_fixed(fields[i]):
                run.append(fields[i])
                i += 1
            _emit_fixed_run(src, run)
            continue
        _emit_decode_field(src, f, counts)
        i += 1
    src.emit(1, "return d, o")
    code = "\n".join(src.lines)
    exec(compile(code, f"<decode {node.name}>", "exec"), src.ns)  # noqa: S102 - generated from our own schema
    return src.ns["_decode"]


def _emit_fixed_run(src: _Source, run: list[Node]) -> None:
    fmt = ">" + "".join("6B" if isinstance(f, Time) else f.fmt for f in run)  # type: ignore[attr-defined]
    st = src.const(struct.Struct(fmt))
    names = []
    for k, f in enumerate(run):
        names.append(",".join(f"_t{k}_{j}" for j in range(6)) if isinstance(f, Time) else f"_v{k}")
    src.emit(1, f"{', '.join(names)}, = {st}.unpack_from(b, o)")
    src.emit(1, f"o += {struct.calcsize(fmt)}")
    for k, f in enumerate(run):
        if isinstance(f, Time):
            src.emit(1, f"d[{f.name!r}] = Timestamp({names[k]})")
        else:
            src.emit(1, f"d[{f.name!r}] = _v{k}")


def _count_expr(ref: str, counts: dict[str, str]) -> str:
    if ref in counts:
        return f"_c_{ref}"
    # a count taken from an earlier Scalar, or the sum of an earlier list (2025 pack codes)
    # (a sentinel list counts as empty)
    return (f"(sum(d[{ref!r}]) if isinstance(d[{ref!r}], list) else 0 if isinstance(d[{ref!r}], Sentinel) "
            f"else d[{ref!r}])")


def _emit_decode_field(src: _Source, f: Node, counts: dict[str, str]) -> None:
    if isinstance(f, Count):
        counts[f.name] = f.fmt
        if f.fmt == "B":
            src.emit(1, f"_c_{f.name} = b[o]")
        else:
            src.emit(1, f"_c_{f.name}, = {src.const(struct.Struct('>' + f.fmt))}.unpack_from(b, o)")
        src.emit(1, f"o += {f.size}")
    elif isinstance(f, (Str, Raw)):
        if f.length is not None:
            n = str(f.length)
        elif f.length_ref:
            n = _count_expr(f.length_ref, counts)
        else:
            n = "len(b) - o"
        conv = "_text" if isinstance(f, Str) else ""
        src.emit(1, f"_n = {n}")
        src.emit(1, "if o + _n > len(b): raise Fallback")
        src.emit(1, f"d[{f.name!r}] = {conv}(b[o:o + _n])")
        src.emit(1, "o += _n")
    elif isinstance(f, List):
        src.emit(1, f"_n = {_count_expr(f.count, counts)}")
        depth = 1
        if f.count in counts:
            # a sentinel count (0xFE…/0xFF…) means no list follows
            src.emit(1, f"if _n >= {ABNORMAL[counts[f.count]]}:")
            src.emit(2, f"d[{f.name!r}] = Sentinel(_n)")
            src.emit(1, "else:")
            depth = 2
        item = f.item
        if isinstance(item, Scalar) and item.fmt == "B":
            src.emit(depth, "if o + _n > len(b): raise Fallback")
            src.emit(depth, f"d[{f.name!r}] = list(b[o:o + _n])")
            src.emit(depth, "o += _n")
        elif isinstance(item, Scalar):
            src.emit(depth, f"d[{f.name!r}] = list(array_struct({item.fmt!r}, _n).unpack_from(b, o))")
            src.emit(depth, f"o += {FMT_SIZE[item.fmt]} * _n")
        elif isinstance(item, Str) and item.length is not None:
            src.emit(depth, f"d[{f.name!r}] = [_text(b[o + {item.length} * j:o + {item.length} * (j + 1)]) "
                            "for j in range(_n)]")
            src.emit(depth, f"o += {item.length} * _n")
            src.emit(depth, "if o > len(b): raise Fallback")
        elif isinstance(item, Str):
            m = _count_expr(item.length_ref or "", counts)
            src.emit(depth, f"_m = {m}")
            src.emit(depth, f"d[{f.name!r}] = [_text(b[o + _m * j:o + _m * (j + 1)]) for j in range(_n)]")
            src.emit(depth, "o += _m * _n")
            src.emit(depth, "if o > len(b): raise Fallback")
        else:
            sub = src.const(decoder(item))  # type: ignore[arg-type]
            src.emit(depth, "_l = []")
            src.emit(depth, "for _ in range(_n):")
            src.emit(depth + 1, f"_x, o = {sub}(b, o)")
            src.emit(depth + 1, "_l.append(_x)")
            src.emit(depth, f"d[{f.name!r}] = _l")
    elif isinstance(f, (InfoTypes, Params, Switch)):
        helper = {InfoTypes: _decode_items, Params: _decode_params, Switch: _decode_switch}[type(f)]
        k = src.const(f)
        h = src.const(helper)
        if isinstance(f, Params):
            src.emit(1, f"o = {h}({k}, b, o, d, {_count_expr(f.count, counts)})")
        else:
            src.emit(1, f"o = {h}({k}, b, o, d)")
    else:  # pragma: no cover - the schema has no other node kinds
        raise TypeError(f"cannot compile {f!r}")


def _decode_items(node: InfoTypes, b: bytes, o: int, d: dict) -> int:
    items: list[dict[str, Any]] = []
    n = len(b)
    known = _known_decoders(node)
    while o < n:
        t = b[o]
        o += 1
        dec = known.get(t)
        if dec is not None:
            v, o = dec(b, o)
        elif t in node.custom:
            (ln,) = _W.unpack_from(b, o)
            o += 2
            if o + ln > n:
                raise Fallback
            v = b[o:o + ln]
            o += ln
        elif t == node.signature_code and node.signature is not None:
            d["items"] = items
            d["signature"], o = decoder(node.signature)(b, o)
            return o
        else:
            raise Fallback
        items.append({"type": t, "data": v})
    d["items"] = items
    return o


@cache
def _known_decoders(node: InfoTypes) -> dict[int, Decoder]:
    return {code: decoder(body) for code, body in node.known.items()}


_W = struct.Struct(">H")


def _decode_params(node: Params, b: bytes, o: int, d: dict, count: int) -> int:
    if count >= ABNORMAL["B"]:  # a sentinel count: no list follows, as for every counted list
        d[node.name] = Sentinel(count)
        return o
    params = []
    lengths: dict[int, int] = {}
    target = {v: k for k, v in node.length_of.items()}
    for _ in range(count):
        pid = b[o]
        o += 1
        p = node.table.get(pid)
        if p is None:
            raise Fallback
        if isinstance(p, Scalar):
            (v,) = struct.unpack_from(">" + p.fmt, b, o)
            o += p.size
        else:
            assert isinstance(p, Str)
            n = p.length if p.length is not None else lengths.get(target.get(pid, -1))
            if n is None or o + n > len(b):
                raise Fallback
            v = _text(b[o:o + n])
            o += n
        if pid in node.length_of:
            lengths[pid] = v
        params.append({"id": pid, "value": v})
    d[node.name] = params
    return o


def _decode_switch(node: Switch, b: bytes, o: int, d: dict) -> int:
    sub = node.cases.get(d[node.on], node.default)
    if isinstance(sub, Struct):
        d[node.name], o = decoder(sub)(b, o)
    else:
        d[node.name] = _text(b[o:]) if isinstance(sub, Str) else b[o:]
        o = len(b)
    return o


# ------------------------------------------------------------------------------------- encode


@cache
def encoder(node: Struct) -> Encoder:
    src = _Source()
    src.ns.update(Sentinel=Sentinel, text_bytes=text_bytes, array_struct=array_struct, isinstance=isinstance)
    src.emit(0, "def _encode(d, out):")
    refs = _refs_of(node.fields)
    fields = node.fields
    i = 0
    while i < len(fields):
        f = fields[i]
        if _is_fixed(f):
            run = []
            while i < len(fields) and _is_fixed(fields[i]):
                run.append(fields[i])
                i += 1
            fmt = ">" + "".join("6B" if isinstance(x, Time) else x.fmt for x in run)  # type: ignore[attr-defined]
            args = ", ".join(f"*d[{x.name!r}]" if isinstance(x, Time) else f"d[{x.name!r}]" for x in run)
            src.emit(1, f"out += {src.const(struct.Struct(fmt))}.pack({args})")
            continue
        _emit_encode_field(src, f, refs)
        i += 1
    src.emit(1, "pass")
    code = "\n".join(src.lines)
    exec(compile(code, f"<encode {node.name}>", "exec"), src.ns)  # noqa: S102 - generated from our own schema
    return src.ns["_encode"]


def _emit_encode_field(src: _Source, f: Node, refs: dict[str, Node]) -> None:
    if isinstance(f, Count):
        target = refs[f.name]
        st = src.const(struct.Struct(">" + f.fmt))
        if isinstance(target, (List, Params)):
            src.emit(1, f"_l = d[{target.name!r}]")
            src.emit(1, f"out += {st}.pack(int(_l) if isinstance(_l, Sentinel) else len(_l))")
        else:
            src.emit(1, f"out += {st}.pack(len(text_bytes(d[{target.name!r}])))")
    elif isinstance(f, (Str, Raw)):
        src.emit(1, f"_v = text_bytes(d[{f.name!r}])")
        if f.length is not None:
            src.emit(1, f"if len(_v) > {f.length}: raise ValueError('longer than {f.length} bytes')")
            src.emit(1, f"_v = _v.ljust({f.length}, b'\\0')")
        src.emit(1, "out += _v")
    elif isinstance(f, List):
        item = f.item
        src.emit(1, f"_l = d[{f.name!r}]")
        src.emit(1, "if not isinstance(_l, Sentinel):")
        if isinstance(item, Scalar) and item.fmt == "B":
            src.emit(2, "out += bytes(_l)")
        elif isinstance(item, Scalar):
            src.emit(2, f"out += array_struct({item.fmt!r}, len(_l)).pack(*_l)")
        elif isinstance(item, Str):
            width = str(item.length) if item.length is not None else f"d[{item.length_ref!r}]"
            src.emit(2, "for _x in _l:")
            src.emit(3, "_v = text_bytes(_x)")
            src.emit(3, f"if len(_v) != {width}: raise ValueError('code width differs from its declared length')")
            src.emit(3, "out += _v")
        else:
            sub = src.const(encoder(item))  # type: ignore[arg-type]
            src.emit(2, "for _x in _l:")
            src.emit(3, f"{sub}(_x, out)")
    elif isinstance(f, (InfoTypes, Params, Switch)):
        helper = {InfoTypes: _encode_items, Params: _encode_params, Switch: _encode_switch}[type(f)]
        src.emit(1, f"{src.const(helper)}({src.const(f)}, d, out)")
    else:  # pragma: no cover
        raise TypeError(f"cannot compile {f!r}")


def _encode_items(node: InfoTypes, d: dict, out: bytearray) -> None:
    known = _known_encoders(node)
    for item in d["items"]:
        t = item["type"]
        out.append(t)
        enc = known.get(t)
        if enc is not None:
            enc(item["data"], out)
        elif t in node.custom:
            data = bytes(item["data"])
            out += _W.pack(len(data))
            out += data
        else:
            raise ValueError(f"information type 0x{t:02X} is not defined in this edition")
    sig = d.get("signature")
    if sig is not None:
        if node.signature is None or node.signature_code is None:
            raise ValueError("this edition has no signature block")
        out.append(node.signature_code)
        encoder(node.signature)(sig, out)


@cache
def _known_encoders(node: InfoTypes) -> dict[int, Encoder]:
    return {code: encoder(body) for code, body in node.known.items()}


def _encode_params(node: Params, d: dict, out: bytearray) -> None:
    if isinstance(d[node.name], Sentinel):
        return
    for item in d[node.name]:
        pid, v = item["id"], item["value"]
        p = node.table.get(pid)
        if p is None:
            raise ValueError(f"parameter 0x{pid:02X} has no defined width")
        out.append(pid)
        if isinstance(p, Scalar):
            out += struct.pack(">" + p.fmt, v)
        else:
            assert isinstance(p, Str)
            raw = text_bytes(v)
            if p.length is not None:
                raw = raw.ljust(p.length, b"\0")
            out += raw


def _encode_switch(node: Switch, d: dict, out: bytearray) -> None:
    sub = node.cases.get(d[node.on], node.default)
    if isinstance(sub, Struct):
        encoder(sub)(d[node.name], out)
    else:
        out += text_bytes(d[node.name])
