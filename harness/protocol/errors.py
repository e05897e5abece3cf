"""One exception family for everything the protocol library rejects.

Every error names the byte offset (from the first byte of the frame, or of the stream for the
framer), the field path (``realtime.items[3].data.packs[0].cell_voltages[17]``) and the clause, so
the message alone lets a user find the byte. `response_flag` is the flag a platform answers with.
"""

from __future__ import annotations

from dataclasses import dataclass


class ProtocolError(Exception):
    """Base of every typed protocol error."""

    clause = "6.2 T2"
    # Response flag a receiver answers with (2016 has only 0x02; 2025 refines it).
    response_flag = {2016: 0x02, 2025: 0x06}

    def __init__(self, message: str, *, offset: int | None = None, path: str = "", clause: str | None = None,
                 edition: int | None = None) -> None:
        self.message = message
        self.offset = offset
        self.path = path
        self.edition = edition
        if clause is not None:
            self.clause = clause
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset is not None else ""
        field = f" in {self.path}" if self.path else ""
        return f"{self.message}{where}{field} [{self.clause}]"

    def flag(self, edition: int) -> int:
        return self.response_flag[edition]

    def shifted(self, delta: int) -> ProtocolError:
        """The same error with its offset moved, e.g. from data-unit to frame or stream offsets."""
        if self.offset is not None:
            self.offset += delta
        self.args = (str(self),)
        return self


# ---- framing: the start symbol, length and check code (the receiver cannot trust the frame)
class FramingError(ProtocolError):
    pass


class BadStartSymbol(FramingError):
    pass


class GarbageSkipped(BadStartSymbol):
    """Bytes before or between frames that do not start with '##' or '$$'."""

    def __init__(self, count: int, *, offset: int) -> None:
        self.count = count
        super().__init__(self._text(count), offset=offset, path="stream")

    @staticmethod
    def _text(count: int) -> str:
        return f"{count} byte(s) of garbage skipped before the next start symbol"

    def grow(self, more: int) -> None:
        self.count += more
        self.message = self._text(self.count)
        self.args = (str(self),)


class LengthOverflow(FramingError):
    """The data-unit length exceeds 65531 (spec §1)."""


class LengthMismatch(FramingError):
    """The data-unit length disagrees with the bytes present."""


class BadChecksum(FramingError):
    """The BCC is not the XOR of bytes 2 … last data-unit byte."""

    response_flag = {2016: 0x02, 2025: 0x02}


# ---- header
class BadEncryption(ProtocolError):
    """The encryption byte is reserved for this edition."""

    response_flag = {2016: 0x02, 2025: 0x07}


class BadVin(ProtocolError):
    """The unique id is not a 17-character VIN where one is required."""

    response_flag = {2016: 0x02, 2025: 0x04}


# ---- data unit
class BodyError(ProtocolError):
    pass


class Truncated(BodyError):
    """The data unit ends before the field."""


class TrailingBytes(BodyError):
    """Bytes remain after the last field of a fixed-layout data unit."""


class UnknownInfoType(BodyError):
    """An information type with no length prefix that the edition does not define."""


class UnknownParameter(BodyError):
    """A parameter id whose width the edition does not define."""


class EncodeError(ProtocolError):
    """A value cannot be encoded in its field."""


@dataclass(frozen=True)
class Finding:
    """A strict-mode observation that does not stop decoding (e.g. SOC 101 %)."""

    offset: int
    path: str
    message: str
    clause: str = ""

    def __str__(self) -> str:
        return f"{self.message} at byte {self.offset} in {self.path} [{self.clause}]"
