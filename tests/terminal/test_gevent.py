"""The gevent driver: the same terminal over gevent sockets; a clear error without gevent."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time

import pytest

from harness.protocol.timers import Timers
from harness.terminal.fleet import calendar_epoch, make_iccid, make_vin
from harness.terminal.generator import Generator
from harness.terminal.machine import Terminal

from .stub_platform import StubPlatform

K = 60


def test_module_raises_a_clear_import_error_without_gevent(monkeypatch):
    monkeypatch.setitem(sys.modules, "gevent", None)  # makes `import gevent` fail
    monkeypatch.delitem(sys.modules, "harness.terminal.gevent_driver", raising=False)
    with pytest.raises(ImportError, match="pip install gevent"):
        importlib.import_module("harness.terminal.gevent_driver")
    monkeypatch.delitem(sys.modules, "harness.terminal.gevent_driver", raising=False)


class _PlatformThread:
    """The asyncio stub platform on its own OS thread (gevent runs in this one, unpatched)."""

    def __init__(self) -> None:
        self.platform = StubPlatform()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.port = self.loop.run_until_complete(self.platform.start())
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> _PlatformThread:
        self.thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.platform.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_gevent_terminals_log_in_report_and_log_out():
    import gevent  # a dev dependency: the driver is tested, never skipped

    from harness.terminal.gevent_driver import GeventTerminal

    timers = Timers().compressed(K)
    with _PlatformThread() as pt:
        epoch = calendar_epoch(time.monotonic(), 1 / K)
        sent = []
        runners = []
        for i in range(20):
            term = Terminal(make_vin(i), 2016 if i % 2 else 2025, timers, Generator(i, alarm_rate=0),
                            iccid=make_iccid(i), host="127.0.0.1", port=pt.port, time_scale=1 / K, epoch=epoch)
            runner = GeventTerminal(term, on_send=lambda link, data: sent.append(data[2]))
            runner.start()
            runners.append(runner)
        gevent.sleep(1.2)
        online = sum(r.online for r in runners)
        for r in runners:
            r.stop()
        time.sleep(0.2)
        frames = dict(pt.platform.frames)
        logged_in = len(pt.platform.logged_in)
    assert online == 20 and logged_in == 20
    assert frames[0x02] >= 20 * 5 and frames[0x07] >= 20
    assert frames[0x04] == 20, "stop logs out"
    assert sent.count(0x02) == frames[0x02]
