"""The result model of a conformance run: the contract between the pytest plugin and the reports.

`RunResult.to_dict()` is exactly what `results.json` holds (schema: `schema/results.schema.json`,
versioned by `SCHEMA_VERSION`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"

# PASS, FAIL, ERROR (a harness or environment fault), INCONC (could not decide: a skip, a timeout),
# N/A (the PICS says the SUT does not claim the feature), XFAIL / XPASS (declared expected failures).
VERDICTS = ("PASS", "FAIL", "ERROR", "INCONC", "N/A", "XFAIL", "XPASS")
RED = frozenset({"FAIL", "ERROR", "XPASS"})  # any of these makes the run's exit status non-zero


@dataclass
class FrameEvidence:
    """One frame seen on a link the harness controls."""

    at: float  # seconds since the Unix epoch
    link: str  # e.g. "vehicle LS9TB0X10SA000001 -> enterprise" or "enterprise->local"
    direction: str  # "->" (towards the SUT / upstream) or "<-"
    raw_hex: str
    summary: str = ""  # one line: edition, command, flag, VIN, length
    decoded: Any = None  # JSON view (physical values) when it decoded
    error: str = ""  # typed error with offset and field when it did not


@dataclass
class FieldDiff:
    path: str
    expected: Any
    actual: Any


@dataclass
class Evidence:
    frames: list[FrameEvidence] = field(default_factory=list)
    pcap: str | None = None  # path relative to the report folder
    log: str | None = None  # decoded, annotated log, relative path
    diff: list[FieldDiff] = field(default_factory=list)
    party_logs: dict[str, str] = field(default_factory=dict)  # platform / container logs on failure
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int | float] = field(default_factory=dict)  # e.g. frames sent, relayed, lost


@dataclass
class CaseResult:
    case_id: str  # e.g. "GBT32960.3-2016/B.3.5.2/01"
    clause: str  # e.g. "B.3.5.2"
    standard: str  # e.g. "GBT32960.3-2016"
    requirement: str  # the requirement in the standard's terms
    verdict: str
    reason: str = ""  # why, in one or a few lines (the assertion message, the N/A PICS item…)
    nodeid: str = ""
    edition: str = ""
    role: str = ""
    duration: float = 0.0
    rerun: str = ""  # one command that reruns just this case
    evidence: Evidence = field(default_factory=Evidence)


@dataclass
class Sut:
    kind: str  # reference | docker | image | tcp
    address: str = ""
    image: str = ""
    name: str = ""


@dataclass
class RunResult:
    sut: Sut
    role: str
    edition: str
    timers: str
    started: float
    finished: float = 0.0
    pics: dict[str, Any] = field(default_factory=dict)
    pixit: dict[str, Any] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    tool: str = "gbt32960-harness"
    tool_version: str = ""
    command: str = ""

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for c in self.cases:
            out[c.verdict] += 1
        return out

    @property
    def red(self) -> bool:
        return any(c.verdict in RED for c in self.cases) or not self.cases

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = SCHEMA_VERSION
        d["counts"] = self.counts()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        def evidence(e: dict[str, Any]) -> Evidence:
            return Evidence(frames=[FrameEvidence(**f) for f in e.get("frames", [])], pcap=e.get("pcap"),
                            log=e.get("log"), diff=[FieldDiff(**x) for x in e.get("diff", [])],
                            party_logs=e.get("party_logs", {}), notes=e.get("notes", []), counts=e.get("counts", {}))

        cases = [CaseResult(**{**c, "evidence": evidence(c.get("evidence", {}))}) for c in d.get("cases", [])]
        keep = {f.name for f in dataclasses.fields(cls)} - {"sut", "cases"}
        return cls(sut=Sut(**d["sut"]), cases=cases, **{k: v for k, v in d.items() if k in keep})
