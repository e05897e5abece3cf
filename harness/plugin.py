"""The pytest plugin: options, markers, fixtures and verdicts of a conformance run.

Registered through the `pytest11` entry point. Only tests marked `@case(...)` are conformance
cases; the project's own tests pass through untouched.

Verdicts (design.md §3.5): PASS; FAIL (the SUT misbehaved: an assertion, no answer in time, a link
closed, an ill-formed frame); ERROR (a harness or environment fault); INCONC (could not decide: a
skip, a pytest-timeout); N/A (the PICS says the SUT does not claim the feature); XFAIL/XPASS
(declared expected failures; an XPASS is red). A skip or timeout is never a PASS, and a run that
selects no case fails.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.protocol import errors as proto_errors
from harness.protocol.timers import Timers
from harness.report.model import RED, CaseResult, Evidence, FieldDiff, FrameEvidence, RunResult, Sut
from harness.topology.base import StimulusUnavailable
from harness.wire import LinkClosed, RawLink, Wire

CASE_RESULTS = pytest.StashKey[list[CaseResult]]()
RUN = pytest.StashKey[RunResult]()
ITEM_EVIDENCE = pytest.StashKey[Evidence]()
ITEM_PHASES = pytest.StashKey[dict[str, pytest.TestReport]]()

# failures that mean "the SUT did not behave": everything else in a case is a harness ERROR
SUT_FAILURES = (AssertionError, TimeoutError, LinkClosed, proto_errors.ProtocolError)

# a terminal SUT's calendar runs report_period / 10 s times faster (see harness/topology/terminal.py), so
# alarm_period 0.05 reads as its 1 s; the power-off timers are squeezed harder to keep cases short
COMPRESSED = Timers(tick=0.02, response_timeout=0.3, control_resend=0.3, platform_login_retry=0.3,
                    login_backoff=2.0, idle_timeout=2.0, data_resend=0.3, heartbeat=0.5, report_period=0.5,
                    terminal_login_retry=0.5, alarm_period=0.05, alarm_window=1.5, after_power_off=1.5,
                    post_drive_monitoring=3.0)


class NotApplicable(Exception):
    """Raised (or turned into a skip) when the PICS says the SUT does not claim a feature."""


# ------------------------------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("gbt32960", "GB/T 32960 conformance")
    g.addoption("--sut", default="reference",
                help="what is tested: reference (embedded, default), docker (our images), tcp://HOST:PORT (a running "
                     "platform), or external (with --role terminal: a T-Box set up by the PIXIT's terminal: section)")
    g.addoption("--sut-image", default=None, help="the maker's platform image (docker backend)")
    g.addoption("--role", default="enterprise", choices=("enterprise", "local", "national", "terminal", "all"),
                help="the role the SUT plays (default enterprise); all: every role's cases, with --list-cases only")
    g.addoption("--pics", default=None, help="PICS YAML: the features the SUT claims")
    g.addoption("--pixit", default=None, help="PIXIT YAML: addresses, credentials, vehicles, timers")
    g.addoption("--edition", default="both", choices=("2016", "2025", "both"), help="editions to test")
    g.addoption("--case", action="append", default=[], metavar="ID",
                help="select cases by id (globs allowed, repeatable), e.g. 'NOTICE-2016/1.2/b/*'")
    g.addoption("--clause", action="append", default=[], metavar="CLAUSE",
                help="select cases by clause prefix, e.g. 7.2 or B.3.5")
    # pytest owns --strict; `gbt32960 conformance --strict` maps to this
    g.addoption("--strict-cases", action="store_true", help="run SHOULD-level cases too")
    g.addoption("--timers", default="compressed", choices=("compressed", "standard"),
                help="the standard's timers, or compressed (default) so the suite runs in minutes")
    g.addoption("--report", default=None, metavar="DIR", help="write junit.xml, results.json and index.html here")
    g.addoption("--sut-defect", action="append", default=[], metavar="NAME",
                help="self-tests only: switch a defect on in the reference SUT")
    g.addoption("--list-cases", action="store_true", help="list the selected cases and exit")
    g.addoption("--can-interface", default=None, metavar="NAME",
                help="GB/T 27930 cases: test an external BMS or charger on this python-can interface (socketcan, "
                     "virtual, ...) instead of our simulator; PICS charging.role says which (docs/charging.md)")
    g.addoption("--can-channel", default=None, metavar="NAME", help="its CAN channel, e.g. can0 or vcan0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "case(id, requirement, strict=False): a conformance case and its clause")
    config.addinivalue_line("markers", "needs(pics): the case is N/A unless the PICS claims this feature")
    config.addinivalue_line("markers", "role(*roles): the SUT roles this case applies to")
    config.stash[CASE_RESULTS] = []
    if _opt(config, "role") == "all" and not _opt(config, "list_cases"):
        raise pytest.UsageError("--role all only lists cases (--list-cases): a run tests one role at a time")


def _opt(config: pytest.Config, name: str) -> Any:
    try:
        return config.getoption(name)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------ PICS / PIXIT


def _yaml(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml

    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def pics_claims(pics: dict[str, Any], dotted: str) -> bool:
    """Whether the PICS claims a feature, e.g. "encryption.sm4" or "data_call.mode=terminal-link"."""
    key, _, wanted = dotted.partition("=")
    node: Any = pics.get("features", pics)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return str(node) == wanted if wanted else bool(node)


DEFAULT_PICS: dict[str, Any] = {
    "features": {"editions": [2016, 2025], "control": True, "response_style": "time-only",
                 "data_call": {"mode": "platform-forward"}, "relay": True, "encryption": {}},
}
REFERENCE_PICS = Path(__file__).resolve().parents[1] / "reference_impl" / "examples" / "pics.yaml"


def run_pics(config: pytest.Config) -> dict[str, Any]:
    """The run's PICS: --pics; else our reference platform's (or terminal simulator's) own PICS when it
    is the SUT; else the basic claims every platform makes (no encryption: a SUT claims that in its PICS)."""
    given = _yaml(_opt(config, "pics"))
    if given:
        return given
    sut, role = _opt(config, "sut") or "reference", _opt(config, "role") or "enterprise"
    if sut == "reference" and role == "terminal":
        from harness.topology.terminal import SIMULATOR_PICS

        # the basic claims, and what the simulator adds (encryption)
        return {**SIMULATOR_PICS, "features": {**DEFAULT_PICS["features"], **SIMULATOR_PICS["features"]}}
    if sut in ("reference", "docker") and role != "terminal" and not _opt(config, "sut_image") \
            and REFERENCE_PICS.exists():
        return _yaml(str(REFERENCE_PICS))
    return DEFAULT_PICS


# ------------------------------------------------------------------------------------ selection


def case_marker(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("case")


def case_id(item: pytest.Item) -> str:
    mark = case_marker(item)
    assert mark is not None
    edition = item.callspec.params.get("edition", "") if hasattr(item, "callspec") else ""
    return str(mark.args[0]).format(edition=edition)


def clause_of(cid: str) -> tuple[str, str]:
    """("GBT32960.3-2016", "B.3.5.2") from "GBT32960.3-2016/B.3.5.2/01"."""
    parts = cid.split("/")
    return parts[0], "/".join(parts[1:-1]) if len(parts) > 2 else (parts[1] if len(parts) > 1 else "")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "edition" in metafunc.fixturenames and metafunc.definition.get_closest_marker("case"):
        chosen = _opt(metafunc.config, "edition") or "both"
        editions = [2016, 2025] if chosen == "both" else [int(chosen)]
        metafunc.parametrize("edition", editions, ids=[str(e) for e in editions])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted_cases = _opt(config, "case") or []
    wanted_clauses = _opt(config, "clause") or []
    role = _opt(config, "role") or "enterprise"
    strict = _opt(config, "strict_cases")
    pics = run_pics(config)
    expected = pics.get("expected_failures", {}) or {}
    keep, drop = [], []
    for item in items:
        mark = case_marker(item)
        if mark is None:
            if wanted_cases or wanted_clauses:
                drop.append(item)  # a case selection runs cases only
            else:
                keep.append(item)
            continue
        cid = case_id(item)
        _, clause = clause_of(cid)
        roles = item.get_closest_marker("role")
        selected = (
            (not wanted_cases or any(fnmatch.fnmatchcase(cid, pat) for pat in wanted_cases))
            and (not wanted_clauses or any(clause.startswith(c) or cid.startswith(c) for c in wanted_clauses))
            and (roles is None or role in roles.args or role == "all")
            and (strict or not mark.kwargs.get("strict", False))
        )
        if not selected:
            drop.append(item)
            continue
        if cid in expected:
            item.add_marker(pytest.mark.xfail(strict=True, reason=str(expected[cid])))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _opt(session.config, "list_cases"):
        return
    rows = []
    for item in session.items:
        mark = case_marker(item)
        if mark is not None:
            cid = case_id(item)
            edition = str(item.callspec.params.get("edition", "")) if hasattr(item, "callspec") else ""
            roles = item.get_closest_marker("role")
            rows.append((cid, edition, ",".join(roles.args) if roles else "any", clause_of(cid)[1],
                         mark.kwargs.get("requirement", "")))
    tw = session.config.get_terminal_writer()
    tw.line(f"{'case':<36} {'edition':<8} {'role':<11} {'clause':<10} requirement")
    for cid, edition, roles, clause, req in rows:
        tw.line(f"{cid:<36} {edition:<8} {roles:<11} {clause:<10} {req}")
    by_role: dict[str, int] = {}
    for row in rows:
        by_role[row[2]] = by_role.get(row[2], 0) + 1
    tw.line(f"{len(rows)} cases (" + ", ".join(f"{r}: {n}" for r, n in sorted(by_role.items())) + ")")
    pytest.exit("cases listed, none run", returncode=0 if rows else pytest.ExitCode.NO_TESTS_COLLECTED)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def pics(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The PICS: which role and features the SUT claims."""
    return run_pics(pytestconfig)


@pytest.fixture(scope="session")
def pixit(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The PIXIT: addresses, credentials, vehicles and timers for this SUT."""
    return _yaml(_opt(pytestconfig, "pixit"))


@pytest.fixture(scope="session")
def timers(pytestconfig: pytest.Config, pixit: dict[str, Any]) -> Timers:
    """Every timer of the standards, from one place (compressed unless --timers standard)."""
    base = COMPRESSED if (_opt(pytestconfig, "timers") or "compressed") == "compressed" else Timers()
    return base.with_(**pixit.get("timers", {})) if pixit.get("timers") else base


@pytest.fixture(scope="session")
def topology(pytestconfig: pytest.Config, timers: Timers, pixit: dict[str, Any]) -> Iterator[Any]:
    """Every party of the run, by role; which backend runs them is not the case's business."""
    from harness.topology import build

    topo = build(sut=_opt(pytestconfig, "sut") or "reference", image=_opt(pytestconfig, "sut_image"),
                 role=_opt(pytestconfig, "role") or "enterprise", timers=timers, pixit=pixit,
                 defects=frozenset(_opt(pytestconfig, "sut_defect") or ()))
    pytestconfig.stash[_TOPOLOGY] = topo
    yield topo
    topo.close()


_TOPOLOGY = pytest.StashKey[Any]()


@pytest.fixture
def sut(topology: Any) -> Any:
    """The party under test."""
    return topology.sut


@pytest.fixture
def upstream(topology: Any) -> Any:
    """The local and national platforms as the harness plays them (`.local`, `.national`)."""
    return topology


@pytest.fixture
def faults(topology: Any) -> Any:
    """The fault proxy's client, when the topology puts a proxy on the links."""
    return topology.faults


class NoControl:
    """Stands in for the Control client of a SUT that offers none: any use makes the case INCONC."""

    def __getattr__(self, name: str) -> Any:
        raise StimulusUnavailable(f"the SUT offers no Control service ({name}): this case cannot decide")


def control_of(topology: Any) -> Any:
    """The SUT's Control client as the topology has it now (a restart replaces it); a `NoControl` when
    the SUT offers none (using it makes the case INCONC)."""
    return topology.extra.get("control") or NoControl()


@pytest.fixture
def control(topology: Any) -> Any:
    """The SUT's Control client (`control_of`)."""
    return control_of(topology)


@pytest.fixture
def wire(request: pytest.FixtureRequest) -> Wire:
    """The evidence recorder of this case: every frame on the harness's own links."""
    w = Wire()
    request.node.stash[_WIRE] = w
    return w


_WIRE = pytest.StashKey[Wire]()


@dataclass
class Expect:
    """Checks that record expected vs actual as field-level evidence before they fail."""

    evidence: Evidence

    def equal(self, path: str, expected: Any, actual: Any, message: str = "") -> None:
        if expected != actual:
            self.evidence.diff.append(FieldDiff(path, _plain(expected), _plain(actual)))
            raise AssertionError(message or f"{path}: expected {expected!r}, got {actual!r}")

    def true(self, condition: bool, message: str, *, path: str = "", expected: Any = True, actual: Any = False) -> None:
        if not condition:
            if path:
                self.evidence.diff.append(FieldDiff(path, _plain(expected), _plain(actual)))
            raise AssertionError(message)

    def count(self, name: str, value: float) -> None:
        self.evidence.counts[name] = value

    def note(self, text: str) -> None:
        self.evidence.notes.append(text)


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v if isinstance(v, (str, int, float, bool, type(None), dict)) else repr(v)


@pytest.fixture
def expect(request: pytest.FixtureRequest) -> Expect:
    """expect.equal(path, expected, actual): an assertion that leaves a field-level diff."""
    return Expect(request.node.stash.setdefault(ITEM_EVIDENCE, Evidence()))


@dataclass
class Fleet:
    """The harness's vehicles: raw links to the SUT that record every frame in the case's wire."""

    topology: Any
    wire: Wire
    links: list[RawLink] = field(default_factory=list)

    async def link(self, name: str) -> RawLink:
        sut = self.topology.sut
        link = await RawLink.open(sut.host, sut.port, self.wire, name)
        self.links.append(link)
        return link

    async def close(self) -> None:
        for link in self.links:
            await link.close()


@pytest.fixture
async def fleet(topology: Any, wire: Wire) -> AsyncIterator[Fleet]:
    """Simulated vehicles as raw links to the SUT; closed after the case."""
    f = Fleet(topology, wire)
    yield f
    await f.close()


def _case_edition(request: pytest.FixtureRequest) -> int:
    """The case's edition: its `edition` parameter, or the one its id names (an edition-only case)."""
    if "edition" in request.fixturenames:
        return int(request.getfixturevalue("edition"))
    mark = request.node.get_closest_marker("case")
    return 2025 if mark is not None and "-2025/" in str(mark.args[0]) else 2016


@pytest.fixture
async def platform(topology: Any, wire: Wire, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """--role terminal: the enterprise platform the harness plays, listening for the terminal SUT."""
    from harness.topology.scripted import ScriptedPlatform

    edition = _case_edition(request)
    rig = topology.extra.get("terminal_rig")
    if rig is None:
        pytest.skip("N/A: this case needs --role terminal")
    if edition not in rig.editions():
        pytest.skip(f"N/A: the terminal does not claim the {edition} edition")
    p = await ScriptedPlatform(wire, "platform").listen(*rig.listen_address())
    yield p
    await p.close()


@pytest.fixture
async def tbox(topology: Any, platform: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """--role terminal: the terminal under test, set to report to `platform`; powered on by the case."""
    rig = topology.extra["terminal_rig"]
    t = rig.make(_case_edition(request), platform.host, platform.port)
    yield t
    await t.close()


# ------------------------------------------------------------------------------------ verdicts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if case_marker(item) is None:
        if report.failed:
            item.config.stash[_PLAIN_FAILED] = True  # a project test failed: its failure must show in the exit
        return report
    if report.when == "call" and call.excinfo is not None:
        item.stash[_EXC] = call.excinfo.type
    if report.when == "call":
        # before teardown: the last case's teardown also closes the session's topology
        topo = item.config.stash.get(_TOPOLOGY, None)
        if topo is not None and topo.faults is not None:
            item.stash.setdefault(ITEM_EVIDENCE, Evidence()).frames.extend(_proxy_frames(item.config, topo.faults))
    item.stash.setdefault(ITEM_PHASES, {})[report.when] = report
    if report.when == "teardown":
        _record(item)
    return report


def verdict_of(phases: dict[str, pytest.TestReport]) -> tuple[str, str]:
    """Map pytest's outcomes of setup, call and teardown to a verdict and its reason."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    if setup is not None and setup.failed:
        return "ERROR", f"setup failed: {_first_line(setup)}"
    if setup is not None and setup.skipped:
        reason = _skip_reason(setup)
        return ("N/A", reason) if reason.startswith("N/A") else ("INCONC", f"skipped: {reason}")
    if call is None:
        return "INCONC", "the case did not run"
    if hasattr(call, "wasxfail"):
        if call.skipped:
            return "XFAIL", str(call.wasxfail)
        return "XPASS", f"declared as an expected failure but passed: {call.wasxfail}"
    if call.failed:
        text = str(call.longrepr)
        if "[XPASS(strict)]" in text:
            return "XPASS", f"declared as an expected failure but passed: {text.split(']', 1)[-1].strip()}"
        if "Timeout" in text and "pytest-timeout" in text or "Timeout >" in text:
            return "INCONC", "timed out: no decision"
        exc = getattr(call, "_exc_type", None)
        if exc is not None and issubclass(exc, StimulusUnavailable):
            return "INCONC", _first_line(call)
        if exc is not None and (not issubclass(exc, SUT_FAILURES) or issubclass(exc, proto_errors.EncodeError)):
            return "ERROR", f"harness error: {_first_line(call)}"
        return "FAIL", _first_line(call)
    if call.skipped:
        reason = _skip_reason(call)
        return ("N/A", reason) if reason.startswith("N/A") else ("INCONC", f"skipped: {reason}")
    if teardown is not None and teardown.failed:
        return "ERROR", f"teardown failed: {_first_line(teardown)}"
    return "PASS", ""


_EXC = pytest.StashKey[type]()
_PLAIN_FAILED = pytest.StashKey[bool]()


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:500] if text.strip() else "failed"


def _skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    return str(lr[2]).removeprefix("Skipped: ") if isinstance(lr, tuple) else str(lr)


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = item.get_closest_marker("needs")
    if case_marker(item) is None or needs is None:
        return
    pics = run_pics(item.config)
    feature = needs.kwargs.get("pics") or (needs.args[0] if needs.args else "")
    if not pics_claims(pics, feature):
        pytest.skip(f"N/A: the PICS does not claim {feature}")


def _rerun(item: pytest.Item, cid: str) -> str:
    cfg = item.config
    args = ["gbt32960", "conformance", "--sut", _opt(cfg, "sut") or "reference", "--role", _opt(cfg, "role")]
    for opt in ("sut_image", "pics", "pixit"):
        if _opt(cfg, opt):
            args += ["--" + opt.replace("_", "-"), str(_opt(cfg, opt))]
    if (_opt(cfg, "timers") or "compressed") != "compressed":
        args += ["--timers", _opt(cfg, "timers")]
    for d in _opt(cfg, "sut_defect") or ():
        args += ["--sut-defect", d]
    edition = item.callspec.params.get("edition") if hasattr(item, "callspec") else None
    if edition:
        args += ["--edition", str(edition)]
    args += ["--case", cid]
    if _opt(cfg, "can_interface"):  # an external charging SUT: pytest options go after --
        args += ["--", "--can-interface", _opt(cfg, "can_interface")]
        args += ["--can-channel", _opt(cfg, "can_channel")] if _opt(cfg, "can_channel") else []
    return shlex.join(str(a) for a in args)


def _record(item: pytest.Item) -> None:
    phases = item.stash.get(ITEM_PHASES, {})
    call = phases.get("call")
    if call is not None and item.stash.get(_EXC, None) is not None:
        call._exc_type = item.stash[_EXC]  # type: ignore[attr-defined]
    verdict, reason = verdict_of(phases)
    mark = case_marker(item)
    assert mark is not None
    cid = case_id(item)
    standard, clause = clause_of(cid)
    evidence = item.stash.get(ITEM_EVIDENCE, Evidence())
    w = item.stash.get(_WIRE, None)
    if w is not None:
        evidence.frames += [_frame_evidence(f.raw, f.link, f.direction, f.at) for f in w.frames]
    evidence.frames.sort(key=lambda f: f.at)
    topo = item.config.stash.get(_TOPOLOGY, None)
    if verdict in RED and topo is not None:
        try:
            evidence.party_logs.update(topo.party_logs())
        except Exception as exc:  # noqa: BLE001 - logs are best effort; the verdict stands
            evidence.notes.append(f"party logs unavailable: {exc!r}")
    edition = str(item.callspec.params.get("edition", "")) if hasattr(item, "callspec") else ""
    duration = sum(r.duration for r in phases.values())
    item.config.stash[CASE_RESULTS].append(CaseResult(
        case_id=cid, clause=clause, standard=standard, requirement=str(mark.kwargs.get("requirement", "")),
        verdict=verdict, reason=reason, nodeid=item.nodeid, edition=edition,
        role=_opt(item.config, "role") or "", duration=round(duration, 3), rerun=_rerun(item, cid),
        evidence=evidence))


_PROXY_CURSOR = pytest.StashKey[int]()


def _proxy_frames(config: pytest.Config, faults: Any) -> list[FrameEvidence]:
    """Frames the fault proxy delivered since the previous case (cases run one at a time)."""
    try:
        records = faults.evidence(decode=True, after_seq=config.stash.get(_PROXY_CURSOR, 0))
    except Exception as exc:  # noqa: BLE001 - evidence is best effort; say so in the case
        return [FrameEvidence(time.time(), "proxy", "->", "", error=f"proxy evidence unavailable: {exc!r}")]
    if records:
        config.stash[_PROXY_CURSOR] = records[-1].seq
    out = []
    for r in records:
        if r.kind not in ("write", "relay"):
            continue  # the bytes as delivered; the read side would repeat them
        direction = "->" if r.flow == "to_target" else "<-"
        for f in r.frames:
            out.append(_frame_evidence(bytes(f.raw), f"proxy {r.record.link}", direction, f.at or r.record.at))
    return out


def _frame_evidence(raw: bytes, link: str, direction: str, at: float) -> FrameEvidence:
    try:
        from harness.report.evidence import frame_evidence

        return frame_evidence(raw, link, direction, at)
    except ImportError:  # the report package's helpers are optional for the verdicts themselves
        return FrameEvidence(at, link, direction, raw.hex())


# ------------------------------------------------------------------------------------ end of run


def pytest_sessionstart(session: pytest.Session) -> None:
    kind = _opt(session.config, "sut") or "reference"
    pics_doc = _yaml(_opt(session.config, "pics"))
    name = (pics_doc.get("sut") or {}).get("name") if isinstance(pics_doc.get("sut"), dict) else None
    role = _opt(session.config, "role") or "enterprise"
    session.config.stash[RUN] = RunResult(
        sut=Sut(kind="tcp" if kind.startswith("tcp://") else kind, address=kind if kind.startswith("tcp://") else "",
                image=_opt(session.config, "sut_image") or "",
                name=name or (f"reference {role} platform" if kind in ("reference", "docker") else kind)),
        role=_opt(session.config, "role") or "enterprise", edition=_opt(session.config, "edition") or "both",
        timers=_opt(session.config, "timers") or "compressed", started=time.time(),
        pics=run_pics(session.config), pixit=_yaml(_opt(session.config, "pixit")),
        command=shlex.join(["gbt32960", "conformance", *session.config.invocation_params.args]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    results = session.config.stash[CASE_RESULTS]
    run = session.config.stash.get(RUN, None)
    if run is None:
        return
    run.cases = results
    run.finished = time.time()
    try:
        from importlib.metadata import version

        run.tool_version = version("gbt32960-harness")
    except Exception:  # noqa: BLE001 - not installed: the report just lacks the version
        run.tool_version = ""
    if results and any(c.verdict in RED for c in results) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif results and session.exitstatus == pytest.ExitCode.TESTS_FAILED and not any(c.verdict in RED for c in results) \
            and not session.config.stash.get(_PLAIN_FAILED, False):
        # the only pytest failures were cases that could not decide (INCONC): the run is not red
        session.exitstatus = pytest.ExitCode.OK
    out = _opt(session.config, "report")
    if out and results:
        write_reports(run, Path(out))


def write_reports(run: RunResult, out: Path) -> None:
    from harness.report.writer import write_all

    out.mkdir(parents=True, exist_ok=True)
    write_all(run, out)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(CASE_RESULTS, [])
    if not results:
        return
    tw = terminalreporter
    tw.section("GB/T 32960 conformance verdicts")
    by_clause: dict[str, dict[str, int]] = {}
    for c in results:
        row = by_clause.setdefault(f"{c.standard}/{c.clause}", {})
        row[c.verdict] = row.get(c.verdict, 0) + 1
    for clause, counts in sorted(by_clause.items()):
        tw.write_line(f"{clause:<40} " + "  ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    totals: dict[str, int] = {}
    for c in results:
        totals[c.verdict] = totals.get(c.verdict, 0) + 1
    tw.write_line("total: " + ", ".join(f"{n} {v}" for v, n in sorted(totals.items())))
    for c in results:
        if c.verdict in RED or c.verdict == "INCONC":
            tw.write_line("")
            tw.write_line(f"{c.verdict} {c.case_id}", red=c.verdict in RED, yellow=c.verdict == "INCONC")
            tw.write_line(f"  requirement: {c.requirement}")
            tw.write_line(f"  reason: {c.reason}")
            for d in c.evidence.diff:
                tw.write_line(f"  {d.path}: expected {d.expected!r}, actual {d.actual!r}")
            tw.write_line(f"  rerun: {c.rerun}")
    report = _opt(config, "report")
    if report:
        tw.write_line(f"\nreport: {os.path.abspath(report)}/index.html")
