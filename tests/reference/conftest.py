"""Fixtures for the reference platforms' integration tests: a trio on loopback, raw vehicle clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.protocol.codec import Frame, decode, encode
from harness.protocol.framer import Framer
from harness.protocol.schema import Timestamp
from harness.protocol.timers import Timers
from reference_impl.config import Vehicle
from reference_impl.embedded import start_trio

FAST = Timers(tick=0.02, response_timeout=0.25, control_resend=0.25, platform_login_retry=0.3, login_backoff=1.5,
              idle_timeout=1.5, data_resend=0.25, heartbeat=0.2, report_period=0.2)

PUBLIC = "LPUBLIC0000000001"
PUBLIC_OTHER_REGION = "LPUBLIC0000000002"
PRIVATE = "LPRIVATE000000001"
VEHICLES = [Vehicle(PUBLIC, True, "110000"), Vehicle(PUBLIC_OTHER_REGION, True, "310000"),
            Vehicle(PRIVATE, False, "110000")]


def vehicle_body(edition: int = 2016, soc: int = 80, speed: int = 600) -> dict:
    body = {"vehicle_state": 1, "charge_state": 3, "run_mode": 1, "speed": speed, "odometer": 123456,
            "total_voltage": 3500, "total_current": 10100 if edition == 2016 else 30100, "soc": soc,
            "dcdc_state": 1, "gear": 0x2E, "insulation_resistance": 5000}
    if edition == 2016:
        body |= {"accelerator_pedal": 10, "brake_pedal": 0}
    return body


# collection times near now: the platform drops backlog older than the 7-day reissue window
BASE = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0, tzinfo=None)


def realtime(vin: str, second: int, edition: int = 2016, command: int = 0x02, **kw: Any) -> bytes:
    t = Timestamp.from_datetime(BASE + dt.timedelta(seconds=second))
    return encode(Frame(command, vin=vin, edition=edition,
                        body={"time": t, "items": [{"type": 1, "data": vehicle_body(edition, **kw)}]}))


def alarm_realtime(vin: str, second: int, level: int) -> bytes:
    """A 2016 real-time frame with the vehicle item and an alarm item of `level`."""
    t = Timestamp.from_datetime(BASE + dt.timedelta(seconds=second))
    alarm = {"max_level": level, "flags": 1 << 1, "ress_fault_codes": [], "motor_fault_codes": [],
             "engine_fault_codes": [], "other_fault_codes": []}
    items = [{"type": 1, "data": vehicle_body(2016)}, {"type": 7, "data": alarm}]
    return encode(Frame(0x02, vin=vin, body={"time": t, "items": items}))


def login(vin: str, serial: int = 1, edition: int = 2016) -> bytes:
    t = Timestamp.from_datetime(BASE)
    if edition == 2016:
        body = {"time": t, "serial": serial, "iccid": "89860318342004278077", "code_length": 0, "subsystem_codes": []}
    else:
        body = {"time": t, "serial": serial, "iccid": "89860318342004278077", "packs_per_bms": [], "pack_codes": []}
    return encode(Frame(0x01, vin=vin, edition=edition, body=body))


class Client:
    """A raw TCP vehicle: sends bytes, reads whole frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer()
        self.inbox: list[bytes] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self, timeout: float = 2.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame")
            chunk = await asyncio.wait_for(self.reader.read(65536), left)
            if not chunk:
                raise ConnectionError("closed by the platform")
            self.inbox += [f for f in self.framer.feed(chunk) if isinstance(f, bytes)]
        return decode(self.inbox.pop(0))

    async def nothing_for(self, seconds: float) -> bool:
        """True when no frame arrives within `seconds`."""
        try:
            await self.frame(seconds)
        except TimeoutError:
            return True
        return False

    async def closed_within(self, seconds: float) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(65536), seconds) == b""
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()


async def until(predicate: Callable[[], bool], timeout: float = 3.0, step: float = 0.02) -> bool:
    """Poll a condition on the event loop (the platforms run in it) until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


@pytest.fixture
async def trio(tmp_path, request):
    defects = getattr(request, "param", frozenset())
    t = await start_trio(tmp_path, VEHICLES, timers=FAST, defects=frozenset(defects))
    ent = t.enterprise.core
    await until(lambda: all(u.state == "online" for u in ent.uplinks.values()))
    yield t
    await t.stop()
