"""The gevent driver's scale mechanics: one shared timer wheel, sends that never wait."""

from __future__ import annotations

import time

import gevent
import gevent.server
import gevent.socket

from harness.protocol.timers import Timers
from harness.terminal.fleet import calendar_epoch, make_iccid, make_vin
from harness.terminal.generator import Generator
from harness.terminal.gevent_driver import GeventTerminal, Wheel, shared_wheel
from harness.terminal.machine import Terminal


def _terminal(i: int, port: int, timers: Timers) -> Terminal:
    return Terminal(make_vin(i), 2016, timers, Generator(i, alarm_rate=0), iccid=make_iccid(i), host="127.0.0.1",
                    port=port, epoch=calendar_epoch(time.monotonic()), sample_period=0.2)


def test_terminals_share_one_wheel_and_tick_on_time_without_a_greenlet_each():
    # a platform that accepts and never answers: the terminals only connect, log in and sample
    server = gevent.server.StreamServer(("127.0.0.1", 0), lambda sock, addr: gevent.sleep(5))
    server.start()
    try:
        wheel = Wheel(tick=0.01)
        timers = Timers().with_(response_timeout=30.0)
        drivers = [GeventTerminal(_terminal(i, server.server_port, timers), wheel=wheel) for i in range(30)]
        for d in drivers:
            d.start()
        gevent.sleep(1.1)
        samples = [d.terminal.gen._seq for d in drivers]
        assert wheel.counters["drivers"] == 30
        assert all(len([g for g in d._greenlets if not g.dead]) == 1 for d in drivers)  # the link reader only
        assert all(s >= 4 for s in samples), samples  # sampled every 0.2 s through the wheel
        assert wheel.counters["fires"] <= 1.2 / wheel.tick  # at most once per tick, not once per terminal
        for d in drivers:
            d.stop(logout=False)
        assert wheel.counters["drivers"] == 0
    finally:
        server.stop()
    assert shared_wheel() is shared_wheel()


def test_a_full_socket_buffer_queues_the_rest_in_order_and_reports_each_frame_once_written():
    accepted: list = []
    server = gevent.server.StreamServer(("127.0.0.1", 0), lambda sock, addr: (accepted.append(sock),
                                                                              gevent.sleep(30)))
    server.start()
    try:
        sent: list[bytes] = []
        term = _terminal(1, server.server_port, Timers())
        driver = GeventTerminal(term, on_send=lambda link, data: sent.append(data), wheel=Wheel())
        sock = gevent.socket.create_connection(("127.0.0.1", server.server_port))
        driver._socks["main"] = sock
        frames = [bytes([i % 251]) * 65536 for i in range(64)]  # 4 MB: more than the socket buffers hold
        for f in frames:
            driver._write("main", f)  # returns at once, never waits
        assert driver.counters["send_queued"] == 1 and len(sent) < len(frames)
        gevent.sleep(0.05)
        while not accepted:
            gevent.sleep(0.01)
        peer = accepted[0]
        got = bytearray()
        while len(got) < sum(map(len, frames)):
            got += peer.recv(1 << 20)
        gevent.sleep(0.05)
        assert bytes(got) == b"".join(frames)  # in order, nothing lost or doubled
        assert sent == frames  # each frame reported once, when all of it was written
        sock.close()
    finally:
        server.stop()
