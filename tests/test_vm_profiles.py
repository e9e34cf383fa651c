"""Tests of VM profile files: built-in figures carry sources; bad user files fail with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.errors import InputError


def _good_profile(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "myvmm",
        "label": "My VMM",
        "boot_median_s": 0.2,
        "boot_p99_s": 0.3,
        "guest_ram_bytes": 128 * 1024 * 1024,
        "overhead_bytes": 5_000_000,
        "boot_source": {"citation": "my lab notes", "url": None, "host": "laptop", "method": "stopwatch"},
        "memory_source": {"citation": "my lab notes", "url": None, "host": "laptop", "method": "ps rss"},
    }
    d.update(over)
    return d


def _write(tmp_path: Path, doc: Any) -> Path:
    p = tmp_path / "profiles.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


def test_every_builtin_profile_has_a_source_for_each_number() -> None:
    profiles = vm_profiles.load_builtin()
    names = {p.name for p in profiles}
    expected = {"firecracker", "cloud-hypervisor", "qemu-pc", "qemu-microvm", "kata-qemu", "kata-clh"}
    expected.add("gvisor")
    assert expected <= names
    for p in profiles:
        if p.unverified:
            continue
        assert p.boot_source is not None and p.boot_source.citation and p.boot_source.method, p.name
        assert p.memory_source is not None and p.memory_source.citation and p.memory_source.method, p.name
        assert p.boot_median_s is not None and p.boot_median_s > 0


def test_builtin_figures_are_the_cited_ones() -> None:
    by = {p.name: p for p in vm_profiles.load_builtin()}
    # Firecracker NSDI'20 dataset (github.com/firecracker-microvm/nsdi2020-data), m5d.metal
    assert (by["firecracker"].boot_median_s, by["firecracker"].boot_p99_s) == (0.161, 0.172)
    assert (by["cloud-hypervisor"].boot_median_s, by["cloud-hypervisor"].boot_p99_s) == (0.102, 0.110)
    assert (by["qemu-pc"].boot_median_s, by["qemu-pc"].boot_p99_s) == (0.244, 0.257)
    assert by["gvisor"].boot_median_s == 0.566
    assert by["firecracker"].boot_source is not None
    assert by["firecracker"].boot_source.host == "AWS m5d.metal"


def test_no_builtin_source_is_an_issue_and_each_has_a_url() -> None:
    """An issue number is not a source: every figure names a public one, with its URL."""
    raw = (Path(vm_profiles.__file__).parent / "data" / "vm_profiles.json").read_text(encoding="utf-8")
    assert "issue" not in raw.lower()
    for p in vm_profiles.load_builtin():
        if p.unverified:
            continue
        for src in (p.boot_source, p.memory_source):
            assert src is not None and src.url is not None and src.url.startswith("https://"), p.name
    by = {p.name: p for p in vm_profiles.load_builtin()}
    for name in ("kata-qemu", "kata-clh", "gvisor"):
        for src in (by[name].boot_source, by[name].memory_source):
            assert src is not None
            assert src.url == "https://github.com/idlab-discover/benchmark-containerd-runtimes"
            assert "idlab-discover/benchmark-containerd-runtimes" in src.citation and "results/" in src.citation


def test_unverified_full_vm_is_kept_but_out_of_the_default_table() -> None:
    all_ = vm_profiles.select_profiles(include_unverified=True)
    default = vm_profiles.select_profiles()
    full = [p for p in all_ if p.name == "full-vm-distro"]
    assert full and full[0].unverified and full[0].boot_median_s is None
    assert "full-vm-distro" not in {p.name for p in default}
    assert any("unverified" in n for n in full[0].notes)


def test_user_file_adds_and_replaces(tmp_path: Path) -> None:
    p = _write(tmp_path, {"format": 1, "profiles": [_good_profile(), _good_profile(name="qemu-pc")]})
    got = {x.name: x for x in vm_profiles.select_profiles(p)}
    assert got["myvmm"].boot_median_s == 0.2
    assert got["qemu-pc"].boot_median_s == 0.2
    assert got["qemu-pc"].origin == str(p)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([], "top level"),
        ({"format": 2, "profiles": []}, "profile format 1"),
        ({"format": 1, "profiles": []}, "non-empty list"),
        ({"format": 1, "profiles": [_good_profile(boot_median_s="fast")]}, "'boot_median_s' must be"),
        ({"format": 1, "profiles": [_good_profile(boot_median_s=0)]}, "above zero"),
        ({"format": 1, "profiles": [_good_profile(boot_p99_s=0.1)]}, "below 'boot_median_s'"),
        ({"format": 1, "profiles": [_good_profile(boot_source=None)]}, "every figure needs its source"),
        ({"format": 1, "profiles": [_good_profile(overhead_bytes=1.5)]}, "whole number"),
        ({"format": 1, "profiles": [_good_profile(), _good_profile()]}, "appears twice"),
        ({"format": 1, "profiles": [_good_profile(name="")]}, "'name'"),
        ({"format": 1, "profiles": [_good_profile(overhead_range_bytes=[3, 1])]}, "overhead_range_bytes"),
    ],
)
def test_bad_user_files_get_one_line_naming_the_file(tmp_path: Path, doc: Any, needle: str) -> None:
    p = _write(tmp_path, doc)
    with pytest.raises(InputError) as ei:
        vm_profiles.load_file(p)
    msg = str(ei.value)
    assert msg.startswith(str(p) + ":")
    assert needle in msg
    assert "\n" not in msg


def test_missing_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        vm_profiles.load_file(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"not JSON \(.* line 1"):
        vm_profiles.load_file(bad)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        vm_profiles.load_file(binary)


def test_unverified_profile_may_lack_figures(tmp_path: Path) -> None:
    doc = {"format": 1, "profiles": [{"name": "wsl2", "unverified": True, "notes": ["'fast'"]}]}
    p = _write(tmp_path, doc)
    got = vm_profiles.load_file(p)
    assert got[0].unverified and got[0].boot_median_s is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(doc=json_values)
def test_any_json_document_parses_or_raises_input_error(doc: Any) -> None:
    try:
        vm_profiles.parse_profiles(doc, "f.json")
    except InputError as err:
        assert str(err).startswith("f.json: ")


@settings(max_examples=200, deadline=None)
@given(
    profile=st.fixed_dictionaries(
        {},
        optional={
            k: json_values
            for k in (
                "name", "label", "boot_median_s", "boot_p99_s", "guest_ram_bytes", "overhead_bytes",
                "boot_source", "memory_source", "notes", "unverified", "overhead_range_bytes",
            )
        },
    )
)  # fmt: skip
def test_any_profile_object_parses_or_raises_input_error(profile: dict[str, Any]) -> None:
    try:
        vm_profiles.parse_profiles({"format": 1, "profiles": [profile]}, "f.json")
    except InputError as err:
        assert str(err).startswith("f.json: ")
