"""`gbt32960 images build --offline`: make the container images an air-gapped lab needs."""

from __future__ import annotations

import argparse
import sys

from harness.cli import register

from . import images


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("build",), help="build: engine, base image and platform image")
    p.add_argument("--offline", action="store_true",
                   help="make the base image with debootstrap instead of pulling python:3.11-slim")
    p.add_argument("--rebuild", action="store_true", help="build the platform image even when it exists")
    p.add_argument("--tag", default=images.PLATFORM_IMAGE, help=f"platform image tag ({images.PLATFORM_IMAGE})")


@register("images", help="build the reference platform's container image (offline-capable)",
          description=images.__doc__ or "", configure=configure)
def run(args: argparse.Namespace) -> int:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        images.ensure_engine(log)
        base = images.ensure_base_image(log=log) if args.offline else "python:3.11-slim"
        tag = images.build_platform_image(args.tag, base=base, log=log, rebuild=args.rebuild)
    except (RuntimeError, OSError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    print(tag)
    return 0
