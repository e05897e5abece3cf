"""Offline container images: the Docker engine, a debootstrap base image, and our platform image.

No image can be pulled here (and certification labs are often air-gapped), so everything is made
locally (design.md §5):
1. the Docker engine: started when none runs (installed from Debian's packages when missing);
2. a base image from `debootstrap --variant=minbase` (Python 3.11 from Debian), `docker import`ed;
3. a wheelhouse of this project and its dependencies, built on the host;
4. `reference_impl/Dockerfile` built by testcontainers with `BASE_IMAGE` set to the local base,
   installing from the wheelhouse with `pip install --no-index`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "gbt32960-base:bookworm"
PLATFORM_IMAGE = "gbt32960-reference:latest"
DOCKERD_LOG = Path(tempfile.gettempdir()) / "gbt32960-dockerd.log"

Log = Callable[[str], None]


def _run(cmd: list[str], log: Log, **kw: object) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine(log: Log = print, timeout: float = 60.0) -> None:
    """Start a Docker engine when none answers; install Debian's docker.io first when needed."""
    if engine_running():
        log("docker engine: running")
        return
    if shutil.which("dockerd") is None:
        if os.geteuid() != 0:
            raise RuntimeError("no Docker engine and not root: install docker.io (Debian) or start dockerd")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-q"], log, env=env, stdout=subprocess.DEVNULL)
        _run(["apt-get", "install", "-y", "-q", "docker.io"], log, env=env, stdout=subprocess.DEVNULL)
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S607
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_running():
            log("docker engine: started")
            return
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not answer within {timeout:g} s; see {DOCKERD_LOG}")


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def ensure_base_image(name: str = BASE_IMAGE, log: Log = print, suite: str = "bookworm") -> str:
    """A minimal Debian with Python 3.11, pip and venv, imported from a debootstrap tree."""
    if image_exists(name):
        log(f"base image {name}: present")
        return name
    if shutil.which("debootstrap") is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], log, env=env, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="gbt32960-rootfs-") as rootfs:
        started = time.monotonic()
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-pip,python3-venv", suite, rootfs],
             log, stdout=subprocess.DEVNULL)
        log(f"debootstrap took {time.monotonic() - started:.0f} s")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", name], log, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap tree failed")
    return name


def build_wheelhouse(dest: Path, log: Log = print) -> Path:
    """This project and every dependency as wheels, for `pip install --no-index` in the image."""
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), str(ROOT)], log)
    return dest


def source_hash() -> str:
    """A hash of everything that goes into the image, so a changed tree gets a new image."""
    import hashlib

    h = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "setup.py", ROOT / "reference_impl" / "Dockerfile"]
    for folder in ("harness", "reference_impl", "proto", "scenarios"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "_gen" not in p.parts
                        and "__pycache__" not in p.parts and p.suffix in (".py", ".proto", ".json", ".yaml"))
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def build_platform_image(tag: str = PLATFORM_IMAGE, base: str = BASE_IMAGE, log: Log = print,
                         rebuild: bool = False) -> str:
    """Build reference_impl/Dockerfile from a fresh wheelhouse, through testcontainers; an image of
    the same source tree is reused (its tag carries the source hash)."""
    versioned = f"{tag.rsplit(':', 1)[0]}:src-{source_hash()}"
    if image_exists(versioned) and not rebuild:
        log(f"image {versioned}: present (use --rebuild to build again)")
        _run(["docker", "tag", versioned, tag], log)
        return versioned
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk would have to be pulled
    from testcontainers.core.image import DockerImage

    with tempfile.TemporaryDirectory(prefix="gbt32960-image-") as ctx:
        context = Path(ctx)
        shutil.copy(ROOT / "reference_impl" / "Dockerfile", context / "Dockerfile")
        build_wheelhouse(context / "wheels", log)
        started = time.monotonic()
        image = DockerImage(path=str(context), tag=versioned, clean_up=False, buildargs={"BASE_IMAGE": base})
        image.build()
        _run(["docker", "tag", versioned, tag], log)
        log(f"image {versioned} built in {time.monotonic() - started:.0f} s")
    return versioned


def build_all(offline: bool = True, log: Log = print, rebuild: bool = False) -> str:
    ensure_engine(log)
    base = ensure_base_image(log=log) if offline else "python:3.11-slim"
    return build_platform_image(base=base, log=log, rebuild=rebuild)
