"""Windows hosts: systeminfo, wmic, sc.exe and CPUID, read and decided."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.rootmaker import make_root
from virtprobe.detection.run import detect
from virtprobe.detection.windows import parse_hyperv_requirements, parse_systeminfo, parse_wmic_list
from virtprobe.report.sections.detect import summary_lines

SYSTEMINFO_REQS = (
    "Hyper-V Requirements:      VM Monitor Mode Extensions: Yes\r\n"
    "                           Virtualization Enabled In Firmware: No\r\n"
    "                           Second Level Address Translation: Yes\r\n"
    "                           Data Execution Prevention Available: Yes\r\n"
)


def test_systeminfo_requirements() -> None:
    si = parse_systeminfo("System Manufacturer:       Dell Inc.\r\n" + SYSTEMINFO_REQS)
    assert si["System Manufacturer"] == "Dell Inc."
    req = parse_hyperv_requirements(si["Hyper-V Requirements"])
    assert req is not None and not req.hypervisor_detected
    assert (req.vm_monitor_mode, req.enabled_in_firmware, req.slat, req.dep) == (True, False, True, True)
    detected = parse_hyperv_requirements(
        "A hypervisor has been detected. Features required for Hyper-V will not be displayed."
    )
    assert detected is not None and detected.hypervisor_detected


def test_windows_vt_x_disabled_in_firmware(tmp_path: Path) -> None:
    text = (
        "OS Name:  Microsoft Windows 10 Pro\r\nSystem Manufacturer:       Dell Inc.\r\n"
        "System Model:              OptiPlex 7090\r\n" + SYSTEMINFO_REQS
    )
    src = make_root(
        tmp_path,
        {},
        meta={
            "platform": "win32",
            "machine": "AMD64",
            "env": {"PROCESSOR_IDENTIFIER": "Intel64 Family 6 Model 167, GenuineIntel"},
            "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
        },
    )
    r = detect(src)
    assert (r.cpu.virt_tech, r.cpu.disabled_in_firmware, r.hypervisor.id, r.cloud.id) == (
        "vt-x",
        True,
        "none",
        "none",
    )


def test_windows_surface_is_not_a_vm_but_hyperv_guest_is(tmp_path: Path) -> None:
    def run(model: str, sub: str) -> Any:
        text = (
            f"System Manufacturer:       Microsoft Corporation\r\nSystem Model:              {model}\r\n"
            "Hyper-V Requirements:      A hypervisor has been detected. Features required for Hyper-V will "
            "not be displayed.\r\n"
        )
        src = make_root(
            tmp_path / sub,
            {},
            meta={
                "platform": "win32",
                "machine": "AMD64",
                "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
            },
        )
        return detect(src)

    surface = run("Surface Laptop 4", "a")
    assert (surface.hypervisor.id, surface.hypervisor.role) == ("microsoft", "host")
    guest = run("Virtual Machine", "b")
    assert (guest.hypervisor.id, guest.hypervisor.role, guest.cloud.id) == ("microsoft", "guest", None)


def test_windows_on_ec2(tmp_path: Path) -> None:
    text = "System Manufacturer:       Amazon EC2\r\nSystem Model:              m5.large\r\n"
    src = make_root(
        tmp_path,
        {},
        meta={
            "platform": "win32",
            "machine": "AMD64",
            "commands": {"systeminfo": base64.b64encode(text.encode()).decode()},
        },
    )
    r = detect(src)
    assert (r.cloud.id, r.cloud.instance_type, r.cloud.bare_metal) == ("amazon", "m5.large", False)
    assert r.hypervisor.role == "guest"


SC_RUNNING = (
    "\r\nSERVICE_NAME: cexecsvc \r\n"
    "        TYPE               : 10  WIN32_OWN_PROCESS  \r\n"
    "        STATE              : 4  RUNNING \r\n"
    "                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)\r\n"
    "        WIN32_EXIT_CODE    : 0  (0x0)\r\n"
    "        SERVICE_EXIT_CODE  : 0  (0x0)\r\n"
    "        CHECKPOINT         : 0x0\r\n"
    "        WAIT_HINT          : 0x0\r\n"
)


SC_ABSENT = (
    "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\n"
    "The specified service does not exist as an installed service.\r\n\r\n"
)


def test_parse_sc_query() -> None:
    from virtprobe.detection.windows import parse_sc_query

    assert parse_sc_query(SC_RUNNING) == "RUNNING"
    assert parse_sc_query(SC_RUNNING.replace("4  RUNNING", "1  STOPPED")) == "STOPPED"
    assert parse_sc_query(SC_ABSENT) == "absent"
    assert parse_sc_query("") is None and parse_sc_query("Zugriff verweigert") is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [(SC_RUNNING, ("container-other", None)), (SC_ABSENT, ("none", "none")), (None, (None, None))],
    ids=["agent-running", "no-agent", "no-output"],
)
def test_windows_container_from_the_container_execution_agent(
    tmp_path: Path, output: str | None, expected: tuple[str | None, str | None]
) -> None:
    commands = {"systeminfo": base64.b64encode(b"OS Name:  Microsoft Windows Server 2022 Datacenter\r\n").decode()}
    if output is not None:
        commands["sc.exe query cexecsvc"] = base64.b64encode(output.encode()).decode()
    src = make_root(tmp_path, {}, meta={"platform": "win32", "machine": "AMD64", "commands": commands})
    r = detect(src)
    assert (r.container.id, r.container.orchestrator) == expected
    row = next(e for e in r.evidence if e.topic == "container")
    assert row.source == "command: sc.exe query cexecsvc"
    if output is SC_RUNNING:
        assert any(line.startswith("Container: a Windows container (engine unknown)") for line in summary_lines(r))


def test_wmic_parser() -> None:
    assert parse_wmic_list("\r\nHypervisorPresent=TRUE\r\nManufacturer=LENOVO\r\n") == {
        "HypervisorPresent": "TRUE",
        "Manufacturer": "LENOVO",
    }


@given(st.text())
def test_windows_parsers_total(text: str) -> None:
    parse_systeminfo(text)
    parse_hyperv_requirements(text)
    parse_wmic_list(text)
