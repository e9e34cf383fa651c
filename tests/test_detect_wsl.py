"""WSL: the kernel strings and markers seen from Linux, and `wsl.exe -l -v` seen from Windows."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rootmaker import make_root
from virtprobe.detection.model import WslDistribution
from virtprobe.detection.wsl import probe_wsl, root_fstype, wsl_version_from_kernel
from virtprobe.detection.wsl_list import decode_wsl_output, parse_wsl_list


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("4.4.0-19041-Microsoft", 1),
        (
            "Linux version 4.4.0-22621-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #2215-Microsoft",
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
    text = "  NAME  STATE  VERSION\r\n" + "".join(f"{'*' if d else ' '} {n}    {s}    {v}\r\n" for n, s, v, d in rows)
    got = parse_wsl_list(b"\xff\xfe" + text.encode("utf-16-le"))
    assert got == tuple(WslDistribution(n, s, v, d) for n, s, v, d in rows)
