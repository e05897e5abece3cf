"""Hypothesis strategies derived from the protocol description.

Nothing here lists messages by hand: `value_of` dispatches on the node type of `schema`, so a table
edit in `messages` (a new field, a 2025 change) changes the generated data with it. Values are
shaped exactly as the codec decodes them (raw ints, `Timestamp`, full-width padded strings, bytes,
`Sentinel` for a sentinel count), so `decode(encode(frame)) == frame` is a fair property.

`to_bytes` is a deliberately naive reference serializer written from the same nodes. It shares no
code with the compiled encoder, so tests can feed the decoders bytes even where the fast encoder is
wrong, and can check the fast encoder against it.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

from . import errors
from .codec import COMMAND_FLAG, Frame
from .messages import (
    COMMANDS,
    EDITIONS,
    ENCRYPTION,
    RESPONSE_FLAGS,
    command_body,
    response_bodies,
)
from .schema import (
    ABNORMAL,
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

__all__ = [
    "BIG",
    "CUSTOM_COMMANDS",
    "KINDS",
    "SMALL",
    "Limits",
    "bodies",
    "defined_commands",
    "frames",
    "to_bytes",
    "value_of",
    "vins",
]

CUSTOM_COMMANDS = range(0xC0, 0xFF)  # platform-exchange custom data, raw bodies (spec §2.1)
KINDS = ("command", "response", "encrypted")


@dataclass(frozen=True)
class Limits:
    """How big generated values get. Small by default so property tests stay fast."""

    items: int = 4  # lists of structs or codes, info items, parameters
    cells: int = 20  # lists of scalars: cell voltages, probe temperatures, fault codes
    data: int = 16  # free-length strings and bytes: custom items, keys, raw and ciphertext bodies
    in_range: bool = False  # True: scalars only within lo..hi / enum codes (or sentinels)
    sentinels: bool = True  # sentinel scalars (0xFE/0xFF…) and sentinel counts (no list follows)


SMALL = Limits()
BIG = Limits(items=40, cells=400, data=4096)

# ASCII only (spec §1: STRING is ASCII unless it holds Chinese); NUL included since it pads.
_ASCII = st.characters(min_codepoint=0x00, max_codepoint=0x7E)
_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # GB 16735: no I, O, Q


# ------------------------------------------------------------------------------------ leaves


@cache  # strategies are built once per node: hypothesis validates each new object
def _scalar(node: Scalar | Count, limits: Limits) -> st.SearchStrategy[int]:
    top = INVALID[node.fmt]
    lo = node.lo if node.lo is not None else 0
    hi = node.hi if node.hi is not None else top
    enum = getattr(node, "enum", None)
    choices: list[st.SearchStrategy[int]] = []
    if enum:
        choices.append(st.sampled_from(sorted(enum)))
    if not (enum and limits.in_range):
        choices.append(st.integers(lo, hi))
    if limits.sentinels and (isinstance(node, Count) or node.sentinels):
        choices.append(st.sampled_from((ABNORMAL[node.fmt], top)))
    if not limits.in_range:
        choices.append(st.integers(0, top))  # any value the width holds: strict-mode fodder
    return st.one_of(choices)


_CALENDAR = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59)).map(Timestamp.from_datetime)
# Time is kept raw by the codec, so any 6 bytes must round-trip too.
_ANY_TIME = st.tuples(*[st.integers(0, 255)] * 6).map(lambda t: Timestamp(*t))


@cache
def _time(limits: Limits) -> st.SearchStrategy[Timestamp]:
    return _CALENDAR if limits.in_range else st.one_of(_CALENDAR, _ANY_TIME)


@cache
def _text(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(_ASCII, min_size=lo, max_size=hi)


@cache
def _padded(width: int) -> st.SearchStrategy[str]:
    # the decoder returns the full width, padding included, so generate it that way
    return st.text(_PRINTABLE, max_size=width).map(lambda s: s.ljust(width, "\0"))


def _chunk(node: Str | Raw, lo: int, hi: int) -> st.SearchStrategy[Any]:
    return _text(lo, hi) if isinstance(node, Str) else _binary(lo, hi)


@cache
def _binary(lo: int, hi: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=lo, max_size=hi)


@cache
def _lists(item: st.SearchStrategy[Any], lo: int, hi: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(item, min_size=lo, max_size=hi)


@cache
def vins() -> st.SearchStrategy[str]:
    """A 17-character VIN, or a shorter unique id zero-padded to 17 bytes (spec §1, sample S2)."""
    return st.one_of(
        st.text(_VIN_CHARS, min_size=17, max_size=17),
        st.text(_PRINTABLE, max_size=16).map(lambda s: s.ljust(17, "\0")),
    )


# ------------------------------------------------------------------------------------ containers


def _referenced(fields: Sequence[Node]) -> tuple[set[str], set[str]]:
    """Names used as a list count and as a string/bytes width by later fields (items included)."""
    counts: set[str] = set()
    widths: set[str] = set()
    for f in fields:
        if isinstance(f, List):
            counts.add(f.count)
            if isinstance(f.item, (Str, Raw)) and f.item.length_ref:
                widths.add(f.item.length_ref)
        elif isinstance(f, (Str, Raw)) and f.length_ref:
            widths.add(f.length_ref)
    return counts, widths


@cache
def _sizing_scalar(node: Scalar, cap: int) -> st.SearchStrategy[int]:
    # a scalar that sizes a later list or string: kept in range and small, so sizes stay bounded
    lo = node.lo or 0
    hi = min(node.hi if node.hi is not None else cap, cap)
    return st.integers(lo, max(lo, hi))


@cache
def _struct(node: Struct, limits: Limits) -> st.SearchStrategy[dict[str, Any]]:
    counts = {f.name: f for f in node.fields if isinstance(f, Count)}
    counted, widths = _referenced(node.fields)

    @st.composite
    def draw_struct(draw: st.DrawFn) -> dict[str, Any]:
        # fields in order, so a field sized by an earlier one sees its value in `d`
        d: dict[str, Any] = {}
        for f in node.fields:
            if isinstance(f, Count):
                continue  # derived from the list/string on encode, absent from the decoded dict
            if isinstance(f, Scalar) and f.name in counted:
                d[f.name] = draw(_sizing_scalar(f, limits.items))
            elif isinstance(f, Scalar) and f.name in widths:
                d[f.name] = draw(_sizing_scalar(f, limits.data))
            elif isinstance(f, List):
                d[f.name] = _draw_list(draw, f, d, counts, limits, sizing=f.name in counted)
            elif isinstance(f, (Str, Raw)):
                d[f.name] = draw(_sized(f, d, counts, limits))
            elif isinstance(f, InfoTypes):
                d.update(draw(_info_types(f, limits)))
            elif isinstance(f, Params):
                d[f.name] = draw(_params(f, limits))
            elif isinstance(f, Switch):
                d[f.name] = draw(_switch(f, d[f.on], limits))
            else:
                d[f.name] = draw(value_of(f, limits))
        return d

    return draw_struct()


def _sized(node: Str | Raw, scope: Mapping[str, Any], counts: Mapping[str, Count],
           limits: Limits) -> st.SearchStrategy[Any]:
    if node.length is not None:
        return _padded(node.length) if isinstance(node, Str) else _binary(node.length, node.length)
    ref = node.length_ref
    if ref is not None and ref in scope:
        width = scope[ref]  # an earlier scalar fixes the width exactly (2016 login code_length)
        return _chunk(node, width, width)
    # the rest of the unit, or a length the encoder writes into a Count: any size that count holds
    fmt = counts[ref].fmt if ref is not None and ref in counts else "H"
    return _chunk(node, 0, min(limits.data, INVALID[fmt] - 2))


_ONE_IN_TEN = st.integers(0, 9)


def _draw_list(draw: st.DrawFn, node: List, scope: Mapping[str, Any], counts: Mapping[str, Count],
               limits: Limits, sizing: bool = False) -> list[Any] | Sentinel:
    item = node.item
    if isinstance(item, Scalar):
        cap = limits.cells
        item_st: st.SearchStrategy[Any] = _sizing_scalar(item, limits.items) if sizing else _scalar(item, limits)
    elif isinstance(item, (Str, Raw)):
        cap = limits.items
        item_st = _sized(item, scope, counts, limits)
    else:
        cap = limits.items
        item_st = value_of(item, limits)
    count = counts.get(node.count)
    if count is None:
        # the count is an earlier field: a scalar, or the sum of a list (2025 pack codes)
        ref = scope[node.count]
        if isinstance(ref, Sentinel):
            return []  # spec §4: a sentinel count means no list follows, so nothing to count
        n = sum(ref) if isinstance(ref, list) else ref
        return draw(_lists(item_st, n, n))
    if limits.sentinels and draw(_ONE_IN_TEN) == 9:
        return Sentinel(draw(_sentinels(count.fmt)))
    lo = (count.lo or 0) if limits.in_range else 0
    hi = min(cap, count.hi if count.hi is not None else cap)
    return draw(_lists(item_st, min(lo, hi), hi))


@cache
def _sentinels(fmt: str) -> st.SearchStrategy[int]:
    return st.sampled_from((ABNORMAL[fmt], INVALID[fmt]))


@cache
def _info_types(node: InfoTypes, limits: Limits) -> st.SearchStrategy[dict[str, Any]]:
    """Items in any order and combination (spec §3), user-defined ones (0x80-0xFE) with bytes,
    and the 2025 signature block at the end."""
    known = st.sampled_from(sorted(node.known)).flatmap(
        lambda t: _struct(node.known[t], limits).map(lambda v: {"type": t, "data": v}))
    custom = st.builds(lambda t, v: {"type": t, "data": v},
                       st.integers(node.custom.start, node.custom.stop - 1), _binary(0, limits.data))
    # one user-defined item in five: they are opaque, the known layouts are what needs exercise
    item = st.one_of(known, known, known, known, custom)
    items = st.lists(item, max_size=limits.items).map(lambda v: {"items": v})
    if node.signature is None:
        return items
    signature = st.none() | _struct(node.signature, limits)
    return st.builds(lambda d, sig: d if sig is None else {**d, "signature": sig}, items, signature)


@cache
def _params(node: Params, limits: Limits) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Only defined ids; a length-carried value (0x05, 0x0E) comes right after its length
    parameter (0x04, 0x0D) with the matching value, since the decoder takes its width from there."""
    carried_by = {v: k for k, v in node.length_of.items()}

    def one(pid: int) -> st.SearchStrategy[list[dict[str, Any]]]:
        p = node.table[pid]
        if pid in carried_by:
            return _text(0, min(limits.data, 0xFD)).map(
                lambda text: [{"id": carried_by[pid], "value": len(text)}, {"id": pid, "value": text}])
        value = _padded(p.length) if isinstance(p, Str) and p.length is not None else value_of(p, limits)
        return value.map(lambda v: [{"id": pid, "value": v}])

    each = st.one_of([one(pid) for pid in sorted(node.table)])
    params = st.lists(each, max_size=limits.items).map(lambda groups: [p for g in groups for p in g])
    if not limits.sentinels:
        return params
    # a sentinel parameter count (0xFE/0xFF) means no list follows, as for any counted list
    sentinel: st.SearchStrategy[Any] = st.builds(Sentinel, _sentinels("B"))
    return _ONE_IN_TEN.flatmap(lambda k: sentinel if k == 9 else params)


def _switch(node: Switch, selector: int, limits: Limits) -> st.SearchStrategy[Any]:
    case = node.cases.get(selector, node.default)
    if isinstance(case, (Str, Raw)) and case.length is None and case.length_ref is None:
        return _chunk(case, 0, limits.data)  # the rest of the data unit
    return value_of(case, limits)


def value_of(node: Node, limits: Limits = SMALL, scope: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for the decoded value of any description node.

    `scope` holds earlier sibling values for nodes that refer to them (a `Str` whose width is an
    earlier field, a `Switch`). An `InfoTypes` yields the dict it contributes to its struct
    (`items`, maybe `signature`); a lone `List` or `Count` takes its size from `limits`.
    """
    scope = scope or {}
    if isinstance(node, (Scalar, Count)):
        return _scalar(node, limits)
    if isinstance(node, Time):
        return _time(limits)
    if isinstance(node, (Str, Raw)):
        return _sized(node, scope, {}, limits)
    if isinstance(node, Struct):
        return _struct(node, limits)
    if isinstance(node, List):
        counts = {node.count: Count(node.count)}

        @st.composite
        def lone_list(draw: st.DrawFn) -> list[Any] | Sentinel:
            return _draw_list(draw, node, scope, counts, limits)

        return lone_list()
    if isinstance(node, InfoTypes):
        return _info_types(node, limits)
    if isinstance(node, Params):
        return _params(node, limits)
    if isinstance(node, Switch):
        on = scope.get(node.on)
        if on is None:
            return st.sampled_from(sorted({*node.cases, 0})).flatmap(lambda s: _switch(node, s, limits))
        return _switch(node, on, limits)
    raise TypeError(f"no strategy for {node!r}")


# ------------------------------------------------------------------------------------ bodies and frames


def defined_commands(edition: int) -> list[int]:
    """Commands whose body the edition defines: 0x01-0x08, 0x80-0x82, and 2025 0x09-0x0B."""
    return sorted(c for c in COMMANDS if command_body(edition, c) is not None)


@cache
def bodies(edition: int, command: int, response: bool = False, limits: Limits = SMALL) -> st.SearchStrategy[Any]:
    """The `Frame.body` of a plaintext frame: a decoded dict, or bytes for platform-custom and
    undefined commands (their units stay bytes, answers included). A response body is one of
    `response_bodies`: time only, a query's answer, or the Annex B echo of the command's body."""
    node = command_body(edition, command)
    if node is None:
        return _binary(0, limits.data)
    if not response:
        return _struct(node, limits)
    options = response_bodies(edition, command)
    return st.one_of([_struct(option, limits).filter(_unshadowed(edition, options[:i], option))
                      for i, option in enumerate(options)])


def _unshadowed(edition: int, earlier: Sequence[Struct], node: Struct) -> Callable[[Mapping[str, Any]], bool]:
    def keep(value: Mapping[str, Any]) -> bool:
        return not _shadowed(edition, earlier, node, value)

    return keep


def _shadowed(edition: int, earlier: Sequence[Struct], node: Struct, value: Mapping[str, Any]) -> bool:
    """True when an earlier response form also reads these bytes: the decoder takes the first
    form that fits (messages.response_bodies), e.g. a real-time echo with no items is 6 bytes
    and reads as time-only, a query echo with no ids reads as an empty query answer."""
    if not earlier:
        return False
    from .explain import walk_body  # the byte walker; imported late, it imports the codec

    raw = to_bytes(node, value)
    for other in earlier:
        try:
            walk_body(edition, other, raw, base=0)
        except errors.ProtocolError:
            continue
        return True
    return False


def frames(edition: int | None = None, commands: Iterable[int] | None = None, *,
           limits: Limits = SMALL, kinds: Sequence[str] = KINDS) -> st.SearchStrategy[Frame]:
    """A `codec.Frame` of either edition: commands with a defined body, platform-custom commands
    (0xC0-0xFE, raw body), responses, and encrypted frames (ciphertext kept as bytes)."""
    eds = [edition] if edition is not None else list(EDITIONS)
    return st.one_of([_frames(ed, None if commands is None else tuple(commands), limits, tuple(kinds)) for ed in eds])


@cache
def _frames(edition: int, commands: tuple[int, ...] | None, limits: Limits,
            kinds: tuple[str, ...]) -> st.SearchStrategy[Frame]:
    if commands is None:
        command_st = st.one_of(st.sampled_from(defined_commands(edition)), st.sampled_from(CUSTOM_COMMANDS))
    else:
        command_st = st.sampled_from(commands)
    kind_st = st.sampled_from(kinds)
    enc_st = st.sampled_from(sorted(set(ENCRYPTION[edition]) - {0x01}))
    any_flag = st.sampled_from(sorted(RESPONSE_FLAGS[edition]))
    answer_flag = st.sampled_from(sorted(set(RESPONSE_FLAGS[edition]) - {COMMAND_FLAG}))

    @st.composite
    def draw_frame(draw: st.DrawFn) -> Frame:
        command = draw(command_st)
        kind = draw(kind_st)
        vin = draw(vins())
        if kind == "encrypted":
            enc, ack = draw(enc_st), draw(any_flag)
            return Frame(command, ack, vin, draw(_binary(0, limits.data)), edition, enc)
        response = kind == "response"
        ack = draw(answer_flag) if response else COMMAND_FLAG
        return Frame(command, ack, vin, draw(bodies(edition, command, response, limits)), edition)

    return draw_frame()


# ------------------------------------------------------------------------------------ reference serializer


def to_bytes(node: Struct, value: Mapping[str, Any]) -> bytes:
    """Serialize a decoded value by walking the description naively (no compiled code)."""
    out = bytearray()
    _put_struct(node, value, out)
    return bytes(out)


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, (bytes, bytearray)) else value.encode("ascii", "surrogateescape")


def _count_of(fields: Sequence[Node], name: str, d: Mapping[str, Any]) -> int:
    for f in fields:
        if isinstance(f, List) and f.count == name:
            v = d[f.name]
            return int(v) if isinstance(v, Sentinel) else len(v)
        if isinstance(f, (Str, Raw)) and f.length_ref == name:
            return len(_raw(d[f.name]))
        if isinstance(f, Params) and f.count == name:
            v = d[f.name]
            return int(v) if isinstance(v, Sentinel) else len(v)
    raise KeyError(f"nothing is counted by {name}")


def _put_struct(node: Struct, d: Mapping[str, Any], out: bytearray) -> None:
    for f in node.fields:
        if isinstance(f, Count):
            out += struct.pack(">" + f.fmt, _count_of(node.fields, f.name, d))
        elif isinstance(f, Scalar):
            out += struct.pack(">" + f.fmt, d[f.name])
        elif isinstance(f, Time):
            out += bytes(d[f.name])
        elif isinstance(f, (Str, Raw)):
            raw = _raw(d[f.name])
            out += raw.ljust(f.length, b"\0") if f.length is not None else raw
        elif isinstance(f, List):
            v = d[f.name]
            if isinstance(v, Sentinel):
                continue
            for x in v:
                if isinstance(f.item, Scalar):
                    out += struct.pack(">" + f.item.fmt, x)
                elif isinstance(f.item, (Str, Raw)):
                    out += _raw(x)
                else:
                    assert isinstance(f.item, Struct)
                    _put_struct(f.item, x, out)
        elif isinstance(f, InfoTypes):
            for item in d["items"]:
                out.append(item["type"])
                body = f.known.get(item["type"])
                if body is None:
                    out += struct.pack(">H", len(item["data"])) + bytes(item["data"])
                else:
                    _put_struct(body, item["data"], out)
            if "signature" in d:
                assert f.signature is not None and f.signature_code is not None
                out.append(f.signature_code)
                _put_struct(f.signature, d["signature"], out)
        elif isinstance(f, Params):
            for p in [] if isinstance(d[f.name], Sentinel) else d[f.name]:
                out.append(p["id"])
                kind = f.table[p["id"]]
                if isinstance(kind, Scalar):
                    out += struct.pack(">" + kind.fmt, p["value"])
                else:
                    raw = _raw(p["value"])
                    out += raw.ljust(kind.length, b"\0") if isinstance(kind, Str) and kind.length else raw
        elif isinstance(f, Switch):
            case = f.cases.get(d[f.on], f.default)
            if isinstance(case, Struct):
                _put_struct(case, d[f.name], out)
            else:
                out += _raw(d[f.name])
        else:  # pragma: no cover - the schema has no other node kinds
            raise TypeError(f"cannot serialize {f!r}")
