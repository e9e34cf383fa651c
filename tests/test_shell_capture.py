"""`virtprobe snapshot --script`: valid POSIX sh, covers every PATHS entry, and round-trips on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from virtprobe.detection import capture as capture_mod
from virtprobe.detection import shell_capture
from virtprobe.detection.run import detect
from virtprobe.detection.shell_capture import ARCHIVE_TOP, CPUID_REASON, render_script
from virtprobe.machine.roots import open_source
from virtprobe.machine.source import SNAPSHOT_META

SCRIPT = render_script("test")

# The tools the script may call (besides sh built-ins): coreutils or busybox applets. The busybox
# round trip runs it with only these on PATH, so a new dependency fails there.
ALLOWED_TOOLS = {
    "readlink",
    "ln",
    "tar",
    "gzip",
    "base64",
    "mkdir",
    "rm",
    "head",
    "tr",
    "uname",
    "dmesg",
    "dd",
    "od",
}


def _busybox() -> str:
    bb = shutil.which("busybox")
    if bb is None:
        live_skip("busybox is not installed (Debian: busybox-static)")
    assert bb is not None
    return bb


def test_script_is_valid_posix_sh(tmp_path: Path) -> None:
    path = tmp_path / "capture.sh"
    path.write_text(SCRIPT)
    assert SCRIPT.startswith("#!/bin/sh\n")
    proc = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.live
def test_script_is_valid_for_busybox_sh(tmp_path: Path) -> None:
    path = tmp_path / "capture.sh"
    path.write_text(SCRIPT)
    proc = subprocess.run([_busybox(), "sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_script_takes_every_paths_entry_with_its_kind() -> None:
    takes = re.findall(r"^take (cp_\w+) /(\S+)$", SCRIPT, flags=re.M)
    copied = [s for s in capture_mod.PATHS if s.kind != capture_mod.DERIVED]
    assert takes == [(shell_capture._KIND_FN[s.kind], s.pattern) for s in copied]
    for never in capture_mod.NEVER:
        assert f"        {never}) return 0 ;;" in SCRIPT


def test_script_is_deterministic_and_names_its_version() -> None:
    assert render_script("9.9") == render_script("9.9")
    assert "virtprobe 9.9" in render_script("9.9")


def test_unsafe_pattern_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = (*capture_mod.PATHS, capture_mod.Spec("etc/$(reboot)", capture_mod.FILE))
    monkeypatch.setattr(shell_capture, "PATHS", bad)
    with pytest.raises(ValueError, match="cannot be rendered"):
        render_script()


def test_cli_prints_the_script() -> None:
    from typer.testing import CliRunner

    from virtprobe import __version__
    from virtprobe.cli.app import app

    runner = CliRunner()
    ok = runner.invoke(app, ["snapshot", "--script"])
    assert ok.exit_code == 0 and ok.stdout == render_script(__version__)
    both = runner.invoke(app, ["snapshot", "--script", "out.tar.gz"])
    assert both.exit_code == 2
    neither = runner.invoke(app, ["snapshot"])
    assert neither.exit_code == 2


def _run_script(tmp_path: Path, shell: list[str], env_path: str | None = None) -> Path:
    script = tmp_path / "capture.sh"
    script.write_text(SCRIPT)
    out = tmp_path / "snap.tar.gz"
    env = {"PATH": env_path or os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [*shell, str(script), str(out)], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "snapshot written to" in proc.stderr
    # The script's work folder is gone.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("virtprobe-capture.")]
    return out


def _comparable(sections: dict[str, Any]) -> dict[str, Any]:
    """Everything but what only CPUID or the KVM probe can know, and the name of the source."""
    out = json.loads(json.dumps({k: v for k, v in sections.items() if k not in ("evidence", "created_utc")}))
    out["host"].pop("source", None)
    out["hypervisor"].pop("layers", None)  # the layer's source is CPUID in one, a file in the other
    out.pop("cvm", None)  # CPUID 0x8000001F / 0x21 decide this on x86
    out.pop("checks", None)  # KVM_CHECK_EXTENSION comes from the live KVM probe
    return out


@pytest.mark.live
@pytest.mark.parametrize("shell", ["sh", "busybox"])
def test_round_trip_on_this_machine(tmp_path: Path, shell: str) -> None:
    if sys.platform != "linux":
        live_skip("the shell capture is for Linux")
    env_path = None
    argv = ["sh"]
    if shell == "busybox":
        bb = _busybox()
        # Only busybox applets on PATH: the script must not need anything else.
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for tool in ALLOWED_TOOLS:
            os.symlink(bb, bindir / tool)
        env_path = str(bindir)
        argv = [bb, "sh"]
    archive = _run_script(tmp_path, argv, env_path)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == ARCHIVE_TOP and f"{ARCHIVE_TOP}/{SNAPSHOT_META}" in names
    assert not [n for n in names if re.search(r"dmi/id/.*(serial|uuid)", n)]

    from_script = detect(open_source(archive), kvm_probe=False).sections()
    assert from_script["host"]["source"] == f"snapshot {archive}"
    folder = tmp_path / "py"
    capture_mod.capture(folder, force=False, kvm_probe=False)
    from_python = detect(open_source(folder), kvm_probe=False).sections()
    assert _comparable(from_script) == _comparable(from_python)

    # Same files as `virtprobe snapshot` (the snapshot description aside).
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(unpacked)
    top = unpacked / ARCHIVE_TOP

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.name != SNAPSHOT_META}

    assert files(top) == files(folder)
    meta = json.loads((top / SNAPSHOT_META).read_text())
    assert meta["cpuid_reason"] == CPUID_REASON and meta["platform"] == "linux"
    assert meta["machine"] == os.uname().machine


# Values that must never reach a snapshot: set in the capturing process's environment, and
# written into the DMI identifier files of a fake root where the test can (see below).
SECRET_ENV = {"WSL_DISTRO_NAME": "secret-distro-7f3a", "KUBERNETES_SERVICE_HOST": "10.99.88.77",
              "VIRTPROBE_TEST_SECRET": "hunter2-e9c1", "GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "github-hosted"}


@pytest.mark.parametrize(
    "text",
    ["EC2E1916-9099-7CAF-FD21-012345ABCDEF\n", "45E12AEC-DCD1-B213-94ED-012345ABCDEF\n", "GoogleCloud-ABC123\n",
     "srv-x.gb1.brightbox.com\n", "4c4c4544-0051-3010-8057-b4c04f563232\n", ""],
)
def test_shell_and_python_derive_the_same_prefix(tmp_path: Path, text: str) -> None:
    from virtprobe.detection.tables.clouds import derive_prefix

    f = tmp_path / "id"
    f.write_text(text)
    fn = SCRIPT[SCRIPT.index("derive_prefix() {"):SCRIPT.index("derive_cmdline() {")]
    out = subprocess.run(["sh", "-c", fn + f'\nderive_prefix "{f}"'], capture_output=True, text=True, check=True)
    assert out.stdout == derive_prefix(text)


def test_shell_and_python_keep_the_same_cmdline_words(tmp_path: Path) -> None:
    from virtprobe.detection.tables.clouds import cmdline_tokens

    text = "BOOT_IMAGE=/vmlinuz root=UUID=0a1b2c3d-1111-2222-3333-444455556666 ro vultr scalewayx quiet scaleway\n"
    f = tmp_path / "cmdline"
    f.write_text(text)
    fn = SCRIPT[SCRIPT.index("derive_cmdline() {"):SCRIPT.index("take() {")]
    out = subprocess.run(["sh", "-c", fn + f'\nderive_cmdline "{f}"'], capture_output=True, text=True, check=True)
    assert out.stdout == cmdline_tokens(text) == "scaleway vultr"


def test_dmesg_keeps_only_the_lines_detect_reads() -> None:
    log = (b"[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=UUID=0a1b2c3d-1111-2222-3333-444455556666\n"
           b"[    0.000000] Hypervisor detected: KVM\n[    1.2] e1000: eth0: (PCI:33MHz:32-bit) 52:54:00:12:34:56\n"
           b"[    0.1] x86/cpu: VMX (outside TXT) disabled by BIOS\n[    2.0] Ready!\n")
    kept = capture_mod.keep_command_lines("dmesg", log)
    assert kept == (b"[    0.000000] Hypervisor detected: KVM\n[    0.1] x86/cpu: VMX (outside TXT) disabled by BIOS\n"
                    b"[    2.0] Ready!\n")
    pattern = SCRIPT[SCRIPT.index("grep -E '") + 9:]
    pattern = pattern[:pattern.index("'")]
    out = subprocess.run(["grep", "-E", pattern], input=log, capture_output=True, check=False)
    assert out.stdout == kept


def test_pid1_cmdline_keeps_argv0_and_known_words() -> None:
    from virtprobe.detection.container_readers import filter_pid1_cmdline

    raw = b"/process_api\0--firecracker-init\0--addr\00.0.0.0:2024\0--token\0s3cr3t\0"
    assert filter_pid1_cmdline(raw) == b"process_api\0--firecracker-init\0"
    assert filter_pid1_cmdline(b"") == b""


def _scan_for_secrets(root: Path, raw_ids: list[bytes]) -> list[str]:
    """Every file and every decoded command output: no UUID, no identifier read live, no env value."""
    blobs = [p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    meta = json.loads((root / SNAPSHOT_META).read_text())
    import base64

    blobs += [base64.b64decode(v) for v in meta.get("commands", {}).values()]
    blob = b"\n".join(blobs)
    uuid = rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    found = [m.decode() for m in re.findall(uuid, blob)]
    found += [v for v in SECRET_ENV.values() if v not in ("true", "github-hosted") and v.encode() in blob]
    found += [i.decode() for i in raw_ids if i and i in blob]
    for name, value in meta.get("env", {}).items():
        from virtprobe.machine.envfacts import KEEP, SET

        if value != SET and value not in KEEP.get(name, ()) and name != "PROCESSOR_IDENTIFIER":
            found.append(f"env {name}={value}")
    return found


def _live_ids() -> list[bytes]:
    ids = []
    for rel in ("sys/class/dmi/id/product_uuid", "sys/class/dmi/id/product_serial", "sys/hypervisor/uuid",
                "proc/sys/kernel/random/boot_id"):
        with contextlib.suppress(OSError):
            ids.append(Path("/" + rel).read_bytes().strip())
    return ids


@pytest.mark.live
def test_no_serial_uuid_or_environment_reaches_a_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16 item 4: `snapshot` and `snapshot --script` keep derived facts only."""
    if sys.platform != "linux":
        live_skip("the captures are Linux's")
    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    folder = tmp_path / "py"
    capture_mod.capture(folder, force=False, kvm_probe=False)
    assert _scan_for_secrets(folder, _live_ids()) == []
    meta = json.loads((folder / SNAPSHOT_META).read_text())
    assert meta["env"].get("RUNNER_ENVIRONMENT") == "github-hosted" and meta["env"].get("WSL_DISTRO_NAME") == "set"
    env_path = os.environ.get("PATH", "/usr/bin:/bin")
    script = tmp_path / "capture.sh"
    script.write_text(SCRIPT)
    out = tmp_path / "snap.tar.gz"
    proc = subprocess.run(["sh", str(script), str(out)], capture_output=True, text=True, check=False, timeout=120,
                          env={"PATH": env_path, "TMPDIR": str(tmp_path), **SECRET_ENV})
    assert proc.returncode == 0, proc.stderr
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out) as tar:
        tar.extractall(unpacked, filter="data")
    top = unpacked / ARCHIVE_TOP
    assert _scan_for_secrets(top, _live_ids()) == []
    smeta = json.loads((top / SNAPSHOT_META).read_text())
    assert smeta["env"] == {k: v for k, v in meta["env"].items() if k in smeta["env"]}
    assert smeta.get("derived", {}) == meta.get("derived", {})


def test_shell_and_python_keep_the_same_status_ids(tmp_path: Path) -> None:
    from virtprobe.detection.container_readers import status_ids

    text = "Name:\tsh\nUmask:\t0022\nenvID:\t101\nVxID:\t0\nPid:\t42\n"
    f = tmp_path / "status"
    f.write_text(text)
    fn = SCRIPT[SCRIPT.index("derive_status() {"):SCRIPT.index("take() {")]
    out = subprocess.run(["sh", "-c", fn + f'\nderive_status "{f}"'], capture_output=True, text=True, check=True)
    assert out.stdout == status_ids(text) == "envID: 101; VxID: 0"
