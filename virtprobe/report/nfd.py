"""DetectResult -> a node-feature-discovery feature file (the "local" source's features.d format).

Format, from node-feature-discovery's documentation of the local feature
source ("Feature files", kubernetes-sigs.github.io/node-feature-discovery,
usage/customization-guide): one `<name>[=<value>]` per line, `#` starts a
comment, and the directive `# +expiry-time=<RFC3339 time>` makes nfd-worker
ignore the file's labels after that time. A name with a `<namespace>/` prefix
keeps it; recent nfd-master releases accept any namespace outside kubernetes.io
(older ones need `-extra-label-ns=virtprobe.io`).

Label values must follow Kubernetes' label-value syntax (Kubernetes docs,
"Labels and Selectors": at most 63 characters, empty or beginning and ending
with an alphanumeric, with `-`, `_`, `.` and alphanumerics between). Values are
sanitized to that. Verdicts that are unknown (None) are left out, never
guessed: a node without `virtprobe.io/kvm.usable` means "could not tell".
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from virtprobe import __version__
from virtprobe.detection.model import DetectResult

PREFIX = "virtprobe.io/"
MAX_VALUE_LEN = 63
VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# Kubernetes label name (the part after the prefix): same syntax, but never empty.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$")

_BAD_CHARS = re.compile(r"[^-A-Za-z0-9_.]+")
_EDGE = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


def is_valid_value(value: str) -> bool:
    return len(value) <= MAX_VALUE_LEN and VALUE_RE.match(value) is not None


def sanitize_value(raw: str) -> str | None:
    """raw as a valid label value ("KVM Intel (r)" -> "KVM-Intel-r"), or None if nothing valid is left."""
    value = _EDGE.sub("", _BAD_CHARS.sub("-", raw.strip()))
    value = _EDGE.sub("", value[:MAX_VALUE_LEN])
    return value or None


def _value(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return sanitize_value(str(raw))


def labels(result: DetectResult) -> dict[str, str]:
    """The labels for one node, name -> value; unknown verdicts are absent."""
    # A /dev/kvm this reader could not open (a pod given it by hostPath only, which the
    # device cgroup still denies; a user outside the kvm group) says nothing about
    # whether the node can run guests: leave kvm.usable out rather than say false.
    usable = None if result.kvm.openable is False else result.kvm.usable
    cvm = getattr(result, "cvm", None)  # the cvm section is newer than this renderer's first version
    raw: list[tuple[str, Any]] = [
        ("hypervisor", result.hypervisor.id),
        ("hypervisor.role", result.hypervisor.role),
        ("vmm", result.hypervisor.vmm),
        ("cpu.virt", result.cpu.virt_tech),
        ("cpu.virt-disabled-in-firmware", result.cpu.disabled_in_firmware),
        ("kvm.present", result.kvm.device_present),
        ("kvm.usable", usable),
        ("kvm.module", result.kvm.module),
        ("kvm.nested", result.kvm.nested),
        ("cvm", getattr(cvm, "id", None)),
        ("cloud", result.cloud.id),
        ("cloud.instance-type", result.cloud.instance_type),
        ("cloud.bare-metal", result.cloud.bare_metal),
        ("platform", result.platform.id),
        ("container", result.container.id),
        ("container.orchestrator", result.container.orchestrator),
        ("cgroup.version", result.container.cgroup_version),
        ("wsl", result.wsl.id),
        ("wsl.version", result.wsl.version or None),
        ("version", __version__),
    ]
    out: dict[str, str] = {}
    for name, value in raw:
        shown = _value(value)
        if shown is not None:
            out[PREFIX + name] = shown
    return out


def rfc3339(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_nfd(result: DetectResult, expires_at: _dt.datetime | None = None) -> str:
    """The feature-file text; with expires_at, the `# +expiry-time=` directive comes first."""
    lines = []
    if expires_at is not None:
        lines.append(f"# +expiry-time={rfc3339(expires_at)}")
    source = " ".join(result.host.source.split())  # one comment line, whatever the mount path holds
    lines.append(f"# written by virtprobe {__version__} (virtprobe detect --format nfd) from {source}")
    lines.extend(f"{name}={value}" for name, value in sorted(labels(result).items()))
    return "\n".join(lines) + "\n"
