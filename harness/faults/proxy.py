"""The asyncio driver of the fault proxy: listeners, connections, timers and evidence around the engine.

One `FaultProxy` holds named links; each `ProxyLink` listens on a port and forwards every accepted
connection to its target. Each connection runs one `DirectionEngine` per direction and performs its actions:
writes at their time (one timer per direction), discards and resets, all recorded in the proxy's
`EvidenceLog`. Connection and link faults (drop now, refuse, half-open, partition) are performed here.
The proxy only needs host:port pairs, so parties may run in this process, as subprocesses or in containers;
it listens and connects only on loopback unless the run allows other hosts (containers it made).
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import json
import logging
import socket
import struct
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from .engine import Cut, Discard, Send
from .engine import DirectionEngine as Engine
from .evidence import ConnInfo, EvidenceLog
from .model import (
    ACTIVE,
    CLEARED,
    DONE,
    EXPIRED,
    FLOWS,
    TO_CLIENT,
    TO_TARGET,
    Fault,
    FaultError,
    FaultSpec,
    FaultTable,
)

log = logging.getLogger("harness.faults")

__all__ = ["Connection", "FaultProxy", "LinkExists", "NotAllowed", "ProxyLink", "UnknownLink"]

QUEUE_HIGH = 1 << 20  # bytes waiting in a direction's schedule before the sender is paused
QUEUE_LOW = 1 << 18
_EARLY = 0.0005  # a delivery due within this is written now (timer granularity)


class UnknownLink(LookupError):
    """No link of that name."""


class LinkExists(ValueError):
    """A link of that name exists already."""


class NotAllowed(PermissionError):
    """A host the proxy may not listen on or connect to (only loopback and what the run allowed)."""


def _rst(transport: asyncio.Transport | None) -> None:
    """Abort with RST (SO_LINGER 0), not FIN: what a reset looks like on the wire."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: the client's (accepted) or the target's (connected)."""

    def __init__(self, link: ProxyLink, role: str, conn: Connection | None = None) -> None:
        self.link = link
        self.role = role
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.role == "client":
            self.conn = self.link._accepted(transport)
        elif self.conn is not None:
            self.conn._target_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.received(self.role, data)

    def eof_received(self) -> bool:
        if self.conn is not None:
            self.conn.eof(self.role)
        return True  # keep the other direction open: EOF is passed on, not turned into a close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.lost(self.role, exc)

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn._pause(_other(self.role), "buffer", True)

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn._pause(_other(self.role), "buffer", False)


def _label_undelivered(action: str) -> str:
    return "undelivered" if action == "passed" else f"{action}+undelivered"


def _other(role: str) -> str:
    return "target" if role == "client" else "client"


def _flow_from(role: str) -> str:
    return TO_TARGET if role == "client" else TO_CLIENT


class _Out:
    """Deliveries of one direction, written in time order (ties in the order they were scheduled)."""

    def __init__(self, conn: Connection, flow: str) -> None:
        self.conn = conn
        self.flow = flow
        self.to_role = "target" if flow == TO_TARGET else "client"
        self.heap: list[tuple[float, int, Send | Cut]] = []
        self.seq = 0
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.tick_timer: asyncio.TimerHandle | None = None
        self.tick_at = 0.0
        self.eof_after = False  # pass EOF on once everything queued is written
        self.close_after = False  # close the receiving side once everything queued is written

    def submit(self, actions: list[Send | Discard | Cut]) -> None:
        c = self.conn
        for a in actions:
            if isinstance(a, Discard):
                c.record("discard", self.flow, a.action, a.data, a.faults, a.detail)
            else:
                self.seq += 1
                heapq.heappush(self.heap, (a.at, self.seq, a))
                if isinstance(a, Send):
                    self.queued += len(a.data)
        self.run()

    def run(self) -> None:
        c = self.conn
        if c.done:
            return
        now = c.loop.time()
        heap = self.heap
        while heap and heap[0][0] <= now + _EARLY:
            _, _, a = heapq.heappop(heap)
            if isinstance(a, Cut):
                c.reset(a.detail, a.faults)
                return
            self.queued -= len(a.data)
            c.write(self.flow, self.to_role, a.data, a.action, a.faults, a.detail)
        if heap:
            at = heap[0][0]
            if self.timer is None or at < self.timer_at - _EARLY or self.timer.cancelled():
                if self.timer is not None:
                    self.timer.cancel()
                self.timer_at = at
                self.timer = c.loop.call_at(at, self._fire)
        c._pause(_other(self.to_role), "queue", self.queued > QUEUE_HIGH or (
            self.queued > QUEUE_LOW and "queue" in c.pauses[_other(self.to_role)]))
        self.arm_tick()
        if not heap:
            if self.close_after:
                self.close_after = False
                c.close_side(self.to_role, "the other side closed")
            elif self.eof_after:
                self.eof_after = False
                c.pass_eof(self.to_role)

    def _fire(self) -> None:
        self.timer = None
        self.run()

    def arm_tick(self) -> None:
        c = self.conn
        deadline = c.engines[self.flow].deadline()
        if deadline is None:
            return
        if self.tick_timer is not None and not self.tick_timer.cancelled() and self.tick_at <= deadline + _EARLY:
            return
        if self.tick_timer is not None:
            self.tick_timer.cancel()
        self.tick_at = deadline
        self.tick_timer = c.loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self.tick_timer = None
        c = self.conn
        if not c.done:
            self.submit(c.engines[self.flow].tick(c.loop.time()))

    def cancel(self) -> None:
        for t in (self.timer, self.tick_timer):
            if t is not None:
                t.cancel()
        self.heap.clear()
        self.queued = 0


class Connection:
    """One proxied connection: the client's socket, the target's socket, an engine and a schedule per direction."""

    def __init__(self, link: ProxyLink, cid: int, client: asyncio.Transport) -> None:
        self.link = link
        self.id = cid
        self.loop = link.loop
        self.evidence = link.proxy.evidence
        self.transports: dict[str, asyncio.Transport | None] = {"client": client, "target": None}
        self.engines = {flow: Engine(link.table, flow, hold=link.proxy.hold) for flow in FLOWS}
        self.outs = {flow: _Out(self, flow) for flow in FLOWS}
        self.closed = {"client": False, "target": False}
        self.eofs = {"client": False, "target": False}
        self.pauses: dict[str, set[str]] = {"client": set(), "target": set()}
        self.paused = {"client": False, "target": False}
        self.half_open: Fault | None = None
        self.dead: str | None = None  # the side a half-open fault closed
        self.done = False
        self.connect_task: asyncio.Task | None = None
        self.info = ConnInfo(link.name, _address(client.get_extra_info("peername")),
                             _address(client.get_extra_info("sockname")))
        self.evidence.conns[cid] = self.info

    # ------------------------------------------------------------------ evidence
    def record(self, kind: str, flow: str, action: str, raw: bytes = b"", faults: tuple[int, ...] = (),
               detail: str = "") -> None:
        self.evidence.add(self.link.name, self.id, kind, flow, action, raw, faults, detail)

    def event(self, action: str, detail: str = "", faults: tuple[int, ...] = ()) -> None:
        self.record("event", "", action, b"", faults, detail)

    # ------------------------------------------------------------------ data
    def received(self, role: str, data: bytes) -> None:
        flow = _flow_from(role)
        out = self.outs[flow]
        actions = self.engines[flow].feed(data, self.loop.time())
        if len(actions) == 1 and not out.heap:
            a = actions[0]
            if type(a) is Send and a.data is data and not a.faults and a.action == "passed":
                # unchanged and at once: one "relay" record stands for the read and the write
                t = self.transports[out.to_role]
                if t is not None and self.dead != out.to_role and not t.is_closing():
                    t.write(data)
                    self.link.delivered[flow] += len(data)
                    self.record("relay", flow, "passed", data)
                    return
        self.record("read", flow, "read", data)
        out.submit(actions)

    def write(self, flow: str, role: str, data: bytes, action: str, faults: tuple[int, ...], detail: str) -> None:
        t = self.transports[role]
        if t is None or t.is_closing() or self.dead == role:
            why = "half-open: that side was closed by a fault" if self.dead == role else f"the {role} side is closed"
            self.record("discard", flow, action if action != "passed" else "undeliverable", data, faults,
                        f"{detail}; {why}" if detail else why)
            return
        t.write(data)
        self.link.delivered[flow] += len(data)
        self.record("write", flow, action, data, faults, detail)

    def eof(self, role: str) -> None:
        """The party sent FIN: what is held goes out, then the FIN is passed on."""
        if self.eofs[role]:
            return
        self.eofs[role] = True
        self.event(f"eof-from-{role}")
        flow = _flow_from(role)
        out = self.outs[flow]
        out.eof_after = True
        out.submit(self.engines[flow].close(self.loop.time()))

    def pass_eof(self, role: str) -> None:
        t = self.transports[role]
        if t is None or t.is_closing() or self.dead == role:
            return
        if self.eofs[role]:  # both directions ended: close
            self.close_side(role, "both directions ended")
            return
        if t.can_write_eof():
            t.write_eof()
            self.event(f"close-{role}", "EOF passed on")

    def lost(self, role: str, exc: Exception | None) -> None:
        if self.closed[role]:
            return
        self.closed[role] = True
        if self.done:
            return
        other = _other(role)
        if self.dead == role:
            pass  # closed on purpose by a half-open fault: the other side must not notice
        elif exc is not None:
            self.event(f"reset-by-{role}", str(exc))
            self._abort(other, f"the {role} side was reset")
        elif not self.eofs[role]:
            self.event(f"eof-from-{role}", "closed")
        if not self.closed[other] and self.dead != role:
            flow = _flow_from(role)
            out = self.outs[flow]
            out.close_after = True
            out.submit(self.engines[flow].close(self.loop.time()))
        self._maybe_done()

    def close_side(self, role: str, why: str) -> None:
        t = self.transports[role]
        if t is not None and not t.is_closing():
            t.close()
            self.event(f"close-{role}", why)
        elif t is None:
            self.closed[role] = True
        self._maybe_done()

    def _abort(self, role: str, why: str, faults: tuple[int, ...] = ()) -> None:
        t = self.transports[role]
        if t is not None and not t.is_closing():
            self.event(f"reset-{role}", why, faults)
            _rst(t)
        elif t is None:
            self.closed[role] = True

    def reset(self, why: str, faults: tuple[int, ...] = ()) -> None:
        """RST both sides now (a fault's doing)."""
        for role in ("client", "target"):
            self._abort(role, why, faults)
        if self.connect_task is not None:
            self.connect_task.cancel()
        self.closed["target"] = self.closed["target"] or self.transports["target"] is None
        self._maybe_done()

    def close_both(self, why: str, faults: tuple[int, ...] = ()) -> None:
        for role in ("client", "target"):
            t = self.transports[role]
            if t is not None and not t.is_closing():
                self.event(f"close-{role}", why, faults)
                t.close()
            elif t is None:
                self.closed[role] = True
        self._maybe_done()

    def _gone(self, role: str) -> bool:
        t = self.transports[role]
        if t is None:  # never connected (or still connecting)
            return role == "client" or self.connect_task is None or self.connect_task.done()
        return self.closed[role] or t.is_closing()

    def _maybe_done(self) -> None:
        if self.done or not (self._gone("client") and self._gone("target")):
            return
        self.done = True
        for flow, out in self.outs.items():
            for _, _, a in out.heap:  # scheduled but never written: say so
                if isinstance(a, Send):
                    self.record("discard", flow, _label_undelivered(a.action), a.data, a.faults,
                                "the connection closed before its time came")
            out.cancel()
        for role in ("client", "target"):
            t = self.transports[role]
            if t is not None and not t.is_closing():
                t.close()
        self.link.conns.pop(self.id, None)
        self.event("closed")

    # ------------------------------------------------------------------ flow control
    def _pause(self, role: str, reason: str, on: bool) -> None:
        reasons = self.pauses[role]
        if on:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        t = self.transports[role]
        if t is None or t.is_closing():
            return
        want = bool(reasons)
        if want != self.paused[role]:
            self.paused[role] = want
            if want:
                t.pause_reading()
            else:
                t.resume_reading()

    # ------------------------------------------------------------------ target side
    async def connect(self) -> None:
        link = self.link
        try:
            await asyncio.wait_for(self.loop.create_connection(
                lambda: _Side(link, "target", self), link.target_host, link.target_port),
                timeout=link.proxy.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.event("target-unreachable", f"{link.target_host}:{link.target_port}: {exc}")
            self.closed["target"] = True
            self._abort("client", "target unreachable")
            self._maybe_done()
        except asyncio.CancelledError:
            self.closed["target"] = True
            self._maybe_done()
            raise

    def _target_made(self, transport: asyncio.Transport) -> None:
        if self.done:  # reset (or refused) while connecting
            transport.abort()
            return
        self.transports["target"] = transport
        self.info.local = _address(transport.get_extra_info("sockname"))
        self.info.target = _address(transport.get_extra_info("peername"))
        self.event("connected", json.dumps({"local": self.info.local, "target": self.info.target}))
        if self.closed["client"]:  # the client went away while we connected
            self.close_side("target", "the client closed before the target answered")
            return
        self._pause("client", "connecting", False)
        fault = self.link.half_open_fault("client")
        if fault is not None:
            self.make_half_open(fault)

    def make_half_open(self, fault: Fault) -> None:
        """Close one side quietly (FIN); the other stays open and what it sends is discarded."""
        dead = "target" if fault.spec.direction == TO_TARGET else "client"
        self.half_open, self.dead = fault, dead
        fault.use()
        t = self.transports[dead]
        self.event("half-open", f"fault {fault.id}: the {dead} side closed, the {_other(dead)} side left open",
                   (fault.id,))
        if t is not None and not t.is_closing():
            t.close()
            self.event(f"close-{dead}", f"fault {fault.id}: half-open", (fault.id,))
        else:
            self.closed[dead] = True
        self._pause(_other(dead), "connecting", False)

    def tick(self) -> None:
        """Faults changed: let each engine release what no longer needs holding."""
        now = self.loop.time()
        for flow, out in self.outs.items():
            out.submit(self.engines[flow].tick(now))


class ProxyLink:
    """One named link: a listener and the connections it forwards to the target, with their faults."""

    def __init__(self, proxy: FaultProxy, name: str, listen_host: str, listen_port: int, target_host: str,
                 target_port: int) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.name = name
        self.listen_host = listen_host
        self.port = listen_port
        self.target_host = target_host
        self.target_port = target_port
        self.table = FaultTable(on_change=self._changed)
        self.conns: dict[int, Connection] = {}
        self.server: asyncio.Server | None = None
        self.accepted = 0
        self.delivered = {TO_TARGET: 0, TO_CLIENT: 0}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._kick_scheduled = False
        self._listener_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self.removed = False

    @property
    def listening(self) -> bool:
        return self.server is not None

    async def start(self) -> ProxyLink:
        await self._listen()
        return self

    async def _listen(self) -> None:
        for attempt in range(20):
            try:
                self.server = await self.loop.create_server(lambda: _Side(self, "client"), self.listen_host,
                                                            self.port, reuse_address=True, backlog=1024)
                break
            except OSError:
                if attempt == 19 or self.port == 0:
                    raise
                await asyncio.sleep(0.05)  # the port is briefly busy after a close: try again
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]

    async def _update_listener(self) -> None:
        """Listen unless a partition or a time-bounded refusal is active."""
        async with self._listener_lock:
            refuse = any(f.kind == "partition" or (f.kind == "refuse_connections" and not f.spec.count)
                         for f in self.table.active(("partition", "refuse_connections")))
            if refuse and self.server is not None:
                self.server.close()
                self.server = None
                self.proxy.evidence.add(self.name, 0, "event", "", "listener-closed",
                                        detail=f"port {self.port}: new connections refused")
            elif not refuse and self.server is None and not self.removed:
                try:
                    await self._listen()
                except OSError as exc:  # someone took the port meanwhile: say so, loudly, in the evidence too
                    log.error("link %s: cannot listen on port %d again: %s", self.name, self.port, exc)
                    self.proxy.evidence.add(self.name, 0, "event", "", "listener-failed",
                                            detail=f"port {self.port}: {exc}")
                    return
                self.proxy.evidence.add(self.name, 0, "event", "", "listener-open", detail=f"port {self.port}")

    # ------------------------------------------------------------------ connections
    def _accepted(self, transport: asyncio.Transport) -> Connection | None:
        self.accepted += 1
        cid = self.proxy._next_conn()
        conn = Connection(self, cid, transport)
        conn.event("open", json.dumps({"client": conn.info.client, "listen": conn.info.listen}))
        now = self.loop.time()
        for f in self.table.active(("refuse_connections", "partition")):
            if f.live(now) and f.can_act():
                f.use()
                conn.event("refused", f"fault {f.id}: {f.spec.summary()}", (f.id,))
                _rst(transport)
                conn.closed = {"client": True, "target": True}
                conn._maybe_done()
                return None
        self.conns[cid] = conn
        conn._pause("client", "connecting", True)
        fault = self.half_open_fault("target")
        if fault is not None:
            conn.make_half_open(fault)  # "accept and never deliver": the target is never connected
            conn.closed["target"] = True
            return conn
        conn.connect_task = self._spawn(conn.connect())
        return conn

    def half_open_fault(self, dead: str) -> Fault | None:
        """An active half-open fault that closes the `dead` side of new connections, if it may act."""
        now = self.loop.time()
        flow = TO_TARGET if dead == "target" else TO_CLIENT
        for f in self.table.active(("half_open",)):
            if f.live(now) and f.can_act() and f.spec.direction == flow:
                return f
        return None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ faults
    async def inject(self, spec: FaultSpec) -> Fault:
        spec = spec.validated()
        now = self.loop.time()
        fault = Fault(self.proxy._next_fault(), self.name, spec, now, on_spent=self._spent)
        self.table.add(fault)
        self.proxy.evidence.add(self.name, 0, "event", "", "fault-start", faults=(fault.id,),
                                detail=spec.summary())
        kind = spec.kind
        if kind == "drop_connections":
            conns = list(self.conns.values())
            for conn in conns[:spec.count or None]:
                fault.use()
                if spec.params["graceful"]:
                    conn.close_both(f"fault {fault.id}: {spec.summary()}", (fault.id,))
                else:
                    conn.reset(f"fault {fault.id}: {spec.summary()}", (fault.id,))
            await self.end(fault, DONE)
            return fault
        if kind == "partition":
            await self._update_listener()  # refuse first, so a quick reconnect is refused, not accepted
            for conn in list(self.conns.values()):
                conn.reset(f"fault {fault.id}: partition", (fault.id,))
        if kind == "half_open":
            for conn in list(self.conns.values()):
                if conn.dead is None and fault.can_act() and conn.transports["target"] is not None:
                    conn.make_half_open(fault)
        if fault.expires is not None:
            self._timers[fault.id] = self.loop.call_at(fault.expires, self._expire, fault)
        await self._update_listener()
        return fault

    def _expire(self, fault: Fault) -> None:
        self._spawn(self.end(fault, EXPIRED))

    def _spent(self, fault: Fault) -> None:
        # called from inside the engine when a count runs out: undo what needs undoing soon, not here
        self._spawn(self._ended(fault))

    async def end(self, fault: Fault, state: str) -> bool:
        if not self.table.end(fault, state):
            return False
        await self._ended(fault)
        return True

    async def _ended(self, fault: Fault) -> None:
        timer = self._timers.pop(fault.id, None)
        if timer is not None:
            timer.cancel()
        self.table.rebuild()
        if fault.kind == "half_open":
            for conn in list(self.conns.values()):
                if conn.half_open is fault:
                    conn.reset(f"fault {fault.id} ended: the half-open connection is reset", (fault.id,))
        self.proxy.evidence.add(self.name, 0, "event", "", "fault-end", faults=(fault.id,),
                                detail=f"{fault.state} after acting {fault.applied} times")
        if fault.kind in ("partition", "refuse_connections"):
            await self._update_listener()

    async def clear(self, fault_id: int = 0) -> list[Fault]:
        targets = [f for f in self.table.active() if not fault_id or f.id == fault_id]
        if fault_id and not targets and fault_id not in self.table.all:
            raise LookupError(f"no fault {fault_id} on link {self.name}")
        cleared = []
        for f in targets:
            if await self.end(f, CLEARED):
                cleared.append(f)
        return cleared

    def _changed(self) -> None:
        # the fault table changed: engines may release what they held (soon, outside the engine's call)
        if not self._kick_scheduled:
            self._kick_scheduled = True
            self.loop.call_soon(self._kick)

    def _kick(self) -> None:
        self._kick_scheduled = False
        for conn in list(self.conns.values()):
            if not conn.done:
                conn.tick()

    async def close(self) -> None:
        """Stop listening, end the faults (as cleared) and reset the connections."""
        self.removed = True
        for f in self.table.active():
            self.table.end(f, CLEARED)
            self.proxy.evidence.add(self.name, 0, "event", "", "fault-end", faults=(f.id,), detail="link removed")
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.conns.values()):
            conn.reset("link removed")
        for task in list(self._tasks):
            task.cancel()

    def status(self) -> dict[str, object]:
        return {"name": self.name, "listen": (self.listen_host, self.port),
                "target": (self.target_host, self.target_port), "connections": len(self.conns),
                "accepted": self.accepted, "listening": self.listening,
                "bytes_to_target": self.delivered[TO_TARGET], "bytes_to_client": self.delivered[TO_CLIENT],
                "active_faults": len(self.table.active())}


class FaultProxy:
    """Named links, their faults and one evidence log, on the running event loop.

    `allow` names hosts besides loopback that links may listen on or connect to (e.g. the address of a
    container the run made, or "0.0.0.0" for a proxy inside a container). `stop()` closes the links but keeps
    the evidence readable; `close()` also closes the evidence log (removing its temporary spool).
    """

    def __init__(self, evidence: EvidenceLog | None = None, *, allow: Iterable[str] = (), hold: float = 0.5,
                 connect_timeout: float = 5.0) -> None:
        self.loop = asyncio.get_running_loop()
        self.evidence = evidence if evidence is not None else EvidenceLog()
        self.allow = frozenset(allow)
        self.hold = hold
        self.connect_timeout = connect_timeout
        self.links: dict[str, ProxyLink] = {}
        self.removed: dict[str, dict[str, object]] = {}
        self._faults = 0
        self._conns = 0
        self.stopped = asyncio.Event()
        self.started_at = time.time()

    def _next_fault(self) -> int:
        self._faults += 1
        return self._faults

    def _next_conn(self) -> int:
        self._conns += 1
        return self._conns

    async def _check_host(self, host: str, what: str) -> None:
        if host in self.allow or host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            try:
                infos = await self.loop.getaddrinfo(host, None)
            except OSError as exc:
                raise NotAllowed(f"{what} {host!r} does not resolve ({exc})") from exc
            if infos and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos):
                return
        raise NotAllowed(f"{what} {host!r} is not loopback and was not allowed when the proxy started "
                         f"(allowed: {', '.join(sorted(self.allow)) or 'loopback only'})")

    async def create_link(self, name: str, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1",
                          listen_port: int = 0) -> ProxyLink:
        if not name:
            raise ValueError("a link needs a name")
        if name in self.links:
            raise LinkExists(f"link {name!r} exists already")
        if not 0 < target_port < 65536 or not 0 <= listen_port < 65536:
            raise ValueError("ports are 1-65535 (listen port 0: any free one)")
        listen_host = listen_host or "127.0.0.1"
        await self._check_host(listen_host, "listen host")
        await self._check_host(target_host, "target host")
        link = ProxyLink(self, name, listen_host, listen_port, target_host, target_port)
        self.links[name] = link
        try:
            await link.start()
        except OSError:
            del self.links[name]
            raise
        self.evidence.add(name, 0, "event", "", "link-created",
                          detail=f"{listen_host}:{link.port} -> {target_host}:{target_port}")
        log.info("link %s: %s:%d -> %s:%d", name, listen_host, link.port, target_host, target_port)
        return link

    def get(self, name: str) -> ProxyLink:
        link = self.links.get(name)
        if link is None:
            raise UnknownLink(f"no link {name!r} (links: {', '.join(self.links) or 'none'})")
        return link

    async def remove_link(self, name: str) -> ProxyLink:
        link = self.get(name)
        await link.close()
        del self.links[name]
        self.evidence.add(name, 0, "event", "", "link-removed")
        return link

    async def inject(self, link: str, spec: FaultSpec) -> Fault:
        return await self.get(link).inject(spec)

    async def clear(self, link: str, fault_id: int = 0) -> list[Fault]:
        return await self.get(link).clear(fault_id)

    def faults(self, link: str = "", include_ended: bool = False) -> list[Fault]:
        links = [self.get(link)] if link else list(self.links.values())
        out = [f for ln in links for f in ln.table.all.values() if include_ended or f.state == ACTIVE]
        return sorted(out, key=lambda f: f.id)

    async def stop(self) -> None:
        """Close every link (connections reset, faults cleared); the evidence stays readable."""
        for name in list(self.links):
            await self.remove_link(name)
        self.evidence.snapshot()
        self.stopped.set()

    async def close(self) -> None:
        """Stop, then close the evidence log."""
        await self.stop()
        self.evidence.close()


__all__ += ["FaultError", "FaultSpec"]
