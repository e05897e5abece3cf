"""Locust campaign: one `VehicleUser` per vehicle, speaking GB/T 32960 over raw TCP.

    python -m locust -f load/locustfile.py --headless -u 200 -r 100 -t 30s \\
        --gbt-profile steady --gbt-target 127.0.0.1:32960

(`gbt32960 load` builds these command lines, starts the reference platforms and the workers.)

Each user drives the project's sans-IO `Terminal` through the gevent driver, so the protocol logic is
the simulator's. What goes to locust's statistics (request_type / name):

- "ack" / "login", "heartbeat", "time-sync": round trip from the command to its answer; a failure when
  the answer carries an error flag or none comes within the response timeout; sent before every vehicle
  of the process was online once, the name ends in " (ramp)" (the start's login storm, judged apart);
- "ack" / "0x02 realtime answer" ...: an error flag received for a data frame (always a failure);
- "sent" / "0xNN name": every frame sent, by type (response time 0, length in bytes);
- "link" / "disconnect", "connect failed": failures;
- "reissue" / "backlog drained": per vehicle, from the login that found a backlog until it was empty.

The reissue backlog, vehicles online and data frames sent go to the master with each worker report.
On the master (or the only process), a campaign greenlet runs the profile's events (partition through
the fault proxy, level-3 alarms, national data calls through Control), and at the end the thresholds
are evaluated against locust's statistics and the platform's own counts (Control); the exit code is 1
when one is missed.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import User, constant, events, task
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness.protocol.framer import Framer
from harness.protocol.messages import COMMANDS
from harness.terminal.fleet import calendar_epoch, make_iccid, make_vin
from harness.terminal.generator import Generator
from harness.terminal.gevent_driver import GeventTerminal
from harness.terminal.machine import Terminal
from load import profiles as _profiles
from load.platform import is_public, raise_fd_limit

log = logging.getLogger("gbt32960.load")

AWAITED = {0x01: "login", 0x07: "heartbeat", 0x08: "time-sync"}  # commands whose answer is timed
RAMP = " (ramp)"  # suffix of the round trips timed before every vehicle was started


def label(command: int) -> str:
    name = COMMANDS.get(command, "custom")
    return f"0x{command:02X} {name}"


class ProtocolFailure(Exception):
    """A protocol failure reported to locust: an error flag, a missing answer or a lost link."""


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser.add_argument_group("GB/T 32960 campaign")
    g.add_argument("--gbt-profile", default="steady", help="campaign profile (name or YAML file)")
    g.add_argument("--gbt-target", default="127.0.0.1:32960", help="platform host:port the vehicles connect to")
    g.add_argument("--gbt-platform", default="", help="JSON: control addresses and fault proxy (from load.platform)")
    g.add_argument("--gbt-vehicles", type=int, default=0, help="fleet size (for VIN selection in events)")
    g.add_argument("--gbt-workers", type=int, default=1, help="worker processes (VIN index stride)")
    g.add_argument("--gbt-duration", type=float, default=0.0, help="run time in seconds (event times)")
    g.add_argument("--gbt-profile-json", default="", help="the profile as JSON (overrides --gbt-profile)")
    g.add_argument("--gbt-result", default="", help="write the campaign result (thresholds, truth) here as JSON")
    g.add_argument("--gbt-seed", type=int, default=1, help="seed of the vehicles' data")
    g.add_argument("--gbt-settle", type=float, default=30.0, help="max seconds to wait for the platform to settle")


class _State:
    """This process's campaign state (one per process)."""

    def __init__(self) -> None:
        self.profile: _profiles.Profile = _profiles.PROFILES["steady"]
        self.host, self.port = "127.0.0.1", 32960
        self.targets: list[tuple[str, int]] = [(self.host, self.port)]
        self.platform: dict[str, Any] = {}
        self.workers = 1
        self.vehicles = 0
        self.seed = 1
        self.duration = 0.0
        self.settle = 30.0
        self.result_path = ""
        self.users: dict[str, VehicleUser] = {}
        self.waiting: set[VehicleUser] = set()  # vehicles with an answer outstanding
        self.sweeper: Any = None
        self.counter = itertools.count()
        self.counts: Counter[str] = Counter()  # sent_data, public_data, drained, alarms
        self.online_at_stop: int | None = None
        self.spawned = False
        self.ramp_over = False
        self.last_drained_at = 0.0
        # master side
        self.reports: dict[str, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.events_done: list[dict[str, Any]] = []
        self.heal_at: float | None = None
        self.started_at = 0.0
        self.campaign: Any = None
        self.final: set[str] = set()  # workers whose users all stopped and whose last stats are in
        self.result: dict[str, Any] | None = None
        self.cpu: dict[str, list[tuple[float, float]]] = {}  # worker -> (campaign time, CPU %) per report
        self.lags: dict[str, list[tuple[float, Any, Any]]] = {}  # worker -> (time, loop lag ms, wheel late ms)

    def configure(self, opts: Any) -> None:
        if opts.gbt_profile_json:
            self.profile = _profiles.from_dict(json.loads(opts.gbt_profile_json))
        else:
            self.profile = _profiles.load_profile(opts.gbt_profile)
        host, _, port = opts.gbt_target.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.platform = json.loads(opts.gbt_platform) if opts.gbt_platform else {}
        targets = self.platform.get("targets") or []
        directs = self.platform.get("directs") or []
        # through the fault proxies, vehicle i uses proxy i mod n; straight to a sharded enterprise
        # platform, shard i mod n (its processes each register their share of the fleet)
        chosen = targets if opts.gbt_target in targets else directs if opts.gbt_target in directs else []
        if chosen:
            self.targets = [(h or "127.0.0.1", int(p)) for h, _, p in (t.rpartition(":") for t in chosen)]
        else:
            self.targets = [(self.host, self.port)]
        self.workers = max(1, opts.gbt_workers)
        self.vehicles = opts.gbt_vehicles or getattr(opts, "num_users", None) or self.profile.vehicles
        self.seed = opts.gbt_seed
        self.duration = opts.gbt_duration or float(opts.run_time or self.profile.duration)
        self.settle = opts.gbt_settle
        self.result_path = opts.gbt_result

    def all_online(self) -> bool:
        """Every vehicle of this process was started and logged in once: the start's storm is over."""
        if not self.ramp_over:
            self.ramp_over = self.spawned and self.counts["first_logins"] >= len(self.users)
        return self.ramp_over

    def snapshot(self) -> dict[str, Any]:
        """What this process reports to the master."""
        users = list(self.users.values())
        return {"vehicles": len(users), "online": sum(1 for u in users if u.term.online),
                "backlog": sum(len(u.term.backlog) for u in users), "sent_data": self.counts["sent_data"],
                "public_data": self.counts["public_data"], "drained": self.counts["drained"],
                "alarms": self.counts["alarms"], "online_at_stop": self.online_at_stop,
                "last_drained_at": self.last_drained_at, "cpu": _PROC.cpu_percent(None), "at": time.time(),
                **_lags()}


STATE = _State()
_PROC = psutil.Process()  # this process's CPU share between two reports (locust depends on psutil)


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    if environment.parsed_options is None:
        return
    STATE.configure(environment.parsed_options)
    raise_fd_limit(STATE.vehicles // STATE.workers + 4096)  # one per vehicle of this process
    runner = environment.runner
    if isinstance(runner, (MasterRunner, LocalRunner)):
        from harness.control import init_gevent

        init_gevent()  # before any gRPC channel in this gevent process
        environment.events.test_start.add_listener(_test_start)
        environment.events.quitting.add_listener(_quitting)
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(_worker_report)
        runner.register_message("gbt_final", _final_message)
    if isinstance(runner, (WorkerRunner, LocalRunner)):
        runner.register_message("gbt_alarm", _alarm_message)
        environment.events.report_to_master.add_listener(_report_to_master)
    if isinstance(runner, WorkerRunner):
        environment.events.test_stop.add_listener(_worker_stopped)
    if isinstance(runner, (WorkerRunner, LocalRunner)):
        environment.events.spawning_complete.add_listener(_spawned)


def _spawned(**_: Any) -> None:
    STATE.spawned = True
    gc.freeze()


# ====================================================================== the vehicle


class VehicleUser(User):
    """One vehicle. Its terminal runs on the gevent driver: one reader greenlet per link, and the
    process's shared timer wheel for the terminal's deadlines (no greenlet of its own wakes every
    second). Everything is event-driven: frames out and in, lost links and refused connects fire
    locust events as they happen; answers still missing after the response timeout are found by
    one sweeper greenlet per process (`_sweeper`) over the vehicles that wait for one. The user's
    own task only re-checks that once a minute; locust stops a waiting user at once."""

    wait_time = constant(60.0)

    def on_start(self) -> None:
        st, p = STATE, STATE.profile
        worker = getattr(self.environment.runner, "worker_index", 0) or 0
        self.index = next(st.counter) * st.workers + max(0, worker)  # unique across workers
        self.vin = make_vin(self.index)
        edition = 2016 if p.edition == "2016" else 2025 if p.edition == "2025" else (
            2025 if (self.index * 0.6180339887) % 1 < p.mix else 2016)
        timers = p.make_timers()
        gen = Generator(st.seed * 1_000_003 + self.index, alarm_rate=0.0)  # alarms only when the profile says
        host, port = st.targets[self.index % len(st.targets)]
        self.term = Terminal(self.vin, edition, timers, gen, iccid=make_iccid(self.index, st.seed), host=host,
                             port=port, epoch=calendar_epoch(time.monotonic()),
                             sample_period=p.terminal_sample_period())
        self.public = is_public(self.index, p.public_share)
        self.timeout = timers.response_timeout
        self.pending: dict[int, tuple[float, str]] = {}  # command -> (sent at, stats name)
        self.was_online = False
        self.framers: dict[str, Framer] = {}
        self.seen_lost = 0
        self.seen_failures = 0
        self.drain_from: float | None = None
        self.driver = GeventTerminal(self.term, on_send=self._sent, on_data=self._data,
                                     on_link=lambda link, event: self.watch_links())
        st.users[self.vin] = self
        # locust starts a worker's vehicles in batches (the master's spawn steps, a second apart): spread
        # each batch over a second, or every vehicle of a batch reports, heartbeats and waits for its
        # answers at the same instants for the whole run (bursts of work that delay every answer)
        gevent.sleep(START_SPREAD * ((self.index * 0.7548776662) % 1))
        if len(st.users) % FREEZE_EVERY == 0:
            # the vehicles live as long as the run: out of the collector's sight, or every full collection
            # walks them all (a second per collection at 10,000 vehicles, every process stalled meanwhile)
            gc.freeze()
        _start_sweeper()
        self.driver.start()

    def on_stop(self) -> None:
        if STATE.online_at_stop is None:  # the first user to stop sees the fleet as it ran
            STATE.online_at_stop = sum(1 for u in STATE.users.values() if u.term.online)
        self.watch()
        STATE.waiting.discard(self)
        self.driver.stop(logout=True)

    @task
    def watch(self) -> None:
        self.watch_answers(time.monotonic())
        self.watch_links()

    def watch_answers(self, now: float) -> None:
        """Answers awaited longer than the response timeout are protocol failures."""
        for cmd, (t0, name) in list(self.pending.items()):
            if now - t0 > self.timeout:
                del self.pending[cmd]
                self._fire("ack", name, (now - t0) * 1000, ProtocolFailure(f"no answer in {self.timeout:g} s"))
        if not self.pending:
            STATE.waiting.discard(self)

    def watch_links(self) -> None:
        """Refused connects and lost links (the driver calls this as they happen)."""
        failures, lost = self.driver.counters["connect_failures"], self.term.stats["links_lost"]
        new_failures = failures - self.seen_failures
        for _ in range(new_failures):
            self._fire("link", "connect failed", 0, ProtocolFailure("connection refused or timed out"))
        for _ in range(max(0, lost - self.seen_lost - new_failures)):  # a refused connect also counts as lost
            self._fire("link", "disconnect", 0, ProtocolFailure("link lost"))
            self.pending.clear()
            self.framers.clear()
        self.seen_failures, self.seen_lost = failures, lost


    # ------------------------------------------------------------------ frames

    def _fire(self, kind: str, name: str, ms: float, exc: Exception | None = None, length: int = 0) -> None:
        self.environment.events.request.fire(request_type=kind, name=name, response_time=ms,
                                             response_length=length, exception=exc, context={})

    def _sent(self, link: str, data: bytes) -> None:
        cmd, ack = data[2], data[3]
        self._fire("sent", label(cmd), 0, length=len(data))
        if ack != 0xFE:
            return
        if cmd in AWAITED and link == "main":
            now = time.monotonic()
            old = self.pending.get(cmd)
            if old is not None:  # sent again before an answer came: the first one is unanswered
                self._fire("ack", old[1], (now - old[0]) * 1000, ProtocolFailure("no answer before the next try"))
            # the login storm of the start (until every vehicle of this process was online once) is
            # judged apart from the steady state
            self.pending[cmd] = (now, AWAITED[cmd] + ("" if STATE.all_online() else RAMP))
            STATE.waiting.add(self)
        elif cmd in (0x02, 0x03):
            STATE.counts["sent_data"] += 1
            STATE.counts["public_data"] += int(self.public)
            if cmd == 0x03 and self.drain_from is not None and not self.term.backlog:
                # the terminal popped the last stored sample before this send: the backlog is drained
                self._fire("reissue", "backlog drained", (time.monotonic() - self.drain_from) * 1000)
                self.drain_from = None
                STATE.counts["drained"] += 1
                STATE.last_drained_at = time.time()

    def _data(self, link: str, chunk: bytes) -> None:
        framer = self.framers.setdefault(link, Framer())
        now = time.monotonic()
        for item in framer.feed(chunk):
            if not isinstance(item, bytes | bytearray) or len(item) < 4 or item[3] == 0xFE:
                continue
            cmd, ack = item[2], item[3]
            exc = None if ack == 0x01 else ProtocolFailure(f"error flag 0x{ack:02X}")
            sent = self.pending.pop(cmd, None) if link == "main" else None
            if sent is not None:
                self._fire("ack", sent[1], (now - sent[0]) * 1000, exc)
                if cmd == 0x01 and exc is None:
                    if not self.was_online:
                        self.was_online = True
                        STATE.counts["first_logins"] += 1
                    if self.term.backlog:
                        self.drain_from = now  # logged in with stored samples: the reissue starts

            elif exc is not None:
                self._fire("ack", f"{label(cmd)} answer", 0, exc)


# ====================================================================== per process: sweeper, lag, GC

SWEEP = 0.5  # seconds between two looks for missing answers
START_SPREAD = 1.0  # seconds over which a batch of vehicles started together is spread
FREEZE_EVERY = 500  # vehicles started between two gc.freeze()
FREEZE_PERIOD = 10.0  # seconds between two gc.freeze() once they run (the frames each vehicle keeps for resends)
LAG = {"loop": 0.0}
GC = {"ms": 0.0, "max_ms": 0.0, "t0": 0.0}


def _start_sweeper() -> None:
    if STATE.sweeper is None:
        STATE.sweeper = gevent.spawn(_sweeper)
        gevent.spawn(_lag_monitor)


def _sweeper() -> None:
    """One greenlet per process: answers missing longer than the response timeout, for the vehicles
    that wait for one (a few at a time; a vehicle is not looked at while it waits for nothing)."""
    while True:
        gevent.sleep(SWEEP)
        now = time.monotonic()
        for user in list(STATE.waiting):
            user.watch_answers(now)


def _lag_monitor() -> None:
    """How late this process's greenlets run (a busy worker answers late, and times answers late);
    and every FREEZE_PERIOD the survivors go out of the collector's sight (see `FREEZE_EVERY`)."""
    last_freeze = time.monotonic()
    while True:
        t0 = time.monotonic()
        gevent.sleep(0.01)
        now = time.monotonic()
        LAG["loop"] = max(LAG["loop"], now - t0 - 0.01)
        if now - last_freeze > FREEZE_PERIOD:
            gc.freeze()
            last_freeze = now


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        GC["t0"] = time.perf_counter()
    else:
        ms = (time.perf_counter() - GC["t0"]) * 1000
        GC["ms"] += ms
        GC["max_ms"] = max(GC["max_ms"], ms)


gc.callbacks.append(_gc_timer)


def _lags() -> dict[str, float]:
    """Since the last report (then reset): the worst loop lag, the worst lateness of a terminal's
    timer, the time spent in garbage collection and its longest pause (ms)."""
    from harness.terminal.gevent_driver import shared_wheel

    wheel = shared_wheel()
    out = {"lag_ms": round(LAG["loop"] * 1000, 1), "wheel_late_ms": round(wheel.late_max * 1000, 1),
           "gc_ms": round(GC["ms"]), "gc_max_ms": round(GC["max_ms"])}
    LAG["loop"] = wheel.late_max = GC["ms"] = GC["max_ms"] = 0.0
    return out


def _alarm_message(environment: Any, msg: Any, **_: Any) -> None:
    """Master -> workers: a share of the fleet develops an alarm (deterministic by VIN index)."""
    share, level = float(msg.data["share"]), int(msg.data["level"])
    step = max(1, round(1 / share)) if share > 0 else 0
    for user in list(STATE.users.values()):
        if step and user.index % step == step - 1:  # not the public ones (index % step == 0)
            user.driver.call(user.term.raise_alarm, level)
            STATE.counts["alarms"] += 1


def _report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["gbt"] = STATE.snapshot()


def _worker_stopped(environment: Any, **_: Any) -> None:
    """Worker: every user stopped. Send the last statistics, then say so: the master evaluates only
    when every worker's final word is in (messages keep their order on the one connection)."""
    runner = environment.runner
    runner._send_stats()  # locust's own final report, which it would otherwise send 3 s later or at quit
    runner.send_message("gbt_final", STATE.snapshot())


def _final_message(environment: Any, msg: Any, **_: Any) -> None:
    STATE.reports[msg.node_id] = msg.data
    STATE.final.add(msg.node_id)


def _worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    snap = data.get("gbt")
    if snap is None:
        return
    STATE.reports[client_id] = snap
    if snap.get("vehicles"):
        t = time.time() - STATE.started_at
        STATE.cpu.setdefault(client_id, []).append((t, float(snap.get("cpu") or 0.0)))
        STATE.lags.setdefault(client_id, []).append((t, snap.get("lag_ms"), snap.get("wheel_late_ms"),
                                                     snap.get("gc_ms"), snap.get("gc_max_ms")))
    total = _totals()
    total["t"] = round(time.time() - STATE.started_at, 3) if STATE.started_at else 0.0
    STATE.timeline.append(total)


def _totals() -> dict[str, Any]:
    snaps = list(STATE.reports.values()) if STATE.reports else [STATE.snapshot()]
    keys = ("vehicles", "online", "backlog", "sent_data", "public_data", "drained", "alarms")
    out: dict[str, Any] = {k: sum(int(s.get(k) or 0) for s in snaps) for k in keys}
    at_stop = [s.get("online_at_stop") for s in snaps]
    out["online_at_stop"] = sum(int(x) for x in at_stop if x is not None) if any(
        x is not None for x in at_stop) else None
    out["last_drained_at"] = max(float(s.get("last_drained_at") or 0) for s in snaps)
    return out


# ====================================================================== the campaign (master or local)


def _test_start(environment: Any, **_: Any) -> None:
    STATE.started_at = time.time()
    STATE.campaign = gevent.spawn(_campaign, environment)


def _campaign(environment: Any) -> None:
    """Run the profile's events, then end the campaign: stop every user, wait for every worker's last
    statistics, evaluate, quit. (Locust's own -t would quit before the workers' last reports arrive.)"""
    events_greenlet = gevent.spawn(_events, environment)
    gevent.sleep(max(0.0, STATE.started_at + STATE.duration - time.time()))
    events_greenlet.kill(block=False)
    runner = environment.runner
    runner.stop()
    if isinstance(runner, MasterRunner):
        deadline = time.monotonic() + environment.stop_timeout + 60
        while len(STATE.final) < max(1, runner.worker_count) and time.monotonic() < deadline:
            gevent.sleep(0.2)
    _finish(environment)
    runner.quit()
    if environment.web_ui is not None:
        environment.web_ui.stop()  # with the web UI, locust's main greenlet is the UI's: stop it too


def _events(environment: Any) -> None:
    for ev in sorted(STATE.profile.events, key=lambda e: float(e.get("at", 0))):
        at = STATE.started_at + float(ev.get("at", 0)) * STATE.duration
        gevent.sleep(max(0.0, at - time.time()))
        record = dict(ev, started=round(time.time() - STATE.started_at, 3))
        try:
            record.update(_act(environment, ev))
        except Exception as exc:  # noqa: BLE001 - an event that could not run is reported, not fatal
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.error("campaign event %s failed: %s", ev.get("action"), exc)
        STATE.events_done.append(record)
        if isinstance(environment.runner, LocalRunner):
            STATE.timeline.append(dict(_totals(), t=round(time.time() - STATE.started_at, 3)))


def _shards() -> list[dict[str, str]]:
    """The enterprise platform's processes (platform id, address, Control); one unless load.platform
    sharded it. A platform given by --target/--control is one process, as far as we know."""
    from reference_impl.embedded import ENTERPRISE_ID

    shards = STATE.platform.get("enterprise_shards")
    if shards:
        return list(shards)
    control = (STATE.platform.get("control") or {}).get("enterprise", "")
    return [{"platform_id": ENTERPRISE_ID, "direct": f"{STATE.host}:{STATE.port}", "control": control}]


def _proxies() -> list[str]:
    """The Faults services of the fault proxies on the vehicle links (several for a large fleet)."""
    one = STATE.platform.get("faults")
    return list(STATE.platform.get("faults_all") or ([one] if one else []))


def _act(environment: Any, ev: dict[str, Any]) -> dict[str, Any]:
    action = ev.get("action")
    if action == "partition":
        proxies = _proxies()
        if not proxies:
            raise RuntimeError("the outage profile needs a fault proxy on the vehicle links (--target reference)")
        from harness.faults.client import FaultsClient

        seconds = float(ev["seconds"])
        cut = []
        for faults in proxies:  # every vehicle link, on each proxy (a few ms apart)
            client = FaultsClient(faults)
            try:
                client.link(STATE.platform.get("link", "vehicles->enterprise")).partition(seconds)
                cut.append(time.time())
            finally:
                client.close()
        STATE.heal_at = cut[0] + seconds  # the first proxy heals first: the drain is timed from there
        return {"heal_at": round(STATE.heal_at - STATE.started_at, 3)}
    if action == "alarm":
        environment.runner.send_message("gbt_alarm", {"share": ev.get("share", 0.1), "level": ev.get("level", 3)})
        return {}
    if action == "data_call":
        return _data_calls(float(ev.get("share", 0.05)), int(ev.get("duration", 20)))
    raise ValueError(f"unknown campaign action {action!r}")


def _data_calls(share: float, duration: int) -> dict[str, Any]:
    national = (STATE.platform.get("control") or {}).get("national")
    if not national:
        raise RuntimeError("data calls need the national platform's Control address (--target reference)")
    from harness.control import ControlClient

    step = max(1, round(1 / share))
    shards = _shards()
    by_shard: dict[str, list[str]] = {}
    for i in range(1, STATE.vehicles, step):  # each enterprise process is called for its own vehicles
        by_shard.setdefault(shards[i % len(shards)]["platform_id"], []).append(make_vin(i))
    vins = [vin for group in by_shard.values() for vin in group]
    made = answered = 0
    with ControlClient(national) as c:
        ids = [c.data_call(pid, group[k:k + 250], duration)
               for pid, group in by_shard.items() for k in range(0, len(group), 250)]
        made = len(ids)
        accepted = 0
        for call_id in ids:
            made_call = c.get_data_call(call_id, wait=10)
            answered += int(bool(made_call.get("answered")))
            accepted += sum(1 for status in (made_call.get("results") or {}).values() if status == "accepted")
    return {"calls": made, "answered": answered, "vins": len(vins), "accepted": accepted}


# ====================================================================== the end: truth and thresholds


def _quitting(environment: Any, **_: Any) -> None:
    if STATE.result is None:  # stopped early (Ctrl-C, the web UI): judge what there is
        if STATE.campaign is not None:
            STATE.campaign.kill(block=False)
        _finish(environment)
    environment.process_exit_code = 0 if STATE.result and STATE.result["passed"] else 1


def _finish(environment: Any) -> None:
    try:
        result = evaluate(environment)
    except Exception as exc:  # noqa: BLE001 - a campaign that cannot be judged fails
        log.exception("campaign evaluation failed")
        result = {"passed": False, "error": f"{type(exc).__name__}: {exc}", "thresholds": []}
    STATE.result = result
    environment.process_exit_code = 0 if result["passed"] else 1
    if STATE.result_path:
        Path(STATE.result_path).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print_summary(result, sys.stderr)


def _entries(stats: Any, kind: str, names: tuple[str, ...] | None = None) -> list[Any]:
    return [e for (name, method), e in stats.entries.items() if method == kind and (names is None or name in names)]


def evaluate(environment: Any) -> dict[str, Any]:
    from locust.stats import StatsEntry

    stats = environment.stats
    p = STATE.profile
    th = p.thresholds
    fleet = _totals()
    sent_by_type = {e.name: e.num_requests for e in _entries(stats, "sent")}
    sent_data = sum(n for name, n in sent_by_type.items() if name.startswith(("0x02", "0x03")))
    acks = StatsEntry(stats, "acks", "ack")
    for e in _entries(stats, "ack", tuple(AWAITED.values())):
        acks.extend(e)
    ramp = StatsEntry(stats, "ramp", "ack")
    for e in _entries(stats, "ack", tuple(n + RAMP for n in AWAITED.values())):
        ramp.extend(e)
    exchanges = [e for e in stats.entries.values() if e.method in ("ack", "link")]
    requests = sum(e.num_requests for e in exchanges)
    counted_fail = sum(e.num_failures for e in exchanges if e.name not in th.expected_failures)
    all_fail = sum(e.num_failures for e in exchanges)
    truth = server_truth(sent_data, fleet["public_data"])
    result: dict[str, Any] = {
        "profile": p.name, "vehicles": STATE.vehicles, "duration": STATE.duration,
        "workers": len(STATE.reports) if STATE.reports else 0,
        "fleet": fleet, "per_worker": list(STATE.reports.values()), "sent_by_type": sent_by_type,
        "sent_data": sent_data,
        "exchanges": requests, "failures": all_fail, "counted_failures": counted_fail,
        "error_rate": counted_fail / requests if requests else 0.0,
        "p99_ack_ms": acks.get_response_time_percentile(0.99) if acks.num_requests else None,
        "acks": acks.num_requests, "ramp_acks": ramp.num_requests,
        "p99_ramp_ack_ms": ramp.get_response_time_percentile(0.99) if ramp.num_requests else None,
        "events": STATE.events_done, "truth": truth,
        "timeline": STATE.timeline[-200:], "worker_cpu": STATE.cpu, "worker_lag": STATE.lags,
    }
    drain = None
    if STATE.heal_at is not None and fleet["backlog"] == 0 and fleet["last_drained_at"]:
        drain = max(0.0, fleet["last_drained_at"] - STATE.heal_at)
    result["drain_seconds"] = drain
    checks: list[dict[str, Any]] = []

    def check(name: str, limit: Any, value: Any, ok: bool) -> None:
        checks.append({"name": name, "limit": limit, "value": value, "met": bool(ok)})

    if th.error_rate is not None:
        check("error_rate", th.error_rate, result["error_rate"], result["error_rate"] <= th.error_rate)
    if th.p99_ack_ms is not None:
        v = result["p99_ack_ms"]
        check("p99_ack_ms", th.p99_ack_ms, v, v is not None and v <= th.p99_ack_ms)
    if th.p99_ramp_ack_ms is not None:
        v = result["p99_ramp_ack_ms"]
        # a ramp over before the first answer came timed nothing: then the steady check covers the logins
        check("p99_ramp_ack_ms", th.p99_ramp_ack_ms, v, v is None or v <= th.p99_ramp_ack_ms)
    if th.lost_frames is not None:
        v = truth.get("lost")
        check("lost_frames", th.lost_frames, v, v is not None and v <= th.lost_frames)
    if th.relay_lost is not None:
        v = truth.get("relay_lost")
        check("relay_lost", th.relay_lost, v, v is not None and v <= th.relay_lost)
    if th.online_share is not None:
        started = fleet["vehicles"]
        v = (fleet["online_at_stop"] or 0) / started if started else 0.0
        check("online_share", th.online_share, round(v, 4), started > 0 and v >= th.online_share)
    if th.reissue_drained_within is not None:
        check("reissue_drained_within", th.reissue_drained_within, drain,
              drain is not None and drain <= th.reissue_drained_within)
    if th.data_calls_answered is not None:
        made = sum(int(e.get("calls", 0)) for e in STATE.events_done)
        ok = sum(int(e.get("answered", 0)) for e in STATE.events_done)
        called = sum(int(e.get("vins", 0)) for e in STATE.events_done)
        accepted = sum(int(e.get("accepted", 0)) for e in STATE.events_done)
        v = min(ok / made, accepted / called) if made and called else 0.0  # answered, and every VIN accepted
        check("data_calls_answered", th.data_calls_answered, v, made > 0 and v >= th.data_calls_answered)
        received = truth.get("national_data")
        check("data_call_frames_at_national", "> 0", received, bool(received))
    result["thresholds"] = checks
    result["passed"] = bool(checks) and all(c["met"] for c in checks) and not any(
        "error" in e for e in STATE.events_done)
    return result


def server_truth(sent_data: int, public_data: int) -> dict[str, Any]:
    """Ask the platforms (Control) what they stored and relayed; lost = sent - stored (distinct)."""
    control = STATE.platform.get("control") or {}
    ent = control.get("enterprise")
    if not ent:
        return {"available": False, "why": "no Control address for the platform (give --control)"}
    from harness.control import ControlClient

    out: dict[str, Any] = {"available": True}
    stored = 0
    by_shard: list[int] = []
    counters: Counter[str] = Counter()
    drained_all = True
    for shard in _shards():  # a sharded enterprise platform: what each process stored, added up
        with ControlClient(shard["control"]) as c:
            drained = c.drain(timeout=STATE.settle)  # relays and queues first
            drained_all = drained_all and bool(drained.get("drained"))
            deadline = time.monotonic() + STATE.settle
            previous = -1
            while True:  # the platform may still be reading frames the vehicles wrote last
                by = c.stats()["frames_by_command"]
                here = int(by.get("0x02", 0)) + int(by.get("0x03", 0))
                if here == previous or stored + here >= sent_data or time.monotonic() > deadline:
                    break
                previous = here
                gevent.sleep(0.5)
            stored += here
            by_shard.append(here)
            counters.update({k: int(v) for k, v in c.stats()["counters"].items()})
    out["drained"] = drained_all
    out["stored_by_shard"] = by_shard
    out.update(stored_data=stored, sent_data=sent_data, lost=sent_data - stored,
               duplicates=int(counters.get("duplicates", 0)), rejected=int(counters.get("rejected", 0)),
               relayed=int(counters.get("relayed", 0)), queue_depth=int(counters.get("queue_depth", 0)))
    if STATE.heal_at is not None and _proxies():
        out.update(cut_truth(sent_data, stored))
    local = control.get("local")
    if local:
        out.update(relay_truth(local))
    out["public_data_sent"] = public_data
    national = control.get("national")
    if national:
        with ControlClient(national) as c:
            by = c.stats()["frames_by_command"]
        out["national_data"] = int(by.get("0x02", 0)) + int(by.get("0x03", 0))
    return out


def cut_truth(sent_data: int, stored: int) -> dict[str, Any]:
    """After a partition, split the loss by where it happened, from the fault proxy's record of every
    byte: real-time data is never acknowledged (Annex B), so a frame on the wire when the link is cut
    is lost to both ends and no terminal can reissue it; what the proxy delivered must all be stored."""
    from harness.faults.client import FaultsClient, frames

    evidences = []
    for faults in _proxies():
        client = FaultsClient(faults)
        try:
            evidences.append(client.link(STATE.platform.get("link", "vehicles->enterprise")).evidence())
        finally:
            client.close()

    def data(side: str) -> int:
        return sum(1 for evidence in evidences for f in frames(evidence, flow="to_target", side=side)
                   if f[2] in (0x02, 0x03) and f[3] == 0xFE)

    received, delivered = data("in"), data("out")
    return {"proxy_received": received, "proxy_delivered": delivered, "lost": delivered - stored,
            "lost_at_cut": sent_data - delivered, "lost_before_proxy": sent_data - received}


RELAY_SAMPLE = 200  # public-service vehicles checked frame by frame at the end


def relay_truth(local: str) -> dict[str, Any]:
    """Frame by frame, for up to RELAY_SAMPLE public-service vehicles: every data frame the enterprise
    platform stored (duplicates aside: those are not relayed, by design) is stored by the local platform."""
    from harness.control import ControlClient

    p = STATE.profile
    shards = _shards()
    public = [i for i in range(STATE.vehicles + STATE.workers) if is_public(i, p.public_share)]
    checked = public[:RELAY_SAMPLE]
    missing = frames = 0
    clients = [ControlClient(shard["control"]) for shard in shards]
    try:
        with ControlClient(local) as cl:
            for i in checked:
                vin = make_vin(i)
                ce = clients[i % len(shards)]  # the enterprise process that holds vehicle i
                stored = {f["collected_at"] for f in ce.query_frames(vin, commands=(2, 3), decode=False)["frames"]
                          if not f["duplicate"]}
                relayed = {f["collected_at"] for f in cl.query_frames(vin, commands=(2, 3), decode=False)["frames"]}
                frames += len(stored)
                missing += len(stored - relayed)
    finally:
        for client in clients:
            client.close()
    return {"relay_checked_vehicles": len(checked), "relay_public_vehicles": len(public),
            "relay_checked_frames": frames, "relay_lost": missing}


def _cut(truth: dict[str, Any]) -> str:
    if "lost_at_cut" not in truth:
        return ""
    return (f" (of {truth['proxy_delivered']} the proxy delivered; {truth['lost_at_cut']} on the wire when the links "
            f"were cut, never acknowledged by the protocol)")


def print_summary(result: dict[str, Any], out: Any) -> None:
    truth = result.get("truth") or {}
    lines = [f"== campaign {result.get('profile')}: {result.get('vehicles')} vehicles, "
             f"{result.get('duration')} s, {result.get('workers')} workers"]
    if "error" in result:
        lines.append(f"   evaluation failed: {result['error']}")
    fleet = result.get("fleet") or {}
    lines.append(f"   data frames sent {result.get('sent_data')}, exchanges {result.get('exchanges')}, failures "
                 f"{result.get('failures')} (counted {result.get('counted_failures')}), backlog left "
                 f"{fleet.get('backlog')}")
    if truth.get("available"):
        lines.append(f"   platform stored {truth['stored_data']} data frames ({truth['duplicates']} duplicates): "
                     f"lost {truth['lost']}{_cut(truth)}; queue {truth['queue_depth']}; "
                     f"relay to the local platform checked for "
                     f"{truth.get('relay_checked_vehicles')} public vehicles ({truth.get('relay_checked_frames')} "
                     f"frames): lost {truth.get('relay_lost')}")
    else:
        lines.append(f"   server-side truth not available: {truth.get('why')}")
    for c in result.get("thresholds", []):
        lines.append(f"   {'met   ' if c['met'] else 'MISSED'} {c['name']}: {c['value']} (limit {c['limit']})")
    lines.append(f"== {'PASS' if result.get('passed') else 'FAIL'}")
    out.write("\n".join(lines) + "\n")
    out.flush()
