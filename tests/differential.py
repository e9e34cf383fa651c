"""Run other detectors on a fixture root: Debian's virt-what (--test-root) and cloud-init's ds-identify (PATH_ROOT).

Both tools read files below a root; what they would otherwise take from the live machine is
given to them the way their own test suites do it:
- virt-what 1.25 puts ROOT/sbin first on PATH for its helpers (its tests/ hold roots with
  sbin/dmidecode, sbin/uname and sbin/virt-what-cpuid-helper scripts). Here those three are
  written from the root: dmidecode prints the root's DMI files in dmidecode's layout ("# No
  SMBIOS nor DMI entry point found, sorry." when it has none), the CPUID helper prints the
  snapshot's leaf 0x40000000 signature when leaf 1 has the hypervisor bit, uname -m prints the
  snapshot's machine.
- ds-identify is sourced with DI_MAIN=noop and its machine-specific readers are replaced, as
  cloud-init's tests/unittests/test_ds_identify.py does: detect_virt answers what
  systemd-detect-virt would print for this root (virtprobe's container id, else its hypervisor
  id: the differential is about the cloud rules, not virtualization), read_uname_info the
  snapshot's machine, read_fs_info the labels under ROOT/dev/disk/by-label.
Identifiers that a snapshot keeps only as derived facts (virtprobe-snapshot.json "derived") are
written back as a value of that shape (an EC2 UUID, a GoogleCloud- serial, the kernel command
line's words), so that both tools see the same fact virtprobe saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

VIRT_WHAT = shutil.which("virt-what") or "/usr/sbin/virt-what"
# virt-what-cpuid-helper prints only the signatures it knows (strings in the Debian binary).
HELPER_KNOWN = ("bhyve bhyve ", "LKVMLKVMLKVM", "Microsoft Hv", "OpenBSDVMM58", "TCGTCGTCGTCG", "VMwareVMware",
                "XenVMMXenVMM", "KVMKVMKVM")


def ds_identify_path() -> Path | None:
    """cloud-init's ds-identify, unpacked by scripts/setup.sh into .cache/cloud-init (never installed)."""
    for cand in (os.environ.get("VIRTPROBE_DS_IDENTIFY"), REPO / ".cache/cloud-init/usr/lib/cloud-init/ds-identify",
                 Path("/usr/lib/cloud-init/ds-identify")):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def _meta(root: Path) -> dict[str, Any]:
    path = root / "virtprobe-snapshot.json"
    meta: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return meta


def _dmi(root: Path) -> dict[str, str] | None:
    d = root / "sys/class/dmi/id"
    if not d.is_dir():
        return None
    return {p.name: p.read_text(errors="replace").strip() for p in d.iterdir() if p.is_file()}


def dmidecode_text(dmi: dict[str, str] | None) -> str:
    if dmi is None:
        return "# No SMBIOS nor DMI entry point found, sorry.\n"
    g = dmi.get
    return (
        "Handle 0x0000, DMI type 0, 24 bytes\nBIOS Information\n"
        f"\tVendor: {g('bios_vendor', '')}\n\tVersion: {g('bios_version', '')}\n\n"
        "Handle 0x0100, DMI type 1, 27 bytes\nSystem Information\n"
        f"\tManufacturer: {g('sys_vendor', '')}\n\tProduct Name: {g('product_name', '')}\n"
        f"\tVersion: {g('product_version', '')}\n\n"
        "Handle 0x0200, DMI type 2, 15 bytes\nBase Board Information\n"
        f"\tManufacturer: {g('board_vendor', '')}\n\tProduct Name: {g('board_name', '')}\n\n"
        "Handle 0x0300, DMI type 3, 22 bytes\nChassis Information\n"
        f"\tManufacturer: {g('chassis_vendor', '')}\n\tAsset Tag: {g('chassis_asset_tag', '')}\n"
    )


def cpuid_signature(meta: dict[str, Any]) -> str:
    """What virt-what-cpuid-helper would print on this machine."""
    cpuid = meta.get("cpuid") or {}

    def leaf(n: int) -> dict[str, int] | None:
        for key in (f"0x{n:08x}/0", f"0x{n:08x}", f"0x{n:x}"):
            if isinstance(cpuid.get(key), dict):
                return dict(cpuid[key])
        return None

    l1, hv = leaf(1), leaf(0x40000000)
    if not l1 or not hv or not (l1["ecx"] >> 31) & 1:
        return ""
    raw = b"".join((hv[r] & 0xFFFFFFFF).to_bytes(4, "little") for r in ("ebx", "ecx", "edx"))
    sig = raw.decode("latin-1").rstrip("\0")
    return sig if sig in HELPER_KNOWN else ""


def _copy(root: Path, dest: Path) -> None:
    shutil.copytree(root, dest, symlinks=True, ignore=shutil.ignore_patterns(".keep"))
    meta = _meta(root)
    derived = meta.get("derived") or {}
    shapes = {"ec2": "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8", "googlecloud": "GoogleCloud-0A1B2C3D",
              "brightbox": "srv-a1b2c.gb1.brightbox.com"}
    for rel, value in derived.items():
        target = dest / rel
        if rel == "proc/cmdline":
            text = f"BOOT_IMAGE=/vmlinuz ro {value}".strip()
        elif rel == "proc/self/status":
            text = "\n".join(value.split("; "))  # "VxID: 42", as virt-what's grep expects
        else:
            text = shapes.get(value, "")
            if not text:
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")


def run_virt_what(root: Path) -> list[str]:
    """virt-what's facts for this root, in its output order."""
    meta = _meta(root)
    with tempfile.TemporaryDirectory(prefix="virtprobe-vw-") as tmp:
        copy = Path(tmp) / "root"
        _copy(root, copy)
        sbin = copy / "sbin"
        sbin.mkdir(exist_ok=True)
        scripts = {
            "dmidecode": "cat <<'EOF'\n" + dmidecode_text(_dmi(root)) + "EOF\n",
            "virt-what-cpuid-helper": f"printf '%s\\n' '{cpuid_signature(meta)}'\n",
            "uname": f'if [ "${{1:-}}" = -m ]; then echo {meta.get("machine", "x86_64")}; else echo Linux; fi\n',
        }
        for name, body in scripts.items():
            (sbin / name).write_text("#!/bin/sh\n" + body)
            (sbin / name).chmod(0o755)
        proc = subprocess.run([VIRT_WHAT, f"--test-root={copy}"], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}, check=False)
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


# virt-what's facts -> (topic, virtprobe id). Facts not listed name nothing virtprobe compares.
VIRT_WHAT_FACTS: dict[str, tuple[str, str]] = {
    "kvm": ("hypervisor", "kvm"), "qemu": ("hypervisor", "qemu"), "lkvm": ("hypervisor", "kvm"),
    "hyperv": ("hypervisor", "microsoft"), "vmware": ("hypervisor", "vmware"),
    "virtualbox": ("hypervisor", "oracle"), "parallels": ("hypervisor", "parallels"),
    "bhyve": ("hypervisor", "bhyve"), "xen": ("hypervisor", "xen"), "uml": ("hypervisor", "uml"),
    "ibm_power-kvm": ("hypervisor", "kvm"), "ibm_power-lpar_shared": ("hypervisor", "powervm"),
    "ibm_power-lpar_dedicated": ("hypervisor", "powervm"), "ibm_systemz-zvm": ("hypervisor", "zvm"),
    "ibm_systemz-kvm": ("hypervisor", "kvm"), "ibm_systemz-lpar": ("hypervisor", "none"),
    "virt": ("hypervisor", "vm-other"), "openbsd_vmm": ("hypervisor", "openbsd-vmm"),
    "docker": ("container", "docker"), "podman": ("container", "podman"), "lxc": ("container", "lxc"),
    "openvz": ("container", "openvz"), "linux_vserver-guest": ("container", "container-other"),
}


def virt_what_verdict(facts: list[str]) -> dict[str, str]:
    """{"hypervisor": id, "container": id}: the first fact of each topic; silence is "none" (virt-what's
    empty output means bare metal)."""
    out = {"hypervisor": "none", "container": "none"}
    seen: set[str] = set()
    for fact in facts:
        got = VIRT_WHAT_FACTS.get(fact)
        if got and got[0] not in seen:
            seen.add(got[0])
            out[got[0]] = got[1]
    return out


# ds-identify datasource -> virtprobe cloud id (OpenStack-based clouds compare as openstack).
DATASOURCES: dict[str, str] = {
    "Azure": "azure", "GCE": "google", "Oracle": "oracle", "AliYun": "alibaba", "DigitalOcean": "digitalocean",
    "Hetzner": "hetzner", "OpenStack": "openstack", "Exoscale": "exoscale", "Scaleway": "scaleway",
    "UpCloud": "upcloud", "Vultr": "vultr", "CloudSigma": "cloudsigma", "CloudStack": "cloudstack",
    "SmartOS": "smartos", "NWCS": "nwcs", "IBMCloud": "ibm", "OpenNebula": "opennebula", "RbxCloud": "rbxcloud",
    "Bigstep": "bigstep", "LXD": "lxd",
}
EC2_PLATFORMS = {"AWS": "amazon", "Brightbox": "brightbox", "ZStack": "zstack", "E24cloud": "e24cloud",
                 "Outscale": "outscale"}
# virtprobe ids that ds-identify reports as its OpenStack datasource.
OPENSTACK_FAMILY = {"openstack", "huawei", "samsung"}

_DS_WRAPPER = r"""
DI_MAIN=noop
. "$DS_IDENTIFY"
detect_virt() { _RET="$VIRTPROBE_VIRT"; }
read_uname_info() {
    DI_UNAME_KERNEL_NAME=Linux; DI_UNAME_NODENAME=fixture; DI_UNAME_KERNEL_RELEASE=6.1.0
    DI_UNAME_KERNEL_VERSION="#1 SMP"; DI_UNAME_MACHINE="$VIRTPROBE_MACHINE"; DI_UNAME_OPERATING_SYSTEM=GNU/Linux
    DI_UNAME_CMD_OUT="Linux fixture 6.1.0 #1 SMP $VIRTPROBE_MACHINE GNU/Linux"
}
read_fs_info() {
    DI_FS_LABELS="$VIRTPROBE_LABELS"; DI_FS_UUIDS=""; DI_ISO9660_DEVS=""; DI_BLKID_EXPORT_OUT=""; return 0
}
main --force
"""


def run_ds_identify(root: Path, ds_identify: Path, virt: str) -> tuple[list[str], str | None]:
    """(datasources found, the Ec2 platform it named) for this root, with `virt` as systemd's answer."""
    meta = _meta(root)
    with tempfile.TemporaryDirectory(prefix="virtprobe-dsi-") as tmp:
        copy = Path(tmp) / "root"
        _copy(root, copy)
        labels_dir = copy / "dev/disk/by-label"
        labels = ",".join(sorted(p.name for p in labels_dir.iterdir())) if labels_dir.is_dir() else ""
        run = Path(tmp) / "run"
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "PATH_ROOT": str(copy), "PATH_RUN": str(run),
            "DI_LOG": str(Path(tmp) / "ds-identify.log"), "DEBUG_LEVEL": "2", "DS_IDENTIFY": str(ds_identify),
            "VIRTPROBE_VIRT": virt, "VIRTPROBE_MACHINE": str(meta.get("machine", "x86_64")),
            "VIRTPROBE_LABELS": labels,
        }
        subprocess.run(["sh", "-c", _DS_WRAPPER], capture_output=True, text=True, timeout=60, env=env, check=False)
        cfg = run / "cloud-init" / "cloud.cfg"
        text = cfg.read_text() if cfg.exists() else ""
        log = Path(env["DI_LOG"]).read_text() if Path(env["DI_LOG"]).exists() else ""
    found: list[str] = []
    for line in text.splitlines():
        if line.startswith("datasource_list:"):
            found = [x.strip() for x in line.split("[", 1)[1].rstrip("] ").split(",") if x.strip()]
    platform = None
    for line in log.splitlines():
        if "ec2 platform is '" in line:
            platform = line.split("ec2 platform is '", 1)[1].split("'", 1)[0]
    return [x for x in found if x != "None"], platform


def ds_identify_cloud(found: list[str], platform: str | None) -> str:
    """The cloud ds-identify names: its first datasource that is a cloud; "none" when it named none."""
    for ds in found:
        if ds == "Ec2":
            return EC2_PLATFORMS.get(platform or "", "amazon")
        if ds in DATASOURCES:
            return DATASOURCES[ds]
    return "none"


def systemd_virt(sections: dict[str, Any]) -> str:
    """What systemd-detect-virt would print for virtprobe's verdict: the container first, then the VM."""
    container = sections["container"]["id"]
    if container not in (None, "none"):
        return {"cri-o": "container-other", "containerd": "container-other", "gvisor": "docker"}.get(
            container, container)
    hv = sections["hypervisor"]["id"]
    return hv if hv and hv != "vm-other" else ("none" if hv is None else hv)


def agrees(theirs: str, ours: str | None, topic: str) -> bool:
    """Their silence ("none": nothing found) agrees with our null or none; a named id must be ours."""
    if theirs == "none":
        return ours in (None, "none")
    if topic == "cloud" and theirs == "openstack":
        return ours in OPENSTACK_FAMILY
    return theirs == ours


def verdicts(root: Path, ds_identify: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """{(tool, topic): (their verdict, ours)} for one root, for every topic compared."""
    from virtprobe.detection.run import detect
    from virtprobe.machine.source import RootSource

    s = detect(RootSource(root)).sections()
    vw = virt_what_verdict(run_virt_what(root))
    found, platform = run_ds_identify(root, ds_identify, systemd_virt(s))
    return {
        ("virt-what", "hypervisor"): (vw["hypervisor"], s["hypervisor"]["id"]),
        ("virt-what", "container"): (vw["container"], s["container"]["id"]),
        ("ds-identify", "cloud"): (ds_identify_cloud(found, platform), s["cloud"]["id"]),
    }
