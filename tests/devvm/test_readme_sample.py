"""The README's sample stays true of this machine: what detect says live is what the stored report says.

README.md shows the opening lines of reports/detect-firecracker.txt (tests/test_docs_commands.py),
which is rendered from reports/detect-firecracker.json (tests/test_reports_reproducible.py). This
test closes the loop on the development VM, where it is collected: every verdict in that report
is the one detect gives now. Timings, the kernel's build number and the CPU's model (a machine of
this kind has an Intel or an AMD EPYC CPU) may differ; verdicts may not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import virtprobe

pytestmark = pytest.mark.live

REPORT = Path(__file__).resolve().parents[2] / "reports" / "detect-firecracker.json"


def verdicts(doc: dict[str, Any]) -> dict[str, Any]:
    """The answers a reader takes from the sample: the verdict lines and the KVM line."""
    return {
        "cpu": (doc["cpu"]["virt_tech"], doc["cpu"]["hypervisor_bit"]),  # not the model: Intel or AMD EPYC
        "kvm": (doc["kvm"]["device_present"], doc["kvm"]["usable"], doc["kvm"]["module"]),
        "hypervisor": (doc["hypervisor"]["id"], doc["hypervisor"]["vmm"], doc["hypervisor"]["role"]),
        "cloud": doc["cloud"]["id"],
        "platform": (doc["platform"]["id"], doc["platform"]["kind"]),
        "container": (doc["container"]["id"], doc["container"]["orchestrator"], doc["container"]["cgroup_version"]),
        "wsl": (doc["wsl"]["id"], doc["wsl"]["version"]),
        "cvm": doc["cvm"]["id"],
    }


def test_the_stored_report_says_what_detect_says_here() -> None:
    stored = json.loads(REPORT.read_text(encoding="utf-8"))
    live = virtprobe.detect().to_dict()
    assert stored["schema_version"] == live["schema_version"], "refresh it: virtprobe detect --json > " + str(REPORT)
    assert verdicts(stored) == verdicts(live)
