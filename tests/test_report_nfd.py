"""The node-feature-discovery feature file: label syntax, unknowns left out, expiry, atomic write, the CLI."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine.source import RootSource
from virtprobe.report.nfd import NAME_RE, PREFIX, is_valid_value, labels, render_nfd, sanitize_value
from virtprobe.report.write import write_atomic

REPO = Path(__file__).parent.parent
ROOT_DIRS = sorted(p for p in ROOTS.iterdir() if p.is_dir())
# Kubernetes docs, "Labels and Selectors": the value syntax, written out independently of nfd.py.
K8S_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# nfd-worker's expiry directive: "# +expiry-time=" and an RFC 3339 time (NFD docs, "Feature files").
EXPIRY = re.compile(r"^# \+expiry-time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

_RESULTS = {p.name: detect(RootSource(p), kvm_probe=False) for p in ROOT_DIRS}


def _parse(text: str) -> dict[str, str]:
    """A feature file the way nfd-worker's local source reads it: skip comments, split at the first =."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        out[name] = value
    return out


@given(st.sampled_from(sorted(_RESULTS)))
def test_every_fixture_root_gives_valid_labels(name: str) -> None:
    result = _RESULTS[name]
    text = render_nfd(result)
    parsed = _parse(text)
    assert parsed == labels(result)
    for key, value in parsed.items():
        assert key.startswith(PREFIX) and NAME_RE.match(key[len(PREFIX) :]) and len(key[len(PREFIX) :]) <= 63
        assert len(value) <= 63 and K8S_VALUE.match(value), (name, key, value)


def test_every_fixture_root_checked_for_unknowns_left_out() -> None:
    """A verdict that is None has no label; a known one has its label with the same value."""
    for name, result in _RESULTS.items():
        got = labels(result)
        for key, verdict in (
            ("hypervisor", result.hypervisor.id),
            ("kvm.usable", None if result.kvm.openable is False else result.kvm.usable),
            ("kvm.nested", result.kvm.nested),
            ("cloud", result.cloud.id),
            ("container", result.container.id),
        ):
            if verdict is None:
                assert PREFIX + key not in got, (name, key)
            else:
                want = ("true" if verdict else "false") if isinstance(verdict, bool) else verdict
                assert got[PREFIX + key] == want, (name, key)


def test_kvm_that_could_not_be_opened_is_not_labelled_unusable() -> None:
    base = _RESULTS["firecracker_this_machine"]
    denied = base._replace(kvm=base.kvm._replace(device_present=True, openable=False, usable=False))
    got = labels(denied)
    assert got[PREFIX + "kvm.present"] == "true"
    assert PREFIX + "kvm.usable" not in got
    ran = base._replace(kvm=base.kvm._replace(device_present=True, openable=True, usable=False))
    assert labels(ran)[PREFIX + "kvm.usable"] == "false"


def test_known_machines_read_as_expected() -> None:
    aws = labels(_RESULTS["aws_nitro"])
    assert aws[PREFIX + "cloud"] == "amazon"
    assert aws[PREFIX + "cloud.instance-type"] == "m5.large"
    fc = labels(_RESULTS["firecracker_this_machine"])
    assert fc[PREFIX + "vmm"] == "firecracker"
    assert fc[PREFIX + "hypervisor"] == "kvm"


@given(
    st.sampled_from(sorted(_RESULTS)),
    st.one_of(st.none(), st.text(max_size=100)),
    st.one_of(st.none(), st.text(max_size=100)),
    st.one_of(st.none(), st.text(max_size=100)),
    st.one_of(st.none(), st.booleans()),
)
def test_any_verdict_strings_give_valid_labels(
    name: str, vmm: str | None, instance: str | None, module: str | None, nested: bool | None
) -> None:
    """Whatever a probe (or a future one) puts in a verdict, the file stays valid for nfd-worker."""
    base = _RESULTS[name]
    result = base._replace(
        hypervisor=base.hypervisor._replace(vmm=vmm),
        cloud=base.cloud._replace(instance_type=instance),
        kvm=base.kvm._replace(module=module, nested=nested),
    )
    text = render_nfd(result, expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert all(line.startswith("#") or "=" in line for line in text.splitlines())
    for key, value in _parse(text).items():
        assert NAME_RE.match(key[len(PREFIX) :]) and K8S_VALUE.match(value) and len(value) <= 63, (key, value)
    assert (PREFIX + "kvm.nested" in _parse(text)) == (nested is not None)


@given(st.text(max_size=200))
def test_sanitize_always_gives_a_valid_value_or_none(raw: str) -> None:
    value = sanitize_value(raw)
    assert value is None or (value != "" and is_valid_value(value) and K8S_VALUE.match(value))


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("kvm", "kvm"),
        ("vt-x", "vt-x"),
        ("Intel(R) Xeon(R) Processor", "Intel-R-Xeon-R-Processor"),
        ("-._", None),
        ("x" * 80, "x" * 63),
        ("a" * 62 + "-b", "a" * 62),  # cut at 63 would end in "-": trimmed again
    ],
)
def test_sanitize_examples(raw: str, want: str | None) -> None:
    assert sanitize_value(raw) == want


def test_expiry_line_comes_first_in_rfc3339_utc() -> None:
    when = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    first = render_nfd(_RESULTS["aws_nitro"], expires_at=when).splitlines()[0]
    assert EXPIRY.match(first)
    assert first == "# +expiry-time=2026-12-01T08:00:00Z"
    assert not render_nfd(_RESULTS["aws_nitro"]).startswith("# +expiry-time")


def test_write_atomic_replaces_only_with_force_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "virtprobe"
    write_atomic("a=1\n", str(dest))
    assert dest.read_text() == "a=1\n"
    with pytest.raises(InputError, match="already exists"):
        write_atomic("a=2\n", str(dest))
    write_atomic("a=2\n", str(dest), force=True)
    assert dest.read_text() == "a=2\n"
    assert os.listdir(tmp_path) == ["virtprobe"]


def test_write_atomic_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "virtprobe"
    dest.write_text("old\n")

    def full(fd: int) -> None:  # the disk fills up: fsync reports ENOSPC (delayed allocation)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InputError, match=r"cannot write .*No space left on device"):
        write_atomic("new\n", str(dest), force=True)
    assert dest.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["virtprobe"]  # no temporary file left behind


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )


def test_cli_format_nfd_to_file(tmp_path: Path) -> None:
    out = tmp_path / "features.d" / "virtprobe"
    out.parent.mkdir()
    root = str(ROOTS / "aws_nitro")
    proc = _cli("detect", "--root", root, "--format", "nfd", "--expiry-s", "600", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    text = out.read_text()
    assert EXPIRY.match(text.splitlines()[0])
    assert _parse(text)[PREFIX + "cloud"] == "amazon"
    again = _cli("detect", "--root", root, "--format", "nfd", "-o", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert _cli("detect", "--root", root, "--format", "nfd", "-o", str(out), "--force").returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--format", "xml"),
        ("--json", "--format", "nfd"),
        ("--expiry-s", "60"),
        ("-o", "x.txt"),
        ("--root", "tests/fixtures/roots/aws_nitro", "--host-root", "/"),
    ],
)
def test_cli_rejects_contradictory_options(args: tuple[str, ...]) -> None:
    proc = _cli("detect", *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_host_root_without_proc_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = _cli("detect", "--host-root", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "mount the host's /proc" in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["detect", "--host-root", "/host"],
        ["detect", "--json", "--format", "nfd"],
        ["detect", "-o", "x", "--json"],
        ["detect", "--json", "--expiry-s", "60", "--force"],
    ],
)
def test_detect_parser_reads_every_option(argv: list[str]) -> None:
    """detect's start-up parser and its Click command come from one table: every option parses."""
    from virtprobe.cli.detect_options import parse

    assert parse(argv[1:]) is not None


def test_cli_json_to_file_is_the_stdout_document(tmp_path: Path) -> None:
    import json

    root = str(ROOTS / "aws_nitro")
    out = tmp_path / "detect.json"
    proc = _cli("detect", "--root", root, "--json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    on_stdout = json.loads(_cli("detect", "--root", root, "--json").stdout)
    in_file = json.loads(out.read_text())
    on_stdout.pop("created_utc"), in_file.pop("created_utc")
    assert in_file == on_stdout
