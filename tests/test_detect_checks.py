"""`detect --check`: each target's PASS/WARN/FAIL on captured and hand-built roots, and the CLI's exit codes.

The hand-built roots below are reconstructed: a KVM host is its /dev/kvm, its
/sys/module/kvm_intel/parameters/nested (Documentation/virt/kvm/x86/nested-vmx.rst)
and the KVM probe result with its KVM_CHECK_EXTENSION answers (0 = absent,
include/uapi/linux/kvm.h); the IOMMU is the ACPI DMAR table (Intel VT-d spec,
"DMA Remapping Reporting Structure") and /sys/kernel/iommu_groups
(Documentation/ABI/testing/sysfs-kernel-iommu_groups).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import ROOTS
from tests.rootmaker import make_root
from virtprobe.detection.checks import (
    CLOUD_HYPERVISOR_CAPS,
    FIRECRACKER_CAPS,
    QEMU_CAPS,
    TARGETS,
    resolve_targets,
)
from virtprobe.detection.model import CHECK_UNKNOWN, FAIL, PASS, WARN, CheckResult
from virtprobe.detection.run import detect
from virtprobe.machine.kvmapi import KVM_CAPS
from virtprobe.machine.source import RootSource

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "virtprobe/report/schemas/detect-1.2.schema.json").read_text())

INTEL_VMX_CPUINFO = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t\t: fpu vmx ept\n\n"
)


def _probe(caps: dict[str, int] | None) -> dict[str, Any]:
    return {
        "ok": True,
        "stage": "done",
        "api_version": 12,
        "exit_reason": "KVM_EXIT_HLT",
        "elapsed_s": 0.0006,
        "guest_output": "K",
        "error": None,
        "capabilities": caps,
    }


def _kvm_host(tmp_path: Path, caps: dict[str, int] | None = None, files: dict[str, str] | None = None) -> RootSource:
    """A bare-metal Intel KVM host: kvm_intel with nested on, a probe guest that ran."""
    base: dict[str, str | bytes] = {
        "proc/cpuinfo": INTEL_VMX_CPUINFO,
        "proc/sys/kernel/osrelease": "6.1.0-28-amd64\n",
        "dev/kvm": "",
        "dev/net/tun": "",
        "sys/module/kvm_intel/parameters/nested": "Y\n",
        "lib/modules/6.1.0-28-amd64/modules.dep": "",
    }
    base.update(files or {})
    all_caps = {name: 1 for name in KVM_CAPS} if caps is None else caps
    return make_root(tmp_path, base, meta={"kvm_probe": _probe(all_caps)})


def _checks(src: RootSource, kvm_probe: bool = True) -> dict[str, CheckResult]:
    return {c.target: c for c in detect(src, kvm_probe=kvm_probe, checks=True).checks}


def test_every_target_is_checked_once_in_order(tmp_path: Path) -> None:
    assert [c.target for c in detect(_kvm_host(tmp_path), checks=True).checks] == list(TARGETS)


def test_the_kvm_capabilities_named_are_the_ones_probed() -> None:
    assert set(QEMU_CAPS) | set(FIRECRACKER_CAPS) | set(CLOUD_HYPERVISOR_CAPS) <= set(KVM_CAPS)


def test_kvm_host_with_every_capability_passes_the_vmms(tmp_path: Path) -> None:
    checks = _checks(_kvm_host(tmp_path, files={"usr/bin/qemu-system-x86_64": ""}))
    for target in ("kvm", "firecracker", "cloud-hypervisor", "nested", "tun"):
        assert checks[target].status == PASS, checks[target]
    assert "14 capabilities Firecracker requires" in checks["firecracker"].reason


def test_a_missing_capability_fails_and_is_named(tmp_path: Path) -> None:
    caps = {name: 1 for name in KVM_CAPS} | {"KVM_CAP_PIT2": 0}
    checks = _checks(_kvm_host(tmp_path, caps))
    assert checks["firecracker"].status == FAIL
    assert "KVM_CAP_PIT2" in checks["firecracker"].reason
    assert checks["cloud-hypervisor"].status == PASS  # Cloud Hypervisor does not ask for the PIT


def test_capabilities_unknown_without_them(tmp_path: Path) -> None:
    # A snapshot from before the capabilities were recorded: not a pass, not a fail.
    src = make_root(
        tmp_path,
        {"proc/cpuinfo": INTEL_VMX_CPUINFO, "dev/kvm": "", "sys/module/kvm_intel/parameters/nested": "N\n"},
        meta={"kvm_probe": {k: v for k, v in _probe(None).items() if k != "capabilities"}},
    )
    checks = _checks(src)
    assert checks["firecracker"].status == CHECK_UNKNOWN
    assert checks["nested"].status == FAIL and "nested=1" in (checks["nested"].fix or "")


def test_no_kvm_probe_leaves_kvm_unconfirmed(tmp_path: Path) -> None:
    checks = _checks(_kvm_host(tmp_path), kvm_probe=False)
    assert checks["firecracker"].status == CHECK_UNKNOWN
    assert "--no-kvm-probe" in (checks["firecracker"].fix or "")


def test_this_machines_snapshot_fails_firecracker_for_pvm() -> None:
    checks = _checks(RootSource(ROOTS / "firecracker_this_machine"))
    assert checks["firecracker"].status == FAIL
    assert "kvm_pvm" in checks["firecracker"].reason and "stock" in checks["firecracker"].reason
    assert checks["nested"].status == FAIL


def test_no_dev_kvm_fails_with_a_fix(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/cpuinfo": INTEL_VMX_CPUINFO, "dev/null": ""})
    checks = _checks(src)
    assert checks["kvm"].status == FAIL and "modprobe kvm_intel" in (checks["kvm"].fix or "")


@pytest.mark.parametrize(
    ("files", "status", "fix_has"),
    [
        ({"sys/firmware/acpi/tables/DMAR": "DMAR", "sys/kernel/iommu_groups/0/type": "DMA\n"}, PASS, None),
        ({"sys/firmware/acpi/tables/DMAR": "DMAR", "sys/kernel/iommu_groups/.keep": ""}, FAIL, "intel_iommu=on"),
        ({"sys/firmware/acpi/tables/FACP": "FACP"}, FAIL, "VT-d"),
    ],
)
def test_passthrough(tmp_path: Path, files: dict[str, str], status: str, fix_has: str | None) -> None:
    got = _checks(_kvm_host(tmp_path, files=files))["passthrough"]
    assert got.status == status, got
    if fix_has:
        assert fix_has in (got.fix or "")


def test_vhost_devices(tmp_path: Path) -> None:
    checks = _checks(_kvm_host(tmp_path, files={"dev/vhost-net": ""}))
    assert checks["vhost-net"].status == PASS
    assert checks["vhost-vsock"].status == FAIL and checks["vhost-vsock"].fix == "modprobe vhost_vsock"


def test_no_module_tree_means_no_modprobe_fix(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/sys/kernel/osrelease": "6.18.44-fc-v669\n", "dev/null": ""})
    fix = _checks(src)["vhost-net"].fix or ""
    assert "no module tree" in fix and "CONFIG_VHOST_NET" in fix


def test_a_snapshot_without_dev_cannot_say_a_device_is_missing(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/cpuinfo": INTEL_VMX_CPUINFO})
    checks = _checks(src)
    assert checks["tun"].status == CHECK_UNKNOWN and checks["vhost-net"].status == CHECK_UNKNOWN


@pytest.mark.parametrize(("run", "status"), [("1\n", PASS), ("0\n", WARN), (None, FAIL)])
def test_ksm(tmp_path: Path, run: str | None, status: str) -> None:
    files = {} if run is None else {"sys/kernel/mm/ksm/run": run}
    assert _checks(_kvm_host(tmp_path, files=files))["ksm"].status == status


def test_hugepages(tmp_path: Path) -> None:
    sizes = {"sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "0\n"}
    none = _checks(_kvm_host(tmp_path / "a", files={"proc/meminfo": "HugePages_Total:       0\n", **sizes}))[
        "hugepages"
    ]
    assert none.status == WARN and "nr_hugepages" in (none.fix or "")
    meminfo = "HugePages_Total:     512\nHugepagesize: 2048 kB\n"
    some = _checks(_kvm_host(tmp_path / "b", files={"proc/meminfo": meminfo, **sizes}))
    assert some["hugepages"].status == PASS
    assert _checks(_kvm_host(tmp_path / "c"))["hugepages"].status == FAIL


def test_gvisor(tmp_path: Path) -> None:
    got = _checks(_kvm_host(tmp_path / "a", files={"usr/bin/runsc": ""}))["gvisor"]
    assert got.status == PASS and "--network=none" in got.reason
    assert _checks(_kvm_host(tmp_path / "b"))["gvisor"].status == FAIL


def test_cvm_host(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "proc/cpuinfo": "vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm sev sev_es sev_snp\n",
        "dev/kvm": "",
        "dev/sev": "",
        "sys/module/kvm_amd/parameters/nested": "1\n",
        "sys/module/kvm_amd/parameters/sev": "Y\n",
        "sys/module/kvm_amd/parameters/sev_snp": "Y\n",
    }
    got = _checks(make_root(tmp_path / "a", files, meta={"kvm_probe": _probe({})}))["cvm-host"]
    assert got.status == PASS and "sev_snp" in got.reason
    assert _checks(_kvm_host(tmp_path / "b"))["cvm-host"].status == FAIL


def test_resolve_targets() -> None:
    assert resolve_targets(["qemu", "firecracker,gvisor"]) == (["kvm", "firecracker", "gvisor"], [])
    assert resolve_targets(["all"])[0] == list(TARGETS)
    assert resolve_targets(["vmware"]) == ([], ["vmware"])


def test_checks_round_trip_through_the_document(tmp_path: Path) -> None:
    from virtprobe.detection.model import DetectResult
    from virtprobe.report.envelope import detect_document

    result = detect(_kvm_host(tmp_path), checks=True)
    assert result.checks  # something to round-trip
    doc = json.loads(json.dumps(detect_document(result)))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert DetectResult.from_sections(doc).checks == result.checks
    assert detect(_kvm_host(tmp_path)).checks == ()  # computed only when asked (detect --check)


# --- the CLI ---------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_cli_requested_fail_exits_3(tmp_path: Path) -> None:
    _kvm_host(tmp_path, files={"usr/bin/runsc": ""})
    proc = _run("detect", "--root", str(tmp_path), "--check", "gvisor", "vhost-vsock")
    assert proc.returncode == 3, proc.stderr
    assert "PASS" in proc.stdout and "FAIL" in proc.stdout
    assert proc.stderr.strip().splitlines() == ["virtprobe: error: requested check cannot run here: vhost-vsock (FAIL)"]


def test_cli_requested_pass_exits_0_and_a_shown_fail_exits_3(tmp_path: Path) -> None:
    """As virt-host-validate: any check shown that FAILs makes the exit code non-zero (3)."""
    _kvm_host(tmp_path, files={"usr/bin/runsc": ""})
    assert _run("detect", "--root", str(tmp_path), "--check", "gvisor", "firecracker").returncode == 0
    everything = _run("detect", "--root", str(tmp_path), "--check")
    assert everything.returncode == 3, everything.stderr
    assert "vhost-vsock" in everything.stdout and "PASS" in everything.stdout
    n_fail = sum(line.lstrip().startswith("FAIL ") for line in everything.stdout.splitlines())
    (line,) = everything.stderr.strip().splitlines()
    assert n_fail and line.startswith(f"virtprobe: error: {n_fail} check(s) FAIL: ") and "vhost-vsock" in line


def test_cli_check_quiet_shows_only_what_does_not_pass(tmp_path: Path) -> None:
    _kvm_host(tmp_path, files={"usr/bin/runsc": ""})
    loud = _run("detect", "--root", str(tmp_path), "--check")
    quiet = _run("detect", "--root", str(tmp_path), "--check", "-q")
    assert quiet.returncode == loud.returncode == 3
    assert "PASS" in loud.stdout and "PASS" not in quiet.stdout
    assert [x for x in quiet.stdout.splitlines() if x.startswith(("FAIL", "WARN"))] == [
        x for x in loud.stdout.splitlines() if x.startswith(("FAIL", "WARN"))
    ]
    # Every requested target passes: -q prints nothing at all, and the exit code is 0.
    passing = _run("detect", "--root", str(tmp_path), "--check", "gvisor", "firecracker", "-q")
    assert (passing.returncode, passing.stdout) == (0, "")


def test_cli_check_json_validates(tmp_path: Path) -> None:
    _kvm_host(tmp_path)
    proc = _run("detect", "--root", str(tmp_path), "--check", "tun", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [c["target"] for c in doc["checks"]] == list(TARGETS)


@pytest.mark.parametrize("args", [["--check", "vmware"], ["gvisor"]])
def test_cli_bad_targets_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    _kvm_host(tmp_path)
    proc = _run("detect", "--root", str(tmp_path), *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_detect_parser_reads_check_and_its_targets() -> None:
    from virtprobe.cli.detect_options import parse

    assert parse(["--check", "firecracker", "-q"]) == {**parse([]), "check": True, "quiet": True,  # type: ignore[dict-item]
                                                        "targets": ["firecracker"]}  # fmt: skip
