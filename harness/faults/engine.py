"""The fault engine of one direction of one proxied connection, sans-IO.

`feed(bytes, now)` and `tick(now)` return actions: `Send` (write these bytes at this time), `Discard`
(these bytes are never delivered, and why) and `Cut` (reset the connection at this time). The asyncio
driver (`proxy.py`) performs them and records the evidence; tests drive the engine with a fake clock.

The stream is always cut into frames by `harness.protocol.framer.Framer`, so frame faults can start at any
moment in sync with the stream. While no frame fault is active, bytes go out as they come (an incomplete
frame is not held back). While one is, each whole frame is a unit the faults may drop, duplicate, delay,
reorder or alter; bytes that are not frames pass through as they are; an incomplete frame is held until
it completes, or for `hold` seconds at most (then it passes as bytes: a stream that is not GB/T 32960,
or stalls inside a frame, is never blocked). Byte faults (blackhole, reset after N bytes, latency,
bandwidth, slicing) then act on every delivery. Stream order is kept except where a frame fault asks
otherwise (a delayed frame is overtaken, a reordered one swapped with the next frame).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.protocol import errors
from harness.protocol.codec import HEADER_SIZE, MAX_BODY, bcc
from harness.protocol.framer import Framer

from .model import Fault, FaultTable

__all__ = ["Action", "Cut", "DirectionEngine", "Discard", "Send"]


@dataclass(slots=True)
class Send:
    """Write `data` at `at` (the driver's monotonic clock); `action` says what was done to it."""

    at: float
    data: bytes
    action: str = "passed"
    faults: tuple[int, ...] = ()
    detail: str = ""


@dataclass(slots=True)
class Discard:
    """`data` was read and is never delivered."""

    data: bytes
    action: str
    faults: tuple[int, ...] = ()
    detail: str = ""


@dataclass(slots=True)
class Cut:
    """Reset the connection (both sides) at `at`, after everything sent before it."""

    at: float
    faults: tuple[int, ...] = ()
    detail: str = ""


Action = Send | Discard | Cut


def _label(base: str, extra: str) -> str:
    return extra if base == "passed" else f"{base}+{extra}"


@dataclass(slots=True)
class _Held:
    release: float
    data: bytes
    label: str
    faults: tuple[int, ...]


class DirectionEngine:
    """Faults of one direction (`flow`) of one connection; the link's `FaultTable` says which are active."""

    def __init__(self, table: FaultTable, flow: str, hold: float = 0.5) -> None:
        self.table = table
        self.flow = flow
        self.hold = hold
        self._rngs: dict[int, random.Random] = {}  # jitter per latency fault, seeded by its spec (repeatable)
        self.bounds = _Bounds()  # while no frame fault is active: where frames start (cheap)
        self.framer: Framer | None = None  # while one is: the frames themselves
        self.pending = bytearray()  # with the framer: stream bytes from offset `resolved` to `fed`
        self.fed = 0  # stream bytes fed so far
        self.resolved = 0  # the framer has decided about every byte before this offset
        self.sent = 0  # every byte before this offset has been disposed of (sent, dropped or held)
        self.last_at = 0.0  # time of the last in-order delivery: later ones never overtake it
        self.bw_free = 0.0  # bandwidth: when the pipe is free again
        self.reset_counts: dict[int, int] = {}  # reset_after: bytes delivered since the fault started
        self.held: list[_Held] = []  # reordered frames waiting for the next frame
        self.tail_key = -1  # the incomplete frame being held (its stream offset) ...
        self.tail_since: float | None = None  # ... and since when
        self.stall_at = -1  # an incomplete frame that was let through as bytes: its offset
        self.cut = False

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes, now: float) -> list[Action]:
        if self.cut:
            return [Discard(data, "discarded", (), "read after the connection was reset by a fault")]
        framing = self._framing(now)
        out: list[Action] = []
        if self.framer is not None and not framing:
            out = self._leave_framing(now)
        start = self.fed
        self.fed += len(data)
        if self.framer is None:
            # bytes go out as they come; the boundary walker only keeps track of where frames start
            first = self.bounds.feed(data, start)
            if not framing or (first is None and self.bounds.synced):
                self.sent = self.fed
                if not out and not self.table.byte[self.flow]:
                    return [Send(now, data)]  # the fast path: the very bytes read, at once
                note = "rest of a frame begun before the frame fault" if framing else ""
                return out + self._emit(data, "passed", (), note, now)
            # frame faults began: frames are cut from the next frame start on (or found by the framer's resync)
            begin = first if first is not None else start
            self.framer = Framer()
            self.pending = bytearray()
            self.resolved = self.sent = begin
            self.tail_key, self.tail_since, self.stall_at = -1, None, -1
            if begin > start:
                out += self._emit(data[:begin - start], "passed", (), "rest of a frame begun before the frame fault",
                                  now)
                data = data[begin - start:]
        self.pending += data
        items = self.framer.feed(data)
        resolved = self.fed - self.framer.buffered
        n = resolved - self.resolved
        region = bytes(self.pending[:n])
        del self.pending[:n]
        base, self.resolved = self.resolved, resolved
        untouched: list[bytes] = []  # frames no fault acted on, delivered together
        for off, unit, is_frame, note in _units(region, base, items):
            end = off + len(unit)
            if end <= self.sent:
                continue  # already let through (a stalled incomplete frame)
            if off < self.sent:
                unit, is_frame, note = unit[self.sent - off:], False, "rest of a frame let through before"
            self.sent = end
            acts = self._frame(unit, now) if is_frame else None
            if acts is None and is_frame:
                untouched.append(unit)
                continue
            if untouched:
                out += self._emit(b"".join(untouched), "passed", (), "", now)
                untouched = []
            out += acts if acts is not None else self._emit(unit, "passed", (), note, now)
        if untouched:
            out += self._emit(b"".join(untouched), "passed", (), "", now)
        if self.fed > self.sent:
            if resolved == self.stall_at:  # the same stalled frame: its bytes keep flowing
                tail = bytes(self.pending[self.sent - resolved:])
                self.sent = self.fed
                out += self._emit(tail, "passed", (), "incomplete frame held too long; passed as bytes", now)
            elif self.tail_key != resolved:
                self.tail_key, self.tail_since = resolved, now
        else:
            self.tail_key, self.tail_since = -1, None
        return _merge(out)

    def _leave_framing(self, now: float) -> list[Action]:
        """No frame fault is active any more: what is unsent goes out, the boundary walker takes over."""
        assert self.framer is not None
        unsent = bytes(self.pending[max(0, self.sent - self.resolved):]) if self.fed > self.sent else b""
        buffered = bytes(self.pending)  # the framer's incomplete frame (already sent or not)
        self.bounds = _Bounds(self.fed - len(buffered))
        self.bounds.feed(buffered, self.fed - len(buffered))
        self.framer = None
        self.pending = bytearray()
        self.resolved = self.sent = self.fed
        self.tail_key, self.tail_since, self.stall_at = -1, None, -1
        return self._emit(unsent, "passed", (), "", now) if unsent else []

    def tick(self, now: float) -> list[Action]:
        """Time passed: release reordered frames held too long and incomplete frames held too long."""
        out: list[Action] = []
        if self.held:
            due = [h for h in self.held if h.release <= now]
            if due:
                self.held = [h for h in self.held if h.release > now]
                for h in due:
                    out += self._emit(h.data, _label(h.label, "reordered"), h.faults,
                                      "no next frame within the hold", now)
        if self.framer is None or self.cut:
            return out
        if not self._framing(now):
            return out + self._leave_framing(now)
        if self.fed > self.sent and self.tail_since is not None and now >= self.tail_since + self.hold:
            tail = bytes(self.pending[self.sent - self.resolved:])
            self.sent = self.fed
            self.stall_at = self.resolved
            self.tail_key, self.tail_since = -1, None
            out += self._emit(tail, "passed", (), "incomplete frame held too long; passed as bytes", now)
        return out

    def deadline(self) -> float | None:
        """When `tick` has something to do (None: nothing waits on time)."""
        times = [h.release for h in self.held]
        if self.fed > self.sent and self.tail_since is not None and not self.cut:
            times.append(self.tail_since + self.hold)
        return min(times) if times else None

    def close(self, now: float) -> list[Action]:
        """End of the input stream: whatever is held goes out now (as it is)."""
        out: list[Action] = []
        for h in self.held:
            out += self._emit(h.data, _label(h.label, "reordered"), h.faults, "stream ended", now)
        self.held.clear()
        if self.fed > self.sent and not self.cut and self.framer is not None:
            tail = bytes(self.pending[self.sent - self.resolved:])
            self.sent = self.fed
            out += self._emit(tail, "passed", (), "stream ended inside a frame", now)
        self.tail_since = None
        return out

    # ------------------------------------------------------------------ faults
    def _framing(self, now: float) -> bool:
        return bool(self.held) or any(f.live(now) for f in self.table.frame[self.flow])

    def _frame(self, data: bytes, now: float) -> list[Action] | None:
        """What the frame faults do to one frame; None when none acts on it (and nothing waits for it)."""
        command, ack, vin = data[2], data[3], data[4:21]
        label = "passed"
        applied: list[int] = []
        notes: list[str] = []
        disposition: Fault | None = None
        for f in self.table.frame[self.flow]:
            if not f.live(now) or not f.frame_hit(command, ack, vin):
                continue
            p = f.spec.params
            if f.kind == "flip_byte":
                off = p["offset"] if p["offset"] >= 0 else len(data) + p["offset"]
                if not 0 <= off < len(data):
                    continue
                b = bytearray(data)
                b[off] ^= p["mask"]
                if p["fix_bcc"]:
                    b[-1] = bcc(memoryview(b)[2:-1])
                data, label = bytes(b), "corrupted"
                notes.append(f"fault {f.id}: byte {off} ^ 0x{p['mask']:02X}" + (", BCC fixed" if p["fix_bcc"] else ""))
            elif f.kind == "corrupt_bcc":
                b = bytearray(data)
                b[-1] ^= 0xFF
                data, label = bytes(b), "corrupted"
                notes.append(f"fault {f.id}: BCC 0x{data[-1] ^ 0xFF:02X} -> 0x{data[-1]:02X}")
            elif f.kind == "replace_frame":
                notes.append(f"fault {f.id}: {len(data)}-byte frame replaced by {len(p['data'])} bytes")
                data, label = p["data"], "replaced"
            elif disposition is None:
                disposition = f
            else:
                continue
            f.use()
            applied.append(f.id)
        if not applied and not self.held:
            return None
        faults = tuple(applied)
        detail = "; ".join(notes)
        if not data:
            return [Discard(b"", "replaced", faults, detail + " (nothing delivered)")]
        if disposition is None:
            out = self._emit(data, label, faults, detail, now)
        else:
            kind, p = disposition.kind, disposition.spec.params
            if kind == "drop_frames":
                return [Discard(data, _label(label, "dropped"), faults, detail)]
            if kind == "reorder_frames":
                self.held.append(_Held(now + p["max_hold_ms"] / 1000, data, label, faults))
                return []
            if kind == "delay_frames":
                out = self._emit(data, _label(label, "delayed-frame"), faults,
                                 _join(detail, f"fault {disposition.id}: held {p['ms']} ms"), now,
                                 at=now + p["ms"] / 1000)
            else:  # duplicate_frames
                out = self._emit(data, label, faults, detail, now)
                for k in range(p["copies"]):
                    out += self._emit(data, _label(label, "duplicated"), faults,
                                      _join(detail, f"fault {disposition.id}: copy {k + 1}"), now)
        if self.held and any(isinstance(a, Send) for a in out):
            held, self.held = self.held, []
            for h in held:  # the next frame went out: the held ones follow it
                out += self._emit(h.data, _label(h.label, "reordered"), h.faults, "after the next frame", now)
        return out

    def _emit(self, data: bytes, label: str, faults: tuple[int, ...], detail: str, now: float,
              at: float | None = None) -> list[Action]:
        """Byte faults on one delivery: blackhole, reset after N bytes, then latency, bandwidth, slicing."""
        if not data:
            return []
        if at is None and not self.table.byte[self.flow]:  # no byte fault: at once, in order
            t = max(now, self.last_at)
            self.last_at = t
            return [Send(t, data, label, faults, detail)]
        ordered = at is None
        base = now if at is None else at
        t = max(now, self.last_at) if ordered else base
        used = list(faults)
        notes = [detail] if detail else []
        out: list[Action] = []
        cut: Fault | None = None
        latency = bandwidth = slicer = None
        for f in self.table.byte[self.flow]:
            if not f.live(now) or not f.can_act():
                continue
            if f.kind == "blackhole":
                f.use()
                return [Discard(data, _label(label, "blackholed"), (*used, f.id), _join(detail, f"fault {f.id}"))]
            if f.kind == "reset_after" and cut is None:
                limit = f.spec.params["bytes"]
                done = self.reset_counts.get(f.id, 0)
                if done + len(data) >= limit:
                    keep = limit - done
                    rest, data = data[keep:], data[:keep]
                    self.reset_counts[f.id] = limit
                    cut = f
                    if rest:
                        out.append(Discard(rest, "reset", (f.id,), f"fault {f.id}: beyond {limit} bytes"))
                else:
                    self.reset_counts[f.id] = done + len(data)
            elif f.kind == "latency" and latency is None:
                latency = f
            elif f.kind == "bandwidth" and bandwidth is None:
                bandwidth = f
            elif f.kind == "slice" and slicer is None:
                slicer = f
        pieces: list[tuple[float, bytes]] = []
        if data:
            if latency is not None:
                p = latency.spec.params
                rng = self._rngs.get(latency.id)
                if rng is None:
                    rng = self._rngs[latency.id] = random.Random(latency.spec.seed or latency.id)  # noqa: S311
                jitter = rng.uniform(-p["jitter_ms"], p["jitter_ms"]) if p["jitter_ms"] else 0.0
                delay = max(0.0, p["ms"] + jitter) / 1000
                t = max(t, base + delay)
                latency.use()
                used.append(latency.id)
                label = _label(label, "delayed")
                notes.append(f"fault {latency.id}: +{delay * 1000:.1f} ms")
            pieces = [(t, data)]
            if bandwidth is not None:
                rate = bandwidth.spec.params["bytes_per_second"]
                step = max(1, rate // 50)  # pieces of 20 ms: the bytes trickle rather than jump
                cur = max(t, self.bw_free)
                pieces = []
                for i in range(0, len(data), step):
                    piece = data[i:i + step]
                    cur += len(piece) / rate
                    pieces.append((cur, piece))
                self.bw_free = cur
                bandwidth.use()
                used.append(bandwidth.id)
                label = _label(label, "throttled")
            if slicer is not None:
                k, gap = slicer.spec.params["bytes"], slicer.spec.params["gap_ms"] / 1000
                sliced: list[tuple[float, bytes]] = []
                cur = pieces[0][0]
                for pt, pd in pieces:
                    cur = max(cur, pt)
                    for i in range(0, len(pd), k):
                        sliced.append((cur, pd[i:i + k]))
                        cur += gap
                pieces = sliced
                slicer.use()
                used.append(slicer.id)
                label = _label(label, "sliced")
        ids = tuple(used)
        text = "; ".join(notes)
        sends: list[Action] = []
        for pt, pd in pieces:
            if ordered:
                pt = max(pt, self.last_at)
                self.last_at = pt
            sends.append(Send(pt, pd, label, ids, text))
        out = sends + out
        if cut is not None:
            cut.use()
            self.cut = True
            when = pieces[-1][0] if pieces else max(now, self.last_at)
            out.append(Cut(when, (cut.id,), f"fault {cut.id}: reset after {cut.spec.params['bytes']} bytes"))
        return out


class _Bounds:
    """Where frames start in a stream, from the start symbols and length fields alone (no BCC, no copies):
    what the engine needs to begin framing in step when a frame fault starts, at a fraction of the framer's cost.
    Loses sync (and leaves the resync to the framer) at the first byte that is not a frame start."""

    __slots__ = ("carry", "next", "synced")

    def __init__(self, at: int = 0) -> None:
        self.next = at  # stream offset of the next frame start
        self.synced = True
        self.carry = b""  # an incomplete header at `next`

    def feed(self, data: bytes, start: int) -> int | None:
        """Walk the headers in `data` (at stream offset `start`); the first frame start at or after `start`."""
        if not self.synced or self.next >= start + len(data):
            return None
        if self.carry:
            buf, base, self.carry = self.carry + data, start - len(self.carry), b""
        else:
            buf, base = data, start
        pos = self.next - base
        n = len(buf)
        first = None
        while pos + HEADER_SIZE <= n:
            c = buf[pos]
            length = buf[pos + 22] << 8 | buf[pos + 23]
            if (c != 0x23 and c != 0x24) or buf[pos + 1] != c or length > MAX_BODY:
                self.synced = False
                return first
            if first is None and base + pos >= start:
                first = base + pos
            pos += HEADER_SIZE + 1 + length
        if pos < n:
            self.carry = buf[pos:]
            if first is None and base + pos >= start:
                first = base + pos
        self.next = base + pos
        return first


def _merge(actions: list[Action]) -> list[Action]:
    """Adjacent sends due at the same time with the same fate become one write (and one evidence record)."""
    if len(actions) < 2:
        return actions
    out: list[Action] = []
    head: Send | None = None
    parts: list[bytes] = []
    for a in actions:
        if type(a) is Send and head is not None and a.at == head.at and a.action == head.action \
                and a.faults == head.faults and a.detail == head.detail:
            parts.append(a.data)
            continue
        if head is not None and len(parts) > 1:
            head.data = b"".join(parts)
        head = a if type(a) is Send else None
        parts = [a.data] if type(a) is Send else []
        out.append(a)
    if head is not None and len(parts) > 1:
        head.data = b"".join(parts)
    return out


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _units(region: bytes, base: int, items: list[bytes | errors.ProtocolError]) -> list[tuple[int, bytes, bool, str]]:
    """The resolved region cut into frames and runs of other bytes, with their stream offsets."""
    problems = [i for i in items if not isinstance(i, bytes)]
    note = f"not a frame: {problems[0]}" if problems else "not a frame"
    out: list[tuple[int, bytes, bool, str]] = []
    pos = 0
    for item in items:
        if not isinstance(item, bytes):
            continue
        idx = region.find(item, pos)
        if idx < 0:  # cannot happen: the framer's frames are in the bytes it resolved, in order
            continue
        if idx > pos:
            out.append((base + pos, region[pos:idx], False, note))
        out.append((base + idx, item, True, ""))
        pos = idx + len(item)
    if pos < len(region):
        out.append((base + pos, region[pos:], False, note))
    return out
