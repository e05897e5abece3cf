"""`results.json`: the machine-readable result of a run, validated against a published, versioned schema.

The schema (`schema/results.schema.json`, JSON Schema draft 2020-12) is the contract for anyone who
reads results without our code: a lab's database, a comparison across SUTs, a CI dashboard.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from .model import SCHEMA_VERSION, VERDICTS, RunResult

__all__ = ["RESULTS_FILE", "ResultsError", "load", "load_dict", "schema", "to_json_text", "validate", "write_json"]

RESULTS_FILE = "results.json"


class ResultsError(ValueError):
    """A results document that does not match the schema (or is not JSON); `problems` lists each one."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        detail = "".join(f"\n  - {p}" for p in self.problems[:20])
        more = f"\n  … and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(message + detail + more)


@functools.cache
def schema() -> dict[str, Any]:
    """The results schema (parsed once)."""
    text = resources.files("harness.report").joinpath("schema", "results.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # imported lazily: only reading results needs it

    return Draft202012Validator(schema())


def validate(doc: Any) -> None:
    """Raise `ResultsError` naming every place where `doc` departs from the schema or from itself."""
    if isinstance(doc, dict) and doc.get("schema_version") not in (None, SCHEMA_VERSION):
        version = str(doc.get("schema_version"))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:  # a different major layout: say so plainly
            raise ResultsError(f"results schema_version {version} is not readable by this harness "
                               f"(it reads {SCHEMA_VERSION})")
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{_where(e.absolute_path)}: {e.message}" for e in errors]
    if not problems:
        # what a schema cannot say: the per-verdict counts agree with the cases
        actual = dict.fromkeys(VERDICTS, 0)
        for case in doc["cases"]:
            actual[case["verdict"]] += 1
        problems += [f"$.counts.{v}: {doc['counts'][v]} but {actual[v]} case(s) have that verdict"
                     for v in VERDICTS if doc["counts"][v] != actual[v]]
    if problems:
        raise ResultsError(f"results do not match schema {SCHEMA_VERSION}", problems)


def _where(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _jsonable(obj: Any) -> Any:
    # evidence is Any by contract (diff values, decoded frames): make the usual Python values JSON
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _finite(obj: Any) -> Any:
    # NaN/Infinity are not JSON: a measurement that could not be made is null, not an invalid file
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def to_json_text(run: RunResult) -> str:
    """The results.json text of `run` (UTF-8 friendly, VINs and Chinese text kept readable)."""
    doc = json.loads(json.dumps(run.to_dict(), default=_jsonable))  # normalise bytes, tuples…
    return json.dumps(_finite(doc), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def write_json(run: RunResult, dir: str | Path, *, check: bool = True) -> Path:
    """Write `dir/results.json`; return its path.

    With `check`, the written document is validated afterwards and a mismatch raises `ResultsError`
    naming the file: the file stays on disk, because the evidence of a long run must not be lost to
    a report bug.
    """
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    text = to_json_text(run)
    path.write_text(text, encoding="utf-8")
    if check:
        try:
            validate(json.loads(text))
        except ResultsError as exc:
            raise ResultsError(f"{path} was written but does not match its schema", exc.problems) from exc
    return path


def load_dict(path: str | Path) -> dict[str, Any]:
    """The validated results document at `path` (a results.json file, or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{p} is not JSON: {exc}") from exc
    try:
        validate(doc)
    except ResultsError as exc:
        raise ResultsError(f"{p}: {exc.args[0].splitlines()[0]}", exc.problems) from exc
    return doc  # type: ignore[no-any-return]


def load(path: str | Path) -> RunResult:
    """The `RunResult` stored at `path` (a results.json file or its folder), validated first."""
    return RunResult.from_dict(load_dict(path))
