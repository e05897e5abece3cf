"""How long the GB/T 32960.3 conformance catalogue takes, embedded, compressed timers: prints figures;
never fails on speed.

    python benchmarks/catalogue.py             # every role: enterprise, local, national, terminal
    python benchmarks/catalogue.py --role terminal

Target (issue 6): the full embedded catalogue (scenarios/gbt32960_3 and scenarios/robustness, both
editions, every role) in under 3 minutes on this machine. Each role is one `pytest` run in a
subprocess, as `gbt32960 conformance` runs it (topology start-up included); the roles run one after
another, so the total is their sum. The load of other work on the machine counts: the load average
is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ("scenarios/gbt32960_3", "scenarios/robustness")
ROLES = ("enterprise", "local", "national", "terminal")
TARGET_SECONDS = 180.0


def run_role(role: str) -> tuple[float, Counter[str]]:
    """Wall seconds and verdict counts of one role's catalogue run."""
    with tempfile.TemporaryDirectory(prefix="gbt32960-catalogue-") as out:
        args = [sys.executable, "-m", "pytest", *CATALOGUE, "-q", "-p", "no:cacheprovider", "--role", role,
                "--report", out]
        t0 = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        took = time.perf_counter() - t0
        results = Path(out) / "results.json"
        if not results.exists():
            raise SystemExit(f"{role}: no results\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return took, Counter(c["verdict"] for c in json.loads(results.read_text())["cases"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", action="append", choices=ROLES, help="only these roles (repeatable; default all)")
    args = p.parse_args(argv)
    roles = args.role or list(ROLES)
    print(f"catalogue {' + '.join(CATALOGUE)}, embedded, compressed timers, both editions; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    total, cases, verdicts = 0.0, 0, Counter[str]()
    for role in roles:
        took, counts = run_role(role)
        n = sum(counts.values())
        total, cases = total + took, cases + n
        verdicts += counts
        print(f"  {role:<11} {n:4d} cases  {took:7.1f} s  " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
              flush=True)
    met = "met" if total < TARGET_SECONDS and len(roles) == len(ROLES) else "missed" if len(roles) == len(ROLES) \
        else "n/a (not every role)"
    print(f"  total       {cases:4d} cases  {total:7.1f} s  (target < {TARGET_SECONDS:.0f} s for every role: {met}); "
          f"load average {os.getloadavg()[0]:.2f} at end")
    return 0 if set(verdicts) <= {"PASS", "N/A"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
