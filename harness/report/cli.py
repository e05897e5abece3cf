"""`gbt32960 report …`: HTML and JUnit reports from results.json files, and several runs merged.

    gbt32960 report html out/results.json -o out/            # PCTR-style HTML of one run
    gbt32960 report merge a/results.json b/results.json -o merged/   # several SUTs side by side
    gbt32960 report junit out/results.json -o out/junit.xml  # JUnit XML for CI
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from harness.cli import EXIT_OK, InputError, register

from .html import run_folders, write_html
from .json_report import RESULTS_FILE, ResultsError, load
from .junit import write_junit
from .model import RunResult

__all__ = ["run_report"]


def _configure(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    h = subs.add_parser("html", help="write the HTML report of one run",
                        description="Write index.html (cover, PICS, PIXIT, clause x verdict matrix, summary) and "
                                    "one page per case under cases/ into DIR. Evidence files (pcap, decoded log) "
                                    "are copied next to the report when DIR is not the results' folder.")
    h.add_argument("results", metavar="RESULTS", help="a results.json (or the folder holding it)")
    h.add_argument("-o", "--output", metavar="DIR", required=True, help="folder to write the report into")
    m = subs.add_parser("merge", help="compare several runs (SUTs) side by side",
                        description="Write a comparison index.html (SUT identities and a case x SUT verdict "
                                    "matrix) into DIR, and each run's full report with its results.json and "
                                    "evidence files in a sub-folder per SUT.")
    m.add_argument("results", nargs="+", metavar="RESULTS", help="results.json files (or folders holding one)")
    m.add_argument("-o", "--output", metavar="DIR", required=True, help="folder to write the merged report into")
    j = subs.add_parser("junit", help="write the JUnit XML of one run",
                        description="Write the run as JUnit XML: FAIL -> failure, ERROR and XPASS -> error, "
                                    "INCONC, N/A and XFAIL -> skipped; the exact verdict is a property.")
    j.add_argument("results", metavar="RESULTS", help="a results.json (or the folder holding it)")
    j.add_argument("-o", "--output", metavar="FILE", required=True, help="the junit.xml to write")


def _results_file(path: str) -> Path:
    p = Path(path)
    return p / RESULTS_FILE if p.is_dir() else p


def _load(path: Path) -> RunResult:
    try:
        return load(path)
    except ResultsError as exc:  # bad input: exit status 2 with every schema problem listed
        raise InputError(str(exc)) from exc


def _copy_results(src: Path, out: Path) -> None:
    # the report folder holds its own results.json, so it can be moved or archived as one piece
    target = out / RESULTS_FILE
    if src.resolve() != target.resolve():
        shutil.copy2(src, target)


@register(
    "report",
    help="write HTML (PCTR-style) or JUnit reports from results.json; merge several runs",
    description="Reports from the results.json a conformance run writes.\n\n"
                "  html   one run: index.html, cases/*.html (self-contained, no script, inline CSS)\n"
                "  merge  several runs: a case x SUT comparison and each run's report\n"
                "  junit  one run as JUnit XML",
    epilog="examples:\n"
           "  gbt32960 report html out/results.json -o out/\n"
           "  gbt32960 report merge out1/results.json out2/results.json -o merged/\n"
           "  gbt32960 report junit out/results.json -o out/junit.xml\n\n"
           "exit status: 0 written, 2 bad input (a missing or unreadable file, JSON that does not match the schema)",
    configure=_configure,
)
def run_report(args: argparse.Namespace) -> int:
    files = [_results_file(p) for p in (args.results if isinstance(args.results, list) else [args.results])]
    runs = [_load(f) for f in files]
    out = Path(args.output)
    if args.report_command == "junit":
        print(write_junit(runs[0], out))
        return EXIT_OK
    if args.report_command == "html":
        index = write_html(runs[0], out, sources=[files[0].parent])
        _copy_results(files[0], out)
    else:
        index = write_html(runs, out, sources=[f.parent for f in files])
        if len(runs) > 1:
            for f, folder in zip(files, run_folders(runs), strict=True):
                _copy_results(f, out / folder)
        else:
            _copy_results(files[0], out)
    print(index)
    return EXIT_OK
