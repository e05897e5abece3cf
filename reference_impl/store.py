"""Durable storage of a reference platform: SQLite in WAL mode.

Three tables: every accepted frame (raw bytes and decoded JSON), the forwarding queue per upstream,
and warnings. Writes are grouped: rows queued during one event-loop turn are committed together
before any answer or relay that depends on them goes out (`flush`), so a kill -9 can only lose
bytes the platform never acted on.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    link TEXT NOT NULL,
    vin TEXT NOT NULL,
    command INTEGER NOT NULL,
    ack INTEGER NOT NULL,
    edition INTEGER NOT NULL,
    collected_at TEXT,
    duplicate INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,
    decoded TEXT
);
CREATE INDEX IF NOT EXISTS frames_vin_time ON frames (vin, collected_at);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    upstream TEXT NOT NULL,
    vin TEXT NOT NULL,
    collected_at TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    raw BLOB NOT NULL,
    live INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_upstream ON queue (upstream, id);
CREATE INDEX IF NOT EXISTS queue_key ON queue (upstream, vin, collected_at);
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    vin TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


def to_json(value: Any) -> str:
    """Compact JSON of a decoded body (raw values; times as 6-number lists; bytes as base64).
    orjson: the stdlib encoder cost more per frame than the SQLite insert."""
    try:
        return orjson.dumps(value, default=_default).decode()
    except TypeError:
        # text read with surrogateescape (non-ASCII bytes in an ICCID, a VIN) is not UTF-8 and orjson
        # refuses it: the stdlib escapes it, so one odd login never breaks the link (found by fuzzing)
        return json.dumps(value, default=_default, separators=(",", ":"))


def _default(obj: Any) -> Any:
    if isinstance(obj, tuple):  # Timestamp (orjson serialises plain tuples only)
        return list(obj)
    if isinstance(obj, (bytes, bytearray)):
        return {"b64": base64.b64encode(obj).decode()}
    raise TypeError(f"not JSON: {type(obj).__name__}")


@dataclass(frozen=True)
class StoredFrame:
    id: int
    received_at: float
    link: str
    vin: str
    command: int
    ack: int
    edition: int
    collected_at: str | None
    duplicate: bool
    raw: bytes
    decoded: Any


@dataclass(frozen=True)
class QueueEntry:
    id: int
    upstream: str
    vin: str
    collected_at: str
    enqueued_at: float
    raw: bytes
    live: bool
    tries: int


class Store:
    """One SQLite database per platform. Not thread-safe: the platform's event loop owns it."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process kill
        self.db.executescript(SCHEMA)
        self._frames: list[tuple] = []
        self._queue: list[tuple] = []
        self._warnings: list[tuple] = []
        self._done: list[tuple[str, str, str]] = []
        self._seen: set[tuple[str, int, str]] = set()
        seen = self.db.execute("SELECT vin, command, collected_at FROM frames WHERE collected_at IS NOT NULL")
        for vin, cmd, at in seen:
            self._seen.add((vin, 0x02 if cmd == 0x03 else cmd, at))

    # ------------------------------------------------------------------ writes (grouped)
    def add_frame(self, *, link: str, vin: str, command: int, ack: int, edition: int, collected_at: str | None,
                  raw: bytes, decoded: Any, received_at: float | None = None) -> bool:
        """Queue a frame for the next flush; returns True when it repeats an already stored one
        (same VIN, data command and collection time: a duplicate reissue)."""
        key = (vin, 0x02 if command == 0x03 else command, collected_at or "")
        duplicate = collected_at is not None and command in (0x02, 0x03) and key in self._seen
        if collected_at is not None and command in (0x02, 0x03):
            self._seen.add(key)
        self._frames.append((received_at or time.time(), link, vin, command, ack, edition, collected_at,
                             int(duplicate), raw, to_json(decoded) if decoded is not None else None))
        return duplicate

    def enqueue(self, upstream: str, vin: str, collected_at: str, raw: bytes, *, live: bool,
                now: float | None = None) -> None:
        self._queue.append((upstream, vin, collected_at, now or time.time(), raw, int(live)))

    def warn(self, vin: str, kind: str, detail: str, now: float | None = None) -> None:
        self._warnings.append((now or time.time(), vin, kind, detail))

    def done(self, upstream: str, key: tuple[str, str]) -> None:
        """The upstream acknowledged the frame of (VIN, collection time): it leaves the queue."""
        self._done.append((upstream, *key))

    @property
    def pending_writes(self) -> int:
        return len(self._frames) + len(self._queue) + len(self._warnings) + len(self._done)

    def flush(self) -> None:
        if not self.pending_writes:
            return
        with self.db:
            self.db.execute("BEGIN")
            if self._frames:
                self.db.executemany(
                    "INSERT INTO frames (received_at, link, vin, command, ack, edition, collected_at, duplicate,"
                    " raw, decoded) VALUES (?,?,?,?,?,?,?,?,?,?)", self._frames)
            if self._queue:
                self.db.executemany(
                    "INSERT INTO queue (upstream, vin, collected_at, enqueued_at, raw, live) VALUES (?,?,?,?,?,?)",
                    self._queue)
            if self._warnings:
                self.db.executemany("INSERT INTO warnings (at, vin, kind, detail) VALUES (?,?,?,?)", self._warnings)
            if self._done:
                self.db.executemany("DELETE FROM queue WHERE upstream = ? AND vin = ? AND collected_at = ?",
                                    self._done)
        self._frames.clear()
        self._queue.clear()
        self._warnings.clear()
        self._done.clear()

    def drop_expired(self, upstream: str, before_collected: str) -> int:
        cur = self.db.execute("DELETE FROM queue WHERE upstream = ? AND collected_at < ?", (upstream, before_collected))
        return cur.rowcount

    # ------------------------------------------------------------------ reads
    def queue_head(self, upstream: str, after_id: int = 0, limit: int = 64) -> list[QueueEntry]:
        rows = self.db.execute(
            "SELECT id, upstream, vin, collected_at, enqueued_at, raw, live, tries FROM queue"
            " WHERE upstream = ? AND id > ? ORDER BY id LIMIT ?", (upstream, after_id, limit))
        return [QueueEntry(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bool(r[6]), r[7]) for r in rows]

    def queue_depth(self, upstream: str | None = None) -> int:
        if upstream is None:
            return self.db.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM queue WHERE upstream = ?", (upstream,)).fetchone()[0]

    def queue_oldest(self, upstream: str) -> str | None:
        row = self.db.execute("SELECT MIN(collected_at) FROM queue WHERE upstream = ?", (upstream,)).fetchone()
        return row[0]

    def frames(self, vin: str | None = None, start: str | None = None, end: str | None = None,
               commands: tuple[int, ...] | None = None, link: str | None = None, *, after_id: int = 0,
               until_id: int | None = None, limit: int | None = None) -> list[StoredFrame]:
        """Stored frames, oldest first; `start`/`end` bound the collection time (ISO text), `after_id`/
        `until_id` the row ids (to read a large store in pages), `limit` the count."""
        sql = ("SELECT id, received_at, link, vin, command, ack, edition, collected_at, duplicate, raw, decoded"
               " FROM frames WHERE id > ?")
        args: list[Any] = [after_id]
        if until_id is not None:
            sql += " AND id <= ?"
            args.append(until_id)
        if vin is not None:
            sql += " AND vin = ?"
            args.append(vin)
        if start is not None:
            sql += " AND collected_at >= ?"
            args.append(start)
        if end is not None:
            sql += " AND collected_at <= ?"
            args.append(end)
        if commands:
            sql += f" AND command IN ({','.join('?' * len(commands))})"
            args += list(commands)
        if link is not None:
            sql += " AND link = ?"
            args.append(link)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [StoredFrame(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), bytes(r[9]),
                            json.loads(r[10]) if r[10] else None) for r in self.db.execute(sql, args)]

    def iter_raw(self) -> Iterator[bytes]:
        for (raw,) in self.db.execute("SELECT raw FROM frames ORDER BY id"):
            yield bytes(raw)

    def count(self, command: int | None = None, duplicate: bool | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM frames WHERE 1=1", []
        if command is not None:
            sql += " AND command = ?"
            args.append(command)
        if duplicate is not None:
            sql += " AND duplicate = ?"
            args.append(int(duplicate))
        return self.db.execute(sql, args).fetchone()[0]

    def last_frame_id(self) -> int:
        """The id of the newest committed frame (0 when none)."""
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM frames").fetchone()[0]

    def warnings(self, vin: str | None = None, *, kind: str | None = None, since: float | None = None,
                 limit: int | None = None) -> list[tuple[float, str, str, str]]:
        """(at, vin, kind, detail), oldest first; with `limit`, the newest that many."""
        sql, args = "SELECT id, at, vin, kind, detail FROM warnings WHERE 1=1", []
        for clause, value in (("vin = ?", vin), ("kind = ?", kind), ("at >= ?", since)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        sql += " ORDER BY id DESC LIMIT ?" if limit is not None else " ORDER BY id DESC"
        if limit is not None:
            args.append(limit)
        return [tuple(r[1:]) for r in reversed(list(self.db.execute(sql, args)))]

    def close(self) -> None:
        self.flush()
        self.db.close()
