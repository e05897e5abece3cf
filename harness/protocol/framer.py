"""The stream framer: bytes in any chunking go in, whole frames (and typed errors) come out.

Sans-IO: `feed()` returns, in stream order, each good frame as bytes and each problem as a
`ProtocolError` whose offset counts from the first byte ever fed. Garbage before or between
frames is skipped up to the next `##` or `$$` (reported once per run of garbage); a bad BCC or an
impossible length is reported and framing goes on. Both editions may share one stream.
"""

from __future__ import annotations

import re

from . import errors
from .codec import HEADER_SIZE, MAX_BODY, bcc
from .messages import EDITION_OF_START

_START = re.compile(rb"##|\$\$")
DEFAULT_MAX_BUFFER = HEADER_SIZE + MAX_BODY + 1


class Framer:
    """Cuts a GB/T 32960 byte stream into frames; never raises on bad input."""

    def __init__(self, max_frame: int = DEFAULT_MAX_BUFFER) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self.max_frame = max_frame
        self.frames = 0
        self.errors = 0
        self.skipped = 0

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame (bounded by `max_frame`)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes | errors.ProtocolError]:
        buf = self._buf
        buf += data
        out: list[bytes | errors.ProtocolError] = []
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            if buf[pos] != buf[pos + 1] or buf[pos] not in (0x23, 0x24):
                m = _START.search(buf, pos + 1)
                nxt = m.start() if m else (n - 1 if buf[n - 1] in (0x23, 0x24) else n)
                self._skip(out, pos, nxt)
                pos = nxt
                continue
            if n - pos < HEADER_SIZE:
                if n - pos >= 3 and buf[pos + 2] == buf[pos]:
                    self._skip(out, pos, pos + 1)
                    pos += 1
                    continue
                break
            if buf[pos + 2] == buf[pos]:
                # "###": commands 0x23/0x24 are reserved, so the frame starts one byte later
                self._skip(out, pos, pos + 1)
                pos += 1
                continue
            length = buf[pos + 22] << 8 | buf[pos + 23]
            if length > MAX_BODY:
                out.append(errors.LengthOverflow(f"data-unit length {length} exceeds {MAX_BODY}",
                                                 offset=self._base + pos + 22, path="header.length"))
                self.errors += 1
                pos = self._resync(buf, pos)
                continue
            end = pos + HEADER_SIZE + length + 1
            if end > n:
                break
            if bcc(memoryview(buf)[pos + 2:end - 1]) != buf[end - 1]:
                out.append(errors.BadChecksum(
                    f"BCC 0x{buf[end - 1]:02X} does not match the frame starting here "
                    f"({EDITION_OF_START.get(bytes(buf[pos:pos + 2]))} edition, {end - pos} bytes)",
                    offset=self._base + pos, path="bcc"))
                self.errors += 1
                # Trust the length only when a start symbol follows it; otherwise look inside.
                pos = end if end + 2 <= n and buf[end] == buf[end + 1] and buf[end] in (0x23, 0x24) \
                    else self._resync(buf, pos)
                continue
            out.append(bytes(buf[pos:end]))
            self.frames += 1
            pos = end
        del buf[:pos]
        self._base += pos
        if len(buf) > self.max_frame:
            # cannot happen for a well-formed stream: a frame is at most 65556 bytes
            out.append(errors.LengthMismatch(f"{len(buf)} bytes buffered without a frame; dropped",
                                             offset=self._base, path="stream"))
            self.errors += 1
            self._base += len(buf)
            buf.clear()
        return out

    def _skip(self, out: list, start: int, end: int) -> None:
        if end <= start:
            return
        self.skipped += end - start
        last = out[-1] if out else None
        if isinstance(last, errors.GarbageSkipped) and (last.offset or 0) + last.count == self._base + start:
            last.grow(end - start)  # one report per run of garbage
            return
        out.append(errors.GarbageSkipped(end - start, offset=self._base + start))
        self.errors += 1

    @staticmethod
    def _resync(buf: bytearray, pos: int) -> int:
        m = _START.search(buf, pos + 1)
        return m.start() if m else len(buf) - 1 if buf[-1] in (0x23, 0x24) else len(buf)

    def close(self) -> list[errors.ProtocolError]:
        """End of stream: whatever is still buffered is an incomplete frame."""
        if not self._buf:
            return []
        err = errors.Truncated(f"stream ended inside a frame ({len(self._buf)} bytes buffered)",
                               offset=self._base, path="stream")
        self._base += len(self._buf)
        self._buf.clear()
        self.errors += 1
        return [err]
