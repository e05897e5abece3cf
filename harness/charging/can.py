"""CAN frames of GB/T 27930: 29-bit J1939 identifiers, PDU1 only, fixed addresses.

`ID = P<<26 | R<<25 | DP<<24 | PF<<16 | PS<<8 | SA`, PS = destination (spec gbt27930.md §1).
`Frame` is the light value the state machines pass around; `to_scapy`/`from_scapy` give scapy's
CAN layer for crafting and dissecting.
"""

from __future__ import annotations

from typing import NamedTuple

from scapy.layers.can import CAN

CHARGER = 0x56
BMS = 0xF4
PGN_TP_CM = 0xEC00
PGN_TP_DT = 0xEB00


class Frame(NamedTuple):
    """One CAN frame: 29-bit identifier and data (the DLC is the data's length)."""

    can_id: int
    data: bytes

    @property
    def priority(self) -> int:
        return (self.can_id >> 26) & 0x7

    @property
    def pgn(self) -> int:
        return ((self.can_id >> 8) & 0x3FF00)  # PDU1: the PS byte is the destination, not part of the PGN

    @property
    def dst(self) -> int:
        return (self.can_id >> 8) & 0xFF

    @property
    def src(self) -> int:
        return self.can_id & 0xFF

    def __str__(self) -> str:
        return f"{self.can_id:08X}#{self.data.hex().upper()}"


def can_id(priority: int, pgn: int, dst: int, src: int) -> int:
    """The 29-bit identifier of a PDU1 message (the PGN's low byte is always 00 in GB/T 27930)."""
    if not 0 <= priority <= 7:
        raise ValueError(f"priority {priority} outside 0..7")
    return (priority << 26) | ((pgn & 0x3FF00) << 8) | (dst << 8) | src


def to_scapy(frame: Frame) -> CAN:
    """scapy's CAN layer for a frame (extended id flag set)."""
    return CAN(flags="extended", identifier=frame.can_id, length=len(frame.data), data=frame.data)


def from_scapy(pkt: CAN) -> Frame:
    return Frame(int(pkt.identifier), bytes(pkt.data)[: int(pkt.length)])


def candump_line(at: float, frame: Frame, channel: str = "vcan0") -> str:
    """One line of a candump -l log: `(timestamp) channel ID#DATA`."""
    return f"({at:.6f}) {channel} {frame}"


def parse_candump_line(line: str) -> tuple[float, Frame]:
    """The inverse of `candump_line`; raises ValueError on anything else."""
    parts = line.split()
    if len(parts) < 3 or not parts[0].startswith("(") or "#" not in parts[2]:
        raise ValueError(f"not a candump line: {line!r}")
    ident, _, data = parts[2].partition("#")
    return float(parts[0].strip("()")), Frame(int(ident, 16), bytes.fromhex(data))
