"""Differential tests: other detectors' own verdicts on EVERY fixture root (issue 15 item 6).

Debian's virt-what 1.25 runs with --test-root, cloud-init 22.4.2's ds-identify with PATH_ROOT
(tests/differential.py says how each is fed what it would read from the live machine).
systemd-detect-virt runs live, in tests/devvm/test_detect_matrix.py.

Their silence (virt-what printing nothing, ds-identify finding no datasource) means "nothing
found" and agrees with virtprobe's null or none; a named id must be virtprobe's. Every other
difference is listed below, each entry citing the reason virtprobe is right; docs/detection.md
("Where other detectors disagree") holds the same list. An unlisted disagreement fails, and so
does a listed one that no longer occurs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import differential as D
from tests.conftest import ROOTS, live_skip

ALL_ROOTS = sorted(p.name for p in ROOTS.iterdir() if p.is_dir())
DOC = Path(__file__).resolve().parents[1] / "docs" / "detection.md"

# Why virtprobe is right where another tool differs. Each key is cited by the entries below and
# explained in docs/detection.md under the same key.
REASONS: dict[str, str] = {
    "stale-marker": "a /.dockerenv left in a root filesystem is a weak marker; the namespaces, cgroups and "
    "mounts were readable and show no engine (virt-what trusts the file)",
    "namespaces": "unshared PID/user namespaces with no runtime are a container (container-other); "
    "virt-what has no namespace rule",
    "container-rules": "virt-what names a container only from /.dockerenv, /docker/ or /libpod- cgroups and "
    "container=lxc|podman in PID 1's environment; virtprobe also reads CRI-O's and containerd's cgroup "
    "scopes, nspawn's and lxc's container= and /run/.containerenv",
    "gvisor": "gVisor's sandbox kernel names itself in /proc/version; docker only started it",
    "envid": "envID 0 in /proc/self/status is the OpenVZ host (virt-what checks only /proc/vz and /proc/bc)",
    "apple": "Apple's Virtualization framework ('Apple VZ' CPUID, 'Apple Virtualization' DMI, systemd's "
    "vm_table): virt-what 1.25 has no rule for it",
    "systemd-ids": "hypervisor.id keeps systemd-detect-virt's ids: DMI 'Amazon EC2' is 'amazon' (Nitro) in "
    "systemd's dmi_vendor_table; virt-what prints kvm and aws",
    "enlightened": "KVM offering Hyper-V enlightenments answers 'Microsoft Hv' at 0x40000000 and its own "
    "signature at 0x40000100 (Linux hypervisor_cpuid_base()); virt-what's helper reads the first only",
    "tcg": "a real TCG capture: QEMU writes the KVM-looking strings under TCG too (s390: STSI "
    "'KVM/Linux' with manufacturer QEMU; pseries: no device-tree hypervisor node, which QEMU adds "
    "under KVM); virt-what prints kvm for every QEMU pseries and s390 guest",
    "pseries-no-node": "without the device tree, a QEMU pseries is not known to be KVM; virtprobe says qemu "
    "as systemd does for a pseries without the hypervisor node",
    "more-trails": "a trail virt-what does not read: guest drivers in /proc/modules, the Hyper-V KVP pool, "
    "/dev/xvd* and /dev/xen/evtchn, DMI 'Virtual Machine' or 'HVM domU' alone, CPUID's brand string",
    "dsi-22.4": "a rule cloud-init added after Debian 12's 22.4.2 (or virt-what's and systemd's): "
    "sys_vendor/bios_vendor 'Amazon EC2', bios_version '.amazon', sys_vendor 'Alibaba Cloud', "
    "bios_vendor 'DigitalOcean' or 'Google', the 'Samsung Cloud Platform' asset tag",
    "physical": "a vendor's name on physical hardware (no hypervisor) is not a cloud; ds-identify's "
    "dscheck_Hetzner matches the vendor alone",
    "arm-named-cpu": "QEMU's arm virt board with a real core's MIDR is KVM or TCG with a named CPU model; "
    "virt-what (and systemd) say qemu for any fw-cfg node, virtprobe null",
    "riscv": "virt-what 1.25 has no RISC-V rule; QEMU's riscv virt board writes the root compatible "
    "riscv-virtio, and its generic CPU reports mvendorid 0 under TCG",
    "dsi-live-socket": "ds-identify tests /dev/lxd/sock on the live machine, as a socket, never under "
    "PATH_ROOT; virtprobe reads the root's file",
}

# (tool, root, topic) -> (their verdict, virtprobe's, reason key)
KNOWN: dict[tuple[str, str, str], tuple[str, str | None, str]] = {
    ("ds-identify", "alibaba_sys_vendor", "cloud"): ("none", "alibaba", "dsi-22.4"),
    ("virt-what", "apple_vz", "hypervisor"): ("none", "apple", "apple"),
    ("ds-identify", "aws_metal", "cloud"): ("none", "amazon", "dsi-22.4"),
    ("virt-what", "aws_nitro", "hypervisor"): ("kvm", "amazon", "systemd-ids"),
    ("ds-identify", "aws_nitro", "cloud"): ("none", "amazon", "dsi-22.4"),
    ("ds-identify", "aws_xen", "cloud"): ("none", "amazon", "dsi-22.4"),
    ("virt-what", "crio_pod", "container"): ("none", "cri-o", "container-rules"),
    ("ds-identify", "digitalocean_bios", "cloud"): ("none", "digitalocean", "dsi-22.4"),
    ("virt-what", "firecracker_this_machine", "container"): ("docker", "none", "stale-marker"),
    ("ds-identify", "gce_bios_vendor", "cloud"): ("none", "google", "dsi-22.4"),
    ("virt-what", "gvisor_runsc", "container"): ("docker", "gvisor", "gvisor"),
    ("ds-identify", "hetzner_dedicated", "cloud"): ("hetzner", "none", "physical"),
    ("virt-what", "hyperv_enlightened_kvm", "hypervisor"): ("microsoft", "kvm", "enlightened"),
    ("virt-what", "hyperv_kvp_pool", "hypervisor"): ("none", "microsoft", "more-trails"),
    ("virt-what", "hyperv_product_only", "hypervisor"): ("none", "microsoft", "more-trails"),
    ("virt-what", "kubernetes", "container"): ("none", "containerd", "container-rules"),
    ("virt-what", "kvm64_brand_cpuid", "hypervisor"): ("none", "kvm", "more-trails"),
    ("virt-what", "lxc_execute", "container"): ("none", "lxc", "container-rules"),
    ("ds-identify", "lxd_container", "cloud"): ("none", "lxd", "dsi-live-socket"),
    ("virt-what", "macos_vz_guest", "hypervisor"): ("none", "apple", "apple"),
    ("virt-what", "nspawn", "container"): ("none", "systemd-nspawn", "container-rules"),
    ("virt-what", "openvz_host_envid0", "container"): ("openvz", "none", "envid"),
    ("virt-what", "podman", "container"): ("none", "podman", "container-rules"),
    ("virt-what", "power_qemu_no_dt", "hypervisor"): ("kvm", "qemu", "pseries-no-node"),
    ("virt-what", "qemu_ppc64le_pseries", "hypervisor"): ("kvm", "qemu", "tcg"),
    ("virt-what", "qemu_arm64_virt_named_cpu", "hypervisor"): ("qemu", None, "arm-named-cpu"),
    ("virt-what", "riscv64_qemu_kvm", "hypervisor"): ("none", "kvm", "riscv"),
    ("virt-what", "riscv64_qemu_tcg", "hypervisor"): ("none", "qemu", "riscv"),
    ("virt-what", "qemu_s390x_ccw", "hypervisor"): ("kvm", "qemu", "tcg"),
    ("ds-identify", "samsung_cloud_platform", "cloud"): ("none", "samsung", "dsi-22.4"),
    ("virt-what", "systemd_nspawn", "container"): ("none", "systemd-nspawn", "container-rules"),
    ("virt-what", "unshare_pid_hostroot", "container"): ("docker", "container-other", "stale-marker"),
    ("virt-what", "unshare_pid_rootfs", "container"): ("none", "container-other", "namespaces"),
    ("virt-what", "unshare_user_pid_hostroot", "container"): ("docker", "container-other", "stale-marker"),
    ("virt-what", "unshare_user_pid_rootfs", "container"): ("none", "container-other", "namespaces"),
    ("virt-what", "virtualbox_modules", "hypervisor"): ("none", "oracle", "more-trails"),
    ("virt-what", "xen_hvm_domu_product", "hypervisor"): ("none", "xen", "more-trails"),
    ("virt-what", "xen_xvd_devices", "hypervisor"): ("none", "xen", "more-trails"),
}


def _tools() -> Path:
    if not Path(D.VIRT_WHAT).exists():
        live_skip("virt-what is not installed (scripts/setup.sh installs it)")
    dsi = D.ds_identify_path()
    if dsi is None:
        live_skip("cloud-init's ds-identify is not unpacked (scripts/setup.sh puts it in .cache/cloud-init)")
    assert dsi is not None
    return dsi


@pytest.mark.parametrize("name", ALL_ROOTS)
def test_other_detectors_agree_or_the_difference_is_listed(name: str) -> None:
    dsi = _tools()
    for (tool, topic), (theirs, ours) in D.verdicts(ROOTS / name, dsi).items():
        key = (tool, name, topic)
        if D.agrees(theirs, ours, topic):
            assert key not in KNOWN, f"{key} is listed as a disagreement but no longer occurs: remove it"
            continue
        assert key in KNOWN, f"unlisted disagreement {key}: {tool} says {theirs!r}, virtprobe {ours!r}"
        assert KNOWN[key][:2] == (theirs, ours), f"{key}: now {tool} {theirs!r}, virtprobe {ours!r}"


def test_every_listed_disagreement_cites_a_reason_and_the_docs_list_it() -> None:
    doc = DOC.read_text()
    section = doc[doc.index("## Where other detectors disagree"):]
    for (tool, root, topic), (_, _, reason) in KNOWN.items():
        assert root in ALL_ROOTS, f"{root}: no such fixture root"
        assert reason in REASONS, f"{(tool, root, topic)} cites an unknown reason {reason!r}"
        assert re.search(rf"\|\s*{re.escape(root)}\s*\|\s*{re.escape(tool)}\s*\|", section), (
            f"docs/detection.md does not list {tool} on {root}")
    for key in REASONS:
        assert f"`{key}`" in section, f"docs/detection.md does not explain reason {key!r}"


def test_the_harness_reads_what_the_tools_read() -> None:
    """The stubs: dmidecode's layout, the CPUID helper's rule, ds-identify's Ec2 platform."""
    text = D.dmidecode_text({"sys_vendor": "QEMU", "product_name": "Standard PC"})
    assert "\tManufacturer: QEMU\n" in text and "\tProduct Name: Standard PC\n" in text
    assert D.dmidecode_text(None).startswith("# No SMBIOS")
    kvm = {"cpuid": {"0x00000001": {"eax": 0, "ebx": 0, "ecx": 1 << 31, "edx": 0},
                     "0x40000000": {"eax": 0, "ebx": 0x4B4D564B, "ecx": 0x564B4D56, "edx": 0x4D}}}
    assert D.cpuid_signature(kvm) == "KVMKVMKVM"
    assert D.ds_identify_cloud(["Ec2"], "Outscale") == "outscale"
    assert D.virt_what_verdict(["xen", "xen-hvm", "aws"]) == {"hypervisor": "xen", "container": "none"}
