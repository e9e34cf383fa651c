"""What manages this VM or container, from on-machine evidence: one table, first match wins.

Each row: (source, match, pattern, platform id, what it manages, where the string comes from).
Sources: `env:NAME` (the variable's derived fact, machine/envfacts.py), `osrelease`
(/proc/sys/kernel/osrelease), `dmi:FILE`, `file:PATH` (exists), `mount` (a mount point in
/proc/self/mountinfo), `pid1` (/proc/1/comm). Rows stand in priority order: a CI job's runner
first (what a user acts on), then desktop VM managers, LXD/Incus, VM managers seen in DMI, and
the hosts whose kernel names them.
"""

from __future__ import annotations

from virtprobe.lean_typing import NamedTuple

EQ, PREFIX, SUFFIX, CONTAINS, EXISTS = "eq", "prefix", "suffix", "contains", "exists"
CI, VM, CONTAINER, ANY = "ci-runner", "vm", "container", "vm-or-container"


class PlatformRule(NamedTuple):
    source: str
    match: str
    pattern: str
    platform: str
    kind: str  # CI | VM | CONTAINER | ANY: what it manages
    cite: str


RULES: tuple[PlatformRule, ...] = (
    # --- CI runners: their documented variables ---
    PlatformRule("env:RUNNER_ENVIRONMENT", EQ, "github-hosted", "github-hosted", CI,
                 "GitHub Actions: RUNNER_ENVIRONMENT=github-hosted on GitHub's own runners"),
    PlatformRule("env:GITHUB_ACTIONS", EQ, "true", "github-actions", CI, "GitHub Actions: GITHUB_ACTIONS=true"),
    PlatformRule("env:CI_SERVER_HOST", EQ, "gitlab.com", "gitlab-saas", CI,
                 "GitLab CI: CI_SERVER_HOST=gitlab.com (GitLab.com's hosted runners)"),
    PlatformRule("env:GITLAB_CI", EQ, "true", "gitlab-ci", CI, "GitLab CI: GITLAB_CI=true"),
    PlatformRule("env:CIRCLECI", EQ, "true", "circleci", CI, "CircleCI: CIRCLECI=true"),
    PlatformRule("env:TRAVIS", EQ, "true", "travis-ci", CI, "Travis CI: TRAVIS=true"),
    PlatformRule("env:TF_BUILD", EQ, "True", "azure-pipelines", CI, "Azure Pipelines: TF_BUILD=True"),
    PlatformRule("env:TF_BUILD", EQ, "true", "azure-pipelines", CI, "Azure Pipelines: TF_BUILD=True"),
    PlatformRule("env:BUILDKITE", EQ, "true", "buildkite", CI, "Buildkite: BUILDKITE=true"),
    # --- desktop VM managers ---
    PlatformRule("osrelease", CONTAINS, "linuxkit", "docker-desktop", VM,
                 "Docker Desktop's VM runs a LinuxKit kernel (osrelease ends in -linuxkit)"),
    PlatformRule("env:WSL_DISTRO_NAME", EQ, "docker-desktop", "docker-desktop", VM,
                 "Docker Desktop's WSL 2 distribution is named docker-desktop"),
    PlatformRule("osrelease", CONTAINS, "orbstack", "orbstack", VM, "OrbStack's kernel (osrelease ...-orbstack-...)"),
    PlatformRule("env:WSL_DISTRO_NAME", EQ, "rancher-desktop", "rancher-desktop", VM,
                 "Rancher Desktop's WSL 2 distribution is named rancher-desktop"),
    PlatformRule("file:etc/containers/podman-machine", EXISTS, "", "podman-machine", VM,
                 "podman machine images carry /etc/containers/podman-machine"),
    PlatformRule("env:WSL_DISTRO_NAME", EQ, "podman-machine-default", "podman-machine", VM,
                 "podman machine on Windows: the WSL 2 distribution podman-machine-default"),
    PlatformRule("mount", CONTAINS, "/mnt/lima-cidata", "lima", VM,
                 "Lima (and Colima, which runs Lima) mounts its cloud-init seed at /mnt/lima-cidata"),
    PlatformRule("pid1", EQ, "vminitd", "apple-container", VM,
                 "Apple's container tool runs each container in a VM whose PID 1 is vminitd"),
    # --- LXD and Incus: a VM has the agent's virtio port, a container the guest API socket ---
    PlatformRule("file:dev/virtio-ports/org.linuxcontainers.lxd", EXISTS, "", "lxd-vm", VM,
                 "LXD's VM agent port (lxd-agent)"),
    PlatformRule("dmi:board_name", EQ, "LXD", "lxd-vm", VM, "ds-identify dscheck_LXD: board_name LXD"),
    PlatformRule("file:dev/virtio-ports/org.linuxcontainers.incus", EXISTS, "", "incus-vm", VM,
                 "Incus's VM agent port (incus-agent)"),
    PlatformRule("file:dev/lxd/sock", EXISTS, "", "lxd-container", CONTAINER, "LXD's /dev/lxd guest API socket"),
    PlatformRule("file:dev/incus/sock", EXISTS, "", "incus-container", CONTAINER, "Incus's /dev/incus socket"),
    # --- VM managers that write their name into the guest's SMBIOS ---
    PlatformRule("dmi:sys_vendor", PREFIX, "KubeVirt", "kubevirt", VM, "KubeVirt's default SMBIOS manufacturer"),
    PlatformRule("dmi:product_name", EQ, "AHV", "nutanix-ahv", VM, "Nutanix AHV guests: Nutanix / AHV"),
    PlatformRule("dmi:sys_vendor", EQ, "oVirt", "ovirt", VM, "oVirt guests (virt-what: Manufacturer: oVirt)"),
    PlatformRule("dmi:product_name", EQ, "RHEV Hypervisor", "rhev", VM, "RHV guests (virt-what)"),
    PlatformRule("dmi:product_name", EQ, "OpenStack Nova", "openstack", VM, "nova's SMBIOS product"),
    PlatformRule("dmi:product_name", EQ, "OpenStack Compute", "openstack", VM, "nova's SMBIOS product"),
    PlatformRule("dmi:chassis_asset_tag", EQ, "OpenStack Nova", "openstack", VM, "ds-identify dscheck_OpenStack"),
    PlatformRule("dmi:chassis_asset_tag", EQ, "OpenStack Compute", "openstack", VM, "ds-identify dscheck_OpenStack"),
    PlatformRule("dmi:sys_vendor", PREFIX, "OpenStack", "openstack", VM, "systemd dmi_vendor_table"),
    PlatformRule("dmi:product_name", EQ, "CloudStack KVM Hypervisor", "cloudstack", VM, "Apache CloudStack's KVM"),
    # --- hosts whose kernel names them: a Proxmox VE host, and its LXC containers (same kernel) ---
    PlatformRule("osrelease", SUFFIX, "-pve", "proxmox", ANY, "Proxmox VE kernels: osrelease ends in -pve"),
)

FILES = tuple(r.source.removeprefix("file:") for r in RULES if r.source.startswith("file:"))
ENV = tuple(sorted({r.source.removeprefix("env:") for r in RULES if r.source.startswith("env:")}))


def match(kind: str, pattern: str, value: str) -> bool:
    if kind == EQ:
        return value == pattern
    if kind == PREFIX:
        return value.startswith(pattern)
    if kind == SUFFIX:
        return value.endswith(pattern)
    if kind == CONTAINS:
        return pattern in value
    return True


def match_rules(facts: dict[str, str]) -> list[tuple[PlatformRule, str]]:
    """Every (rule, value) that matches `facts` (source -> value), in priority order (pure)."""
    out = []
    for rule in RULES:
        value = facts.get(rule.source)
        if value is not None and match(rule.match, rule.pattern, value):
            out.append((rule, value))
    return out
