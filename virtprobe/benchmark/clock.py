"""The rule that a timing never mixes two clocks: which clock a probe's reading can be compared with.

virtprobe times "first instruction" by subtracting its own CLOCK_MONOTONIC at
the start request from the probe's CLOCK_MONOTONIC at its first instruction.
That difference means something only when both readings come from the same
kernel. They do not under a sandbox kernel (gVisor's Sentry keeps its own
clock: MEASURED.md found 0.12 s in runsc against the host's 1974 s), a guest
kernel (Kata), an engine in a VM (Docker Desktop, Colima, OrbStack, Podman
machine) or on another host (`DOCKER_HOST=ssh://...`).

The probe reports its kernel's boot id (/proc/sys/kernel/random/boot_id, a
random UUID drawn at every boot; see the kernel's Documentation/admin-guide/sysctl/kernel.rst,
"random" section). Then, in order:

1. same boot id as this kernel, a runtime that is not a kernel of its own, and
   (when given) a reading inside the window of the run -> SAME_KERNEL: the
   first-instruction time stands, on CLOCK_MONOTONIC;
2. another kernel or none proven, a runtime that shares the engine's kernel,
   the probe's CLOCK_REALTIME, and an offset estimated from the engine's /info
   `SystemTime` -> ENGINE_OFFSET: first instruction on CLOCK_REALTIME moved by
   the offset, with its error bound (half the round trip + SystemTime's resolution);
3. otherwise CLIENT_ONLY: no first-instruction figure, only timings taken on
   virtprobe's side (API calls, first byte through the attach stream).

All functions here are pure; `read_boot_id` is the one reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from virtprobe.benchmark.engine import OWN_KERNEL_RUNTIMES, EngineInfo
from virtprobe.benchmark.guest.probe_image import BOOT_ID_NOT_REPORTED, ProbeReport, parse_boot_id
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import Source

SAME_KERNEL = "same-kernel"
ENGINE_OFFSET = "engine-offset"
CLIENT_ONLY = "client-only"
MODES = (SAME_KERNEL, ENGINE_OFFSET, CLIENT_ONLY)

BOOT_ID_FILE = "proc/sys/kernel/random/boot_id"


def read_boot_id(src: Source) -> str | None:
    """This machine's boot id, or None when it cannot be read (not Linux, masked /proc)."""
    text = src.read(BOOT_ID_FILE).text
    return parse_boot_id(text) if text is not None else None


# --- the engine's clock ----------------------------------------------------------------

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:\d{2})$")


def parse_system_time(text: str) -> tuple[int, int] | None:
    """Pure: /info `SystemTime` (RFC 3339, Go's RFC3339Nano) as (ns since the epoch, resolution ns).

    The resolution is what the fraction digits can express: Docker prints up to
    nine (Go drops trailing zeros, so fewer digits only ever mean a coarser bound
    than the truth), a clock printed in whole seconds has a resolution of 1 s.
    """
    match = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        tz = UTC
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError:
        return None
    seconds = int(moment.timestamp())
    digits = frac or ""
    nanos = int(digits.ljust(9, "0")) if digits else 0
    resolution = 10 ** (9 - len(digits))
    return seconds * 1_000_000_000 + nanos, resolution


@dataclass(frozen=True)
class ClockOffset:
    """The engine's CLOCK_REALTIME minus this machine's, and how far off that estimate can be."""

    offset_ns: int
    error_ns: int  # half the round trip + the resolution of SystemTime
    round_trip_ns: int
    resolution_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset_ns": self.offset_ns,
            "error_ns": self.error_ns,
            "round_trip_ns": self.round_trip_ns,
            "resolution_ns": self.resolution_ns,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClockOffset:
        values = {}
        for key in ("offset_ns", "error_ns", "round_trip_ns", "resolution_ns"):
            value = data.get(key) if isinstance(data, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ReportFormatError(f"clock.offset.{key}: expected an integer, got {value!r}")
            values[key] = value
        return cls(**values)


def estimate_offset(system_time: str, sent_realtime_ns: int, received_realtime_ns: int) -> ClockOffset | None:
    """Pure: the engine's clock offset from one /info call, or None when SystemTime is unusable.

    The engine read its clock somewhere between the moment the request left
    (`sent`) and the moment the answer arrived (`received`), both on this
    machine's CLOCK_REALTIME. Taking the midpoint, the truth is within half the
    round trip, plus the resolution SystemTime was printed with (Cristian's
    algorithm, Distributed Computing 3(3), 1989).
    """
    parsed = parse_system_time(system_time)
    if parsed is None or received_realtime_ns < sent_realtime_ns:
        return None
    engine_ns, resolution = parsed
    round_trip = received_realtime_ns - sent_realtime_ns
    midpoint = sent_realtime_ns + round_trip // 2
    return ClockOffset(
        offset_ns=engine_ns - midpoint,
        error_ns=(round_trip + 1) // 2 + resolution,
        round_trip_ns=round_trip,
        resolution_ns=resolution,
    )


def best_offset(offsets: list[ClockOffset | None]) -> ClockOffset | None:
    """The estimate with the smallest error bound among several /info calls (None if none worked)."""
    usable = [o for o in offsets if o is not None]
    return min(usable, key=lambda o: o.error_ns) if usable else None


# --- the verdict -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockVerdict:
    """Which clock first-instruction times may use, and the sentence that says why (shown in every format)."""

    mode: str  # SAME_KERNEL, ENGINE_OFFSET or CLIENT_ONLY
    same_kernel: bool | None  # None: could not be told
    reason: str
    offset: ClockOffset | None = None  # set only for ENGINE_OFFSET

    @property
    def first_instruction_allowed(self) -> bool:
        return self.mode != CLIENT_ONLY

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "same_kernel": self.same_kernel,
            "reason": self.reason,
            "offset": self.offset.to_dict() if self.offset is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClockVerdict:
        if not isinstance(data, Mapping):
            raise ReportFormatError("clock: expected an object")
        mode, same, reason, offset = (data.get(k) for k in ("mode", "same_kernel", "reason", "offset"))
        if mode not in MODES:
            raise ReportFormatError(f"clock.mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if same is not None and not isinstance(same, bool):
            raise ReportFormatError(f"clock.same_kernel: expected true, false or null, got {same!r}")
        if not isinstance(reason, str):
            raise ReportFormatError(f"clock.reason: expected a string, got {reason!r}")
        if (offset is None) != (mode != ENGINE_OFFSET):
            raise ReportFormatError("clock.offset: required for engine-offset, and only for it")
        return cls(mode, same, reason, ClockOffset.from_dict(offset) if offset is not None else None)


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.3g} ms"


def decide_clock(
    probe: ProbeReport | None,
    local_boot_id: str | None,
    engine: EngineInfo,
    runtime_kind: str | None = None,
    offset: ClockOffset | None = None,
    window_ns: tuple[int, int] | None = None,
) -> ClockVerdict:
    """Pure: may a first-instruction time be computed for this run, and on which clock.

    probe: what the probe printed (None for a user image: nothing to compare).
    local_boot_id: read_boot_id(LiveSource()) on the machine virtprobe runs on.
    runtime_kind: the family of the runtime the containers ran under (default: the engine's).
    offset: best_offset(...) of /info calls made around the run, when there is one.
    window_ns: this machine's CLOCK_MONOTONIC just before the start request and just
        after the container exited; a same-kernel reading must fall inside it (a
        Linux time namespace, clone3 CLONE_NEWTIME since 5.6, shifts CLOCK_MONOTONIC
        without changing the boot id).
    """
    kind = runtime_kind if runtime_kind is not None else engine.runtime_kind
    own_kernel = kind in OWN_KERNEL_RUNTIMES
    where = engine.location_reason if engine.on_this_machine is False else None

    if probe is None:
        return ClockVerdict(CLIENT_ONLY, None, "no probe ran (a user image), so only client-side timings exist")

    same: bool | None
    if probe.boot_id is not None:
        if probe.boot_id == local_boot_id and not own_kernel:
            if window_ns is not None and not window_ns[0] <= probe.monotonic_ns <= window_ns[1]:
                return ClockVerdict(
                    CLIENT_ONLY,
                    True,
                    f"the probe ran under this kernel but its CLOCK_MONOTONIC ({probe.monotonic_ns / 1e9:.6f} s) "
                    f"is outside the run's window ({window_ns[0] / 1e9:.6f}-{window_ns[1] / 1e9:.6f} s), "
                    "as in a time namespace; only client-side timings are shown",
                )
            return ClockVerdict(
                SAME_KERNEL,
                True,
                "the probe ran under this kernel (same boot id), so first-instruction times "
                "use this kernel's CLOCK_MONOTONIC",
            )
        if probe.boot_id == local_boot_id:
            same, seen = None, f"the probe reported this kernel's boot id, but {kind} runs a kernel of its own"
        elif local_boot_id is None:
            same, seen = None, "this machine's boot id cannot be read, so the probe's kernel cannot be compared"
        else:
            same = False
            seen = (
                f"the probe ran under another kernel (boot id {probe.boot_id[:8]}..., "
                f"this kernel's {local_boot_id[:8]}...)"
            )
    else:
        same = False if own_kernel or engine.on_this_machine is False else None
        what = (
            "is too old to report a boot id"
            if probe.boot_id_status == BOOT_ID_NOT_REPORTED
            else ("could not read a boot id")
        )
        seen = f"the probe {what}"
        if own_kernel:
            seen += f", and {kind} runs containers under a kernel of its own with its own clock"
        elif where is not None:
            seen += f", and {where}"

    if own_kernel:
        # A sandbox or guest kernel's clocks are not the engine's: SystemTime says nothing about them.
        return ClockVerdict(CLIENT_ONLY, same, f"{seen}; only client-side timings are shown")
    if offset is not None and probe.realtime_ns is not None:
        return ClockVerdict(
            ENGINE_OFFSET,
            same,
            f"{seen}; first-instruction times use the probe's CLOCK_REALTIME moved by the engine's clock "
            f"offset ({offset.offset_ns / 1e6:+.3f} ms ± {_ms(offset.error_ns)}, from /info SystemTime "
            f"and a {_ms(offset.round_trip_ns)} round trip)",
            offset,
        )
    missing = "no engine clock offset was estimated" if offset is None else "the probe gave no CLOCK_REALTIME"
    return ClockVerdict(CLIENT_ONLY, same, f"{seen}; {missing}, so only client-side timings are shown")


@dataclass(frozen=True)
class FirstInstruction:
    """A first-instruction time and the clock it was computed on."""

    value_s: float
    error_s: float  # 0 on the same kernel's CLOCK_MONOTONIC; the offset's bound otherwise
    clock: str  # "CLOCK_MONOTONIC" or "CLOCK_REALTIME+engine offset"


def first_instruction(
    verdict: ClockVerdict,
    probe: ProbeReport,
    start_request_monotonic_ns: int,
    start_request_realtime_ns: int | None = None,
) -> FirstInstruction | None:
    """Pure: start request -> probe's first instruction, on the one clock the verdict allows, or None.

    This is the only place the two machines' readings meet, so no caller can
    subtract a reading of one kernel from a reading of another.
    """
    if verdict.mode == SAME_KERNEL:
        return FirstInstruction((probe.monotonic_ns - start_request_monotonic_ns) / 1e9, 0.0, "CLOCK_MONOTONIC")
    if verdict.mode == ENGINE_OFFSET and verdict.offset is not None:
        if probe.realtime_ns is None or start_request_realtime_ns is None:
            return None
        local_ns = probe.realtime_ns - verdict.offset.offset_ns
        return FirstInstruction(
            (local_ns - start_request_realtime_ns) / 1e9,
            verdict.offset.error_ns / 1e9,
            "CLOCK_REALTIME+engine offset",
        )
    return None
