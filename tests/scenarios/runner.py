"""Run conformance cases in a subprocess with reference defect switches on; read back the verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def verdicts(paths: tuple[str, ...], *, defects: tuple[str, ...] = (), cases: tuple[str, ...] = (),
             role: str = "enterprise", timeout: float = 600) -> dict[str, str]:
    """{case id: verdict} of one conformance run over `paths` (a fresh embedded topology)."""
    with tempfile.TemporaryDirectory(prefix="gbt32960-mutation-") as out:
        args = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider", "--role", role,
                "--report", out]
        for d in defects:
            args += ["--sut-defect", d]
        for c in cases:
            args += ["--case", c]
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        results = Path(out) / "results.json"
        if not results.exists():
            raise RuntimeError(f"no results from {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return {c["case_id"]: c["verdict"] for c in json.loads(results.read_text())["cases"]}
