"""The live detect matrix: `virtprobe detect --json` inside real containers, namespaces, chroots and QEMU guests.

scripts/envs.py builds every environment on this machine (cached under .cache/envs/) and runs
detect inside it; each test here asserts that environment's WHOLE verdict. The host layers
(hypervisor, VMM, cloud, KVM, cgroup version) are not hard-coded: they come from detect's verdict on
the host itself, run in the same session, except where the environment changes them.

The rules the expectations follow (issue 9):

- Docker and Podman, in every variant (read-only, no capabilities, uid 1000, --pid/--ipc host,
  --cgroupns host, --userns host, and all of them at once): the engine's id. Sharing the host's
  namespaces does not make a process stop being in a container: its own root (overlay under the
  engine's storage) and cgroup say so.
- gVisor (`--runtime runsc`): `gvisor`, since the sandbox, not the engine, is what the program runs on.
  gVisor emulates CPUID and /sys in its own kernel, so the host's hypervisor, VMM and cgroup version
  may be unreadable there: then null, with an evidence row that says why.
- systemd-nspawn: `systemd-nspawn`; lxc-execute: `lxc`.
- unshare (PID, and user plus PID namespaces), on the host's root (which holds a stale zero-byte
  /.dockerenv) and on the separate rootfs: `container-other` (namespaces, no runtime). The stale
  marker is weak evidence and must not make it `docker`.
- chroot. A chroot is not a container runtime: it changes the root directory only, no namespace
  and no cgroup. Rule chosen: with /proc and /sys mounted (the Arch wiki recipe), the sources that
  would show a container are readable and show none, so the answer is `none`. Without them (nothing
  mounted), those sources cannot be read, so the answer is null, with evidence rows saying what could
  not be read. The CPU still answers CPUID, so the hypervisor stays the host's.
- QEMU under TCG (`-machine pc` and `-machine microvm`): hypervisor `qemu`, VMM `qemu`, container
  `none`, no usable KVM (no nested virtualization under TCG). pc has SMBIOS (DMI readable, no cloud:
  `none`); microvm has none (cloud unknown: null).
- Inside any container the VMM may be unreadable (engines mask /sys/firmware): then the expectation
  is the host's VMM OR null with an evidence row saying why. /dev/kvm is not passed into containers,
  so KVM is not present there, and the reason must not blame a missing module the host has loaded:
  where /sys/module is the host's (Docker, Podman, lxc) it says /dev/kvm was not passed in; where
  /sys/module cannot be read (nspawn mounts only parts of /sys; a chroot without /sys) it must not
  claim that the module is not loaded.
- Every null in the document has an evidence row of its topic with a reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import live_skip

HERE = Path(__file__).resolve().parents[2]


def _load_envs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("virtprobe_envs", HERE / "scripts" / "envs.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


envs = _load_envs()

HOST = object()  # "the host's own value"


@dataclass(frozen=True)
class Unknowable:
    """The value, or null with an evidence row saying why: for a source the environment may mask."""

    value: Any


@dataclass(frozen=True)
class Expect:
    container: Any
    hypervisor: Any = HOST
    vmm: Any = Unknowable(HOST)
    cloud: Any = HOST
    cgroup: Any = HOST
    wsl: Any = ("none", 0)
    kvm: Any = (False, False)  # (device_present, usable)
    orchestrator: Any = "none"
    # What the KVM reason must say when /dev/kvm is absent. PASS_DEVICE: /sys/module is the host's, so
    # the reason names /dev/kvm (not passed in) and never "module not loaded"; NO_SYS_MODULE: /sys/module
    # cannot be read (nspawn mounts only parts of /sys), so it must not claim the module is not loaded.
    kvm_reason: str | None = "PASS_DEVICE"


ENGINE = {"docker": "docker", "podman": "podman"}
HOST_KVM = object()

EXPECTED: dict[str, Expect] = {
    **{f"{engine}_{variant}": Expect(container=engine) for engine in ENGINE for variant in envs.DOCKER_VARIANTS},
    "gvisor_runsc": Expect(container="gvisor", hypervisor=Unknowable(HOST), cloud=Unknowable(HOST),
                           cgroup=Unknowable(HOST), kvm_reason=None),
    "nspawn": Expect(container="systemd-nspawn", kvm_reason="NO_SYS_MODULE"),
    "lxc_execute": Expect(container="lxc"),
    "unshare_pid_hostroot": Expect(container="container-other", vmm=HOST, kvm=HOST_KVM),
    "unshare_user_pid_hostroot": Expect(container="container-other", vmm=HOST, kvm=HOST_KVM),
    "unshare_pid_rootfs": Expect(container="container-other", vmm=HOST, kvm=HOST_KVM),
    "unshare_user_pid_rootfs": Expect(container="container-other", vmm=HOST, kvm=HOST_KVM),
    "chroot_noproc": Expect(container=None, cgroup=None, orchestrator=Unknowable("none"), cloud=Unknowable(HOST),
                            wsl=Unknowable(("none", 0)), kvm_reason="NO_SYS_MODULE"),
    "chroot_proc": Expect(container="none", vmm=HOST, kvm=HOST_KVM),
    "qemu_tcg_pc_guest": Expect(container="none", hypervisor="qemu", vmm="qemu", cloud="none", cgroup=2,
                                kvm_reason=None),
    "qemu_tcg_microvm_guest": Expect(container="none", hypervisor="qemu", vmm="qemu", cloud=None, cgroup=2,
                                     kvm_reason=None),
}

# What each environment needs on the machine, beyond root and the build's tools.
NEEDS: dict[str, tuple[str, ...]] = {
    "docker": ("docker",),
    "podman": ("podman",),
    "gvisor": ("docker", "runsc"),
    "nspawn": ("systemd-nspawn",),
    "lxc": ("lxc-execute",),
    "unshare": ("unshare",),
    "chroot": ("chroot", "unshare"),
    "qemu": ("qemu-system-x86_64",),
}


def _marks(name: str) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.live]
    if name.startswith(("docker_", "gvisor_")):
        marks.append(pytest.mark.docker)
    if name.startswith("qemu_"):
        marks.append(pytest.mark.qemu)
    return marks


NAMES = list(envs.environments())
PARAMS = [pytest.param(n, marks=_marks(n), id=n) for n in NAMES]


@pytest.fixture(scope="module")
def built() -> None:
    if os.geteuid() != 0:
        live_skip("the live matrix needs root (chroot, unshare, nspawn, lxc)")
    if not shutil.which("debootstrap"):
        live_skip("debootstrap is not installed (scripts/setup.sh installs it)")
    r = subprocess.run([str(HERE / "scripts/envs.sh"), "build"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"scripts/envs.sh build failed:\n{r.stderr[-4000:]}"


@pytest.fixture(scope="module")
def host(built: None) -> dict[str, Any]:
    r = subprocess.run([str(HERE / ".venv/bin/virtprobe"), "detect", "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_every_environment_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(NAMES)


_RESULTS: dict[str, Any] = {}


def run(name: str) -> Any:
    """One run of an environment per session: the whole verdict and the drop-in answers come from it."""
    if name not in _RESULTS:
        _RESULTS[name] = envs.run_env(name)
    return _RESULTS[name]


def _unknown_rows(doc: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [e for e in doc["evidence"] if e["topic"] == topic and e["weight"] == "unknown" and e["note"]]


def _check(errors: list[str], doc: dict[str, Any], what: str, topic: str, got: Any, want: Any) -> None:
    if isinstance(want, Unknowable):
        if got is None or got == (None, None):
            if not _unknown_rows(doc, topic):
                errors.append(f"{what} is null, but no '{topic}' evidence row of weight unknown says why")
            return
        want = want.value
    if got != want:
        errors.append(f"{what}: expected {want!r}, detect says {got!r}")
    elif got is None and not _unknown_rows(doc, topic):
        errors.append(f"{what} is null, but no '{topic}' evidence row of weight unknown says why")


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}" if path else k)]
    return []


SECTION_TOPIC = {"cloud": "cloud", "container": "container", "cpu": "cpu", "hypervisor": "hypervisor",
                 "kvm": "kvm", "wsl": "wsl"}


@pytest.mark.parametrize("name", PARAMS)
def test_whole_verdict(name: str, built: None, host: dict[str, Any]) -> None:
    kind = name.split("_")[0]
    for tool in NEEDS.get(kind, ()):
        if not shutil.which(tool):
            live_skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    res = run(name)
    assert res.document is not None, f"no detect JSON from {name} ({res.seconds:.1f} s):\n{res.output[-4000:]}"
    doc = res.document
    exp = EXPECTED[name]

    def resolve(want: Any, host_value: Any) -> Any:
        if isinstance(want, Unknowable):
            return Unknowable(resolve(want.value, host_value))
        return host_value if want is HOST else want

    hv, c, k, w = doc["hypervisor"], doc["container"], doc["kvm"], doc["wsl"]
    errors: list[str] = []
    _check(errors, doc, "container.id", "container", c["id"], exp.container)
    _check(errors, doc, "container.orchestrator", "container", c["orchestrator"], exp.orchestrator)
    _check(errors, doc, "container.cgroup_version", "container", c["cgroup_version"],
           resolve(exp.cgroup, host["container"]["cgroup_version"]))
    _check(errors, doc, "hypervisor.id", "hypervisor", hv["id"], resolve(exp.hypervisor, host["hypervisor"]["id"]))
    _check(errors, doc, "hypervisor.vmm", "hypervisor", hv["vmm"], resolve(exp.vmm, host["hypervisor"]["vmm"]))
    _check(errors, doc, "cloud.id", "cloud", doc["cloud"]["id"], resolve(exp.cloud, host["cloud"]["id"]))
    _check(errors, doc, "wsl (id, version)", "wsl", (w["id"], w["version"]), exp.wsl)
    host_kvm = (host["kvm"]["device_present"], host["kvm"]["usable"])
    _check(errors, doc, "kvm (device_present, usable)", "kvm", (k["device_present"], k["usable"]),
           host_kvm if exp.kvm is HOST_KVM else exp.kvm)
    reason = k["reason"] or ""
    if exp.kvm_reason and not k["device_present"] and host["kvm"]["module"]:
        if "not loaded" in reason:
            errors.append(f"kvm.reason blames a module the host has loaded ({host['kvm']['module']}): {reason!r}")
        if exp.kvm_reason == "PASS_DEVICE" and "/dev/kvm" not in reason:
            errors.append(f"kvm.reason should say /dev/kvm is not passed in, it says: {reason!r}")
    for section, topic in SECTION_TOPIC.items():
        nulls = _nulls(doc.get(section))
        if nulls and not any(e["topic"] == topic and e["note"] for e in doc["evidence"]):
            errors.append(f"{section} has nulls {nulls} but no '{topic}' evidence row with a reason")
    assert not errors, f"{name} ({res.seconds:.1f} s):\n  " + "\n  ".join(errors)


# `virtprobe detect --virt|--vm|--container|--chroot|--private-users` beside systemd-detect-virt 252 (the
# host's binary, copied into every environment by scripts/envs.py), inside each environment. They must
# agree, exit code and output, except where virtprobe is right for a reason written here:
# (environment, mode) -> (virtprobe's (exit, output), why).
STALE_DOCKERENV = ("the host's root holds a stale zero-byte /.dockerenv, which systemd-detect-virt trusts; "
                   "virtprobe overrules it and sees a PID namespace without a runtime")
NO_PIDNS_CHECK = ("systemd-detect-virt 252 has no check for a PID namespace without a runtime's marker; "
                  "virtprobe sees PID 1 of a new namespace that is no init")
LXC_EXECUTE = ("lxc-execute's PID 1 (lxc-init) has no $container, which is all systemd-detect-virt 252 reads for "
               "LXC; virtprobe reads the process's cgroup (/lxc.payload...)")
GVISOR = ("gVisor is a sandbox systemd-detect-virt has no identifier for; it trusts /.dockerenv (the engine), "
          "virtprobe names the sandbox the program runs on: container-other")
GVISOR_CPUID = ("gVisor emulates CPUID: the hypervisor bit is the sandbox's, with no vendor leaf, so "
                "systemd-detect-virt guesses vm-other; virtprobe cannot see the real hypervisor and says so (exit 1)")
PODMAN_ALL = ("with --pid host PID 1 is the host's and $container unreadable, and a read-only root has no "
              "/run/.containerenv, so systemd-detect-virt says container-other; the process's own cgroup "
              "(libpod-...) still names Podman")
NO_PROC = ("nothing is mounted: systemd-detect-virt reads the absence of markers as `none`; virtprobe cannot read "
           "/proc and says it cannot tell (no output, exit 1 as well)")
DROPIN_DIFFERENCES: dict[tuple[str, str], tuple[tuple[int, str], str]] = {
    ("podman_all", "virt"): ((0, "podman"), PODMAN_ALL),
    ("podman_all", "container"): ((0, "podman"), PODMAN_ALL),
    ("gvisor_runsc", "virt"): ((0, "container-other"), GVISOR),
    ("gvisor_runsc", "container"): ((0, "container-other"), GVISOR),
    ("gvisor_runsc", "vm"): ((1, ""), GVISOR_CPUID),
    ("lxc_execute", "virt"): ((0, "lxc"), LXC_EXECUTE),
    ("lxc_execute", "container"): ((0, "lxc"), LXC_EXECUTE),
    **{(f"unshare_{ns}_hostroot", mode): ((0, "container-other"), STALE_DOCKERENV)
       for ns in ("pid", "user_pid") for mode in ("virt", "container")},
    **{(f"unshare_{ns}_rootfs", mode): ((0, "container-other"), NO_PIDNS_CHECK)
       for ns in ("pid", "user_pid") for mode in ("virt", "container")},
    ("chroot_noproc", "container"): ((1, ""), NO_PROC),
}


@pytest.mark.parametrize("name", PARAMS)
def test_dropin_answers_as_systemd_detect_virt(name: str, built: None) -> None:
    res = run(name)
    assert res.dropin is not None, f"no drop-in answers from {name}:\n{res.output[-4000:]}"
    assert sorted(res.dropin) == sorted(envs.DROPIN_MODES), res.dropin
    errors = []
    for mode, (theirs, ours) in res.dropin.items():
        expected = DROPIN_DIFFERENCES.get((name, mode))
        if expected is None and ours != theirs:
            errors.append(f"--{mode}: systemd-detect-virt {theirs}, virtprobe {ours}, and no reason is written")
        elif expected is not None and ours != expected[0]:
            errors.append(f"--{mode}: virtprobe {ours}, expected {expected[0]} because {expected[1]}")
        elif expected is not None and ours == theirs:
            errors.append(f"--{mode}: the two now agree ({ours}); drop the written difference")
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


# --- systemd-detect-virt, live, in every environment (issue 15's differential test) ------------------
# envs.py runs the host's systemd-detect-virt (with its libraries, through their loader) beside detect.
# Its "none" agrees with virtprobe's null or none; a named id must be virtprobe's. Every other
# difference is listed, citing the reason virtprobe is right (docs/detection.md, "Where other
# detectors disagree", holds the same list); an unlisted one fails, and so does a listed one that
# no longer occurs.
SDV_REASONS = {
    "stale-marker": "systemd trusts a /.dockerenv left in the host's root filesystem",
    "namespaces": "unshared PID/user namespaces with no runtime are a container; systemd has no such rule",
    "lxc-cgroup": "lxc-execute's init gets no container= (systemd's only lxc source); virtprobe reads the "
    "lxc.payload cgroup",
    "gvisor": "gVisor filters CPUID (the hypervisor leaves read as zeros): which hypervisor is hidden, so "
    "virtprobe says null where systemd says vm-other; the container is gVisor's sandbox, not docker",
    "pid-host-user": "with --pid host and --user 1000, PID 1 is the host's init, whose environment systemd "
    "cannot read; virtprobe names podman from /run/.containerenv's bind mount and the overlay root",
}
# (environment, "--vm" | "--container") -> (systemd-detect-virt's answer, virtprobe's, reason)
SDV_KNOWN: dict[tuple[str, str], tuple[str, Any, str]] = {
    ("host", "--container"): ("docker", "none", "stale-marker"),
    ("gvisor_runsc", "--vm"): ("vm-other", None, "gvisor"),
    ("gvisor_runsc", "--container"): ("docker", "gvisor", "gvisor"),
    ("lxc_execute", "--container"): ("none", "lxc", "lxc-cgroup"),
    ("unshare_pid_hostroot", "--container"): ("docker", "container-other", "stale-marker"),
    ("unshare_user_pid_hostroot", "--container"): ("docker", "container-other", "stale-marker"),
    ("unshare_pid_rootfs", "--container"): ("none", "container-other", "namespaces"),
    ("unshare_user_pid_rootfs", "--container"): ("none", "container-other", "namespaces"),
    ("podman_all", "--container"): ("container-other", "podman", "pid-host-user"),
}


def _sdv_agrees(theirs: str, ours: Any) -> bool:
    return ours in (None, "none") if theirs == "none" else theirs == ours


def _sdv_check(name: str, sdv: dict[str, str] | None, doc: dict[str, Any]) -> list[str]:
    assert sdv is not None, f"{name}: no systemd-detect-virt answers in the output"
    errors = []
    for opt, ours in (("--vm", doc["hypervisor"]["id"]), ("--container", doc["container"]["id"])):
        theirs = sdv.get(opt, "missing")
        assert theirs not in ("missing", "unavailable", "error"), f"{name}: systemd-detect-virt {opt}: {theirs}"
        key = (name, opt)
        if _sdv_agrees(theirs, ours):
            if key in SDV_KNOWN:
                errors.append(f"{key} is listed but agrees now ({theirs!r}): remove it")
        elif key not in SDV_KNOWN:
            errors.append(f"unlisted disagreement {key}: systemd-detect-virt {theirs!r}, virtprobe {ours!r}")
        elif SDV_KNOWN[key][:2] != (theirs, ours):
            errors.append(f"{key}: now systemd-detect-virt {theirs!r}, virtprobe {ours!r}")
    return errors


@pytest.mark.parametrize("name", PARAMS)
def test_systemd_detect_virt_agrees_or_is_listed(name: str, built: None) -> None:
    kind = name.split("_")[0]
    for tool in NEEDS.get(kind, ()):
        if not shutil.which(tool):
            live_skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    res = run(name)
    assert res.document is not None, f"no detect JSON from {name}:\n{res.output[-4000:]}"
    errors = _sdv_check(name, res.sdv, res.document)
    assert not errors, "\n".join(errors)


def test_systemd_detect_virt_on_the_host(host: dict[str, Any]) -> None:
    if not shutil.which("systemd-detect-virt"):
        live_skip("systemd-detect-virt is not installed")
    sdv = {opt: subprocess.run(["systemd-detect-virt", opt], capture_output=True, text=True, timeout=30,
                               check=False).stdout.strip() for opt in ("--vm", "--container")}
    errors = _sdv_check("host", sdv, host)
    assert not errors, "\n".join(errors)


def test_every_listed_systemd_difference_cites_a_reason_in_the_docs() -> None:
    doc = (HERE / "docs" / "detection.md").read_text()
    section = doc[doc.index("## Where other detectors disagree"):]
    for (env, opt), (_, _, reason) in SDV_KNOWN.items():
        assert reason in SDV_REASONS, (env, opt)
        assert env == "host" or env in NAMES, env
        assert f"| {env} | systemd-detect-virt {opt} |" in section, f"docs/detection.md does not list {env} {opt}"
    for key in SDV_REASONS:
        assert f"`sdv-{key}`" in section, f"docs/detection.md does not explain sdv-{key}"
