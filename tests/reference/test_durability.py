"""The forwarding queue survives kill -9 of the enterprise platform (a real subprocess)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import sys

import pytest

from reference_impl.config import Account, PlatformConfig
from reference_impl.embedded import CREDENTIALS, ENTERPRISE_ID, start_platform

from .conftest import FAST, PUBLIC, Client, login, realtime, until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start_enterprise(config_path: str, defects: list[str]) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "reference_impl", "enterprise", "--config", config_path]
    for d in defects:
        args += ["--defect", d]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert b"listening" in line, line
    return proc


def _queue_depth(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0]


async def _queue_survives(tmp_path, restart_defects: list[str]) -> int:
    """Frames queued while the local platform is down, then kill -9, restart, heal: how many arrive."""
    local_port, ent_port = _free_port(), _free_port()
    db = str(tmp_path / "enterprise.sqlite")
    cfg = {
        "name": ENTERPRISE_ID, "listen": f"127.0.0.1:{ent_port}", "storage": db,
        "vehicles": [{"vin": PUBLIC, "public_service": True, "region": "110000"}],
        "upstreams": [{"name": "local-110000", "host": "127.0.0.1", "port": local_port, "role": "local",
                       "region": "110000", "platform_id": ENTERPRISE_ID, "username": CREDENTIALS[0],
                       "password": CREDENTIALS[1]}],
        "timers": {k: v for k, v in dataclasses.asdict(FAST).items()},
    }
    path = tmp_path / "enterprise.json"
    path.write_text(json.dumps(cfg))
    proc = await _start_enterprise(str(path), [])
    try:
        c = await Client.connect(ent_port)
        await c.send(login(PUBLIC))
        assert (await c.frame()).ack == 0x01
        for s in range(10):
            await c.send(realtime(PUBLIC, s))
        assert await until(lambda: _queue_depth(db) == 10, timeout=5), "frames were not queued durably"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    local = await start_platform(PlatformConfig(
        role="local", name="LOCAL-110000", listen=f"127.0.0.1:{local_port}", storage=str(tmp_path / "local.sqlite"),
        timers=FAST, accounts={ENTERPRISE_ID: Account(ENTERPRISE_ID, *CREDENTIALS)}))
    proc = await _start_enterprise(str(path), restart_defects)
    try:
        await until(lambda: local.core.store.count(command=0x03) >= 10, timeout=5)
        await asyncio.sleep(FAST.report_period)
        return local.core.store.count(command=0x03)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await local.stop()
        local.core.store.close()


async def test_queue_survives_kill_9(tmp_path):
    assert await _queue_survives(tmp_path, []) == 10


async def test_lose_queue_on_restart_switch_is_caught(tmp_path):
    with pytest.raises(AssertionError):
        assert await _queue_survives(tmp_path, ["lose-queue-on-restart"]) == 10
