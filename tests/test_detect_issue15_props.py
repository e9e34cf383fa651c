"""Property tests for the parsers issue 15 added: hostile text in, a value of the stated shape out, never an
exception, and nothing of an identifier kept beyond its derived fact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from virtprobe.detection.container_readers import filter_pid1_cmdline, parse_status_ids, status_ids
from virtprobe.detection.hv_readers import (
    boot_log_complete,
    cpuinfo_trailer,
    device_tree_strings,
    parse_brand,
    parse_modules,
)
from virtprobe.detection.platform import mount_points
from virtprobe.detection.tables import clouds, platforms
from virtprobe.machine import envfacts

TEXT = st.text(max_size=400)


@given(TEXT)
def test_derive_prefix_keeps_one_of_three_facts(text: str) -> None:
    assert clouds.derive_prefix(text) in ("", "ec2", "googlecloud", "brightbox")


@given(TEXT)
def test_cmdline_tokens_keeps_only_known_words(text: str) -> None:
    kept = clouds.cmdline_tokens(text)
    assert set(kept.split()) <= set(clouds.CMDLINE_TOKENS)
    assert all(w in text.split() for w in kept.split())


@given(st.text(max_size=40), TEXT)
def test_env_values_reduce_to_a_known_word_or_set(name: str, value: str) -> None:
    got = envfacts.derive(name, value)
    if name in envfacts.WHOLE:
        assert got == value[:200]
    else:
        assert got == envfacts.SET or got in envfacts.KEEP.get(name, ())


@given(st.dictionaries(st.text(max_size=30), TEXT, max_size=8))
def test_derive_all_keeps_only_detects_variables(env: dict[str, str]) -> None:
    assert set(envfacts.derive_all(env)) <= set(envfacts.NAMES)


@given(st.binary(max_size=600))
def test_pid1_cmdline_filter_is_total_and_shrinks(data: bytes) -> None:
    kept = filter_pid1_cmdline(data)
    assert len(kept) <= len(data) + 1
    args = [a for a in kept.split(b"\0") if a]
    assert all(b"/" not in a for a in args[:1])


@given(TEXT)
def test_status_ids_round_trip(text: str) -> None:
    kept = status_ids(text)
    assert set(parse_status_ids(kept)) <= {"envID", "VxID"}
    assert all(part.split(":")[0] in ("envID", "VxID") for part in kept.split("; ") if part)


@given(TEXT)
def test_text_parsers_are_total(text: str) -> None:
    assert isinstance(cpuinfo_trailer(text), dict)
    assert all(isinstance(m, str) and m for m in parse_modules(text))
    assert isinstance(mount_points(text), str)
    assert boot_log_complete(text) in (True, False)


@given(st.binary(max_size=300))
def test_device_tree_strings_ignore_nul_and_newline_ends(data: bytes) -> None:
    strings = device_tree_strings(data)
    assert all(s and not s.endswith(("\n", "\r")) for s in strings)
    one = data.replace(b"\0", b"").replace(b"\n", b"").replace(b"\r", b"")
    assert device_tree_strings(one + b"\n") == device_tree_strings(one + b"\0")


@given(st.lists(st.tuples(*[st.integers(min_value=0, max_value=2**32 - 1)] * 4), min_size=3, max_size=3))
def test_parse_brand_is_total(regs: list[tuple[int, int, int, int]]) -> None:
    got = parse_brand(regs)
    assert got is None or (isinstance(got, str) and got == got.strip())


@given(st.dictionaries(st.sampled_from(sorted({r.source for r in platforms.RULES})), TEXT, max_size=6))
def test_platform_rules_are_total_and_ordered(facts: dict[str, str]) -> None:
    hits = platforms.match_rules(facts)
    order = [platforms.RULES.index(rule) for rule, _ in hits]
    assert order == sorted(order)
