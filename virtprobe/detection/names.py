"""The names people read for each topic's ids: one table per topic, used by every renderer.

An id can mean different things in two topics: `oracle` is VirtualBox as a hypervisor
(systemd-detect-virt's id) and Oracle Cloud as a cloud. So there is no shared table;
`display_name(topic, id)` looks in the topic's own.
"""

from __future__ import annotations

HYPERVISOR_NAMES: dict[str, str] = {
    "kvm": "KVM",
    "qemu": "QEMU",
    "microsoft": "Hyper-V",
    "vmware": "VMware",
    "oracle": "VirtualBox",
    "xen": "Xen",
    "bhyve": "bhyve",
    "parallels": "Parallels",
    "apple": "Apple Virtualization",
    "acrn": "ACRN",
    "qnx": "QNX hypervisor",
    "amazon": "AWS (Nitro)",
    "google": "Google Cloud",
    "zvm": "z/VM",
    "powervm": "PowerVM",
    "uml": "User Mode Linux",
    "nvmm": "NetBSD NVMM",
    "openbsd-vmm": "OpenBSD vmm",
    "intel-kgt": "Intel KGT",
    "bochs": "Bochs",
    "sre": "LMHS SRE",
    "spar": "Unisys s-Par",
    "jailhouse": "Jailhouse",
    "haxm": "Intel HAXM",
    "vm-other": "a VM (hypervisor unnamed)",
}

VMM_NAMES: dict[str, str] = {
    "qemu": "QEMU",
    "firecracker": "Firecracker",
    "cloud-hypervisor": "Cloud Hypervisor",
    "kvmtool": "kvmtool",
    "crosvm": "crosvm",
    "hyper-v": "Hyper-V",
    "virtualbox": "VirtualBox",
    "vmware": "VMware",
    "parallels": "Parallels",
    "bhyve": "bhyve",
    "uml": "User Mode Linux",
}

CLOUD_NAMES: dict[str, str] = {
    "amazon": "AWS",
    "google": "Google Cloud",
    "azure": "Azure",
    "oracle": "Oracle Cloud",
    "oracle-cloud": "Oracle Cloud",
    "alibaba": "Alibaba Cloud",
    "digitalocean": "DigitalOcean",
    "hetzner": "Hetzner Cloud",
    "openstack": "OpenStack",
    "huawei": "Huawei Cloud",
    "exoscale": "Exoscale",
    "scaleway": "Scaleway",
    "upcloud": "UpCloud",
    "vultr": "Vultr",
    "akamai": "Akamai (Linode)",
    "samsung": "Samsung Cloud Platform",
    "zstack": "ZStack",
    "ibm": "IBM Cloud",
    "cloudsigma": "CloudSigma",
    "cloudstack": "Apache CloudStack",
    "opennebula": "OpenNebula",
    "smartos": "Joyent SmartOS / Triton",
    "nwcs": "NWCS",
    "outscale": "3DS Outscale",
    "brightbox": "Brightbox",
    "e24cloud": "e24cloud",
    "cloudcix": "CloudCIX",
    "lxd": "LXD",
    "bigstep": "Bigstep",
    "rbxcloud": "Rackspace RbxCloud",
}

# What manages this VM or container (detection/tables/platforms.py).
PLATFORM_NAMES: dict[str, str] = {
    "github-hosted": "GitHub-hosted runner",
    "github-actions": "GitHub Actions (self-hosted runner)",
    "gitlab-saas": "GitLab.com hosted runner",
    "gitlab-ci": "GitLab CI (self-managed runner)",
    "circleci": "CircleCI",
    "travis-ci": "Travis CI",
    "azure-pipelines": "Azure Pipelines",
    "buildkite": "Buildkite",
    "docker-desktop": "Docker Desktop",
    "orbstack": "OrbStack",
    "rancher-desktop": "Rancher Desktop",
    "podman-machine": "Podman machine",
    "lima": "Lima (or Colima)",
    "apple-container": "Apple container",
    "lxd-vm": "LXD VM",
    "lxd-container": "LXD container",
    "incus-vm": "Incus VM",
    "incus-container": "Incus container",
    "kubevirt": "KubeVirt",
    "nutanix-ahv": "Nutanix AHV",
    "ovirt": "oVirt",
    "rhev": "Red Hat Virtualization",
    "openstack": "OpenStack",
    "cloudstack": "Apache CloudStack",
    "proxmox": "Proxmox VE",
    "wsl": "WSL",
}

CONTAINER_NAMES: dict[str, str] = {
    "docker": "Docker",
    "podman": "Podman",
    "lxc": "LXC",
    "lxc-libvirt": "libvirt LXC",
    "systemd-nspawn": "systemd-nspawn",
    "cri-o": "CRI-O",
    "containerd": "containerd",
    "gvisor": "gVisor",
    "kubernetes": "Kubernetes",
    "openvz": "OpenVZ",
    "wsl": "WSL",
    "proot": "proot",
    "pouch": "Pouch",
    "rkt": "rkt",
    "container-other": "a container (engine unknown)",
}

CPU_TECH_NAMES: dict[str, str] = {"vt-x": "VT-x", "amd-v": "AMD-V"}

CVM_NAMES: dict[str, str] = {
    "sev": "AMD SEV",
    "sev-es": "AMD SEV-ES",
    "sev-snp": "AMD SEV-SNP",
    "tdx": "Intel TDX",
    "protvirt": "IBM Secure Execution",
    "cca": "Arm CCA realm",
}

TOPIC_NAMES: dict[str, dict[str, str]] = {
    "hypervisor": HYPERVISOR_NAMES,
    "vmm": VMM_NAMES,
    "cloud": CLOUD_NAMES,
    "container": CONTAINER_NAMES,
    "orchestrator": CONTAINER_NAMES,
    "cpu": CPU_TECH_NAMES,
    "cvm": CVM_NAMES,
    "platform": PLATFORM_NAMES,
}


def display_name(topic: str, ident: str | None) -> str:
    """The name a person reads for `ident` in `topic`: "unknown" for None, the id itself when unlisted."""
    if ident is None:
        return "unknown"
    return TOPIC_NAMES[topic].get(ident, ident)
