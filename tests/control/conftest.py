"""Fixtures for the control API tests: the reference trio with control ports, and async clients."""

from __future__ import annotations

import pytest

from harness.control import AsyncControlClient
from reference_impl.embedded import start_trio

from ..reference.conftest import FAST, VEHICLES, until


@pytest.fixture
async def trio(tmp_path):
    t = await start_trio(tmp_path, VEHICLES, timers=FAST, control_port=0)
    await until(lambda: all(u.state == "online" for u in t.enterprise.core.uplinks.values()))
    yield t
    await t.stop()


@pytest.fixture
async def ent(trio):
    async with AsyncControlClient(f"127.0.0.1:{trio.enterprise.control_port}", timeout=10) as c:
        yield c


@pytest.fixture
async def national(trio):
    async with AsyncControlClient(f"127.0.0.1:{trio.national.control_port}", timeout=10) as c:
        yield c
