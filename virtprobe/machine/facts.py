"""The values probes get back from a source: a file's bytes, CPUID registers, a non-file fact.

Each carries the reason when there is no value, so a probe can say "unknown" and why.
"""

from __future__ import annotations

from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any


class FileRead(NamedTuple):
    """The result of reading one file: its bytes, or the reason there are none."""

    path: str  # the path as the real machine would name it, e.g. "/proc/cpuinfo"
    data: bytes | None
    reason: str | None = None  # set when data is None: "not found", "permission denied", ...

    @property
    def ok(self) -> bool:
        return self.data is not None

    @property
    def text(self) -> str | None:
        """The content as text (undecodable bytes replaced), or None."""
        if self.data is None:
            return None
        return self.data.decode("utf-8", errors="replace")


class CpuidRegs(NamedTuple):
    eax: int
    ebx: int
    ecx: int
    edx: int


class Lookup(NamedTuple):
    """A non-file fact (CPUID leaf, command output, KVM probe) or why it is unknown."""

    value: Any
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None
