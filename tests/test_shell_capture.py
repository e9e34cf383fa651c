"""`virtprobe snapshot --script`: valid POSIX sh, covers every PATHS entry, and round-trips on this machine."""

from __future__ import annotations

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
    assert takes == [(shell_capture._KIND_FN[s.kind], s.pattern) for s in capture_mod.PATHS]
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
