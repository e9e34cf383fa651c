"""WSL detection from the Linux side (the Windows side, `wsl.exe -l -v`, is in wsl_list.py).

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

from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    SUPPORTING,
    UNKNOWN,
    Evidence,
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
    folded = s.lower()
    if s.isascii() and "microsoft" not in folded and "wsl2" not in folded:
        # Neither pattern below can match ASCII text without one of these words (for ASCII,
        # IGNORECASE is str.lower): most kernels answer here, without compiling a pattern.
        return 0
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


# A vote: (1 or 2 for a version, 3 for "WSL, version unknown"), and the row that says so.
Vote = tuple[int, Evidence]


def _ev(source: str, value: str, weight: str, points_to: str | None = None, note: str = "") -> Evidence:
    return Evidence(TOPIC, source, value, weight, points_to, note)


def read_kernel_strings(src: Source) -> tuple[int | None, list[Vote], list[Evidence]]:
    """(what the first readable kernel string says, votes, rows) from osrelease and /proc/version."""
    kernel_says: int | None = None
    votes: list[Vote] = []
    rows: list[Evidence] = []
    for rel in ("proc/sys/kernel/osrelease", "proc/version"):
        read = src.read(rel, limit=4096)
        if read.text is None or not read.text.strip():
            rows.append(_ev(src.path(rel), "", UNKNOWN, None, read.reason or "empty"))
            continue
        v = wsl_version_from_kernel(read.text)
        value = read.text.strip()[:160]
        if v:
            votes.append((v, _ev(src.path(rel), value, CONSIDERED, "wsl", f"WSL{v} kernel string")))
        elif v == 0:
            rows.append(_ev(src.path(rel), value, CONSIDERED, None, "not a WSL kernel"))
        if kernel_says is None and v is not None:
            kernel_says = v
    return kernel_says, votes, rows


def read_markers(src: Source) -> list[Vote]:
    """What WSL's init leaves: /run/WSL, its variables, the WSLInterop binfmt_misc entry."""
    votes: list[Vote] = []
    if src.exists("run/WSL"):
        votes.append((3, _ev(src.path("run/WSL"), "exists", CONSIDERED, "wsl", "WSL's init creates it")))
    interop = src.env.get("WSL_INTEROP")
    if interop:
        votes.append((3, _ev("env WSL_INTEROP", interop, CONSIDERED, "wsl", "interop socket of WSL's init")))
    distro = src.env.get("WSL_DISTRO_NAME")
    if distro:
        votes.append((3, _ev("env WSL_DISTRO_NAME", distro, CONSIDERED, "wsl")))
    rel = "proc/sys/fs/binfmt_misc/WSLInterop"
    if src.exists(rel):
        note = "WSL2 registers Windows interop through binfmt_misc"
        votes.append((2, _ev(src.path(rel), "exists", CONSIDERED, "wsl", note)))
    return votes


def read_root_fs(src: Source) -> tuple[tuple[str, str] | None, list[Vote], list[Evidence]]:
    """The root filesystem: WSL1's lxfs/wslfs is a vote, anything else a plain row."""
    mounts = src.read("proc/mounts", limit=1024 * 1024)
    fs = root_fstype(mounts.text) if mounts.text else None
    if fs is None:
        return None, [], []
    if fs[0] in ("lxfs", "wslfs"):
        return (
            fs,
            [(1, _ev(src.path("proc/mounts"), f"/ is {fs[0]}", CONSIDERED, "wsl", "WSL1's own root filesystem"))],
            [],
        )
    return fs, [], [_ev(src.path("proc/mounts"), f"/ is {fs[0]} on {fs[1]}", CONSIDERED)]


def probe_wsl(src: Source) -> tuple[WslResult, list[Evidence]]:
    """Is this Linux running under WSL, and which version? Never raises."""
    kernel_says, votes, rows = read_kernel_strings(src)
    votes += read_markers(src)
    fs, fs_votes, fs_rows = read_root_fs(src)
    return decide_wsl(kernel_says, votes + fs_votes, fs, rows + fs_rows)


def decide_wsl(
    kernel_says: int | None, votes: list[Vote], fs: tuple[str, str] | None, rows: list[Evidence]
) -> tuple[WslResult, list[Evidence]]:
    """The kernel string names the version; markers only say "WSL"; a WSL root that is not lxfs/wslfs is WSL2."""
    if not votes:
        if kernel_says == 0:
            return WslResult(version=0), _decide_not_wsl(rows)
        return WslResult(version=None), rows
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
    out = [
        Evidence(e.topic, e.source, e.value, SUPPORTING if i else DECISIVE, e.points_to, e.note)
        for i, (_v, e) in enumerate(votes)
    ]
    if version is None:
        # Sure it is WSL, not which version; the model has no "WSL of unknown version", so say so.
        out.append(_ev("wsl", "", UNKNOWN, "wsl", "WSL markers found but no sign of the version"))
    return WslResult(version=version), out + rows


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
