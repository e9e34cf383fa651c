"""Build a small captured-root folder for one test: files, namespace links and the snapshot metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from virtprobe.detection.container_readers import INIT_NS_INODES
from virtprobe.machine.source import SNAPSHOT_META, RootSource


def make_root(
    tmp_path: Path,
    files: Mapping[str, str | bytes],
    links: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> RootSource:
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    for rel, target in (links or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / SNAPSHOT_META).write_text(
        json.dumps({"format": 1, "platform": "linux", "machine": "x86_64", **(meta or {})})
    )
    return RootSource(tmp_path)


def ns_links(**non_initial: int) -> dict[str, str]:
    return {f"proc/self/ns/{n}": f"{n}:[{non_initial.get(n, ino)}]" for n, ino in INIT_NS_INODES.items()}
