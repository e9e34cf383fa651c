"""Property tests: the CPU, KVM, hypervisor and cloud parsers and probes never raise, whatever the files say."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOTS
from virtprobe.detection import hv_readers as R
from virtprobe.detection.cloud import probe_cloud
from virtprobe.detection.cpu import firmware_disable_line, parse_cpuinfo, parse_flags, probe_cpu
from virtprobe.detection.hv_readers import (
    DMI_FILES,
    decode_signature,
    device_tree_strings,
    parse_acpi_header,
    parse_xen_features,
)
from virtprobe.detection.hypervisor import probe_hypervisor
from virtprobe.detection.kvm import parse_bool_param, probe_kvm
from virtprobe.detection.model import WEIGHTS
from virtprobe.detection.tables.clouds import match_rules
from virtprobe.machine.source import RootSource

u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


@given(st.text())
def test_parse_cpuinfo_total(text: str) -> None:
    fields = parse_cpuinfo(text)
    for k, v in fields.items():
        assert k == k.strip() and k
        assert v == v.strip()
    parse_flags(fields.get("flags"))


# A value holds no line break: str.splitlines() also splits on \r, \x1c.., \u2028 (categories Cc, Zl, Zp).
_one_line = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Zl", "Zp")))


@given(st.lists(st.sampled_from(["flags", "vmx flags", "vendor_id", "model name", "x"]), max_size=6), _one_line)
def test_parse_cpuinfo_first_value_wins(keys: list[str], value: str) -> None:
    text = "".join(f"{k}\t: {value}\n" for k in keys)
    fields = parse_cpuinfo(text)
    assert set(fields) <= set(keys)


@given(st.text())
def test_firmware_line_total(text: str) -> None:
    line = firmware_disable_line(text)
    assert line is None or line in text


@given(u32, u32, u32)
def test_decode_signature_is_printable_or_none(b: int, c: int, d: int) -> None:
    sig = decode_signature(b, c, d)
    assert sig is None or (sig.isprintable() and 4 <= len(sig) <= 12)


@given(st.binary(max_size=64))
def test_acpi_header_total(data: bytes) -> None:
    got = parse_acpi_header(data)
    assert (got is None) == (len(data) < 24)


@given(st.text())
def test_small_parsers_total(text: str) -> None:
    parse_bool_param(text)
    parse_xen_features(text)
    device_tree_strings(text.encode("utf-8", "surrogatepass"))


@given(st.text())
def test_new_text_parsers_total(text: str) -> None:
    info = R.parse_sysinfo(text)
    assert all(lv.level == i for i, lv in enumerate(info.levels))
    for _, v in R.parse_lparcfg(text).items():
        assert v == v.strip()
    for _, vendor, device in R.parse_pci_proc(text):
        assert 0 <= vendor <= 0xFFFF and 0 <= device <= 0xFFFF
    name = R.dmesg_hypervisor(text)
    assert name is None or name in text
    R.brand_hint(text)
    R.parse_hex_id(text)


@given(st.binary(max_size=64))
def test_smbios_bit_total(raw: bytes) -> None:
    got = R.smbios_vm_bit(raw)
    assert got is None or len(raw) >= 20


@given(st.dictionaries(st.sampled_from(DMI_FILES), st.text()))
def test_match_cloud_total(dmi: dict[str, str]) -> None:
    facts = {f"dmi:{k}": v for k, v in dmi.items()}
    for hit in match_rules(facts):
        assert facts[hit.rule.source] == hit.value and hit.rule.cloud


# Files the hw probes read, relative to a root.
HW_FILES = (
    "proc/cpuinfo",
    *(f"sys/class/dmi/id/{n}" for n in DMI_FILES),
    "sys/firmware/acpi/tables/FACP",
    "sys/firmware/acpi/tables/APIC",
    "sys/hypervisor/type",
    "sys/hypervisor/properties/features",
    "proc/xen/capabilities",
    "proc/device-tree/hypervisor/compatible",
    "proc/device-tree/compatible",
    "sys/module/kvm_intel/parameters/nested",
    "sys/module/kvm_amd/parameters/nested",
    # the newer trails (hv_readers.py)
    "proc/sysinfo",
    "proc/ppc64/lparcfg",
    "proc/device-tree/ibm,partition-name",
    "proc/device-tree/hmc-managed?",
    "proc/bus/pci/devices",
    "sys/bus/pci/devices/0000:00:01.0/vendor",
    "sys/bus/pci/devices/0000:00:01.0/subsystem_vendor",
    "sys/bus/acpi/devices/ACPI0013:00/hid",
    "sys/bus/vmbus/devices",
    "sys/firmware",
    "sys/firmware/dmi/entries/0-0/raw",
    "proc/self/mountinfo",
    "dev",
)
BASES = (
    "bare_metal_intel",
    "kvm_qemu",
    "xen_pv",
    "firecracker_this_machine",
    "apple_vz",
    "firecracker_docker_container",
    "s390x_kvm_in_zvm",
    "ppc64le_powervm",
    "hyperv_old_kernel",
)

mutation = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=600)),
    st.tuples(st.just("empty"), st.just(b"")),
    st.tuples(st.just("missing"), st.just(b"")),
    st.tuples(st.just("dir"), st.just(b"")),
    st.tuples(st.just("unreadable"), st.binary(max_size=16)),
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    # Larger integers never reach a probe: the bounded door refuses the file (test_fuzz_readers.py).
    st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def run_all(root: Path) -> None:
    src = RootSource(root)
    for topic, (_, rows) in (
        ("cpu", probe_cpu(src)),
        ("kvm", probe_kvm(src, run_guest=True)),
        ("hypervisor", probe_hypervisor(src)),
        ("cloud", probe_cloud(src, probe_hypervisor(src)[0])),
    ):
        for e in rows:
            assert e.topic == topic and e.weight in WEIGHTS


NOBODY = 65534


def run_all_unreadable(root: Path, unreadable: list[Path]) -> None:
    """run_all where the chmod-0 files really cannot be read: as root, in a child that drops to nobody.

    Root reads a mode-0 file anyway, so without this the "unreadable" mutation would test nothing.
    """
    if os.geteuid() != 0:
        run_all(root)
        return
    for d, _, _ in os.walk(root.parent):
        os.chmod(d, 0o755)  # let nobody walk the copy; the mutated files keep mode 0
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(rfd)
        msg = b""
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            for p in unreadable:
                try:
                    p.read_bytes()
                    msg = f"{p} is still readable".encode()
                except PermissionError:
                    pass
            if not msg:
                run_all(root)
        except BaseException as err:  # reported to the parent, which fails the test
            msg = f"{type(err).__name__}: {err}".encode()
        os.write(wfd, msg)
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as fh:
        msg = fh.read()
    os.waitpid(pid, 0)
    assert not msg, msg.decode("utf-8", "replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(BASES),
    st.dictionaries(st.sampled_from(HW_FILES), mutation, min_size=1, max_size=5),
)
def test_probes_never_raise_on_mangled_files(base: str, changes: dict[str, tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        shutil.copytree(ROOTS / base, root, symlinks=True)
        for rel, (kind, data) in changes.items():
            path = root / rel
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
            except NotADirectoryError:
                continue
            if kind == "missing":
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (NotADirectoryError, FileExistsError):
                continue  # an earlier change turned a parent into a file
            if kind == "dir":
                path.mkdir()
                continue
            path.write_bytes(data)
            if kind == "unreadable":
                os.chmod(path, 0)
        unreadable = [
            root / rel for rel, (kind, _) in changes.items() if kind == "unreadable" and (root / rel).is_file()
        ]
        try:
            if unreadable:
                run_all_unreadable(root, unreadable)
            else:
                run_all(root)
        finally:
            for rel in changes:
                p = root / rel
                if p.exists() and not p.is_dir():
                    os.chmod(p, 0o600)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(BASES),
    st.one_of(json_value, st.dictionaries(st.sampled_from(["0x00000001", "0x40000000", "0x1"]), json_value)),
    json_value,
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["dmesg"]), st.text(max_size=40))),
)
def test_probes_never_raise_on_odd_snapshots(base: str, cpuid: Any, kvm_probe: Any, commands: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        shutil.copytree(ROOTS / base, root, symlinks=True)
        meta = json.loads((root / "virtprobe-snapshot.json").read_text())
        meta["cpuid"] = cpuid
        meta["kvm_probe"] = kvm_probe
        meta["commands"] = commands
        (root / "virtprobe-snapshot.json").write_text(json.dumps(meta))
        run_all(root)
