"""macOS hosts: the sysctl and sw_vers parsers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from virtprobe.detection.macos import parse_sw_vers, parse_sysctl


def test_sysctl_and_sw_vers_parsers() -> None:
    sc = parse_sysctl("kern.hv_support: 1\nhw.model = MacBookPro18,3\ngarbage\n")
    assert sc == {"kern.hv_support": "1", "hw.model": "MacBookPro18,3"}
    assert parse_sw_vers("ProductName:\tmacOS\nProductVersion:\t14.5\n") == "macOS 14.5"


@given(st.text())
def test_macos_parsers_total(text: str) -> None:
    parse_sysctl(text)
    parse_sw_vers(text)
