"""Real-time records (0x02 / 0x03) out of a capture, a platform store or raw frames.

A `Record` is what the assessment consumes: the vehicle, the edition, the command, the collection
time (seconds since the epoch; the frame carries GMT+8 wall-clock time), the receive time when
known, and the decoded information items. Frames that are not real-time data, encrypted bodies and
undecodable frames are counted, not silently dropped.
"""

from __future__ import annotations

import calendar
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.protocol import codec, errors
from harness.protocol.framer import Framer

REALTIME, REISSUE = 0x02, 0x03
GMT8 = 8 * 3600


@dataclass(slots=True)
class Record:
    vin: str
    edition: int
    command: int
    collected: float | None
    received: float | None
    items: list[dict[str, Any]]
    stored_duplicate: bool = False


@dataclass
class SourceStats:
    """What the loader saw besides records: non-real-time frames, undecodable ones."""

    frames: int = 0
    other_commands: int = 0
    encrypted: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"frames": self.frames, "other_commands": self.other_commands, "encrypted": self.encrypted,
                "errors": self.errors, "error_samples": self.error_samples[:10]}


_EPOCH_CACHE: dict[tuple, float | None] = {}


def collection_epoch(ts: tuple) -> float | None:
    """Epoch seconds of a 6-byte GMT+8 time; None when the bytes are not a calendar time."""
    hit = _EPOCH_CACHE.get(ts, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    try:
        y, mo, d, h, mi, s = ts
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
            raise ValueError
        if d > calendar.monthrange(2000 + y, mo)[1]:
            raise ValueError
        value: float | None = calendar.timegm((2000 + y, mo, d, h, mi, s, 0, 0, 0)) - GMT8
    except (ValueError, TypeError):
        value = None
    if len(_EPOCH_CACHE) > 200_000:  # bounded: a long capture has many distinct seconds
        _EPOCH_CACHE.clear()
    _EPOCH_CACHE[ts] = value
    return value


def record_of(raw: bytes, received: float | None, stats: SourceStats, *, stored_duplicate: bool = False
              ) -> Record | None:
    """Decode one frame; a Record for plaintext real-time/reissue commands, else None (counted)."""
    stats.frames += 1
    try:
        frame = codec.decode(raw)
    except errors.ProtocolError as exc:
        stats.errors += 1
        if len(stats.error_samples) < 10:
            stats.error_samples.append(str(exc))
        return None
    if frame.command not in (REALTIME, REISSUE) or frame.is_response:
        stats.other_commands += 1
        return None
    body = frame.body
    if not isinstance(body, dict):
        stats.encrypted += 1
        return None
    return Record(frame.vin.rstrip("\x00"), frame.edition, frame.command, collection_epoch(tuple(body["time"])),
                  received, body.get("items") or [], stored_duplicate)


def from_frames(frames: Iterable[tuple[float | None, bytes]], stats: SourceStats) -> Iterator[Record]:
    """Records from (receive time, raw frame) pairs."""
    for received, raw in frames:
        rec = record_of(raw, received, stats)
        if rec is not None:
            yield rec


def from_store(path: str | Path, stats: SourceStats, *, link: str | None = None, batch: int = 20_000,
               part: tuple[int, int] | None = None) -> Iterator[Record]:
    """Records of a reference platform's SQLite store (table `frames`, raw bytes), read-only and in
    row order, in batches so a multi-million-row store never sits in memory. `part` = (k, n): only
    the vehicles whose VIN's last character code is k modulo n (one of n disjoint partitions)."""
    db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        sql = "SELECT id, received_at, duplicate, raw FROM frames WHERE id > ? AND command IN (2, 3)"
        args: list[Any] = []
        if link is not None:
            sql += " AND link = ?"
            args.append(link)
        if part is not None:
            sql += " AND coalesce(unicode(substr(rtrim(vin, char(0)), -1)), 0) % ? = ?"
            args += [part[1], part[0]]
        sql += " ORDER BY id LIMIT ?"
        last = 0
        while True:
            rows = db.execute(sql, [last, *args, batch]).fetchall()
            if not rows:
                break
            for row_id, received, dup, raw in rows:
                last = row_id
                rec = record_of(bytes(raw), received, stats, stored_duplicate=bool(dup))
                if rec is not None:
                    yield rec
    finally:
        db.close()


def from_pcap(path: str | Path, stats: SourceStats, *, ports: list[int] | None = None) -> Iterator[Record]:
    """Records of every TCP flow in a capture (the `gbt32960 pcap` reader: reassembly, framing)."""
    from harness.cli import read_capture  # scapy import is slow: only when a capture is read

    events, problems = read_capture(str(path), ports=ports)
    for problem in problems:
        stats.errors += 1
        if len(stats.error_samples) < 10:
            stats.error_samples.append(problem)
    for when, _flow, item in events:
        if isinstance(item, errors.ProtocolError):
            stats.frames += 1
            stats.errors += 1
            if len(stats.error_samples) < 10:
                stats.error_samples.append(str(item))
            continue
        rec = record_of(item, when, stats)
        if rec is not None:
            yield rec


def from_stream(chunks: Iterable[bytes], stats: SourceStats) -> Iterator[Record]:
    """Records from a raw byte stream (a file of concatenated frames), no receive times."""
    framer = Framer()
    for chunk in chunks:
        for item in framer.feed(chunk):
            if isinstance(item, errors.ProtocolError):
                stats.frames += 1
                stats.errors += 1
                continue
            rec = record_of(item, None, stats)
            if rec is not None:
                yield rec
