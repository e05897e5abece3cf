"""Platform-custom commands for the national platform's duties (notice 1.2/c, 1.2/d).

GB/T 32960 defines no procedure for a spot check or a real-time data call; it reserves 0xC0–0xFE
for platform-exchange custom data. This project uses three codes there, declared with the same
node types as the standard's messages (layout in docs/datacall.md):

- 0xC0 data call (national → enterprise): the named vehicles' real-time data is streamed to the
  caller for `duration` seconds. The answer (flag 0x01, or 0x02 when any VIN is unknown) lists a
  status per VIN.
- 0xC1 spot check (national → enterprise): the latest real-time data unit of one vehicle. The
  answer carries it (flag 0x01), or flag 0x02 with an empty unit when the vehicle has no data.
- 0xC2 end a data call early.
"""

from __future__ import annotations

from typing import Any

from .codec import decode_unit
from .compiler import encoder
from .schema import Count, List, Raw, Scalar, Str, Struct, Time

DATA_CALL = 0xC0
SPOT_CHECK = 0xC1
END_CALL = 0xC2

CALL_STATUS = {1: "accepted", 2: "unknown_vin", 3: "not_permitted"}

BODIES: dict[tuple[int, bool], Struct] = {
    (DATA_CALL, False): Struct("data_call", (
        Time(), Scalar("call_id", "H"), Scalar("duration", "H", unit="s", lo=1, hi=65531),
        Count("count", lo=1, hi=250), List("vins", Str("vin", 17), "count"),
    ), clause="project: docs/datacall.md"),
    (DATA_CALL, True): Struct("data_call_answer", (
        Time(), Scalar("call_id", "H"), Count("count"),
        List("results", Struct("result", (Str("vin", 17), Scalar("status", enum=CALL_STATUS))), "count"),
    ), clause="project: docs/datacall.md"),
    (SPOT_CHECK, False): Struct("spot_check", (Time(), Str("vin", 17)), clause="project: docs/datacall.md"),
    (SPOT_CHECK, True): Struct("spot_check_answer", (Time(), Str("vin", 17), Raw("latest")),
                               clause="project: docs/datacall.md"),
    (END_CALL, False): Struct("end_call", (Time(), Scalar("call_id", "H")), clause="project: docs/datacall.md"),
    (END_CALL, True): Struct("end_call_answer", (Time(), Scalar("call_id", "H")), clause="project: docs/datacall.md"),
}


def encode_body(command: int, response: bool, value: dict[str, Any]) -> bytes:
    out = bytearray()
    encoder(BODIES[(command, response)])(value, out)
    return bytes(out)


def decode_body(command: int, response: bool, body: bytes) -> dict[str, Any]:
    """Decode a custom unit; errors are typed and count offsets from the data unit."""
    return decode_unit((BODIES[(command, response)],), body)
