"""WSL detection from the Linux side, and the parser of `wsl.exe -l -v` for Windows hosts.

WSL2 runs a real Linux kernel in a Hyper-V utility VM and has no DMI, so DMI
cannot tell it apart; the kernel names itself instead:
- WSL1: there is no Linux kernel; lxcore reports an osrelease like
  "4.4.0-19041-Microsoft" (capital M), and the root filesystem is "lxfs"
  (before build 17063) or "wslfs".
- WSL2: Microsoft's kernel build says "5.15.153.1-microsoft-standard-WSL2"
  (older: "4.19.104-microsoft-standard"), the root is ext4 on /dev/sdX, the
  init creates /run/WSL/<pid>_interop sockets (WSL_INTEROP points at one), and
  registers the WSLInterop binfmt_misc entry.
(microsoft/WSL issue #423 and #4071; systemd's detect_container() uses the same
osrelease test.)
"""

from __future__ import annotations

import re

from virtprobe.detect.model import (
    CONSIDERED,
    DECISIVE,
    SUPPORTING,
    UNKNOWN,
    Evidence,
    WslDistribution,
    WslResult,
)
from virtprobe.machine.source import Source

TOPIC = "wsl"

PATHS = (
    "proc/sys/kernel/osrelease",
    "proc/version",
    "run/WSL",
    "proc/sys/fs/binfmt_misc/WSLInterop",
    "proc/mounts",
)


def wsl_version_from_kernel(text: str) -> int | None:
    """1 or 2 from an osrelease or /proc/version string; 0 for a Linux kernel that is not WSL's."""
    s = text.strip()
    if not s:
        return None
    if re.search(r"-Microsoft\b", s):  # lxcore's capitalised name: WSL1
        return 1
    if re.search(r"microsoft-standard|-microsoft\b|WSL2", s, re.IGNORECASE):
        return 2
    return 0


def root_fstype(mounts: str) -> tuple[str, str] | None:
    """(fstype, device) of the "/" mount in /proc/mounts; the last one wins (overmounts)."""
    found = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "/":
            found = (parts[2], parts[0])
    return found


def probe_wsl(src: Source) -> tuple[WslResult, list[Evidence]]:
    """Is this Linux running under WSL, and which version? Never raises."""
    evidence: list[Evidence] = []
    votes: list[tuple[int, Evidence]] = []  # (version 1/2, or 3 for "WSL, version unknown")

    def ev(source: str, value: str, weight: str, points_to: str | None = None, note: str = "") -> Evidence:
        return Evidence(TOPIC, source, value, weight, points_to, note)

    kernel_says: int | None = None
    for rel in ("proc/sys/kernel/osrelease", "proc/version"):
        read = src.read(rel, limit=4096)
        if read.text is None or not read.text.strip():
            evidence.append(ev(src.path(rel), "", UNKNOWN, None, read.reason or "empty"))
            continue
        v = wsl_version_from_kernel(read.text)
        value = read.text.strip()[:160]
        if v:
            votes.append((v, ev(src.path(rel), value, CONSIDERED, "wsl", f"WSL{v} kernel string")))
        elif v == 0:
            evidence.append(ev(src.path(rel), value, CONSIDERED, None, "not a WSL kernel"))
        if kernel_says is None and v is not None:
            kernel_says = v

    if src.exists("run/WSL"):
        votes.append((3, ev(src.path("run/WSL"), "exists", CONSIDERED, "wsl", "WSL's init creates it")))
    interop = src.env.get("WSL_INTEROP")
    if interop:
        votes.append((3, ev("env WSL_INTEROP", interop, CONSIDERED, "wsl", "interop socket of WSL's init")))
    distro = src.env.get("WSL_DISTRO_NAME")
    if distro:
        votes.append((3, ev("env WSL_DISTRO_NAME", distro, CONSIDERED, "wsl")))
    if src.exists("proc/sys/fs/binfmt_misc/WSLInterop"):
        votes.append(
            (
                2,
                ev(
                    src.path("proc/sys/fs/binfmt_misc/WSLInterop"),
                    "exists",
                    CONSIDERED,
                    "wsl",
                    "WSL2 registers Windows interop through binfmt_misc",
                ),
            )
        )
    mounts = src.read("proc/mounts", limit=1024 * 1024)
    fs = root_fstype(mounts.text) if mounts.text else None
    if fs is not None:
        if fs[0] in ("lxfs", "wslfs"):
            votes.append(
                (
                    1,
                    ev(
                        src.path("proc/mounts"),
                        f"/ is {fs[0]}",
                        CONSIDERED,
                        "wsl",
                        "WSL1's own root filesystem",
                    ),
                )
            )
        else:
            evidence.append(ev(src.path("proc/mounts"), f"/ is {fs[0]} on {fs[1]}", CONSIDERED))

    if not votes:
        if kernel_says == 0:
            return WslResult(version=0), _decide_not_wsl(evidence)
        return WslResult(version=None), evidence
    # The kernel string is the strongest sign of the version; the rest say "WSL".
    version_votes = [v for v, _ in votes if v in (1, 2)]
    if kernel_says in (1, 2):
        version: int | None = kernel_says
    elif version_votes:
        version = max(set(version_votes), key=version_votes.count)
    elif fs is not None and fs[0] not in ("lxfs", "wslfs"):
        # WSL markers without a kernel string: a WSL1 root would be lxfs/wslfs.
        version = 2
    else:
        version = None
    out: list[Evidence] = []
    decided = False
    for _v, e in votes:
        weight = SUPPORTING if decided else DECISIVE
        decided = True
        out.append(Evidence(e.topic, e.source, e.value, weight, e.points_to, e.note))
    if version is None:
        # Sure it is WSL, not which version: report the id through version None
        # would say "unknown"; the model has no "WSL of unknown version", so say so.
        out.append(ev("wsl", "", UNKNOWN, "wsl", "WSL markers found but no sign of the version"))
    return WslResult(version=version), out + evidence


def _decide_not_wsl(evidence: list[Evidence]) -> list[Evidence]:
    out = []
    done = False
    for e in evidence:
        if not done and e.note == "not a WSL kernel":
            out.append(Evidence(e.topic, e.source, e.value, DECISIVE, "none", e.note))
            done = True
        else:
            out.append(e)
    return out


def decode_wsl_output(raw: bytes) -> str:
    """wsl.exe writes UTF-16LE (with or without a BOM); some builds honour WSL_UTF8=1 and write UTF-8."""
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    # Without a BOM, UTF-16LE text of ASCII letters has a NUL every other byte.
    sample = raw[:200]
    if len(sample) >= 2 and sample[1::2].count(0) >= len(sample[1::2]) // 2:
        return raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace")
    return raw.decode("utf-8", errors="replace")


def parse_wsl_list(raw: bytes) -> tuple[WslDistribution, ...]:
    """Parse `wsl.exe -l -v`: a header (localized), then "* NAME STATE VERSION" rows.

    The header words are translated ("NAME STATE VERSION", "NOM ÉTAT VERSION"), so
    rows are split by columns: the last two are state and version; the name is
    everything before them (names may not hold spaces in WSL, but be lenient).
    """
    text = decode_wsl_output(raw).replace("\x00", "")
    out: list[WslDistribution] = []
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    for line in lines:
        default = line.lstrip().startswith("*")
        body = line.lstrip().lstrip("*").strip()
        parts = body.split()
        if len(parts) < 3:
            continue
        ver_s = parts[-1]
        if not ver_s.isdigit():
            # The header row ("NAME STATE VERSION") or prose; skip it.
            continue
        name = " ".join(parts[:-2])
        out.append(WslDistribution(name=name, state=parts[-2], version=int(ver_s), default=default))
    return tuple(out)
