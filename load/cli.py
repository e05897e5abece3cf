"""`gbt32960 load`: a load campaign on locust, headless (CSV + HTML) or with the web UI.

    gbt32960 load --profile steady --vehicles 20000                       # embedded reference platforms
    gbt32960 load --profile steady --vehicles 20000 --target host:port --control host:port
    gbt32960 load --profile outage --vehicles 10000 --workers 2            # master + 2 worker processes
    gbt32960 load --profile steady --web                                  # the locust UI on :8089

Profiles: steady, rush-hour, outage, data-call, mixed-editions (or a YAML file), each with pass
thresholds; `--threshold NAME=VALUE` changes one. The exit status is 0 when every threshold is met,
1 when one is missed, 2 when the campaign could not run.

`--target reference` (default) starts the reference enterprise, local and national platforms with
Control in a subprocess (`python -m load.platform`), and fault proxies on the vehicle links in their
own processes; the vehicles go through the proxies when the profile cuts links (outage, or `--proxy`),
else straight to the enterprise platform. At the
end the campaign asks the platforms through Control what they stored and relayed and reports lost
frames. Against another platform, `--control HOST:PORT` names its Control service for the same truth
(without it, lost frames are not known and the thresholds on them are missed, never assumed).

Distributed (locust's own master/worker): `--workers K` starts a master and K worker processes here.
To spread a campaign over machines, run the master with `--expect-workers N --master-bind-host ADDR`
(and `--workers 0`, or some local ones), and on each other machine
`gbt32960 load --worker-of ADDR[:PORT] --workers K` with the same profile and vehicle count; the
master waits for N workers and starts when all are in.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.cli import register

from .profiles import PROFILES, Profile, load_profile

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
DEFAULT_MASTER_PORT = 5557
EXIT_PASS, EXIT_MISSED, EXIT_ERROR = 0, 1, 2


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="steady", help=f"campaign profile: {', '.join(PROFILES)}, or a YAML file")
    p.add_argument("--vehicles", type=int, help="vehicles (locust users); default: the profile's")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="run time; default: the profile's")
    p.add_argument("--spawn-rate", type=float, metavar="PER_SECOND", help="vehicles started per second")
    p.add_argument("--period", type=float, metavar="SECONDS", help="real-time report period (default: profile)")
    p.add_argument("--heartbeat", type=float, metavar="SECONDS", help="heartbeat period (default: profile)")
    p.add_argument("--sample-period", type=float, metavar="SECONDS",
                   help="how often a vehicle samples between reports, 0: only to report (default: 1 s when "
                   "the profile raises alarms, else 0)")
    p.add_argument("--outage", type=float, metavar="SECONDS", help="outage profile: how long links are cut")
    p.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                   help="change a pass threshold, e.g. p99_ack_ms=50 or error_rate=0 (repeatable; 'none' drops it)")
    p.add_argument("--target", default="reference",
                   help="'reference' (default: start the reference platforms) or HOST:PORT of a running platform")
    p.add_argument("--control", metavar="HOST:PORT", help="the target platform's Control service (server-side truth)")
    p.add_argument("--national-control", metavar="HOST:PORT", help="the national platform's Control (data calls)")
    p.add_argument("--faults", metavar="HOST:PORT", help="a fault proxy's Faults service on the vehicle links")
    p.add_argument("--faults-link", default="vehicles->enterprise", help="the proxy link to cut (outage)")
    p.add_argument("--proxy", action="store_true",
                   help="--target reference: vehicles connect through the fault proxy even when the profile "
                   "cuts no link (by default only the outage profile goes through it)")
    p.add_argument("--platform-shards", type=int, default=0, metavar="N",
                   help="--target reference: run the enterprise platform as N processes, vehicle i on process "
                   "i mod N (default 0: as many as the open-file limit asks for, one socket per vehicle)")
    p.add_argument("--workers", type=int, default=0,
                   help="worker processes on this machine (0: one process, no master)")
    p.add_argument("--expect-workers", type=int, metavar="N",
                   help="master: wait for N workers in all (default: --workers); the others run elsewhere")
    p.add_argument("--master-bind-host", default="127.0.0.1", help="master: address workers connect to")
    p.add_argument("--master-port", type=int, default=0, help="master: port (0: a free one, or 5557 with "
                   "--expect-workers)")
    p.add_argument("--worker-of", metavar="HOST[:PORT]", help="run only --workers worker processes for that master")
    p.add_argument("--web", action="store_true", help="serve the locust web UI while the campaign runs")
    p.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089, on 127.0.0.1)")
    p.add_argument("--out", type=Path, default=Path("reports/load"),
                   help="folder for stats CSV, report.html and result.json (default reports/load)")
    p.add_argument("--seed", type=int, default=1, help="seed of the vehicles' data")
    p.add_argument("--settle", type=float, default=30.0, help="max seconds to let the platform settle at the end")
    p.add_argument("--verbose", action="store_true", help="locust's periodic stats tables and logs")


@register("load", help="run a load campaign (locust vehicle users) with pass thresholds",
          description=__doc__, configure=configure)
def run(args: argparse.Namespace) -> int:
    try:
        profile = build_profile(args)
    except ValueError as exc:
        print(f"gbt32960 load: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.worker_of:
        return _run_workers(args, profile)
    return Campaign(args, profile).run()


def build_profile(args: argparse.Namespace) -> Profile:
    """The profile with the command line's changes."""
    p = load_profile(args.profile)
    changes: dict[str, Any] = {}
    for key, attr in (("vehicles", "vehicles"), ("duration", "duration"), ("spawn_rate", "spawn_rate"),
                      ("period", "report_period"), ("heartbeat", "heartbeat"), ("sample_period", "sample_period")):
        if getattr(args, key, None) is not None:
            changes[attr] = getattr(args, key)
    if getattr(args, "outage", None) is not None:
        changes["events"] = tuple(dict(e, seconds=args.outage) if e.get("action") == "partition" else e
                                  for e in p.events)
    p = p.with_(**changes)
    th: dict[str, Any] = {}
    for item in getattr(args, "threshold", []) or []:
        name, eq, value = item.partition("=")
        if not eq or not hasattr(p.thresholds, name) or name == "expected_failures":
            raise ValueError(f"bad --threshold {item!r}: NAME=VALUE with NAME one of "
                             "error_rate, p99_ack_ms, p99_ramp_ack_ms, lost_frames, relay_lost, online_share, "
                             "reissue_drained_within, data_calls_answered")
        th[name] = None if value.lower() == "none" else float(value)
    return p.with_thresholds(**th) if th else p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locust(*extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # the project, importable in every locust process
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def campaign_args(profile: Profile, *, target: str, platform: dict[str, Any], vehicles: int, workers: int,
                  duration: float, seed: int, settle: float, result: str = "") -> list[str]:
    """The campaign's own locust options (the same for the master and every worker)."""
    return ["--gbt-profile-json", json.dumps(profile.as_dict()), "--gbt-target", target,
            "--gbt-platform", json.dumps(platform), "--gbt-vehicles", str(vehicles),
            "--gbt-workers", str(max(1, workers)), "--gbt-duration", str(duration), "--gbt-seed", str(seed),
            "--gbt-settle", str(settle), *(["--gbt-result", result] if result else [])]


class Campaign:
    """Start the target (when reference), the locust master and workers; wait; collect the result."""

    def __init__(self, args: argparse.Namespace, profile: Profile) -> None:
        self.args, self.profile = args, profile
        self.out: Path = args.out
        self.procs: list[subprocess.Popen[bytes]] = []
        self.platform_proc: subprocess.Popen[bytes] | None = None

    def start_reference(self) -> dict[str, Any]:
        timers = dict(vars(self.profile.make_timers()))
        log = (self.out / "platform.log").open("wb")
        cmd = [sys.executable, "-m", "load.platform", "--vehicles", str(self.profile.vehicles),
               "--public-share", str(self.profile.public_share), "--timers", json.dumps(timers),
               "--monitor", "3", "--shards", str(self.args.platform_shards)]
        self.platform_proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603 - our interpreter
                                              stderr=log, env=_env())
        assert self.platform_proc.stdout is not None
        line = self.platform_proc.stdout.readline()  # one JSON line when ready (it prints nothing else)
        if not line:
            raise RuntimeError(f"the reference platforms did not start; see {self.out / 'platform.log'}")
        return json.loads(line)

    def run(self) -> int:
        a, p = self.args, self.profile
        self.out.mkdir(parents=True, exist_ok=True)
        result_path = self.out / "result.json"
        result_path.unlink(missing_ok=True)
        try:
            if a.target == "reference":
                platform = self.start_reference()
                if getattr(a, "proxy", False) or any(e.get("action") == "partition" for e in p.events):
                    target = platform["target"]  # through the fault proxy (the outage cuts the links there)
                else:
                    # straight to the enterprise platform: the proxy (its per-byte record) would cost
                    # the platform's process as much CPU again
                    target = platform["direct"]
                    platform = dict(platform, faults="", faults_all=[])
            else:
                target = a.target
                platform = {"control": {k: v for k, v in (("enterprise", a.control),
                                                           ("national", a.national_control)) if v},
                            "faults": a.faults or "", "link": a.faults_link}
            expect = a.expect_workers if a.expect_workers is not None else a.workers
            port = a.master_port or (DEFAULT_MASTER_PORT if expect > a.workers else _free_port())
            common = campaign_args(p, target=target, platform=platform, vehicles=p.vehicles, workers=expect,
                                   duration=p.duration, seed=a.seed, settle=a.settle, result=str(result_path))
            # no -t: the campaign greenlet on the master ends the run once every worker's last stats are in
            master = _locust("-u", str(p.vehicles), "-r", str(p.spawn_rate), "--stop-timeout", "10",
                             "--csv", str(self.out / "stats"), "--html",
                             str(self.out / "report.html"), "--loglevel", "INFO" if a.verbose else "WARNING",
                             *([] if a.verbose else ["--only-summary"]), *common)
            if a.web:
                master += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(a.web_port)]
                print(f"locust web UI: http://127.0.0.1:{a.web_port}/", file=sys.stderr)
            else:
                master.append("--headless")
            if expect:
                master += ["--master", "--expect-workers", str(expect), "--expect-workers-max-wait", "120",
                           "--master-bind-host", a.master_bind_host, "--master-bind-port", str(port)]
            m = subprocess.Popen(master, env=_env())  # noqa: S603 - our interpreter running locust
            self.procs.append(m)
            for _ in range(a.workers):
                self.procs.append(subprocess.Popen(  # noqa: S603 - our interpreter running locust
                    _locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                            "--loglevel", "INFO" if a.verbose else "WARNING", *common), env=_env()))
            limit = p.duration + 120 + 2 * a.settle + (120 if expect > a.workers else 0)
            try:
                rc = m.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                print(f"gbt32960 load: the campaign did not end within {limit:g} s", file=sys.stderr)
                return EXIT_ERROR
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"gbt32960 load: {exc}", file=sys.stderr)
            return EXIT_ERROR
        finally:
            self.stop()
        if not result_path.exists():
            print("gbt32960 load: the campaign ended without a result (see the output above)", file=sys.stderr)
            return EXIT_ERROR
        print(f"stats: {self.out}/stats_stats.csv, report: {self.out}/report.html, result: {result_path}",
              file=sys.stderr)
        return EXIT_PASS if rc == 0 else EXIT_MISSED if rc == 1 else EXIT_ERROR

    def stop(self) -> None:
        for proc in self.procs[1:] + self.procs[:1]:
            try:
                # the master judged the run with every worker's last stats in hand; a worker idles out its
                # --stop-timeout before it reads the master's quit, so it need not be waited for long
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.platform_proc is not None:
            proc = self.platform_proc
            assert proc.stdin is not None
            proc.stdin.close()  # it stops when stdin closes
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _run_workers(args: argparse.Namespace, profile: Profile) -> int:
    """Workers for a master on another machine (same profile and vehicle count as the master's)."""
    host, _, port = args.worker_of.partition(":")
    if args.target == "reference":
        print("gbt32960 load --worker-of: give --target HOST:PORT (the platform the vehicles connect to)",
              file=sys.stderr)
        return EXIT_ERROR
    expect = args.expect_workers or args.workers
    common = campaign_args(profile, target=args.target, platform={}, vehicles=profile.vehicles, workers=expect,
                           duration=profile.duration, seed=args.seed, settle=args.settle)
    procs = [subprocess.Popen(_locust("--worker", "--master-host", host, "--master-port",  # noqa: S603
                                      port or str(DEFAULT_MASTER_PORT), *common), env=_env())
             for _ in range(max(1, args.workers))]
    codes = [proc.wait() for proc in procs]
    return EXIT_PASS if all(c == 0 for c in codes) else EXIT_ERROR

