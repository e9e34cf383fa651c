"""The detect document: schema, round trip, refusal of other versions, and the rendered summary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from tests.rootmaker import make_root
from virtprobe.detection.linux import parse_os_release
from virtprobe.detection.run import detect
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import FileRead, RootSource
from virtprobe.report.document import SCHEMA_FILE
from virtprobe.report.document import detect_document as to_document
from virtprobe.report.document import detect_from_document as from_document
from virtprobe.report.sections.detect import build_detect_page, summary_lines
from virtprobe.report.writers import terminal

SCHEMA_PATH = Path(__file__).parent.parent / "virtprobe" / "report" / "schemas" / SCHEMA_FILE
ALL_ROOTS = sorted(p for p in ROOTS.iterdir() if p.is_dir()) if ROOTS.exists() else []


def test_unknown_platform_never_raises(tmp_path: Path) -> None:
    r = detect(make_root(tmp_path, {}, meta={"platform": "sunos5"}))
    assert r.hypervisor.id is None and r.container.id is None and r.wsl.version is None
    assert {e.topic for e in r.evidence} >= {"cpu", "kvm", "hypervisor", "cloud", "container", "wsl"}


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def test_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(_schema())


@pytest.mark.parametrize("root", ALL_ROOTS, ids=[p.name for p in ALL_ROOTS])
def test_every_fixture_validates_and_roundtrips(root: Path) -> None:
    result = detect(RootSource(root))
    doc = json.loads(json.dumps(to_document(result)))
    jsonschema.Draft202012Validator(_schema()).validate(doc)
    assert from_document(doc) == result


def test_from_document_rejects_other_major_and_kind() -> None:
    doc = to_document(detect(RootSource(ROOTS / "wsl2")))
    with pytest.raises(ReportFormatError, match="schema"):
        from_document({**doc, "schema_version": "2.0"})
    with pytest.raises(ReportFormatError, match="kind"):
        from_document({**doc, "kind": "bench"})


def _render(root: str, all_evidence: bool = False) -> str:
    return terminal.write([build_detect_page(detect(RootSource(ROOTS / root)), all_evidence=all_evidence)], 100)


def test_render_summary_sentences() -> None:
    lines = summary_lines(detect(RootSource(ROOTS / "windows_host_wsl")))
    assert any(
        line.startswith("WSL: this is the Windows host; distributions: *Ubuntu-22.04 (WSL2, Running)") for line in lines
    )
    assert any(line.startswith("Container: Docker, cgroup v1 — seen in /proc/self/cgroup")
               for line in summary_lines(detect(RootSource(ROOTS / "docker_in_vm"))))  # fmt: skip
    text = _render("docker_in_vm")
    assert "Container        Docker, cgroup v1 — seen in /proc/self/cgroup" in text
    assert re.search(r"\bHypervisor +KVM\b", text)
    assert "considered" not in text  # only decisive/overruled rows without --evidence
    assert "considered" in _render("docker_in_vm", all_evidence=True)


def test_summary_says_the_vmm_needs_root_when_the_acpi_tables_are_unreadable() -> None:
    """This machine as a non-root user sees it: ACPI tables are mode 0400, so FIRECK is not readable."""

    class NonRoot(RootSource):
        def read(self, rel: str, limit: int = 1 << 20) -> FileRead:
            if rel.lstrip("/").startswith("sys/firmware/acpi/tables/"):
                return FileRead(self.path(rel), None, "permission denied (try as root)")
            return super().read(rel, limit)

    root = ROOTS / "firecracker_this_machine"
    as_root = [line for line in summary_lines(detect(RootSource(root))) if line.startswith("Hypervisor:")]
    assert as_root and "(VMM: Firecracker)" in as_root[0]
    user = [line for line in summary_lines(detect(NonRoot(root))) if line.startswith("Hypervisor:")]
    assert user and user[0].startswith("Hypervisor: KVM (VMM: not named; some firmware tables need root)")


def test_os_release_parser() -> None:
    assert parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n# c\nID=debian\n') == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
    }


@given(st.text())
def test_os_release_parser_total(text: str) -> None:
    parse_os_release(text)
