"""KVM: is /dev/kvm there, which module provides it, and can it really run a guest?

`kvm-ok` (cpu-checker) decides from the CPU flags: no `vmx`/`svm`, no KVM. That
is wrong on hosts where KVM runs without hardware virtualization extensions,
such as PVM (kvm_pvm, "Pagetable-based Virtual Machine": a KVM backend that runs
guests in a ring-3 sandbox using shadow paging). So usability here is proven,
not inferred: `virtprobe.machine.kvmapi.probe_guest()` creates a VM through the KVM
ioctl API and runs a few real-mode instructions to a HLT exit. The CPU flags
are only used to explain the verdict.

Sources: /dev/kvm (existence), /sys/module/{kvm_intel,kvm_amd,kvm_pvm,kvm_hv,
kvm_pr,kvm} (which backend is loaded or built in; /proc/modules lists only
loadable modules and may not exist at all), /sys/module/<m>/parameters/nested
(Y/N or 1/0), and the guest-run result captured as `kvm_probe` in a snapshot.
"""

from __future__ import annotations

from virtprobe.detection.cpu import parse_flags, read_cpuinfo
from virtprobe.detection.model import CONSIDERED, DECISIVE, SUPPORTING, UNKNOWN, Evidence, KvmResult
from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple
from virtprobe.machine.source import Source

if TYPE_CHECKING:
    from typing import Any

TOPIC = "kvm"

# Backends in the order we name them when several are present (see _pick_module).
# kvm_hv / kvm_pr are PowerPC (HV and PR KVM); arm64 and s390 build KVM into "kvm".
BACKENDS = ("kvm_intel", "kvm_amd", "kvm_pvm", "kvm_hv", "kvm_pr")

PVM_GUEST_NOTE = (
    "PVM runs only guest kernels built for it: a stock distribution kernel's kernel mode is emulated "
    "instruction by instruction, so it boots thousands of times slower and then stops with a KVM "
    "emulation failure; a full Linux VM here needs QEMU's TCG (software emulation)"
)


def parse_bool_param(text: str | None) -> bool | None:
    """A kernel module boolean/int parameter: Y/1 -> True, N/0 -> False, else None."""
    if text is None:
        return None
    v = text.strip().upper()
    if v in ("Y", "1"):
        return True
    if v in ("N", "0"):
        return False
    return None


def _pick_module(present: list[str], flags: frozenset[str]) -> str | None:
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    # Several backends can be loaded at once (kvm_pvm beside kvm_intel); the one
    # the CPU supports is the one /dev/kvm uses by default.
    if "vmx" in flags and "kvm_intel" in present:
        return "kvm_intel"
    if "svm" in flags and "kvm_amd" in present:
        return "kvm_amd"
    return "kvm_pvm" if "kvm_pvm" in present else present[0]


def dev_fstype(mountinfo: str) -> str | None:
    """The filesystem type mounted on /dev, from /proc/self/mountinfo (proc(5)), or None."""
    fstype = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        parts = left.split()
        if sep and len(parts) >= 5 and parts[4] == "/dev":
            fstype = right.split()[0] if right.split() else None  # the last mount on /dev wins
    return fstype


def _where_dev_is(src: Source) -> str:
    """Why /dev/kvm can be missing although the kernel has KVM: whose /dev this is."""
    read = src.read("proc/self/mountinfo")
    fstype = dev_fstype(read.text) if read.text else None
    if fstype == "tmpfs":
        return "in this container"  # engines mount a tmpfs on /dev; the host has devtmpfs
    return "here (this /dev is not the host's devtmpfs)"


def _dev_known(src: Source) -> bool:
    """Does this source show /dev, so that a missing /dev/kvm means absent?

    Snapshots hold dev/null since /dev is captured; older ones only held dev/kvm when it
    existed, and they are trusted when they captured /sys/module (a root with neither /dev
    nor /sys/module is a partial copy).
    """
    if src.exists("dev"):
        return True
    # Without /dev, only a captured /sys/module can show the kernel has no KVM backend (issue 15:
    # a snapshot holding neither says nothing about KVM).
    return not src.is_live and src.listdir("sys/module") is not None


class _GuestRun(NamedTuple):
    """What the probe guest (or its absence) says about /dev/kvm."""

    openable: bool | None = None
    usable: bool | None = None
    api_version: int | None = None
    guest_exit: str | None = None
    probe_s: float | None = None
    reason: str | None = None


def _read_backends(src: Source, device: bool, flags: frozenset[str]) -> tuple[list[str], str | None, list[Evidence]]:
    """(loaded KVM backends, the one /dev/kvm is taken to use, evidence) from /sys/module."""
    present = [m for m in BACKENDS if src.exists(f"sys/module/{m}")]
    module = _pick_module(present, flags)
    if module is None and device and src.machine in ("aarch64", "arm64", "s390x"):
        module = "kvm" if src.exists("sys/module/kvm") else None
    ev = [
        Evidence(
            TOPIC,
            src.path(f"sys/module/{m}"),
            "present",
            SUPPORTING if m == module else CONSIDERED,
            points_to=m,
            note="" if m == module else "loaded, but not the backend /dev/kvm is taken to use",
        )
        for m in present
    ]
    if not present:
        ev.append(Evidence(TOPIC, src.path("sys/module"), "no kvm_intel/kvm_amd/kvm_pvm", CONSIDERED))
    return present, module, ev


def _read_nested(src: Source, module: str | None) -> tuple[bool | None, list[Evidence]]:
    """The backend's `nested` parameter: only kvm_intel and kvm_amd have one."""
    if module in ("kvm_intel", "kvm_amd"):
        read = src.read(f"sys/module/{module}/parameters/nested")
        nested = parse_bool_param(read.text)
        if nested is None:
            return None, [Evidence(TOPIC, read.path, read.text or "", UNKNOWN, note=read.reason or "not Y/N/1/0")]
        text = (read.text or "").strip()
        return nested, [Evidence(TOPIC, read.path, text, DECISIVE, note="nested virtualization")]
    if module is None:
        return None, []
    path = src.path(f"sys/module/{module}/parameters/nested")
    return None, [Evidence(TOPIC, path, "", CONSIDERED, note=f"{module} has no nested parameter")]


def _read_guest_run(src: Source, device: bool, run_guest: bool) -> tuple[_GuestRun, list[Evidence]]:
    """The probe guest's run on /dev/kvm (live, or as the snapshot recorded it)."""
    if not run_guest:
        if not device:
            return _GuestRun(False, False, reason="no /dev/kvm"), []
        return _GuestRun(reason="the guest run was not requested, so usability is not proven"), []
    look = src.kvm_probe()
    probe: dict[str, Any] | None = look.value if isinstance(look.value, dict) else None
    if probe is None:
        if not device:
            return _GuestRun(False, False, reason="no /dev/kvm"), []
        why = look.reason or "no result"
        return _GuestRun(reason=f"the guest run result is unknown: {why}"), [
            Evidence(TOPIC, "KVM ioctl probe", "", UNKNOWN, note=why)
        ]
    stage = str(probe.get("stage") or "")
    ok = probe.get("ok") is True
    api = probe.get("api_version")
    exit_reason = probe.get("exit_reason")
    guest_exit = exit_reason if isinstance(exit_reason, str) else None
    elapsed = probe.get("elapsed_s")
    error = probe.get("error")
    value = f"stage {stage}" + (f", {guest_exit}" if guest_exit else "") + (f": {error}" if error else "")
    said = "a guest really ran" if ok else "the probe guest did not run"
    reason = None
    if not ok and not device:
        reason = f"no /dev/kvm ({error or 'the probe could not open it'})"
    elif not ok:
        reason = f"the probe guest failed at stage {stage!r}: {error or 'no detail'}"
    run = _GuestRun(
        openable=stage != "open" if stage else None,
        usable=ok,
        api_version=api if isinstance(api, int) else None,
        guest_exit=guest_exit,
        probe_s=float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None,
        reason=reason,
    )
    return run, [Evidence(TOPIC, "KVM ioctl probe (/dev/kvm)", value, DECISIVE, note=said)]


def _explain(
    src: Source,
    run: _GuestRun,
    device: bool,
    present: list[str],
    module: str | None,
    cpuinfo_path: str,
    fields: dict[str, str],
) -> tuple[_GuestRun, list[Evidence]]:
    """The verdict's reason in words, against what kvm-ok would conclude from the CPU flags."""
    flags = parse_flags(fields.get("flags"))
    virt_flag = "vmx" if "vmx" in flags else "svm" if "svm" in flags else None
    reason, usable, openable = run.reason, run.usable, run.openable
    ev: list[Evidence] = []
    if usable and "flags" in fields and virt_flag is None:
        via = f" via {module}" if module else ""
        extra = " (PVM: KVM without hardware virtualization extensions)" if module == "kvm_pvm" else ""
        reason = (
            "no vmx/svm flag in /proc/cpuinfo, yet /dev/kvm ran a guest to "
            f"{run.guest_exit or 'completion'}{via}{extra}; kvm-ok would say KVM cannot be used"
        )
        ev.append(Evidence(TOPIC, f"{cpuinfo_path}: flags", "no vmx/svm flag", CONSIDERED, note=reason))
    if usable and module == "kvm_pvm":
        # PVM runs the guest kernel deprivileged and expects it to be built for that
        # (CONFIG_PVM_GUEST). Seen here with Debian's cloud kernel under QEMU/KVM: its
        # boot log crawled (18 s of guest time in about a minute), then "KVM internal
        # error ... emulation failure" on a `lock cmpxchg16b`, and QEMU hung.
        reason = (reason + "; " if reason else "") + PVM_GUEST_NOTE
        ev.append(Evidence(TOPIC, src.path("sys/module/kvm_pvm"), "present", CONSIDERED, "kvm", PVM_GUEST_NOTE))
    elif device is False and present:
        # The kernel has a KVM backend, so it made /dev/kvm; this /dev just does not show it.
        loaded = ", ".join(present)
        reason = f"/dev/kvm is not present {_where_dev_is(src)}; the host has {loaded} loaded; pass --device /dev/kvm"
        usable, openable = False, False
        ev.append(Evidence(TOPIC, src.path("sys/module"), loaded, DECISIVE, module, reason))
    elif device is False and src.listdir("sys/module") is None and (src.is_live or not src.exists("sys")):
        # nspawn, gVisor or a chroot without /sys: whether the kernel has KVM cannot be seen.
        reason = "no /dev/kvm here, and /sys/module cannot be read, so whether the kernel has KVM is unknown"
        usable, openable = False, False
    elif usable is False and device is False and virt_flag is not None:
        reason = f"the CPU has {virt_flag}, but /dev/kvm is absent: the kvm module is not loaded"
    elif usable is False and device is False:
        reason = "no /dev/kvm, and /sys/module lists no KVM backend: KVM is not available on this kernel"
    return run._replace(reason=reason, usable=usable, openable=openable), ev


def probe_kvm(src: Source, run_guest: bool = True) -> tuple[KvmResult, list[Evidence]]:
    """Is /dev/kvm there, which backend provides it, and did a guest really run? Never raises."""
    if not _dev_known(src):
        # A partial snapshot or a bare chroot: absence of /dev/kvm proves nothing.
        why = "cannot tell: /dev is not in this snapshot" if not src.is_live else "cannot tell: there is no /dev"
        present = [m for m in BACKENDS if src.exists(f"sys/module/{m}")]
        module = present[0] if len(present) == 1 else None
        result = KvmResult(device_present=None, openable=None, usable=None, module=module, nested=None, reason=why)
        return result, [Evidence(TOPIC, src.path("dev/kvm"), "", UNKNOWN, note=why)]
    device = src.exists("dev/kvm")
    ev = [Evidence(TOPIC, src.path("dev/kvm"), "present" if device else "absent", SUPPORTING if device else DECISIVE)]
    cpuinfo, fields = read_cpuinfo(src)
    present, module, backend_ev = _read_backends(src, device, parse_flags(fields.get("flags")))
    nested, nested_ev = _read_nested(src, module)
    run, run_ev = _read_guest_run(src, device, run_guest)
    run, explain_ev = _explain(src, run, device, present, module, cpuinfo.path, fields)
    result = KvmResult(
        device_present=device,
        openable=run.openable,
        usable=run.usable,
        module=module,
        nested=nested,
        api_version=run.api_version,
        guest_exit=run.guest_exit,
        probe_s=run.probe_s,
        reason=run.reason,
    )
    return result, [*ev, *backend_ev, *nested_ev, *run_ev, *explain_ev]
