"""Container, WSL, Windows and macOS probes; the detect document, schema, rendering and snapshot capture."""

from __future__ import annotations

import base64
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from tests.conftest import ROOTS
from virtprobe.detect import capture as capture_mod
from virtprobe.detect.container import (
    INIT_NS_INODES,
    classify_cgroup_path,
    engine_from_mountinfo,
    parse_cgroup,
    parse_containerenv,
    parse_environ,
    parse_mountinfo_root,
    parse_ns_inode,
    probe_container,
)
from virtprobe.detect.macos import parse_sw_vers, parse_sysctl
from virtprobe.detect.model import OVERRULED, WslDistribution
from virtprobe.detect.run import detect, parse_os_release
from virtprobe.detect.windows import parse_hyperv_requirements, parse_systeminfo, parse_wmic_list
from virtprobe.detect.wsl import (
    decode_wsl_output,
    parse_wsl_list,
    probe_wsl,
    root_fstype,
    wsl_version_from_kernel,
)
from virtprobe.errors import InputError, ReportFormatError
from virtprobe.machine.source import DETECT_ENV_VARS, SNAPSHOT_META, FileRead, RootSource
from virtprobe.report.detect_table import render_detect, summary_lines
from virtprobe.report.document import SCHEMA_FILE
from virtprobe.report.document import detect_document as to_document
from virtprobe.report.document import detect_from_document as from_document

SCHEMA_PATH = Path(__file__).parent.parent / "virtprobe" / "report" / "schemas" / SCHEMA_FILE
ALL_ROOTS = sorted(p for p in ROOTS.iterdir() if p.is_dir()) if ROOTS.exists() else []


def make_root(
    tmp_path: Path,
    files: dict[str, str | bytes],
    links: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> RootSource:
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    for rel, target in (links or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / SNAPSHOT_META).write_text(
        json.dumps({"format": 1, "platform": "linux", "machine": "x86_64", **(meta or {})})
    )
    return RootSource(tmp_path)


def ns_links(**non_initial: int) -> dict[str, str]:
    return {f"proc/self/ns/{n}": f"{n}:[{non_initial.get(n, ino)}]" for n, ino in INIT_NS_INODES.items()}


# --- container parsers ---------------------------------------------------------------


def test_ns_inode_parsing() -> None:
    assert parse_ns_inode("pid:[4026531836]", "pid") == 4026531836 == INIT_NS_INODES["pid"]
    assert parse_ns_inode("user:[4026531837]", "pid") is None
    assert parse_ns_inode("pid:[abc]", "pid") is None
    assert parse_ns_inode(None, "pid") is None
    # include/linux/proc_ns.h
    assert INIT_NS_INODES == {
        "ipc": 4026531839,
        "uts": 4026531838,
        "user": 4026531837,
        "pid": 4026531836,
        "cgroup": 4026531835,
        "time": 4026531834,
    }


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/docker/" + "a" * 64, "docker"),
        ("/system.slice/docker-" + "b" * 64 + ".scope", "docker"),
        ("/system.slice/docker.service", None),  # dockerd itself, on the host
        ("/machine.slice/libpod-" + "c" * 64 + ".scope/container", "podman"),
        ("/kubepods/besteffort/pod1/crio-" + "d" * 64, "cri-o"),
        ("/kubepods.slice/x.slice/cri-containerd-" + "e" * 64 + ".scope", "containerd"),
        ("/lxc.payload.web1/init.scope", "lxc"),
        ("/lxc/web1", "lxc"),
        ("/machine.slice/systemd-nspawn@deb.service/payload", "systemd-nspawn"),
        ("/machine.slice/machine-deb.scope", "systemd-nspawn"),
        ("/process_api/e8c17ea51c62bee0704cd715d1d29a38", None),  # this VM's own agent
        ("/user.slice/user-1000.slice/session-2.scope", None),
        ("/", None),
    ],
)
def test_classify_cgroup_path(path: str, want: str | None) -> None:
    assert classify_cgroup_path(path) == want


def test_parse_cgroup_and_environ() -> None:
    lines = parse_cgroup("12:memory:/docker/x\n0::/\ngarbage\n")
    assert [(x.hierarchy, x.controllers, x.path) for x in lines] == [
        ("12", "memory", "/docker/x"),
        ("0", "", "/"),
    ]
    assert parse_environ(b"container=lxc\0TERM=linux\0junk\0") == {"container": "lxc", "TERM": "linux"}
    assert parse_containerenv('engine="podman-4.3.1"\nrootless=0\n') == {
        "engine": "podman-4.3.1",
        "rootless": "0",
    }


def test_mountinfo_root_and_engines() -> None:
    mi = (ROOTS / "docker_in_vm" / "proc/self/mountinfo").read_text()
    assert parse_mountinfo_root(mi)[0] == "overlay"  # type: ignore[index]
    assert engine_from_mountinfo(mi)[0] == "docker"  # type: ignore[index]
    live_like = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    assert parse_mountinfo_root(live_like) == ("ext4", "/dev/vda", "rw,discard")
    assert engine_from_mountinfo(live_like) is None


@given(st.text())
def test_container_parsers_total(text: str) -> None:
    parse_cgroup(text)
    parse_mountinfo_root(text)
    engine_from_mountinfo(text)
    parse_containerenv(text)
    classify_cgroup_path(text)
    parse_ns_inode(text, "pid")


@given(st.binary())
def test_parse_environ_total(data: bytes) -> None:
    parse_environ(data)


# --- container probe: the stale marker and the weighing -----------------------------


def test_stale_dockerenv_is_overruled(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {
            ".dockerenv": "",
            "proc/1/comm": "process_api\n",
            "proc/self/cgroup": "4:memory:/process_api/e8c1\n0::/\n",
        },
        ns_links(),
    )
    result, ev = probe_container(src)
    assert result.id == "none" and result.orchestrator == "none"
    stale = [e for e in ev if e.source == "/.dockerenv"]
    assert len(stale) == 1 and stale[0].weight == OVERRULED
    assert "stale marker" in stale[0].note and "PID 1 is process_api" in stale[0].note
    decisive = {e.source for e in ev if e.weight == "decisive"}
    assert decisive == {f"/proc/self/ns/{n}" for n in ("pid", "user", "ipc", "cgroup")}


def test_dockerenv_with_unshared_pid_ns_is_docker(tmp_path: Path) -> None:
    # cgroup v1 Docker keeps the initial cgroup namespace, but never the initial PID namespace.
    src = make_root(tmp_path, {".dockerenv": ""}, ns_links(pid=4026532180, ipc=4026532179))
    result, _ = probe_container(src)
    assert result.id == "docker"


def test_unshared_ns_without_marker_is_container_other(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/self/cgroup": "0::/\n"}, ns_links(pid=4026532999))
    assert probe_container(src)[0].id == "container-other"


def test_nothing_readable_is_unknown(tmp_path: Path) -> None:
    result, ev = probe_container(make_root(tmp_path, {}))
    assert result.id is None and result.orchestrator is None
    assert any(e.weight == "unknown" for e in ev)


def test_kubernetes_from_env_and_cri_o_from_cgroup(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"proc/self/cgroup": "0::/kubepods.slice/kubepods-besteffort.slice/crio-" + "f" * 64 + ".scope\n"},
        ns_links(pid=4026532999),
        meta={"env": {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}},
    )
    result, _ = probe_container(src)
    assert (result.id, result.orchestrator, result.cgroup_version) == ("cri-o", "kubernetes", 2)


def test_kubernetes_token_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_root(
        tmp_path, {"var/run/secrets/kubernetes.io/serviceaccount/token": "SECRET"}, ns_links(pid=4026532999)
    )
    reads: list[str] = []
    orig = RootSource.read

    def spy(self: RootSource, rel: str, limit: int = 1 << 22) -> Any:
        reads.append(rel)
        return orig(self, rel, limit)

    monkeypatch.setattr(RootSource, "read", spy)
    result, ev = probe_container(src)
    assert result.orchestrator == "kubernetes"
    assert not any("token" in r for r in reads)
    assert all("SECRET" not in e.value for e in ev)


def test_explicit_container_env_wins_over_stale_looking_files(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"run/systemd/container": "systemd-nspawn\n", ".dockerenv": ""},
        ns_links(pid=4026532999),
        meta={"env": {"container": "systemd-nspawn"}},
    )
    result, ev = probe_container(src)
    assert result.id == "systemd-nspawn"
    assert [e.weight for e in ev if e.source == "/.dockerenv"] == [OVERRULED]


# --- WSL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("4.4.0-19041-Microsoft", 1),
        (
            "Linux version 4.4.0-22621-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) )"
            " #2215-Microsoft",
            1,
        ),
        ("5.15.153.1-microsoft-standard-WSL2", 2),
        ("4.19.104-microsoft-standard", 2),
        ("6.1.0-18-amd64", 0),
        ("5.15.0-1051-azure", 0),  # an Azure VM kernel is not WSL
        ("", None),
    ],
)
def test_wsl_kernel_strings(text: str, want: int | None) -> None:
    assert wsl_version_from_kernel(text) == want


def test_root_fstype() -> None:
    assert root_fstype("rootfs / wslfs rw 0 0\n") == ("wslfs", "rootfs")
    assert root_fstype("/dev/sdc / ext4 rw 0 0\nx /mnt y 0 0\n") == ("ext4", "/dev/sdc")
    assert root_fstype("") is None


def test_wsl_markers_without_kernel_string(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"run/WSL/1_interop": "", "proc/mounts": "/dev/sdc / ext4 rw 0 0\n"},
        meta={"env": {"WSL_INTEROP": "/run/WSL/1_interop"}},
    )
    assert probe_wsl(src)[0].version == 2


def test_wsl_unknown_when_nothing(tmp_path: Path) -> None:
    assert probe_wsl(make_root(tmp_path, {}))[0].version is None


WSL_ROWS = (
    "  NAME            STATE           VERSION\r\n"
    "* Ubuntu-22.04    Running         2\r\n"
    "  Debian          Stopped         1\r\n"
)
WANT_ROWS = (
    WslDistribution("Ubuntu-22.04", "Running", 2, True),
    WslDistribution("Debian", "Stopped", 1, False),
)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe" + WSL_ROWS.encode("utf-16-le"),  # with BOM
        WSL_ROWS.encode("utf-16-le"),  # without BOM
        WSL_ROWS.encode("utf-8"),  # WSL_UTF8=1
        # A localized header (French) still parses by columns.
        (
            "  NOM             ÉTAT            VERSION\r\n"
            "* Ubuntu-22.04    Running         2\r\n  Debian   Stopped  1\r\n"
        ).encode("utf-16-le"),
    ],
)
def test_parse_wsl_list(raw: bytes) -> None:
    assert parse_wsl_list(raw) == WANT_ROWS


def test_parse_wsl_list_no_distributions() -> None:
    msg = "Windows Subsystem for Linux has no installed distributions.\r\n".encode("utf-16-le")
    assert parse_wsl_list(msg) == ()


@given(st.binary())
@settings(max_examples=300)
def test_parse_wsl_list_total(raw: bytes) -> None:
    for d in parse_wsl_list(raw):
        assert d.version is not None and d.version >= 0
    decode_wsl_output(raw)


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,20}", fullmatch=True),
            st.sampled_from(["Running", "Stopped", "Installing"]),
            st.sampled_from([1, 2]),
            st.booleans(),
        ),
        max_size=5,
    )
)
def test_parse_wsl_list_roundtrip(rows: list[tuple[str, str, int, bool]]) -> None:
    text = "  NAME  STATE  VERSION\r\n" + "".join(
        f"{'*' if d else ' '} {n}    {s}    {v}\r\n" for n, s, v, d in rows
    )
    got = parse_wsl_list(b"\xff\xfe" + text.encode("utf-16-le"))
    assert got == tuple(WslDistribution(n, s, v, d) for n, s, v, d in rows)


# --- Windows and macOS parsers -------------------------------------------------------

SYSTEMINFO_REQS = (
    "Hyper-V Requirements:      VM Monitor Mode Extensions: Yes\r\n"
    "                           Virtualization Enabled In Firmware: No\r\n"
    "                           Second Level Address Translation: Yes\r\n"
    "                           Data Execution Prevention Available: Yes\r\n"
)


def test_systeminfo_requirements() -> None:
    si = parse_systeminfo("System Manufacturer:       Dell Inc.\r\n" + SYSTEMINFO_REQS)
    assert si["System Manufacturer"] == "Dell Inc."
    req = parse_hyperv_requirements(si["Hyper-V Requirements"])
    assert req is not None and not req.hypervisor_detected
    assert (req.vm_monitor_mode, req.enabled_in_firmware, req.slat, req.dep) == (True, False, True, True)
    detected = parse_hyperv_requirements(
        "A hypervisor has been detected. Features required for Hyper-V will not be displayed."
    )
    assert detected is not None and detected.hypervisor_detected


def test_windows_vt_x_disabled_in_firmware(tmp_path: Path) -> None:
    text = (
        "OS Name:  Microsoft Windows 10 Pro\r\nSystem Manufacturer:       Dell Inc.\r\n"
        "System Model:              OptiPlex 7090\r\n" + SYSTEMINFO_REQS
    )
    src = make_root(
        tmp_path,
        {},
        meta={
            "platform": "win32",
            "machine": "AMD64",
            "env": {"PROCESSOR_IDENTIFIER": "Intel64 Family 6 Model 167, GenuineIntel"},
            "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
        },
    )
    r = detect(src)
    assert (r.cpu.virt_tech, r.cpu.disabled_in_firmware, r.hypervisor.id, r.cloud.id) == (
        "vt-x",
        True,
        "none",
        "none",
    )


def test_windows_surface_is_not_a_vm_but_hyperv_guest_is(tmp_path: Path) -> None:
    def run(model: str, sub: str) -> Any:
        text = (
            f"System Manufacturer:       Microsoft Corporation\r\nSystem Model:              {model}\r\n"
            "Hyper-V Requirements:      A hypervisor has been detected. Features required for Hyper-V will "
            "not be displayed.\r\n"
        )
        src = make_root(
            tmp_path / sub,
            {},
            meta={
                "platform": "win32",
                "machine": "AMD64",
                "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
            },
        )
        return detect(src)

    surface = run("Surface Laptop 4", "a")
    assert (surface.hypervisor.id, surface.hypervisor.role) == ("microsoft", "host")
    guest = run("Virtual Machine", "b")
    assert (guest.hypervisor.id, guest.hypervisor.role, guest.cloud.id) == ("microsoft", "guest", None)


def test_wmic_and_sysctl_parsers() -> None:
    assert parse_wmic_list("\r\nHypervisorPresent=TRUE\r\nManufacturer=LENOVO\r\n") == {
        "HypervisorPresent": "TRUE",
        "Manufacturer": "LENOVO",
    }
    sc = parse_sysctl("kern.hv_support: 1\nhw.model = MacBookPro18,3\ngarbage\n")
    assert sc == {"kern.hv_support": "1", "hw.model": "MacBookPro18,3"}
    assert parse_sw_vers("ProductName:\tmacOS\nProductVersion:\t14.5\n") == "macOS 14.5"
    assert parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n# c\nID=debian\n') == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
    }


@given(st.text())
def test_host_parsers_total(text: str) -> None:
    parse_systeminfo(text)
    parse_hyperv_requirements(text)
    parse_wmic_list(text)
    parse_sysctl(text)
    parse_sw_vers(text)
    parse_os_release(text)


def test_unknown_platform_never_raises(tmp_path: Path) -> None:
    r = detect(make_root(tmp_path, {}, meta={"platform": "sunos5"}))
    assert r.hypervisor.id is None and r.container.id is None and r.wsl.version is None
    assert {e.topic for e in r.evidence} >= {"cpu", "kvm", "hypervisor", "cloud", "container", "wsl"}


# --- document, schema, rendering -------------------------------------------------------


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def test_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(_schema())


@pytest.mark.parametrize("root", ALL_ROOTS, ids=[p.name for p in ALL_ROOTS])
def test_every_fixture_validates_and_roundtrips(root: Path) -> None:
    result = detect(RootSource(root))
    doc = json.loads(json.dumps(to_document(result)))
    jsonschema.Draft202012Validator(_schema()).validate(doc)
    assert from_document(doc) == result


def test_from_document_rejects_other_major_and_kind() -> None:
    doc = to_document(detect(RootSource(ROOTS / "wsl2")))
    with pytest.raises(ReportFormatError, match="schema"):
        from_document({**doc, "schema_version": "2.0"})
    with pytest.raises(ReportFormatError, match="kind"):
        from_document({**doc, "kind": "bench"})


def _render(root: str, all_evidence: bool = False) -> str:
    console = Console(width=100, no_color=True, color_system=None, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(render_detect(detect(RootSource(ROOTS / root)), all_evidence=all_evidence))
    return console.export_text()


def test_render_summary_sentences() -> None:
    lines = summary_lines(detect(RootSource(ROOTS / "windows_host_wsl")))
    assert any(
        line.startswith("WSL: this is the Windows host; distributions: *Ubuntu-22.04 (WSL2, Running)")
        for line in lines
    )
    text = _render("docker_in_vm")
    assert "Container: Docker, cgroup v1 — seen in /proc/self/cgroup" in text
    assert "Hypervisor: KVM" in text
    assert "considered" not in text  # only decisive/overruled rows without --evidence
    assert "considered" in _render("docker_in_vm", all_evidence=True)


# --- capture ------------------------------------------------------------------------------


def test_every_path_detect_reads_is_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: set[str] = set()
    for name in ("read", "exists", "readlink", "listdir"):
        orig = getattr(RootSource, name)

        def spy(self: RootSource, rel: str, *a: Any, _orig: Any = orig, **kw: Any) -> Any:
            asked.add(rel.lstrip("/"))
            return _orig(self, rel, *a, **kw)

        monkeypatch.setattr(RootSource, name, spy)
    for root in ALL_ROOTS:
        detect(RootSource(root))
    assert asked
    missing = sorted(p for p in asked if not capture_mod.covered(p))
    assert missing == [], f"detect reads paths capture.PATHS does not list: {missing}"


def test_capture_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    with pytest.raises(InputError, match="--force"):
        capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=False)


def test_capture_filters_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTPROBE_TEST_SECRET", "hunter2")
    monkeypatch.setenv("WSL_DISTRO_NAME", "TestDistro")
    out = capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=False)
    meta = json.loads((out / SNAPSHOT_META).read_text())
    assert set(meta["env"]) <= set(DETECT_ENV_VARS)
    assert meta["env"].get("WSL_DISTRO_NAME") == "TestDistro"
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    assert b"hunter2" not in blob
    environ = out / "proc/1/environ"
    if environ.exists():
        assert all(item.startswith(b"container=") for item in environ.read_bytes().split(b"\0") if item)


def test_capture_of_this_machine_gives_the_live_verdict(tmp_path: Path) -> None:
    from tests.test_detect_fixtures import verdict
    from virtprobe.machine.source import LiveSource

    out = capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=True)
    live = verdict(detect(LiveSource(), kvm_probe=True).sections())
    replay = verdict(detect(RootSource(out), kvm_probe=True).sections())
    assert replay == live
    for table in (
        (out / "sys/firmware/acpi/tables").glob("*") if (out / "sys/firmware/acpi/tables").exists() else ()
    ):
        if table.is_file():
            assert table.stat().st_size <= capture_mod.ACPI_HEADER_BYTES


def test_capture_tar_gz(tmp_path: Path) -> None:
    out = capture_mod.capture(tmp_path / "snap.tar.gz", force=False, kvm_probe=False)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert f"snap/{SNAPSHOT_META}" in names
    with pytest.raises(InputError):
        capture_mod.capture(out, force=False, kvm_probe=False)
    assert capture_mod.capture(out, force=True, kvm_probe=False) == out


def test_capture_copy_kinds(tmp_path: Path) -> None:
    """Tokens become empty placeholders, PID 1's environ keeps only container=, ACPI keeps 36 bytes."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "token").write_text("eyJhbGciOiJSUzI1NiJ9.SECRET")
    (host / "environ").write_bytes(b"PATH=/bin\0container=podman\0AWS_SECRET_ACCESS_KEY=x\0")
    (host / "FACP").write_bytes(b"FACP" + b"\x00" * 6 + b"FIRECK" + b"\xaa" * 200)
    out = tmp_path / "out"
    capture_mod._copy_one(capture_mod.EXISTS, str(host / "token"), out / "token")
    capture_mod._copy_one(capture_mod.ENVIRON, str(host / "environ"), out / "environ")
    capture_mod._copy_one(capture_mod.HEADER, str(host / "FACP"), out / "FACP")
    assert (out / "token").read_bytes() == b""
    assert (out / "environ").read_bytes() == b"container=podman\0"
    assert (out / "FACP").read_bytes()[10:16] == b"FIRECK" and (out / "FACP").stat().st_size == 36
    assert capture_mod.covered("var/run/secrets/kubernetes.io/serviceaccount/token")
    assert not capture_mod.covered("home/user/.ssh/id_rsa")


def test_windows_on_ec2(tmp_path: Path) -> None:
    text = "System Manufacturer:       Amazon EC2\r\nSystem Model:              m5.large\r\n"
    src = make_root(
        tmp_path,
        {},
        meta={
            "platform": "win32",
            "machine": "AMD64",
            "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
        },
    )
    r = detect(src)
    assert (r.cloud.id, r.cloud.instance_type, r.cloud.bare_metal) == ("amazon", "m5.large", False)
    assert r.hypervisor.role == "guest"


def test_summary_says_the_vmm_needs_root_when_the_acpi_tables_are_unreadable() -> None:
    """This machine as a non-root user sees it: ACPI tables are mode 0400, so FIRECK is not readable."""

    class NonRoot(RootSource):
        def read(self, rel: str, limit: int = 1 << 20) -> FileRead:
            if rel.lstrip("/").startswith("sys/firmware/acpi/tables/"):
                return FileRead(self.path(rel), None, "permission denied (try as root)")
            return super().read(rel, limit)

    root = ROOTS / "firecracker_this_machine"
    as_root = [line for line in summary_lines(detect(RootSource(root))) if line.startswith("Hypervisor:")]
    assert as_root and "(VMM: Firecracker)" in as_root[0]
    user = [line for line in summary_lines(detect(NonRoot(root))) if line.startswith("Hypervisor:")]
    assert user and user[0].startswith("Hypervisor: KVM (VMM: not named; some firmware tables need root)")


# `sc.exe query` output layout from its documentation (learn.microsoft.com, "sc.exe query");
# reconstructed, not captured on a Windows machine.
SC_RUNNING = (
    "\r\nSERVICE_NAME: cexecsvc \r\n"
    "        TYPE               : 10  WIN32_OWN_PROCESS  \r\n"
    "        STATE              : 4  RUNNING \r\n"
    "                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)\r\n"
    "        WIN32_EXIT_CODE    : 0  (0x0)\r\n"
    "        SERVICE_EXIT_CODE  : 0  (0x0)\r\n"
    "        CHECKPOINT         : 0x0\r\n"
    "        WAIT_HINT          : 0x0\r\n"
)
SC_ABSENT = (
    "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\n"
    "The specified service does not exist as an installed service.\r\n\r\n"
)


def test_parse_sc_query() -> None:
    from virtprobe.detect.windows import parse_sc_query

    assert parse_sc_query(SC_RUNNING) == "RUNNING"
    assert parse_sc_query(SC_RUNNING.replace("4  RUNNING", "1  STOPPED")) == "STOPPED"
    assert parse_sc_query(SC_ABSENT) == "absent"
    assert parse_sc_query("") is None and parse_sc_query("Zugriff verweigert") is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [(SC_RUNNING, ("container-other", None)), (SC_ABSENT, ("none", "none")), (None, (None, None))],
    ids=["agent-running", "no-agent", "no-output"],
)
def test_windows_container_from_the_container_execution_agent(
    tmp_path: Path, output: str | None, expected: tuple[str | None, str | None]
) -> None:
    commands = {"systeminfo": base64.b64encode(b"OS Name:  Microsoft Windows Server 2022 Datacenter\r\n").decode()}
    if output is not None:
        commands["sc.exe query cexecsvc"] = base64.b64encode(output.encode()).decode()
    src = make_root(tmp_path, {}, meta={"platform": "win32", "machine": "AMD64", "commands": commands})
    r = detect(src)
    assert (r.container.id, r.container.orchestrator) == expected
    row = next(e for e in r.evidence if e.topic == "container")
    assert row.source == "command: sc.exe query cexecsvc"
    if output is SC_RUNNING:
        assert any(line.startswith("Container: a Windows container (engine unknown)") for line in summary_lines(r))
