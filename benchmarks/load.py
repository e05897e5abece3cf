"""Load-campaign figures (issue 9): prints tables, never fails.

    python benchmarks/load.py            # about 10 minutes on the project's 2-core machine
    python benchmarks/load.py --quick    # a smoke run of every part (well under a minute)

1. Vehicles per locust worker process at a 10 s and a 1 s report period, with the worker's CPU
   (mean over the reports after the ramp): one worker, `steady` campaigns of growing fleets against
   the reference platforms (started by `gbt32960 load --target reference`, in their own process).
   A fleet is sustained when every `steady` threshold is met and the worker's CPU stays under 90 %.
2. The reference enterprise platform's capacity: the largest fleet at a 10 s period within the
   `steady` thresholds (p99 ack latency under 100 ms, error rate, nothing lost), from the same runs
   (the larger fleets with two workers). The platform and the load share this machine's cores.
3. The `outage` profile's drain time: 10,000 vehicles, all links cut for 60 s, then healed: time from
   the heal until every vehicle's reissue backlog is empty.

Targets (printed met / missed): one worker sustains 10,000 vehicles at 10 s; the platform holds 20,000
vehicles at 10 s with p99 ack latency under 100 ms; zero loss.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_LIMIT = 90.0


def campaign(profile: str, vehicles: int, duration: float, *, period: float, workers: int = 1,
             spawn_rate: float = 500.0, extra: tuple[str, ...] = ()) -> dict:
    out = Path(tempfile.mkdtemp(prefix="gbt32960-bench-load-"))
    cmd = [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))", "load",
           "--profile", profile, "--vehicles", str(vehicles),
           "--duration", str(duration), "--period", str(period), "--spawn-rate", str(spawn_rate),
           "--workers", str(workers), "--out", str(out), *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env())
    try:
        result = json.loads((out / "result.json").read_text())
    except (OSError, ValueError):
        result = {"passed": False, "error": (proc.stderr or "")[-800:]}
    result["rc"] = proc.returncode
    result["wall"] = time.monotonic() - t0
    ramp = vehicles / spawn_rate + 2  # CPU after the ramp: the sustained load
    cpus = [c for samples in (result.get("worker_cpu") or {}).values() for t, c in samples if t > ramp]
    result["cpu_mean"] = statistics.fmean(cpus) if cpus else None
    result["cpu_max"] = max(cpus) if cpus else None
    return result


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _fmt(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def row(r: dict, vehicles: int, workers: int) -> str:
    truth = r.get("truth") or {}
    missed = [c["name"] for c in r.get("thresholds", []) if not c["met"]]
    return (f"| {vehicles:,} | {workers} | {_fmt(r.get('cpu_mean'), '.0f')} % (max {_fmt(r.get('cpu_max'), '.0f')}) | "
            f"{_fmt(r.get('p99_ack_ms'))} ms | {_fmt(r.get('error_rate'), '.4f')} | {r.get('sent_data', '-')} | "
            f"{truth.get('lost', '-')} | {'met' if r.get('passed') else 'missed: ' + ', '.join(missed or ['run'])} |")


def sustained(r: dict) -> bool:
    return bool(r.get("passed")) and r.get("cpu_mean") is not None and r["cpu_mean"] < CPU_LIMIT


ROW = re.compile(r"^\| ([\d,]+) \| (\d+) \| (\d+) % \(max \d+\) \| (\d+) ms \|", re.MULTILINE)


def plot(text: str, path: str) -> None:
    """Capacity plot (vehicles vs steady p99 ack latency, per report period) from this script's output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for section in text.split("## steady, report period ")[1:]:
        period = section.split(" ", 1)[0]
        pts = [(int(m.group(1).replace(",", "")), int(m.group(4))) for m in ROW.finditer(section)]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=f"report period {period} s")
    ax.axhline(100, color="red", linestyle="--", linewidth=1, label="steady threshold 100 ms")
    ax.set_xlabel("vehicles")
    ax.set_ylabel("p99 ack latency, steady state (ms)")
    ax.set_title("Reference enterprise platform + locust load, one 2-core machine")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny fleets and short runs: a smoke test of every part")
    ap.add_argument("--plot-from", metavar="OUTPUT", help="only draw the capacity plot from a saved output of "
                    "this script (needs matplotlib), into --plot")
    ap.add_argument("--plot", metavar="PNG", default="docs/load-capacity.png", help="where --plot-from draws")
    args = ap.parse_args()
    if args.plot_from:
        plot(Path(args.plot_from).read_text(encoding="utf-8"), args.plot)
        return 0
    if args.quick:
        series = {10.0: [(60, 1)], 1.0: [(40, 1)]}
        duration, outage = (lambda n: 6.0), dict(vehicles=40, seconds=3.0, duration=12.0, period=1.0)
    else:
        series = {10.0: [(2000, 1), (5000, 1), (10000, 1), (20000, 2)], 1.0: [(500, 1), (1000, 1), (2000, 1)]}
        duration, outage = (lambda n: n / 500 + 40.0), dict(vehicles=10000, seconds=60.0, duration=150.0, period=10.0)
    print(f"# load campaigns on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}{' (quick)' if args.quick else ''}\n")
    best: dict[float, int] = {}
    capacity = 0
    cap_p99 = None
    losses: list = []
    for period, sizes in series.items():
        print(f"## steady, report period {period:g} s, heartbeat 30 s\n")
        print("| vehicles | workers | worker CPU | p99 ack | error rate | data frames | lost | steady thresholds |")
        print("|---|---|---|---|---|---|---|---|")
        for vehicles, workers in sizes:
            r = campaign("steady", vehicles, duration(vehicles), period=period, workers=workers)
            print(row(r, vehicles, workers), flush=True)
            losses.append((r.get("truth") or {}).get("lost"))
            if workers == 1 and sustained(r):
                best[period] = max(best.get(period, 0), vehicles)
            if period == 10.0 and r.get("passed"):
                capacity, cap_p99 = max(capacity, vehicles), r.get("p99_ack_ms")
        print()
    print("## outage\n")
    o = campaign("outage", int(outage["vehicles"]), outage["duration"], period=outage["period"],
                 extra=("--outage", str(outage["seconds"])))
    truth = o.get("truth") or {}
    print(f"{outage['vehicles']:,} vehicles, links cut {outage['seconds']:g} s: drain time after the heal "
          f"{_fmt(o.get('drain_seconds'), '.1f')} s; lost at the platform {truth.get('lost', '-')}, on the wire at "
          f"the cut {truth.get('lost_at_cut', '-')}; thresholds {'met' if o.get('passed') else 'missed'}\n")
    losses.append(truth.get("lost"))
    print("## targets\n")
    w10 = best.get(10.0, 0)
    print(f"- one worker sustains 10,000 vehicles at 10 s: {'met' if w10 >= 10000 else 'missed'} "
          f"(largest sustained: {w10:,}; at 1 s: {best.get(1.0, 0):,})")
    print(f"- platform holds 20,000 vehicles at 10 s with p99 ack < 100 ms: {'met' if capacity >= 20000 else 'missed'} "
          f"(largest fleet within the steady thresholds: {capacity:,}, p99 {_fmt(cap_p99)} ms)")
    print(f"- zero loss (platform side, from Control, every run above): "
          f"{'met' if losses and all(x == 0 for x in losses) else 'missed'} (lost per run: {losses})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
