"""VM profiles for the simulated baseline: the built-in cited figures, and user profile files.

A profile file is JSON: {"format": 1, "profiles": [ {...}, ... ]}. The built-in
one is bench/vm/data/vm_profiles.json; `--profiles FILE` adds a user file of the
same format. Every number carries a source {citation, url, host, method}; a
profile without trustworthy figures is `"unverified": true`, keeps what was
found in its notes, and is left out of the default table (never invent a
figure).

Validation is by hand so a bad file gets one line naming the file, the profile
and the field, rather than a jsonschema traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from virtprobe.errors import InputError, shown
from virtprobe.machine.bounded import MAX_PROFILE_BYTES, Refused, parse_json, read_limited

PROFILES_FORMAT = 1
BUILTIN_NAME = "virtprobe/benchmark/vm/data/vm_profiles.json"
MAX_PROFILE_FILE_BYTES = MAX_PROFILE_BYTES


@dataclass(frozen=True)
class Citation:
    citation: str
    url: str | None
    host: str | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"citation": self.citation, "url": self.url, "host": self.host, "method": self.method}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Citation:
        return cls(citation=d["citation"], url=d.get("url"), host=d.get("host"), method=d["method"])


@dataclass(frozen=True)
class VmProfile:
    name: str
    label: str
    boot_median_s: float | None
    boot_p99_s: float | None  # None: the source published no p99
    guest_ram_bytes: int | None
    overhead_bytes: int | None
    boot_source: Citation | None
    memory_source: Citation | None
    overhead_range_bytes: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()
    unverified: bool = False
    origin: str = BUILTIN_NAME  # which file it came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "boot_median_s": self.boot_median_s,
            "boot_p99_s": self.boot_p99_s,
            "guest_ram_bytes": self.guest_ram_bytes,
            "overhead_bytes": self.overhead_bytes,
            "overhead_range_bytes": (None if self.overhead_range_bytes is None else list(self.overhead_range_bytes)),
            "boot_source": None if self.boot_source is None else self.boot_source.to_dict(),
            "memory_source": None if self.memory_source is None else self.memory_source.to_dict(),
            "notes": list(self.notes),
            "unverified": self.unverified,
        }


def _fail(origin: str, where: str, problem: str) -> InputError:
    return InputError(f"{origin}: {where}: {problem}")


def _num(d: dict[str, Any], key: str, origin: str, where: str, *, required: bool) -> float | None:
    v = d.get(key)
    if v is None:
        if required:
            raise _fail(origin, where, f"{key!r} is required (a positive number)")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise _fail(origin, where, f"{key!r} must be a non-negative number, got {shown(v)}")
    return float(v)


def _int(d: dict[str, Any], key: str, origin: str, where: str, *, required: bool) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise _fail(origin, where, f"{key!r} is required (a whole number of bytes)")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _fail(origin, where, f"{key!r} must be a non-negative whole number of bytes, got {shown(v)}")
    return v


def _citation(d: dict[str, Any], key: str, origin: str, where: str, *, required: bool) -> Citation | None:
    v = d.get(key)
    if v is None:
        if required:
            raise _fail(origin, where, f"{key!r} is required: every figure needs its source")
        return None
    if not isinstance(v, dict):
        raise _fail(origin, where, f"{key!r} must be an object {{citation, url, host, method}}")
    for field_ in ("citation", "method"):
        if not isinstance(v.get(field_), str) or not v[field_].strip():
            raise _fail(origin, where, f"{key}.{field_} must be a non-empty string")
    for field_ in ("url", "host"):
        if v.get(field_) is not None and not isinstance(v[field_], str):
            raise _fail(origin, where, f"{key}.{field_} must be a string or null")
    return Citation.from_dict(v)


def parse_profile(d: Any, origin: str, index: int) -> VmProfile:
    """One profile object, validated. Raises InputError naming the file, profile and field."""
    where = f"profiles[{index}]"
    if not isinstance(d, dict):
        raise _fail(origin, where, "must be a JSON object")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(origin, where, "'name' must be a non-empty string")
    where = f"profile {shown(name)}"
    label = d.get("label", name)
    if not isinstance(label, str) or not label.strip():
        raise _fail(origin, where, "'label' must be a non-empty string")
    unverified = d.get("unverified", False)
    if not isinstance(unverified, bool):
        raise _fail(origin, where, "'unverified' must be true or false")
    need = not unverified
    median = _num(d, "boot_median_s", origin, where, required=need)
    p99 = _num(d, "boot_p99_s", origin, where, required=False)
    if median is not None and median <= 0:
        raise _fail(origin, where, f"'boot_median_s' must be above zero, got {median!r}")
    if median is not None and p99 is not None and p99 < median:
        raise _fail(origin, where, f"'boot_p99_s' ({p99}) is below 'boot_median_s' ({median})")
    ram = _int(d, "guest_ram_bytes", origin, where, required=need)
    overhead = _int(d, "overhead_bytes", origin, where, required=need)
    rng = d.get("overhead_range_bytes")
    overhead_range: tuple[int, int] | None = None
    if rng is not None:
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in rng)
            or rng[0] > rng[1]
        ):
            raise _fail(origin, where, "'overhead_range_bytes' must be [low, high] bytes, low <= high")
        overhead_range = (rng[0], rng[1])
    boot_src = _citation(d, "boot_source", origin, where, required=need)
    mem_src = _citation(d, "memory_source", origin, where, required=need)
    notes = d.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _fail(origin, where, "'notes' must be a list of strings")
    return VmProfile(
        name=name,
        label=label,
        boot_median_s=median,
        boot_p99_s=p99,
        guest_ram_bytes=ram,
        overhead_bytes=overhead,
        boot_source=boot_src,
        memory_source=mem_src,
        overhead_range_bytes=overhead_range,
        notes=tuple(notes),
        unverified=unverified,
        origin=origin,
    )


def parse_profiles(doc: Any, origin: str) -> list[VmProfile]:
    """A whole profile document, validated; names must be unique within it."""
    if not isinstance(doc, dict):
        raise _fail(origin, "top level", "must be a JSON object with 'format' and 'profiles'")
    fmt = doc.get("format")
    if fmt != PROFILES_FORMAT:
        raise _fail(origin, "format", f"is {shown(fmt)}; this virtprobe reads profile format {PROFILES_FORMAT}")
    items = doc.get("profiles")
    if not isinstance(items, list) or not items:
        raise _fail(origin, "profiles", "must be a non-empty list")
    out: list[VmProfile] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        p = parse_profile(item, origin, i)
        if p.name in seen:
            raise _fail(origin, f"profile {shown(p.name)}", "name appears twice")
        seen.add(p.name)
        out.append(p)
    return out


def load_builtin() -> list[VmProfile]:
    text = resources.files("virtprobe.benchmark.vm").joinpath("data/vm_profiles.json").read_text(encoding="utf-8")
    return parse_profiles(json.loads(text), BUILTIN_NAME)


def load_file(path: str | Path) -> list[VmProfile]:
    """A user profile file, through the bounded door; any problem is one InputError line naming the file."""
    p = Path(path)
    try:
        raw = read_limited(p, MAX_PROFILE_FILE_BYTES)
    except Refused as why:
        raise InputError(f"{p}: cannot read the profile file: {why.reason}") from None
    return parse_profiles(parse_json(raw, str(p)), str(p))


def select_profiles(profiles_file: str | Path | None = None, *, include_unverified: bool = False) -> list[VmProfile]:
    """Built-in profiles, then the user's (a user profile of the same name replaces the built-in one)."""
    merged: dict[str, VmProfile] = {p.name: p for p in load_builtin()}
    if profiles_file is not None:
        for p in load_file(profiles_file):
            merged[p.name] = p
    return [p for p in merged.values() if include_unverified or not p.unverified]
