"""The declarative description of GB/T 32960.3 data units.

Nodes here are pure data. The fast codec (`codec`), the byte walker that explains frames and
locates errors (`explain`), the JSON view (`jsonview`), the scapy layers (`layers`), the hypothesis
strategies (`strategies`) and the field tables in `docs/` are all derived from these nodes.

A decoded value is plain Python: a dict per `Struct`, an int per `Scalar` (raw, never scaled), a
`Timestamp` per `Time`, a str per `Str`, bytes per `Raw`, a list per `List`. Physical values come
from `Scalar.physical`, so the hot path never scales anything.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

FMT_SIZE = {"B": 1, "H": 2, "I": 4}
# Sentinel raw values by width (spec §4): the top two codes mean abnormal and invalid.
ABNORMAL = {"B": 0xFE, "H": 0xFFFE, "I": 0xFFFFFFFE}
INVALID = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}


class Timestamp(NamedTuple):
    """The 6-byte collection time YY MM DD hh mm ss, kept raw so that any bytes round-trip."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int

    def to_datetime(self) -> _dt.datetime:
        """GMT+8 wall-clock time; raises ValueError when the bytes are not a calendar time."""
        return _dt.datetime(2000 + self.year, self.month, self.day, self.hour, self.minute, self.second)

    @classmethod
    def from_datetime(cls, when: _dt.datetime) -> Timestamp:
        return cls(when.year - 2000, when.month, when.day, when.hour, when.minute, when.second)

    def __str__(self) -> str:
        try:
            return self.to_datetime().isoformat(sep=" ")
        except ValueError:
            return "invalid-time(" + bytes(self).hex() + ")"


class Sentinel(int):
    """A count or value that carries 0xFE… (abnormal) or 0xFF… (invalid) instead of a number."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return "invalid" if int(self) in INVALID.values() else "abnormal"

    def __repr__(self) -> str:
        return f"Sentinel({self.kind}, 0x{int(self):X})"


class Node:
    """Base of every description node."""

    name: str

    @property
    def size(self) -> int | None:
        """Fixed encoded size in bytes, or None when it depends on the data."""
        return None


@dataclass(frozen=True, eq=False)
class Scalar(Node):
    """An unsigned big-endian integer: BYTE (B), WORD (H) or DWORD (I).

    phys = raw * scale - offset. `lo`/`hi` bound the raw value (strict mode reports values outside).
    `sentinels=False` for the few fields where 0xFE/0xFF are ordinary values.
    """

    name: str
    fmt: str = "B"
    unit: str = ""
    scale: float = 1
    offset: float = 0
    lo: int | None = None
    hi: int | None = None
    sentinels: bool = True
    enum: dict[int, str] | None = None
    bits: dict[int, str] | None = None
    doc: str = ""

    @property
    def size(self) -> int:
        return FMT_SIZE[self.fmt]

    def sentinel(self, raw: int) -> str | None:
        if not self.sentinels:
            return None
        if raw == INVALID[self.fmt]:
            return "invalid"
        if raw == ABNORMAL[self.fmt]:
            return "abnormal"
        return None

    def physical(self, raw: int) -> float | int | str:
        """The physical value, or the sentinel's name; never a number for a sentinel."""
        kind = self.sentinel(raw)
        if kind:
            return kind
        if self.scale == 1 and self.offset == 0:
            return raw
        value = raw * self.scale - self.offset
        return round(value, _decimals(self.scale))

    def raw_from_physical(self, value: float) -> int:
        if self.scale == 1 and self.offset == 0:
            return int(value)
        return int(round((value + self.offset) / self.scale))

    def in_range(self, raw: int) -> bool:
        if self.sentinel(raw):
            return True
        return (self.lo is None or raw >= self.lo) and (self.hi is None or raw <= self.hi)

    def range_text(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        lo = self.physical(self.lo) if self.lo is not None else ""
        hi = self.physical(self.hi) if self.hi is not None else ""
        return f"{lo}…{hi} {self.unit}".strip()


def _decimals(scale: float) -> int:
    """Decimal places of a resolution (0.1 -> 1, 1e-06 -> 6, 1 -> 0)."""
    exponent = Decimal(repr(scale)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, eq=False)
class Time(Node):
    name: str = "time"
    doc: str = "collection time YY MM DD hh mm ss, GMT+8"

    @property
    def size(self) -> int:
        return 6


@dataclass(frozen=True, eq=False)
class Str(Node):
    """A STRING: fixed width (`length`), width from an earlier field (`length_ref`), or the rest
    of the data unit (both None). Kept byte-exact: padding is part of the value."""

    name: str
    length: int | None = None
    length_ref: str | None = None
    doc: str = ""

    @property
    def size(self) -> int | None:
        return self.length


@dataclass(frozen=True, eq=False)
class Raw(Node):
    """BYTE[n]: fixed (`length`), from an earlier field (`length_ref`), or the rest (both None)."""

    name: str
    length: int | None = None
    length_ref: str | None = None
    doc: str = ""

    @property
    def size(self) -> int | None:
        return self.length


@dataclass(frozen=True, eq=False)
class Count(Node):
    """A count field whose value is the length of a later `List` (filled in on encode)."""

    name: str
    fmt: str = "B"
    lo: int | None = None
    hi: int | None = None
    doc: str = ""

    @property
    def size(self) -> int:
        return FMT_SIZE[self.fmt]


@dataclass(frozen=True, eq=False)
class List(Node):
    """`count` items of `item`. `count` names an earlier `Count` (a sentinel count means no items,
    and the list's value is then a `Sentinel`)."""

    name: str
    item: Node
    count: str
    doc: str = ""


@dataclass(frozen=True, eq=False)
class Struct(Node):
    name: str
    fields: tuple[Node, ...]
    doc: str = ""
    clause: str = ""

    @property
    def size(self) -> int | None:
        total = 0
        for f in self.fields:
            s = f.size
            if s is None:
                return None
            total += s
        return total


@dataclass(frozen=True, eq=False)
class InfoTypes(Node):
    """The real-time/reissue item sequence: (type BYTE + body) until the end of the data unit.

    `known` maps a type code to its body; `custom` is the range whose bodies carry a WORD length
    (user-defined, 0x80–0xFE); `signature` (2025) is the type code after which the signature block
    follows and ends the unit. Any other code stops the parse: it has no length to skip by.
    """

    name: str
    known: dict[int, Struct]
    custom: range
    signature_code: int | None = None
    signature: Struct | None = None
    doc: str = ""


@dataclass(frozen=True, eq=False)
class Params(Node):
    """A parameter list (id BYTE + value) where a value's width may come from an earlier item."""

    name: str
    table: dict[int, Node]
    count: str
    # id of a length-carrying parameter -> id of the parameter whose length it gives
    length_of: dict[int, int] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True, eq=False)
class Switch(Node):
    """A body chosen by an earlier BYTE field (`on`); codes not in `cases` take `default`."""

    name: str
    on: str
    cases: dict[int, Node]
    default: Node
    doc: str = ""

