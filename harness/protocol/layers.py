"""Scapy layers for GB/T 32960.3 (2016 and 2025), generated from the same description as the codec.

Nothing here lists the fields of a message: every body layer is generated from the schema nodes in
`messages` (one Packet class per `Struct`, cached), so a table edit changes the codec, the byte
walker and these layers together.

- `GBT32960` is the frame: start symbol, command, response flag, VIN, encryption, data-unit length,
  then the data unit as its payload and the BCC. `length` and `bcc` are computed in `post_build`
  only when left as None, so tests can craft a wrong length, BCC, start symbol or encryption byte.
  The `bcc` field is declared after `length` (scapy dissects fields before the payload) but sits
  after the data unit on the wire; `pre_dissect`/`post_build` move it.
- The data unit is dissected into the body layer of (edition, command, response flag), picked the
  way `codec.decode` picks it. Ciphertext, platform-custom or undefined commands, and data units
  no layout fits stay `Raw`.
- `to_layer(Frame)` / `from_layer(GBT32960)` convert to and from the codec's `Frame`, so
  `bytes(to_layer(f)) == codec.encode(f)` and `from_layer(GBT32960(b)) == codec.decode(b)`.
- `GBT32960.tcp_reassemble` lets `sniff(offline=..., session=TCPSession)` cut TCP streams into
  frames; `bind_port` binds the layer to a TCP port (`DEFAULT_PORT` is bound on import).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, cast

# Only the scapy modules needed: `scapy.all` costs about half a second more on import.
from scapy.config import conf
from scapy.fields import (
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    FieldListField,
    IntEnumField,
    IntField,
    MultipleTypeField,
    PacketField,
    PacketListField,
    ShortEnumField,
    ShortField,
    StrField,
    StrFixedLenField,
    StrLenField,
    XByteField,
    XIntField,
    XShortField,
)
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_layers, split_layers

from . import errors
from .codec import COMMAND_FLAG, HEADER_SIZE, MAX_BODY, Frame, _pick_encoder, bcc, body_candidates
from .compiler import Fallback, _text, decoder, text_bytes
from .messages import COMMANDS, EDITION_OF_START, ENCRYPTION, RESPONSE_FLAGS, START, info_types
from .schema import (
    ABNORMAL,
    Count,
    InfoTypes,
    List,
    Node,
    Params,
    Scalar,
    Sentinel,
    Str,
    Struct,
    Switch,
    Time,
    Timestamp,
)
from .schema import (
    Raw as RawNode,
)

DEFAULT_PORT = 32960

__all__ = [
    "DEFAULT_PORT",
    "GBT32960",
    "SchemaPacket",
    "TimeField",
    "bind_port",
    "body_class",
    "frames_in",
    "from_layer",
    "item_class",
    "to_layer",
    "unbind_port",
]


# ------------------------------------------------------------------------------------ fields


def fname(name: str) -> str:
    """The scapy field name of a schema name: names scapy's Packet already uses get a trailing '_'.

    `pkt.time` is the capture time and `pkt.command()` a method, so the collection time is the
    field `time_` (and control's command `command_`); the codec's dict keys stay unchanged.
    """
    return name + "_" if hasattr(Packet, name) else name


class TimeField(Field[Timestamp, bytes]):
    """The 6-byte YY MM DD hh mm ss time as one `Timestamp`, the codec's value for a `Time` node."""

    def __init__(self, name: str, default: Timestamp | None = None) -> None:
        super().__init__(name, default or Timestamp(0, 1, 1, 0, 0, 0), "6s")

    def i2m(self, pkt: Packet | None, x: Any) -> bytes:
        value = self.any2i(pkt, x)
        return bytes(value) if value is not None else bytes(6)

    def m2i(self, pkt: Packet | None, x: bytes) -> Timestamp:
        return Timestamp(*x)

    def any2i(self, pkt: Packet | None, x: Any) -> Timestamp | None:
        if x is None or isinstance(x, Timestamp):
            return x
        if hasattr(x, "year") and hasattr(x, "second"):  # a datetime
            return Timestamp.from_datetime(x)
        return Timestamp(*x)  # bytes or any 6-sequence

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        return str(x)


class _Physical:
    """Shows a raw scalar with its physical reading (or sentinel name) from its schema node."""

    node: Scalar

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "None"
        phys = self.node.physical(x)
        if isinstance(phys, str):
            return f"{x} ({phys})"
        if self.node.scale == 1 and self.node.offset == 0 and not self.node.unit:
            return str(x)
        if isinstance(phys, float):  # 0.000038, not 3.8e-05 (resolutions go down to 1e-06)
            text = f"{phys:.6f}".rstrip("0")
            shown = text + "0" if text.endswith(".") else text
        else:
            shown = str(phys)
        return f"{x} ({shown} {self.node.unit})".replace(" )", ")")


class PhysByteField(_Physical, ByteField):
    pass


class PhysShortField(_Physical, ShortField):
    pass


class PhysIntField(_Physical, IntField):
    pass


_PLAIN = {"B": PhysByteField, "H": PhysShortField, "I": PhysIntField}
_ENUM = {"B": ByteEnumField, "H": ShortEnumField, "I": IntEnumField}
_RAW = {"B": ByteField, "H": ShortField, "I": IntField}
_HEX = {"B": XByteField, "H": XShortField, "I": XIntField}


def _scalar_field(node: Scalar, name: str | None = None) -> Field[Any, Any]:
    name = fname(node.name) if name is None else name
    if node.enum:
        return _ENUM[node.fmt](name, 0, dict(node.enum))
    if node.bits:
        return _HEX[node.fmt](name, 0)  # bitfields read best in hex
    fld: Any = _PLAIN[node.fmt](name, 0)
    fld.node = node
    return fld


class _CountedFieldList(FieldListField):
    """A FieldListField that reads exactly `count_from` items, even zero-width ones.

    Scapy's own loop stops when the bytes run out, which loses a 2016 login's empty RESS codes
    (n=1, m=0 in sample S1): the codec keeps them as [''] and re-encodes n=1.
    """

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, list[Any]]:
        assert self.count_from is not None
        out: list[Any] = []
        for _ in range(self.count_from(pkt)):
            s, v = self.field.getfield(pkt, s)
            out.append(v)
        return s, out


# --------------------------------------------------------------------------- generated layers


class SchemaPacket(Packet):
    """Base of every layer generated from a schema node; `schema_node` is that node."""

    schema_node: Node | None = None
    schema_edition: int = 0

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        # Inside a list or PacketField the rest belongs to the next sibling; as a frame's body
        # (under GBT32960) unread bytes stay a Raw payload, built before the BCC.
        if self.underlayer is not None:
            return s, None
        return b"", s


_classes: dict[tuple[Any, ...], type[SchemaPacket]] = {}
_class_names: set[str] = set()


def _new_class(key: tuple[Any, ...], base_name: str, fields: list[Any], node: Node, edition: int,
               doc: str = "") -> type[SchemaPacket]:
    name = base_name
    k = 2
    while name in _class_names:
        name = f"{base_name}_{k}"
        k += 1
    _class_names.add(name)
    cls = type(name, (SchemaPacket,), {
        "name": name.replace("_", " "),
        "fields_desc": fields,
        "schema_node": node,
        "schema_edition": edition,
        "__doc__": doc or getattr(node, "doc", "") or getattr(node, "clause", ""),
        "__module__": __name__,
    })
    _classes[key] = cls
    return cls


def body_class(edition: int, node: Struct) -> type[SchemaPacket]:
    """The Packet class of a schema `Struct` (generated once per edition and node)."""
    cls = _classes.get(("struct", edition, id(node)))
    if cls is None:
        fields = _struct_fields(edition, node)
        cls = _new_class(("struct", edition, id(node)), f"GBT32960_{edition}_{node.name}", fields, node, edition,
                         node.clause)
    return cls


def _targets(fields: tuple[Node, ...]) -> dict[str, Node]:
    """A Count's name -> the node whose item count or byte length it carries."""
    out: dict[str, Node] = {}
    for f in fields:
        if isinstance(f, (List, Params)):
            out[f.count] = f
        elif isinstance(f, (Str, RawNode)) and f.length_ref:
            out[f.length_ref] = f
    return out


def _ref_value(v: Any) -> int:
    # a width or count taken from an earlier field, or the sum of an earlier list (2025 pack codes)
    return sum(v) if isinstance(v, list) else int(v)


def _length_from(ref: str) -> Callable[[Packet], int]:
    ref = fname(ref)
    return lambda pkt: _ref_value(pkt.getfieldval(ref))


def _count_from(ref: str, count_fmts: dict[str, str]) -> Callable[[Packet], int]:
    fmt = count_fmts.get(ref)
    if fmt is None:
        return _length_from(ref)
    limit = ABNORMAL[fmt]
    ref = fname(ref)
    # a sentinel count (0xFE…/0xFF…) means no list follows, as in the codec
    return lambda pkt: 0 if pkt.getfieldval(ref) >= limit else pkt.getfieldval(ref)


def _str_field(node: Str | RawNode, name: str | None = None) -> Field[Any, Any]:
    name = fname(node.name) if name is None else name
    if node.length is not None:
        return StrFixedLenField(name, b"", node.length)
    if node.length_ref:
        return StrLenField(name, b"", length_from=_length_from(node.length_ref))
    return StrField(name, b"")  # the rest of the data unit


def _struct_fields(edition: int, node: Struct) -> list[Field[Any, Any] | MultipleTypeField]:
    targets = _targets(node.fields)
    count_fmts = {f.name: f.fmt for f in node.fields if isinstance(f, Count)}
    out: list[Field[Any, Any] | MultipleTypeField] = []
    for f in node.fields:
        if isinstance(f, Scalar):
            out.append(_scalar_field(f))
        elif isinstance(f, Time):
            out.append(TimeField(fname(f.name)))
        elif isinstance(f, Count):
            target = targets.get(f.name)
            if isinstance(target, (List, Params)):
                out.append(FieldLenField(fname(f.name), None, count_of=fname(target.name), fmt=f.fmt))
            elif target is not None:
                out.append(FieldLenField(fname(f.name), None, length_of=fname(target.name), fmt=f.fmt))
            else:
                out.append(_RAW[f.fmt](fname(f.name), 0))
        elif isinstance(f, (Str, RawNode)):
            out.append(_str_field(f))
        elif isinstance(f, List):
            out.append(_list_field(edition, f, count_fmts))
        elif isinstance(f, InfoTypes):
            out.append(PacketListField(fname(f.name), [], next_cls_cb=_item_dispatch(edition, f)))
        elif isinstance(f, Params):
            out.append(PacketListField(fname(f.name), [], next_cls_cb=_param_dispatch(edition, f)))
        elif isinstance(f, Switch):
            out.append(_switch_field(edition, f))
        else:  # pragma: no cover - the schema has no other node kinds
            raise TypeError(f"no scapy field for {f!r}")
    return out


def _list_field(edition: int, node: List, count_fmts: dict[str, str]) -> Field[Any, Any]:
    count = _count_from(node.count, count_fmts)
    item = node.item
    if isinstance(item, Struct):
        return PacketListField(fname(node.name), [], body_class(edition, item), count_from=count)
    if isinstance(item, Scalar):
        return _CountedFieldList(fname(node.name), [], _scalar_field(item), count_from=count)
    if isinstance(item, (Str, RawNode)):
        return _CountedFieldList(fname(node.name), [], _str_field(item), count_from=count)
    raise TypeError(f"no scapy list for {item!r}")  # pragma: no cover


def _switch_field(edition: int, node: Switch) -> MultipleTypeField:
    def case_field(case: Node) -> Field[Any, Any]:
        if isinstance(case, Struct):
            return PacketField(fname(node.name), None, body_class(edition, case))
        assert isinstance(case, (Str, RawNode))
        return _str_field(case, fname(node.name))

    on = fname(node.on)

    def when(code: int) -> Callable[[Packet], bool]:
        return lambda pkt: pkt.getfieldval(on) == code

    return MultipleTypeField([(case_field(c), when(code)) for code, c in node.cases.items()],
                             case_field(node.default))


# ---- information items (0x02/0x03)


def _item_classes(edition: int, node: InfoTypes) -> tuple[dict[int, type[SchemaPacket]], type[SchemaPacket]]:
    key = ("items", edition, id(node))
    cached = _classes.get(key)
    if cached is not None:
        return cached.known_items, cached  # type: ignore[attr-defined]
    names = {code: body.name for code, body in node.known.items()}
    if node.signature_code is not None:
        names[node.signature_code] = "signature"
    known: dict[int, type[SchemaPacket]] = {}
    bodies = dict(node.known)
    if node.signature_code is not None and node.signature is not None:
        bodies[node.signature_code] = node.signature
    for code, body in bodies.items():
        known[code] = _new_class(("item", edition, id(node), code), f"GBT32960_{edition}_item_{body.name}", [
            ByteEnumField("type", code, names),
            PacketField("data", None, body_class(edition, body)),
        ], body, edition, f"information type 0x{code:02X}: {body.name}")
    custom = _new_class(key, f"GBT32960_{edition}_item_custom", [
        XByteField("type", node.custom.start),
        FieldLenField("length", None, length_of="data", fmt="H"),
        StrLenField("data", b"", length_from=lambda pkt: pkt.length),
    ], node, edition, "user-defined information type: WORD length + bytes")
    custom.known_items = known  # type: ignore[attr-defined]
    return known, custom


def _item_dispatch(edition: int, node: InfoTypes) -> Callable[..., type[Packet] | None]:
    def next_item(pkt: Packet, lst: list[Packet], cur: Packet | None, remain: bytes) -> type[Packet] | None:
        known, custom = _item_classes(edition, node)
        if not remain or (cur is not None and cur.getfieldval("type") == node.signature_code):
            return None  # the signature block ends the data unit
        code = remain[0]
        if code in known:
            return known[code]
        # an undefined code has no length to skip by: stop, the rest stays unread
        return custom if code in node.custom else None

    return next_item


def item_class(edition: int, code: int) -> type[SchemaPacket]:
    """The layer of one information item (type byte + body) of a real-time/reissue data unit."""
    node = info_types(edition)
    known, custom = _item_classes(edition, node)
    if code in known:
        return known[code]
    if code in node.custom:
        return custom
    raise KeyError(f"information type 0x{code:02X} is not defined in {edition}")


# ---- parameters (0x80 answer / 0x81)


def _param_class(edition: int, node: Params, pid: int) -> type[SchemaPacket]:
    key = ("param", edition, id(node), pid)
    cls = _classes.get(key)
    if cls is None:
        value = node.table[pid]
        if isinstance(value, Scalar):
            vfield = _scalar_field(value, "value")
        else:
            assert isinstance(value, Str)
            # a width from an earlier item is applied by the list (see _param_dispatch)
            vfield = StrFixedLenField("value", b"", value.length) if value.length else StrField("value", b"")
        names = {k: v.name for k, v in node.table.items()}
        cls = _new_class(key, f"GBT32960_{edition}_param_{value.name}",
                         [ByteEnumField("id", pid, names), vfield], value, edition, f"parameter 0x{pid:02X}")
    return cls


def _param_dispatch(edition: int, node: Params) -> Callable[..., Any]:
    width_from = {v: k for k, v in node.length_of.items()}
    count = fname(node.count)

    def next_param(pkt: Packet, lst: list[Packet], cur: Packet | None, remain: bytes) -> Any:
        seen = [*lst, cur] if cur is not None else lst
        n = pkt.getfieldval(count)
        # as in the codec, a sentinel count (0xFE/0xFF) means no parameter follows
        if n >= ABNORMAL["B"] or len(seen) >= n or not remain:
            return None
        pid = remain[0]
        value = node.table.get(pid)
        if value is None:
            return None  # unknown width: stop
        cls = _param_class(edition, node, pid)
        if isinstance(value, Str) and value.length is None:
            widths = [p.getfieldval("value") for p in seen if p.getfieldval("id") == width_from.get(pid)]
            if not widths:
                return None  # 0x05 before 0x04: the codec rejects it too
            return _cut(cls, 1 + int(widths[-1]))
        return cls

    return next_param


def _cut(cls: type[Packet], n: int) -> Callable[..., Packet]:
    """A constructor that dissects the first n bytes and hands the rest back as Padding."""

    def make(s: bytes, _parent: Packet | None = None) -> Packet:
        p = cls(s[:n], _parent=_parent)
        if len(s) > n:
            p.add_payload(conf.padding_layer(s[n:]))
        return p

    return make


# ------------------------------------------------------------------------------------ frame


class GBT32960(Packet):
    """One GB/T 32960.3 frame. Leave `length`/`bcc` as None to have them computed."""

    name = "GB/T 32960"
    fields_desc = [
        StrFixedLenField("start", START[2016], 2),
        ByteEnumField("cmd", 0x02, dict(COMMANDS)),  # not "command": Packet.command() exists
        ByteEnumField("ack", COMMAND_FLAG, {**RESPONSE_FLAGS[2016], **RESPONSE_FLAGS[2025]}),
        StrFixedLenField("vin", b"", 17),
        ByteEnumField("encryption", 0x01, {**ENCRYPTION[2016], **ENCRYPTION[2025]}),
        ShortField("length", None),
        # on the wire the BCC follows the data unit; declared here so it can be set like any field
        XByteField("bcc", None),
    ]

    @property
    def edition(self) -> int | None:
        return EDITION_OF_START.get(bytes(self.start))

    def pre_dissect(self, s: bytes) -> bytes:
        # Move the BCC next to the header so the fields read it before the payload. The data unit
        # ends where the length says; if the bytes end sooner, the last byte is taken as the BCC.
        if len(s) <= HEADER_SIZE:
            self._body_len = 0
            return s
        end = HEADER_SIZE + int.from_bytes(s[22:24], "big")
        if end + 1 > len(s):
            end = len(s) - 1
        self._body_len = end - HEADER_SIZE
        return s[:HEADER_SIZE] + s[end:end + 1] + s[HEADER_SIZE:end] + s[end + 1:]

    def post_dissect(self, s: bytes) -> bytes:
        # the cached raw header has the BCC in the moved position: always rebuild through post_build
        self.raw_packet_cache = None
        return s

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        n = getattr(self, "_body_len", len(s))
        return s[:n], s[n:]  # bytes after the BCC: the next frame, as Padding

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        node = self.body_node(payload)
        return body_class(self.edition, node) if node is not None else conf.raw_layer  # type: ignore[arg-type]

    def body_node(self, payload: bytes) -> Struct | None:
        """The layout of this data unit, chosen as `codec.decode` chooses it (first that fits)."""
        edition = self.edition
        if edition is None or self.encryption != 0x01:
            return None
        for node in body_candidates(edition, self.cmd, self.ack):
            try:
                _, end = decoder(node)(payload, 0)
            except (Fallback, struct.error, IndexError, KeyError, TypeError, ValueError):
                continue  # this layout does not fit; the next candidate may
            if end == len(payload):
                return node
        return None

    def split_payload(self, pay: bytes) -> tuple[bytes, bytes]:
        """(data unit, following frames): TCPSession stacks the next frames of a segment on this one."""
        nxt = self.payload.getlayer(GBT32960)
        if nxt is None:
            return pay, b""
        tail = bytes(nxt)
        return pay[:len(pay) - len(tail)], tail

    def data_unit(self) -> bytes:
        """The data-unit bytes as they go on the wire."""
        return self.split_payload(self.payload.do_build())[0]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        header, check = pkt[:HEADER_SIZE], pkt[HEADER_SIZE:HEADER_SIZE + 1]
        pay, tail = self.split_payload(pay)
        if self.length is None:
            header = header[:22] + len(pay).to_bytes(2, "big") + header[24:]
        frame = header + pay
        if self.bcc is None:
            check = bytes((bcc(memoryview(frame)[2:]),))
        return frame + check + tail

    def mysummary(self) -> str:
        flag = "command" if self.ack == COMMAND_FLAG else f"response 0x{self.ack:02X}"
        cmd = COMMANDS.get(self.cmd, f"0x{self.cmd:02X}")
        vin = bytes(self.vin).rstrip(b"\0").decode("ascii", "replace")
        return f"GB/T 32960-{self.edition or '?'} {cmd} {flag} {vin}"

    def hashret(self) -> bytes:
        return bytes((self.cmd,)) + bytes(self.vin)

    def answers(self, other: Packet) -> int:
        return int(isinstance(other, GBT32960) and other.ack == COMMAND_FLAG and self.ack != COMMAND_FLAG
                   and other.cmd == self.cmd and other.vin == self.vin)

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any], session: dict[str, Any]) -> Packet | None:
        """Cut a TCP stream into frames (scapy's TCPSession calls this with all buffered bytes).

        Returns None until a whole frame is present (the length field says how much to wait for).
        Every whole frame in the buffer comes out at once, stacked, and the start of the next one
        comes back as Padding for TCPSession to keep: scapy 2.8's TCPSession loses its place in
        the stream when it has to call back more than once for one segment. Bytes that are not a
        frame (before a start symbol, or a start with an impossible length) come out as Raw so
        garbage never blocks the stream.
        """
        pieces: list[Packet] = []
        pos, n = 0, len(data)
        need = 0
        while pos < n:
            start = _find_start(data, pos)
            if start > pos:
                pieces.append(conf.raw_layer(load=data[pos:start]))
                pos = start
                continue
            if n - pos < HEADER_SIZE:
                need = HEADER_SIZE
                break
            length = int.from_bytes(data[pos + 22:pos + 24], "big")
            if length > MAX_BODY:
                # no frame is that long: the start symbol was garbage, resync after it
                nxt = _find_start(data, pos + 1)
                pieces.append(conf.raw_layer(load=data[pos:nxt]))
                pos = nxt
                continue
            total = HEADER_SIZE + length + 1
            if n - pos < total:
                need = total
                break
            pieces.append(cls(data[pos:pos + total]))
            pos += total
        if pos < n and metadata.get("tcp_end"):
            pieces.append(conf.raw_layer(load=data[pos:]))  # the stream ended inside a frame
            pos = n
        if not pieces:
            metadata["tcp_min_len"] = need  # counted from the buffer start, where this frame starts
            return None
        if pos < n:
            pieces.append(conf.padding_layer(load=data[pos:]))
        first = pieces[0]
        for piece in pieces[1:]:
            first.add_payload(piece)
        return first


def _find_start(data: bytes, begin: int = 0) -> int:
    """Offset of the next frame start at or after `begin` ('##' or '$$'; in '###' the frame starts
    one byte later, since commands 0x23/0x24 are reserved). A lone trailing '#'/'$' may start one."""
    n = len(data)
    i = begin
    while True:
        hits = [j for j in (data.find(b"##", i), data.find(b"$$", i)) if j >= 0]
        if not hits:
            return n - 1 if n - 1 >= i and data[-1] in b"#$" else n
        j = min(hits)
        if j + 2 < n and data[j + 2] == data[j]:
            i = j + 1
            continue
        return j


def bind_port(port: int = DEFAULT_PORT) -> None:
    """Dissect TCP traffic to or from `port` as GB/T 32960 (and default TCP()/GBT32960() to it)."""
    bind_layers(TCP, GBT32960, sport=port)
    bind_layers(TCP, GBT32960, dport=port)


def unbind_port(port: int) -> None:
    split_layers(TCP, GBT32960, sport=port)
    split_layers(TCP, GBT32960, dport=port)


bind_port(DEFAULT_PORT)


def frames_in(pkt: Packet) -> list[GBT32960]:
    """Every frame in a packet, each a standalone copy (TCPSession stacks a segment's frames)."""
    out: list[GBT32960] = []
    layer = pkt.getlayer(GBT32960)
    while layer is not None:
        copy = cast(GBT32960, layer.copy())
        cut = copy.payload
        while cut and not isinstance(cut, (GBT32960, conf.padding_layer)):
            cut = cut.payload
        if cut and cut.underlayer is not None:  # drop the next frame, or the start of an incomplete one
            cut.underlayer.remove_payload()
        out.append(copy)
        layer = layer.payload.getlayer(GBT32960)
    return out


# ------------------------------------------------------------------------- Frame <-> layer


def to_layer(frame: Frame) -> GBT32960:
    """The layer for a codec `Frame`; `bytes(to_layer(f)) == codec.encode(f)`."""
    pkt = GBT32960(start=START[frame.edition], cmd=frame.command, ack=frame.ack, vin=text_bytes(frame.vin),
                   encryption=frame.encryption)
    body = frame.body
    if isinstance(body, (bytes, bytearray)):
        if body:
            pkt.add_payload(conf.raw_layer(load=bytes(body)))
        return pkt
    if body is None:
        return pkt
    candidates = body_candidates(frame.edition, frame.command, frame.ack)
    if not candidates:
        raise errors.EncodeError(f"command 0x{frame.command:02X} has no defined body in {frame.edition}; pass bytes")
    node = _pick_encoder(candidates, body)  # the codec's own choice of response layout
    if node.fields:
        pkt.add_payload(_to_packet(frame.edition, node, body))
    return pkt


def _to_packet(edition: int, node: Struct, value: dict) -> Packet:
    kw: dict[str, Any] = {}
    for f in node.fields:
        if isinstance(f, Count):
            continue  # computed by FieldLenField, unless a sentinel list sets it below
        if isinstance(f, InfoTypes):
            kw[fname(f.name)] = _items_to_packets(edition, f, value)
            continue
        v = value[f.name]
        if isinstance(f, List) and isinstance(v, Sentinel):
            kw[fname(f.count)] = int(v)
            kw[fname(f.name)] = []
        elif isinstance(f, List):
            kw[fname(f.name)] = [_item_to_field(edition, f.item, x) for x in v]
        elif isinstance(f, Params) and isinstance(v, Sentinel):
            kw[fname(f.count)] = int(v)
            kw[fname(f.name)] = []
        elif isinstance(f, Params):
            kw[fname(f.name)] = [
                _param_class(edition, f, p["id"])(id=p["id"], value=_plain(f.table[p["id"]], p["value"])) for p in v]
        elif isinstance(f, Switch):
            case = f.cases.get(value[f.on], f.default)
            kw[fname(f.name)] = _to_packet(edition, case, v) if isinstance(case, Struct) else text_bytes(v)
        else:
            kw[fname(f.name)] = _plain(f, v)
    return body_class(edition, node)(**kw)


def _plain(node: Node, v: Any) -> Any:
    if isinstance(node, (Str, RawNode)):
        return text_bytes(v) if isinstance(v, str) else bytes(v)
    if isinstance(node, Time):
        return Timestamp(*v)
    return int(v)


def _item_to_field(edition: int, item: Node, v: Any) -> Any:
    return _to_packet(edition, item, v) if isinstance(item, Struct) else _plain(item, v)


def _items_to_packets(edition: int, node: InfoTypes, value: dict) -> list[Packet]:
    known, custom = _item_classes(edition, node)
    out: list[Packet] = []
    for item in value[node.name]:
        t = item["type"]
        if t in node.known:
            out.append(known[t](type=t, data=_to_packet(edition, node.known[t], item["data"])))
        elif t in node.custom:
            out.append(custom(type=t, data=bytes(item["data"])))
        else:
            raise errors.EncodeError(f"information type 0x{t:02X} is not defined in {edition}", path=node.name)
    sig = value.get("signature")
    if sig is not None:
        if node.signature is None or node.signature_code is None:
            raise errors.EncodeError(f"the {edition} edition has no signature block", path="signature")
        code = node.signature_code
        out.append(known[code](type=code, data=_to_packet(edition, node.signature, sig)))
    return out


def from_layer(pkt: Packet) -> Frame:
    """The codec `Frame` a layer carries; `from_layer(GBT32960(b)) == codec.decode(b)` for good frames.

    A frame cannot hold a wrong start symbol, length or BCC: those are the layer's business.
    A data unit no layout read stays bytes, as ciphertext and custom commands do in the codec.
    """
    frame_layer = pkt.getlayer(GBT32960)
    if frame_layer is None:
        raise ValueError("no GB/T 32960 frame in this packet")
    edition = frame_layer.edition
    if edition is None:
        raise errors.BadStartSymbol(f"start symbol {bytes(frame_layer.start)!r} is neither '##' nor '$$'",
                                    offset=0, path="header.start")
    frame = Frame(frame_layer.cmd, frame_layer.ack, _text(bytes(frame_layer.vin)), None, edition,
                  frame_layer.encryption)
    body = frame_layer.payload
    if isinstance(body, GBT32960) or isinstance(body, conf.padding_layer) or not body:
        frame.body = _empty_body(edition, frame)
    elif isinstance(body, SchemaPacket) and isinstance(body.schema_node, Struct) and _clean(body):
        frame.body = _from_packet(edition, body.schema_node, body)
    else:
        frame.body = frame_layer.data_unit()
    return frame


def _empty_body(edition: int, frame: Frame) -> Any:
    # an empty data unit: {} where a layout has no fields (heartbeat), else the empty bytes
    if frame.encryption == 0x01 and any(not n.fields for n in body_candidates(edition, frame.command, frame.ack)):
        return {}
    return b""


def _clean(body: Packet) -> bool:
    """True when the body layer read every byte (no Raw left under it)."""
    rest = body.payload
    return not rest or isinstance(rest, (GBT32960, conf.padding_layer))


def _from_packet(edition: int, node: Struct, pkt: Packet) -> dict:
    d: dict[str, Any] = {}
    counts = {f.name for f in node.fields if isinstance(f, Count)}
    count_fmt = {f.name: f.fmt for f in node.fields if isinstance(f, Count)}
    for f in node.fields:
        if isinstance(f, Count):
            continue  # the codec does not keep counts: they follow from the lists
        v = pkt.getfieldval(fname(f.name))
        if isinstance(f, InfoTypes):
            _items_from_packets(edition, f, v, d)
        elif isinstance(f, List):
            n = pkt.getfieldval(fname(f.count)) if f.count in counts else None  # None: computed on build
            if n is not None and n >= ABNORMAL[count_fmt[f.count]]:
                d[f.name] = Sentinel(n)
            else:
                d[f.name] = [_from_item(edition, f.item, x) for x in v]
        elif isinstance(f, Params) and pkt.getfieldval(fname(f.count)) is not None \
                and pkt.getfieldval(fname(f.count)) >= ABNORMAL["B"]:
            d[f.name] = Sentinel(pkt.getfieldval(fname(f.count)))
        elif isinstance(f, Params):
            d[f.name] = [{"id": p.getfieldval("id"), "value": _value(f.table[p.getfieldval("id")],
                                                                    p.getfieldval("value"))} for p in v]
        elif isinstance(f, Switch):
            case = f.cases.get(d[f.on], f.default)
            d[f.name] = _from_packet(edition, case, v) if isinstance(case, Struct) else _value(case, v)
        else:
            d[f.name] = _value(f, v)
    return d


def _value(node: Node, v: Any) -> Any:
    if isinstance(node, Str):
        return _text(bytes(v))
    if isinstance(node, RawNode):
        return bytes(v)
    if isinstance(node, Time):
        return Timestamp(*v)
    return int(v)


def _from_item(edition: int, item: Node, v: Any) -> Any:
    return _from_packet(edition, item, v) if isinstance(item, Struct) else _value(item, v)


def _items_from_packets(edition: int, node: InfoTypes, packets: list[Packet], d: dict) -> None:
    items: list[dict] = []
    for p in packets:
        if not isinstance(p, SchemaPacket):
            raise ValueError(f"information item {p!r} was not read")
        t = p.getfieldval("type")
        if t == node.signature_code and node.signature is not None:
            d["signature"] = _from_packet(edition, node.signature, p.getfieldval("data"))
        elif t in node.known:
            items.append({"type": t, "data": _from_packet(edition, node.known[t], p.getfieldval("data"))})
        else:
            items.append({"type": t, "data": bytes(p.getfieldval("data"))})
    d[node.name] = items
