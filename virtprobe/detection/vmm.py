"""The VMM (the user-space program that emulates the machine), decided from the hypervisor hints.

A VMM writes its name into the firmware it builds, so the sources rank by how
directly the VMM wrote them: ACPI table OEM IDs, then DMI strings, then a CPUID
signature that is a VMM's own (TCG is QEMU, LKVMLKVMLKVM is kvmtool), then the
s390 STSI manufacturer, the device tree, POWER's cpuinfo model, ACPI device HIDs,
PCI ids, VMBus, fw_cfg, guest drivers and files, and the CPU model name. Where nothing
names it, the VMM is null and a row says why; inside a container that is usually because /sys/firmware is masked.
"""

from __future__ import annotations

from virtprobe.detection import hv_readers as R
from virtprobe.detection.hv_readers import Hint
from virtprobe.detection.model import NONE, SUPPORTING, UNKNOWN, Evidence

RANK = (R.ACPI, R.DMI, R.CPUID, R.SYSINFO, R.DT, R.LPARCFG, R.ACPI_DEV, R.PCI, R.VMBUS, R.FW_CFG, R.MODULE, R.BRAND)

MASKED_NOTE = "/sys/firmware is masked inside this container; the VMM is named from ACPI tables"


def decide_vmm(
    topic: str, hv_id: str | None, hints: list[Hint], masked: Hint | None
) -> tuple[str | None, list[Evidence]]:
    """(vmm or None, evidence rows): the row naming it, or the row saying why there is none."""
    if hv_id is None:
        return None, [Evidence(topic, "verdict: VMM", "unknown", UNKNOWN, None, "the hypervisor itself is unknown")]
    if hv_id == NONE:
        return None, [Evidence(topic, "verdict: VMM", "none", SUPPORTING, None, "no hypervisor, so no VMM")]
    for kind in RANK:
        for x in hints:
            if x.kind == kind and x.vmm and not x.unreadable:
                return x.vmm, [Evidence(topic, x.source, x.value, SUPPORTING, None, f"names the VMM: {x.vmm}")]
    generic = sorted({x.value for x in hints if x.id == R.SOME_VM and x.kind in (R.ACPI_DEV, R.PCI)})
    seen = f"; seen: {', '.join(generic)}, which several VMMs share" if generic else ""
    if masked is not None:
        return None, [Evidence(topic, masked.source, "masked", UNKNOWN, None, MASKED_NOTE + seen)]
    return None, [
        Evidence(
            topic,
            "verdict: VMM",
            "unknown",
            UNKNOWN,
            None,
            "no ACPI table, DMI string, device-tree node or device names the VMM" + seen,
        )
    ]
