"""Each fixture root is one machine; detect must give its whole verdict.

A root is `tests/fixtures/roots/<scenario>/` mirroring the real paths, with
`virtprobe-snapshot.json` for what is not a file, `SOURCE.md` saying where its
strings come from (captured, or reconstructed from named documentation), and
`expected.json` holding the verdict detect must reach.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ROOTS
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource

SCENARIOS = sorted(p.name for p in ROOTS.iterdir() if (p / "expected.json").exists()) if ROOTS.exists() else []


def verdict(sections: dict[str, Any]) -> dict[str, Any]:
    """The decisions of a detect result, without the evidence and free text."""
    return {
        "cpu.virt_tech": sections["cpu"]["virt_tech"],
        "cpu.disabled_in_firmware": sections["cpu"]["disabled_in_firmware"],
        "kvm.usable": sections["kvm"]["usable"],
        "kvm.module": sections["kvm"]["module"],
        "hypervisor.id": sections["hypervisor"]["id"],
        "hypervisor.vmm": sections["hypervisor"]["vmm"],
        "cloud.id": sections["cloud"]["id"],
        "container.id": sections["container"]["id"],
        "container.orchestrator": sections["container"]["orchestrator"],
        "wsl.version": sections["wsl"]["version"],
    }


OPTIONAL = {"platform.id": ("platform", "id"), "cloud.bare_metal": ("cloud", "bare_metal")}


def test_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 25, SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_whole_verdict(scenario: str) -> None:
    root = ROOTS / scenario
    expected = json.loads((root / "expected.json").read_text())
    assert (root / "SOURCE.md").exists(), "every fixture says where its strings come from"
    result = detect(RootSource(root), kvm_probe=True)
    sections = result.sections()
    got = verdict(sections)
    # Keys a root may add: the platform (schema 1.2) and whether a cloud machine is bare metal.
    for key, (section, field) in OPTIONAL.items():
        if key in expected:
            got[key] = sections[section][field]
    want = {k: v for k, v in expected.items() if not k.startswith("_")}
    assert got == want
    # Every decided verdict is backed by at least one decisive piece of evidence.
    topics_decided = {e["topic"] for e in sections["evidence"] if e["weight"] == "decisive"}
    for topic in ("hypervisor", "container", "cloud", "wsl", "platform"):
        if sections[topic]["id"] not in (None, "none"):
            assert topic in topics_decided, f"{topic} verdict without decisive evidence"
