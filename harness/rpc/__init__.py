"""gRPC stubs generated from `proto/` at build time (see `build.py`), and nothing hand-written
besides this loader. Generated modules import each other as top-level `gbt32960.*` packages, so
their folder is put on the import path. If they are missing (a source checkout that was never
built), they are generated on first import.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

_GEN = Path(__file__).resolve().parent / "_gen"


def _stale() -> bool:
    from .build import PROTO

    generated = list(_GEN.rglob("*_pb2.py"))
    if not generated:
        return True
    newest_stub = min(p.stat().st_mtime for p in generated)
    protos = list(PROTO.rglob("*.proto"))
    # a proto added or edited since the last build (a source checkout that was pulled)
    return len(generated) < len(protos) or any(p.stat().st_mtime > newest_stub for p in protos)


def _ensure() -> None:
    if _stale():
        from .build import generate

        generate()
    if str(_GEN) not in sys.path:
        sys.path.insert(0, str(_GEN))


def load(name: str) -> ModuleType:
    """A generated module by its proto path, e.g. load("gbt32960.control.v1.control_pb2_grpc")."""
    _ensure()
    return importlib.import_module(name)
