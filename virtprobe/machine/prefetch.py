"""The probes that execute code (the KVM probe guest, CPUID) run in one forked child, while detect reads files.

`virtprobe detect --json` is judged by its start-up time. Both probes need ctypes
and the KVM structures (3 ms of imports here) and then run for a millisecond or
two each; the parent meanwhile imports the probe modules and reads /proc and
/sys. So the child does the executing part in parallel and sends the answers
through a pipe (marshal: builtin types only). It also keeps what the CPUID fork
was for: if executing CPUID faults, only the child dies.

The child answers CPUID first: the parent's first probes need it, and CPUID is
ready about 2 ms after the fork, where the KVM guest needs its structures
imported first (5-7 ms here); detect asks for the KVM answer last
(detection/linux.py).

When the child ends without an answer:
- before CPUID's (a fault, a fork refused): LiveSource executes CPUID in a new
  child and runs the KVM probe in-process, as it did before (machine/cpuid.py,
  machine/kvmapi.py); a CPUID fault cannot touch the KVM probe;
- after CPUID's, in the KVM probe (killed, or no answer within CHILD_TIMEOUT_S):
  the KVM answer is unknown, with how the child ended. Running that probe again
  in detect's own process could crash or hang detect itself.
"""

from __future__ import annotations

import faulthandler
import marshal
import os
import select
import struct
import time

from virtprobe.lean_typing import TYPE_CHECKING
from virtprobe.machine.cpuid import cpuid_failure, execute_cpuid, reap
from virtprobe.machine.facts import CpuidRegs, Lookup

if TYPE_CHECKING:
    from typing import Any

CHILD_TIMEOUT_S = 2.0
_LEN = struct.Struct("<I")


def _send(wfd: int, obj: Any) -> None:
    data = marshal.dumps(obj)
    data = _LEN.pack(len(data)) + data
    while data:
        data = data[os.write(wfd, data) :]


def _child(wfd: int, leaves: tuple[int, ...], kvm: bool) -> None:  # pragma: no cover - runs in the fork
    code = 1
    try:
        # A CPUID fault is the case the fork exists for; the parent reports it.
        faulthandler.disable()
        regs = execute_cpuid([(leaf, 0) for leaf in leaves])
        _send(wfd, ("cpuid", [(leaf, sub, *r) for (leaf, sub), r in regs], None))
        if kvm:
            # lazy: only this child pays for ctypes and the KVM structures, while the parent
            # reads files (`detect --json` <= 1.0x virt-what, benchmarks/detect_speed.py).
            from virtprobe.machine.kvmapi import probe_guest

            got = probe_guest()
            _send(wfd, ("kvm", got.value, got.reason))
        code = 0
    finally:
        os._exit(code)


class Prefetch:
    """A started child; `kvm()` and `cpuid()` wait for its answers (each at most CHILD_TIMEOUT_S)."""

    def __init__(self, leaves: tuple[int, ...], kvm: bool) -> None:
        self._answers: dict[str, tuple[object, str | None]] = {}
        self._wanted_kvm = kvm
        self._failure = ""
        rfd, wfd = os.pipe()
        try:
            self._pid = os.fork()
        except OSError as err:
            os.close(rfd)
            os.close(wfd)
            self._pid = 0
            self._rfd = -1
            self._failure = f"fork failed: {err.strerror}"
            return
        if self._pid == 0:  # pragma: no cover - child
            os.close(rfd)
            _child(wfd, leaves, kvm)
        os.close(wfd)
        self._rfd = rfd
        self._buf = b""
        self._deadline = time.monotonic() + CHILD_TIMEOUT_S

    def _collect(self, want: str) -> None:
        """Read the child's records until `want` arrived, the child ended, or time ran out."""
        while want not in self._answers and self._rfd >= 0:
            while len(self._buf) >= _LEN.size and len(self._buf) >= _LEN.size + _LEN.unpack_from(self._buf)[0]:
                n = _LEN.unpack_from(self._buf)[0]
                kind, value, reason = marshal.loads(self._buf[_LEN.size : _LEN.size + n])
                self._answers[kind] = (value, reason)
                self._buf = self._buf[_LEN.size + n :]
            last = "kvm" if self._wanted_kvm else "cpuid"  # the child's last word (_child)
            if last in self._answers:  # it said all it had to: reap it now
                self._finish(timed_out=False)
                return
            if want in self._answers:
                return
            left = self._deadline - time.monotonic()
            ready = select.select([self._rfd], [], [], max(left, 0))[0] if left > 0 else []
            chunk = os.read(self._rfd, 65536) if ready else b""
            if chunk:
                self._buf += chunk
                continue
            self._finish(timed_out=not ready)

    def _finish(self, timed_out: bool) -> None:
        os.close(self._rfd)
        self._rfd = -1
        ended = reap(self._pid, kill=timed_out)
        if timed_out:
            self._failure = f"the probe child did not answer within {CHILD_TIMEOUT_S:.0f} s"
        elif ended and "cpuid" in self._answers:
            self._failure = f"the probe child died running the KVM probe guest ({ended})"
        elif ended:
            self._failure = cpuid_failure(ended)

    def kvm(self) -> Lookup | None:
        """The KVM probe's answer; unknown if the child ended in it; None if it never got there (the caller runs it)."""
        self._collect("kvm")
        got = self._answers.get("kvm")
        if got is not None:
            return Lookup(got[0], got[1])
        if "cpuid" in self._answers and self._wanted_kvm:
            return Lookup(None, self._failure or "the probe child ended without a KVM answer")
        return None

    def cpuid(self) -> tuple[dict[tuple[int, int], CpuidRegs] | None, str]:
        """(registers per (leaf, subleaf), "") or (None, why the child could not run CPUID)."""
        self._collect("cpuid")
        got = self._answers.get("cpuid")
        if got is None or not isinstance(got[0], list):
            return None, self._failure or "the probe child sent no CPUID answer"
        return {(leaf, sub): CpuidRegs(a, b, c, d) for leaf, sub, a, b, c, d in got[0]}, ""

    def close(self) -> None:
        """Reap the child if nobody asked for its answers."""
        if self._rfd >= 0:
            self._collect("\0never")
