"""`detect --format lines` and `--format env`: a detect result as one fact per line, for shell scripts.

`lines` is virt-what's habit with a name on each line (`hypervisor kvm`), so `awk`
and `grep` find a fact without a JSON parser; `env` is `VIRTPROBE_HYPERVISOR='kvm'`,
safe to `eval`: every value is single-quoted by shlex.quote and stripped of control
characters, whatever a machine under test put in its DMI strings. Unknown is
"unknown", booleans are "yes"/"no", as in the table. The fact list is decided once, here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from virtprobe.detection.model import DetectResult, show_value

# (name, how to read it): the order is the order printed. Names are stable: scripts key on them.
FACTS: tuple[tuple[str, Callable[[DetectResult], Any]], ...] = (
    ("os", lambda r: r.host.platform),  # the JSON's host.platform: linux, win32, darwin
    ("machine", lambda r: r.host.machine),
    ("cpu_vendor", lambda r: r.cpu.vendor),
    ("cpu_virt", lambda r: r.cpu.virt_tech),
    ("hypervisor_bit", lambda r: r.cpu.hypervisor_bit),
    ("kvm_device", lambda r: r.kvm.device_present),
    ("kvm_usable", lambda r: r.kvm.usable),
    ("kvm_module", lambda r: r.kvm.module),
    ("kvm_nested", lambda r: r.kvm.nested),
    ("hypervisor", lambda r: r.hypervisor.id),
    ("hypervisor_role", lambda r: r.hypervisor.role),
    ("vmm", lambda r: r.hypervisor.vmm),
    ("cloud", lambda r: r.cloud.id),
    ("instance_type", lambda r: r.cloud.instance_type),
    ("bare_metal", lambda r: r.cloud.bare_metal),
    ("platform", lambda r: r.platform.id),  # what manages this VM or container (detect 1.2)
    ("platform_kind", lambda r: r.platform.kind),
    ("container", lambda r: r.container.id),
    ("container_runtime", lambda r: r.container.runtime),
    ("orchestrator", lambda r: r.container.orchestrator),
    ("cgroup_version", lambda r: r.container.cgroup_version),
    ("wsl", lambda r: r.wsl.version),
    ("cvm", lambda r: r.cvm.id),
)

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def facts(result: DetectResult) -> list[tuple[str, str]]:
    """(name, value) per fact; values are one line of printable text."""
    return [(name, _UNSAFE.sub("?", show_value(read(result)))) for name, read in FACTS]


def render_lines(result: DetectResult) -> str:
    return "".join(f"{name} {value}\n" for name, value in facts(result))


def render_env(result: DetectResult) -> str:
    return "".join(f"VIRTPROBE_{name.upper()}={shlex.quote(value)}\n" for name, value in facts(result))
