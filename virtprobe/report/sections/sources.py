"""A simulated figure's public source as a page citation, shared by the VM and restore sections.

Its own module, not report/sections/common.py: the key is a hash, and `hashlib` (about
3 ms with OpenSSL's `_hashlib`) stays off the path of `detect` and `detect --check`, which
import common.py and must start within 1.5x of virt-what.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from virtprobe.report.page import Citation

if TYPE_CHECKING:
    from virtprobe.benchmark.result import Source


def source_citation(source: Source | None) -> Citation | None:
    """A simulated figure's source as a citation whose key is stable for the same source text."""
    if source is None:
        return None
    text = "; ".join(p for p in (source.citation, source.host and f"host {source.host}") if p)
    if not text and not source.url:
        return None
    key = "src-" + hashlib.sha256(f"{text}\n{source.url}".encode()).hexdigest()[:10]
    return Citation(key, text or (source.url or ""), source.url)
