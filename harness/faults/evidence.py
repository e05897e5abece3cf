"""Evidence: every byte the proxy reads, writes or discards, per link, connection and direction, with the time
and what the proxy did to it; exported as a pcap and as decoded JSON lines.

Records go to an append-only spool file (not memory: a long or fast run would not fit), with a sparse index
for reading from a position. Kinds of record:
  read     bytes read from a party (when they were not passed on unchanged at once)
  write    bytes written to a party, with the action (passed, delayed, duplicated, corrupted ...)
  relay    bytes read and written unchanged in the same instant (the fast path: one record, both sides)
  discard  bytes read and never delivered, and why (dropped, blackholed, partition ...)
  event    a connection event (open, connected, closed, reset, refused, half-open ...)

The pcap has synthetic Ethernet/IP/TCP packets with the real addresses and ports of both sides of the
proxy (client <-> listen port, proxy <-> target), with consistent sequence numbers, a handshake per
connection and FIN/RST where the connection ended, so Wireshark, `gbt32960 pcap` and the scapy layers
(`harness.protocol.layers`, after `bind_port(port)`) reassemble and dissect it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.protocol import errors
from harness.protocol.codec import decode
from harness.protocol.framer import Framer
from harness.protocol.jsonview import frame_to_json

from .model import TO_CLIENT, TO_TARGET

__all__ = ["ConnInfo", "EvidenceLog", "FrameCutter", "Record", "decode_frame", "endpoints", "write_jsonl",
           "write_pcap"]

KINDS = ("read", "write", "relay", "discard", "event")
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_FLOWS = (TO_TARGET, TO_CLIENT, "")
_FLOW_CODE = {f: i for i, f in enumerate(_FLOWS)}
# seq, at, connection, link index, kind, flow, then lengths of action, faults, detail, raw
_HEADER = struct.Struct("<QdIHBBHHHI")
_INDEX_EVERY = 512
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    at: float  # seconds since the epoch
    link: str
    conn: int
    kind: str
    flow: str
    action: str
    faults: tuple[int, ...]
    detail: str
    raw: bytes


@dataclass
class ConnInfo:
    """The addresses of one proxied connection: client <-> listen (the proxy), local (the proxy) <-> target."""

    link: str
    client: Address | None = None
    listen: Address | None = None
    local: Address | None = None
    target: Address | None = None


class Subscription:
    """Records as they are added, for one follower (StreamEvidence); falls behind -> `overflow`."""

    def __init__(self, link: str, maxsize: int = 100_000) -> None:
        self.link = link
        self.queue: asyncio.Queue[Record] = asyncio.Queue(maxsize)
        self.overflow = False

    def offer(self, record: Record) -> None:
        if self.overflow:
            return
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.overflow = True


class EvidenceLog:
    """The proxy's evidence, in a spool file under `directory` (a fresh temporary one by default).

    Not thread-safe for writing: the proxy's event loop adds records. Reading (`records`) works from any
    thread up to a `snapshot()` taken on the loop.
    """

    def __init__(self, directory: str | Path | None = None, max_bytes: int = 2 << 30) -> None:
        self._own_dir = directory is None
        self.dir = Path(tempfile.mkdtemp(prefix="gbt32960-faults-")) if directory is None else Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "evidence.spool"
        self._file = open(self.path, "wb", buffering=1 << 17)  # noqa: SIM115 - open for the log's lifetime
        self.max_bytes = max_bytes
        self.seq = 0
        self.size = 0
        self.raw_not_kept = 0  # bytes of records beyond max_bytes: metadata kept, bytes not
        self._links: list[str] = []
        self._link_index: dict[str, int] = {}
        self._index: list[tuple[int, int]] = []  # (seq, offset) every _INDEX_EVERY records
        self.per_link: dict[str, int] = {}
        self.conns: dict[int, ConnInfo] = {}
        self.subscribers: list[Subscription] = []
        self.closed = False

    # ------------------------------------------------------------------ writing
    def add(self, link: str, conn: int, kind: str, flow: str, action: str, raw: bytes = b"",
            faults: tuple[int, ...] = (), detail: str = "", at: float | None = None) -> int:
        if self.closed:
            return 0
        if at is None:
            import time

            at = time.time()
        self.seq += 1
        li = self._link_index.get(link)
        if li is None:
            li = self._link_index[link] = len(self._links)
            self._links.append(link)
        keep = raw
        if raw and self.size + len(raw) > self.max_bytes:
            self.raw_not_kept += len(raw)
            detail = f"{detail}; {len(raw)} bytes not kept: evidence log full" if detail else \
                f"{len(raw)} bytes not kept: evidence log full"
            keep = b""
        a = action.encode()
        fa = ",".join(map(str, faults)).encode() if faults else b""
        de = detail.encode()[:65535]
        if (self.seq - 1) % _INDEX_EVERY == 0:
            self._index.append((self.seq, self.size))
        self._file.write(_HEADER.pack(self.seq, at, conn, li, _KIND_CODE[kind], _FLOW_CODE[flow], len(a), len(fa),
                                      len(de), len(keep)))
        self._file.write(a + fa + de)
        self._file.write(keep)
        self.size += _HEADER.size + len(a) + len(fa) + len(de) + len(keep)
        self.per_link[link] = self.per_link.get(link, 0) + 1
        if self.subscribers:
            rec = Record(self.seq, at, link, conn, kind, flow, action, tuple(faults), detail, keep)
            for s in self.subscribers:
                if not s.link or s.link == link:
                    s.offer(rec)
        return self.seq

    def subscribe(self, link: str = "") -> Subscription:
        sub = Subscription(link)
        self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)

    def snapshot(self) -> int:
        """Flush the spool; returns the last seq written (readers stop there)."""
        if not self.closed:
            self._file.flush()
        return self.seq

    def close(self, remove: bool | None = None) -> None:
        """Close the spool; a temporary directory made by the log is removed unless `remove` is False."""
        if not self.closed:
            self.closed = True
            self._file.close()
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def count(self, link: str = "") -> int:
        return self.per_link.get(link, 0) if link else self.seq

    def records(self, link: str = "", after: int = 0, upto: int | None = None) -> Iterator[Record]:
        """Records with after < seq <= upto (default: the last snapshot), of one link or all, in order."""
        upto = self.seq if upto is None else upto
        if after >= upto:
            return
        offset = 0
        for seq, off in self._index:
            if seq > after + 1:
                break
            offset = off
        links = list(self._links)
        with open(self.path, "rb") as f:
            f.seek(offset)
            hs = _HEADER.size
            while True:
                head = f.read(hs)
                if len(head) < hs:
                    return
                seq, at, conn, li, kc, fc, la, lf, ld, lr = _HEADER.unpack(head)
                if seq > upto:
                    return
                if seq <= after or (link and links[li] != link):
                    f.seek(la + lf + ld + lr, 1)
                    continue
                body = f.read(la + lf + ld + lr)
                action = body[:la].decode()
                faults = tuple(int(x) for x in body[la:la + lf].decode().split(",")) if lf else ()
                detail = body[la + lf:la + lf + ld].decode(errors="replace")
                yield Record(seq, at, links[li], conn, KINDS[kc], _FLOWS[fc], action, faults, detail,
                             body[la + lf + ld:])


# ---------------------------------------------------------------------- decoding


def decode_frame(raw: bytes) -> tuple[str, str]:
    """(decoded JSON, "") for a good frame, ("", why) otherwise."""
    try:
        return json.dumps(frame_to_json(decode(raw)), ensure_ascii=False), ""
    except errors.ProtocolError as exc:
        return "", str(exc)
    except Exception as exc:  # noqa: BLE001 - evidence export must not die on one odd frame
        return "", f"{type(exc).__name__}: {exc}"


class FrameCutter:
    """Whole frames completed by each record, per stream (connection, direction, side of the proxy).

    read -> the stream as the proxy received it; write -> as it delivered it; relay -> both (the delivered
    side's frames are returned); discard -> the discarded bytes on their own.
    """

    def __init__(self) -> None:
        self._framers: dict[tuple[int, str, str], Framer] = {}

    def _feed(self, key: tuple[int, str, str], raw: bytes) -> list[bytes | errors.ProtocolError]:
        framer = self._framers.get(key)
        if framer is None:
            framer = self._framers[key] = Framer()
        return framer.feed(raw)

    def frames(self, rec: Record) -> list[bytes | errors.ProtocolError]:
        if not rec.raw:
            return []
        if rec.kind == "read":
            return self._feed((rec.conn, rec.flow, "in"), rec.raw)
        if rec.kind == "write":
            return self._feed((rec.conn, rec.flow, "out"), rec.raw)
        if rec.kind == "relay":
            self._feed((rec.conn, rec.flow, "in"), rec.raw)
            return self._feed((rec.conn, rec.flow, "out"), rec.raw)
        if rec.kind == "discard":
            f = Framer()
            return [*f.feed(rec.raw), *f.close()]
        return []


def endpoints(rec: Record, info: ConnInfo | None) -> tuple[Address | None, Address | None]:
    """(sender, receiver) of a record's bytes on the wire (a relay: as read)."""
    if info is None:
        return None, None
    if rec.flow == TO_TARGET:
        return (info.client, info.listen) if rec.kind in ("read", "relay", "discard") else (info.local, info.target)
    if rec.flow == TO_CLIENT:
        return (info.target, info.local) if rec.kind in ("read", "relay", "discard") else (info.listen, info.client)
    return info.client, info.listen


def write_jsonl(path: str | Path, records: Iterable[Record], conns: dict[int, ConnInfo]) -> int:
    """One JSON object a line per record, frames decoded; returns the number of lines."""
    cutter = FrameCutter()
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for rec in records:
            src, dst = endpoints(rec, conns.get(rec.conn))
            doc: dict[str, Any] = {
                "seq": rec.seq, "at": rec.at,
                "time": dt.datetime.fromtimestamp(rec.at, dt.UTC).isoformat(timespec="microseconds"),
                "link": rec.link, "connection": rec.conn, "flow": rec.flow, "kind": rec.kind,
                "action": rec.action, "faults": list(rec.faults), "detail": rec.detail,
                "src": _addr(src), "dst": _addr(dst), "bytes": len(rec.raw), "hex": rec.raw.hex(),
            }
            frames = []
            for item in cutter.frames(rec):
                if isinstance(item, bytes):
                    decoded, error = decode_frame(item)
                    entry: dict[str, Any] = {"hex": item.hex()}
                    if decoded:
                        entry["frame"] = json.loads(decoded)
                    else:
                        entry["error"] = error
                    frames.append(entry)
                else:
                    frames.append({"error": str(item)})
            if frames:
                doc["frames"] = frames
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            n += 1
    return n


def _addr(a: Address | None) -> str | None:
    if a is None:
        return None
    return f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"


# ---------------------------------------------------------------------- pcap

_MSS = 32768  # payload per synthetic segment (an IP packet holds at most 65535 bytes)


class _Leg:
    """One TCP connection on the wire (client <-> listen, or proxy <-> target) with its sequence numbers."""

    def __init__(self, a: Address, b: Address, isn: int) -> None:
        self.a, self.b = a, b
        self.seq = {a: isn & 0xFFFFFFFF, b: (isn * 7 + 1000) & 0xFFFFFFFF}
        self.open = False
        self.ended = False
        self.fin: set[Address] = set()  # parties that sent their FIN (a second close adds none)


class _PcapBuilder:
    def __init__(self, writer: Any, conns: dict[int, ConnInfo]) -> None:
        from scapy.layers.inet import IP, TCP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import Ether

        self.writer, self.conns = writer, conns
        self._ip, self._ip6, self._tcp, self._ether = IP, IPv6, TCP, Ether
        self.legs: dict[tuple[int, str], _Leg] = {}
        self.packets = 0

    def leg(self, conn: int, side: str) -> _Leg | None:
        key = (conn, side)
        leg = self.legs.get(key)
        if leg is None:
            info = self.conns.get(conn)
            if info is None:
                return None
            a, b = (info.client, info.listen) if side == "client" else (info.local, info.target)
            if a is None or b is None:
                return None
            leg = self.legs[key] = _Leg(a, b, 100_000 * conn + (0 if side == "client" else 50_000))
        return leg

    def send(self, leg: _Leg, src: Address, flags: str, payload: bytes, at: float) -> None:
        dst = leg.b if src == leg.a else leg.a
        chunks = [payload[i:i + _MSS] for i in range(0, len(payload), _MSS)] or [b""]
        for chunk in chunks:
            net: Any = self._ip6(src=_ip(src[0], 6), dst=_ip(dst[0], 6)) if ":" in src[0] or ":" in dst[0] \
                else self._ip(src=_ip(src[0], 4), dst=_ip(dst[0], 4))
            tcp = self._tcp(sport=src[1], dport=dst[1], flags=flags, seq=leg.seq[src],
                            ack=leg.seq[dst] if "S" not in flags or "A" in flags else 0, window=65535)
            pkt = self._ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / net / tcp
            if chunk:
                pkt = pkt / chunk
            pkt.time = at
            self.writer.write(pkt)
            self.packets += 1
            leg.seq[src] = (leg.seq[src] + len(chunk) + (1 if ("S" in flags or "F" in flags) else 0)) & 0xFFFFFFFF

    def handshake(self, leg: _Leg, at: float) -> None:
        if leg.open:
            return
        leg.open = True
        self.send(leg, leg.a, "S", b"", at)
        self.send(leg, leg.b, "SA", b"", at)
        self.send(leg, leg.a, "A", b"", at)

    def data(self, conn: int, side: str, from_a: bool, raw: bytes, at: float) -> None:
        leg = self.leg(conn, side)
        if leg is None or leg.ended:
            return
        self.handshake(leg, at)
        self.send(leg, leg.a if from_a else leg.b, "PA", raw, at)

    def end(self, conn: int, side: str, from_a: bool, flags: str, at: float) -> None:
        leg = self.leg(conn, side)
        if leg is None or leg.ended:
            return
        self.handshake(leg, at)
        src = leg.a if from_a else leg.b
        if "F" in flags:
            if src in leg.fin:
                return
            leg.fin.add(src)
        self.send(leg, src, flags, b"", at)
        if "R" in flags:
            leg.ended = True

    def add(self, rec: Record) -> None:
        c, at = rec.conn, rec.at
        if rec.kind == "event":
            ev = _EVENTS.get(rec.action)
            if ev is None:
                return
            side, from_a, flags = ev
            if flags == "S":
                leg = self.leg(c, side)
                if leg is not None:
                    self.handshake(leg, at)
            else:
                self.end(c, side, from_a, flags, at)
            return
        if rec.kind == "discard" or not rec.raw:
            return
        up = rec.flow == TO_TARGET
        if rec.kind in ("read", "relay"):  # as received: client -> listen, or target -> proxy
            self.data(c, "client" if up else "target", up, rec.raw, at)
        if rec.kind in ("write", "relay"):  # as delivered: proxy -> target, or listen -> client
            self.data(c, "target" if up else "client", up, rec.raw, at)


# event action -> (leg, sent by the leg's first party (client / proxy), TCP flags)
_EVENTS: dict[str, tuple[str, bool, str]] = {
    "open": ("client", True, "S"),
    "connected": ("target", True, "S"),
    "eof-from-client": ("client", True, "FA"),
    "eof-from-target": ("target", False, "FA"),
    "close-client": ("client", False, "FA"),
    "close-target": ("target", True, "FA"),
    "reset-client": ("client", False, "RA"),
    "reset-target": ("target", True, "RA"),
    "reset-by-client": ("client", True, "RA"),
    "reset-by-target": ("target", False, "RA"),
    "refused": ("client", False, "RA"),
}


def _ip(host: str, version: int) -> str:
    try:
        addr = ipaddress.ip_address(host)
        if addr.version == version:
            return str(addr)
        if version == 6:
            return f"::ffff:{addr}"
    except ValueError:
        pass
    return "127.0.0.1" if version == 4 else "::1"


def write_pcap(path: str | Path, records: Iterable[Record], conns: dict[int, ConnInfo]) -> int:
    """Write the records as a pcap (Ethernet link type); returns the number of packets."""
    from scapy.utils import PcapWriter

    writer = PcapWriter(str(path), sync=False)
    try:
        builder = _PcapBuilder(writer, conns)
        for rec in records:
            builder.add(rec)
        if builder.packets == 0:  # an empty capture still needs its file header
            writer.write_header(None)
    finally:
        writer.close()
    return builder.packets
