"""`gbt32960 conformance`: run the conformance catalogue (pytest underneath) against a SUT.

    gbt32960 conformance                                   # the embedded reference platform, both editions
    gbt32960 conformance --sut docker --report out/        # our images, in containers
    gbt32960 conformance --sut tcp://10.0.0.5:32960 --pics pics.yaml --pixit pixit.yaml
    gbt32960 conformance --list                            # every role's cases, their clauses and requirements
    gbt32960 conformance --role terminal                   # a T-Box as the SUT (our simulator by default)

Exit status: 0 when no case is FAIL, ERROR or XPASS; 1 otherwise; 5 when nothing was selected.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import register


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sut", default="reference", help="reference (default), docker, or tcp://HOST:PORT")
    p.add_argument("--sut-image", default=None, help="the maker's platform image, run like ours")
    p.add_argument("--role", default=None, choices=("enterprise", "local", "national", "terminal"),
                   help="the role the SUT plays (default enterprise; --list without --role lists every role's)")
    p.add_argument("--pics", default=None, help="PICS YAML: features the SUT claims, expected failures")
    p.add_argument("--pixit", default=None, help="PIXIT YAML: addresses, credentials, vehicles, timers")
    p.add_argument("--edition", default="both", choices=("2016", "2025", "both"))
    p.add_argument("--case", action="append", default=[], metavar="ID", help="select by case id (globs; repeatable)")
    p.add_argument("--clause", action="append", default=[], metavar="CLAUSE", help="select by clause prefix")
    p.add_argument("--strict", action="store_true", help="run SHOULD-level cases too")
    p.add_argument("--timers", default="compressed", choices=("compressed", "standard"))
    p.add_argument("--report", default=None, metavar="DIR", help="write junit.xml, results.json, index.html")
    p.add_argument("--list", action="store_true", help="list the selected cases without running them")
    p.add_argument("--sut-defect", action="append", default=[], metavar="NAME",
                   help="self-tests of the harness only: switch a defect on in the reference SUT")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="anything after -- goes to pytest")


def pytest_args(args: argparse.Namespace) -> list[str]:
    import scenarios

    out = [str(Path(scenarios.__file__).parent), "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
           "-o", "asyncio_default_fixture_loop_scope=function", "--sut", args.sut,
           "--role", args.role or ("all" if args.list else "enterprise"),
           "--edition", args.edition, "--timers", args.timers, "-v" if args.verbose else "-q"]
    for name in ("sut_image", "pics", "pixit", "report"):
        if getattr(args, name):
            out += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    for cid in args.case:
        out += ["--case", cid]
    for clause in args.clause:
        out += ["--clause", clause]
    for defect in args.sut_defect:
        out += ["--sut-defect", defect]
    if args.strict:
        out.append("--strict-cases")
    if args.list:
        out.append("--list-cases")
    return out + [a for a in args.pytest_args if a != "--"]


@register("conformance", help="run the conformance cases against a SUT and report a verdict per clause",
          description=__doc__ or "", configure=configure)
def run(args: argparse.Namespace) -> int:
    import pytest

    return int(pytest.main(pytest_args(args)))
