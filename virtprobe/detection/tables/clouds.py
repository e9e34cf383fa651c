"""The cloud rules: one table with cloud-init ds-identify's breadth, read by every platform's probe.

Each rule says where to look, what to match, which cloud it names and where the rule comes
from. "ds-identify" is /usr/lib/cloud-init/ds-identify of Debian 12's cloud-init 22.4.2 (its
`dscheck_*` functions); "cloud-init" alone means a datasource module or a newer ds-identify.

Sources:
- `dmi:FILE`: /sys/class/dmi/id/FILE (Windows: System Manufacturer is sys_vendor, System
  Model is product_name);
- `derived:PATH`: a fact derived from an identifier that is read live but never stored
  (DMI product_uuid and product_serial, /sys/hypervisor/uuid, /proc/cmdline): the snapshot
  keeps only the derived value (derive_prefix(), cmdline_tokens());
- `file:PATH`: a provider's marker file exists; `label:NAME`: /dev/disk/by-label/NAME exists.

A rule names a cloud only on a guest (`needs`): "vm" needs VM evidence (the hypervisor
verdict names one), "guest" accepts a container too. `metal` rules name the product of a
cloud's bare-metal instance type and need no VM evidence. A vendor's name on physical
hardware (a Chromebook says "Google", Hetzner's dedicated servers "Hetzner", Oracle and Sun
servers "Oracle Corporation", a Surface "Microsoft Corporation", Nutanix NX hardware
"Nutanix") is not a cloud. The first rule that matches names the cloud, so specific rules
(an asset tag, a vendor) stand before generic ones (an identifier prefix): ds-identify's
order takes a Hetzner VM whose UUID starts with "ec2" for AWS; this table does not.
"""

from __future__ import annotations

from virtprobe.lean_typing import NamedTuple

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"

EQ, PREFIX, SUFFIX, CONTAINS, EXISTS = "eq", "prefix", "suffix", "contains", "exists"
VM, GUEST = "vm", "guest"
# CloudRule.metal: "" needs a guest; MAY_METAL: the cloud's own product, on its VMs and its
# bare-metal instances alike; IS_METAL: the product of a bare-metal instance type.
MAY_METAL, IS_METAL = "may", "is"


class CloudRule(NamedTuple):
    source: str  # "dmi:sys_vendor", "derived:sys/class/dmi/id/product_uuid", "file:etc/vultr", "label:CONTEXT"
    match: str  # EQ | PREFIX | SUFFIX | CONTAINS | EXISTS
    pattern: str
    cloud: str
    cite: str
    nocase: bool = False  # case-insensitive, where the source compares so
    metal: str = ""  # "" | MAY_METAL | IS_METAL: see above
    also: tuple[str, str, str] | None = None  # a second (source, match, pattern) that must match too
    needs: str = VM  # VM | GUEST
    hypervisor: str | None = None  # only under this hypervisor (IBM Cloud's rules are Xen's)


UUID = "derived:sys/class/dmi/id/product_uuid"
SERIAL = "derived:sys/class/dmi/id/product_serial"
HV_UUID = "derived:sys/hypervisor/uuid"
CMDLINE = "derived:proc/cmdline"

RULES: tuple[CloudRule, ...] = (
    # --- asset tags: a provider writes them into its own guests' SMBIOS type 3 ---
    CloudRule("dmi:chassis_asset_tag", EQ, AZURE_ASSET_TAG, "azure", "ds-identify dscheck_Azure"),
    # OCI writes it on VMs and on bare-metal instances alike (ds-identify dscheck_Oracle needs nothing else).
    CloudRule("dmi:chassis_asset_tag", EQ, "OracleCloud.com", "oracle", "ds-identify dscheck_Oracle", metal=MAY_METAL),
    CloudRule("dmi:chassis_asset_tag", EQ, "HUAWEICLOUD", "huawei", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:chassis_asset_tag", EQ, "Samsung Cloud Platform", "samsung", "cloud-init dscheck_OpenStack (23.x)"),
    CloudRule("dmi:chassis_asset_tag", EQ, "OpenTelekomCloud", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:chassis_asset_tag", EQ, "SAP CCloud VM", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:chassis_asset_tag", EQ, "OpenStack Nova", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:chassis_asset_tag", EQ, "OpenStack Compute", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:chassis_asset_tag", SUFFIX, ".zstack.io", "zstack", "ds-identify ec2_identify_platform"),
    # --- vendor and product strings ---
    # EC2 metal: sys_vendor "Amazon EC2", product_name the instance type (AWS "Identify EC2 Linux instances").
    CloudRule("dmi:sys_vendor", PREFIX, "Amazon EC2", "amazon", "AWS docs; metal instance types end in .metal",
              metal=IS_METAL, also=("dmi:product_name", CONTAINS, ".metal")),
    CloudRule("dmi:sys_vendor", PREFIX, "Amazon EC2", "amazon", "AWS 'Identify EC2 Linux instances' (Nitro)"),
    CloudRule("dmi:bios_vendor", PREFIX, "Amazon EC2", "amazon", "AWS 'Identify EC2 Linux instances' (Nitro)"),
    CloudRule("dmi:bios_version", CONTAINS, "amazon", "amazon", "virt-what (Xen-era EC2: 'Version: 4.2.amazon')",
              nocase=True),
    CloudRule("dmi:product_version", CONTAINS, "amazon", "amazon", "cloud-init DataSourceEc2 (Xen-era EC2)",
              nocase=True),
    # GCE VMs and GCE bare-metal instances say product "Google Compute Engine" (issue 15); a Chromebook
    # says sys_vendor "Google" with its own product and bios_vendor "coreboot", which no rule here matches.
    CloudRule("dmi:product_name", EQ, "Google Compute Engine", "google", "ds-identify dscheck_GCE", metal=MAY_METAL),
    CloudRule("dmi:bios_vendor", EQ, "Google", "google", "GCE's firmware (cloud-init DataSourceGCE)"),
    CloudRule(SERIAL, EQ, "googlecloud", "google", "ds-identify dscheck_GCE (serial GoogleCloud-*)"),
    CloudRule("dmi:product_name", EQ, "Alibaba Cloud ECS", "alibaba", "ds-identify dscheck_AliYun"),
    CloudRule("dmi:sys_vendor", EQ, "Alibaba Cloud", "alibaba", "virt-what 'Manufacturer: Alibaba'; cloud-init AliYun"),
    CloudRule("dmi:sys_vendor", EQ, "DigitalOcean", "digitalocean", "ds-identify dscheck_DigitalOcean"),
    CloudRule("dmi:bios_vendor", EQ, "DigitalOcean", "digitalocean", "cloud-init DataSourceDigitalOcean"),
    # Hetzner Cloud VMs: "Hetzner" / "vServer"; Hetzner's dedicated servers say "Hetzner" on physical boards.
    CloudRule("dmi:sys_vendor", EQ, "Hetzner", "hetzner", "ds-identify dscheck_Hetzner (VMs: product vServer)"),
    CloudRule("dmi:product_name", EQ, "OpenStack Nova", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:product_name", EQ, "OpenStack Compute", "openstack", "ds-identify dscheck_OpenStack"),
    CloudRule("dmi:sys_vendor", PREFIX, "OpenStack", "openstack", "systemd dmi_vendor_table ('OpenStack' is KVM)"),
    CloudRule("dmi:product_name", PREFIX, "Exoscale", "exoscale", "ds-identify dscheck_Exoscale"),
    CloudRule("dmi:sys_vendor", EQ, "Scaleway", "scaleway", "ds-identify dscheck_Scaleway"),
    CloudRule("dmi:sys_vendor", EQ, "UpCloud", "upcloud", "ds-identify dscheck_UpCloud"),
    CloudRule("dmi:sys_vendor", EQ, "Vultr", "vultr", "ds-identify dscheck_Vultr"),
    CloudRule("dmi:sys_vendor", EQ, "Linode", "akamai", "cloud-init DataSourceAkamai"),
    CloudRule("dmi:sys_vendor", EQ, "Akamai", "akamai", "cloud-init DataSourceAkamai"),
    CloudRule("dmi:product_name", EQ, "CloudSigma", "cloudsigma", "ds-identify dscheck_CloudSigma"),
    CloudRule("dmi:product_name", PREFIX, "CloudStack", "cloudstack", "ds-identify dscheck_CloudStack"),
    CloudRule("dmi:product_name", PREFIX, "SmartDC", "smartos", "ds-identify dscheck_SmartOS (Joyent Triton)"),
    CloudRule("dmi:sys_vendor", EQ, "NWCS", "nwcs", "ds-identify dscheck_NWCS"),
    CloudRule("dmi:sys_vendor", EQ, "3DS Outscale", "outscale", "ds-identify ec2_identify_platform",
              also=("dmi:product_name", EQ, "3DS Outscale VM")),
    CloudRule("dmi:sys_vendor", EQ, "e24cloud", "e24cloud", "ds-identify ec2_identify_platform"),
    CloudRule(SERIAL, EQ, "brightbox", "brightbox", "ds-identify ec2_identify_platform (serial *.brightbox.com)"),
    CloudRule("dmi:product_name", EQ, "CloudCIX", "cloudcix", "cloud-init DataSourceCloudCIX (24.x)"),
    CloudRule("dmi:board_name", EQ, "LXD", "lxd", "ds-identify dscheck_LXD (a KVM guest of LXD)"),
    # --- kernel command line and providers' marker files ---
    CloudRule(CMDLINE, CONTAINS, "scaleway", "scaleway", "ds-identify dscheck_Scaleway"),
    CloudRule("file:var/run/scaleway", EXISTS, "", "scaleway", "ds-identify dscheck_Scaleway"),
    CloudRule(CMDLINE, CONTAINS, "vultr", "vultr", "ds-identify dscheck_Vultr"),
    CloudRule("file:etc/vultr", EXISTS, "", "vultr", "ds-identify dscheck_Vultr"),
    CloudRule("file:dev/lxd/sock", EXISTS, "", "lxd", "ds-identify dscheck_LXD (lxd-agent's socket)", needs=GUEST),
    CloudRule("file:var/lib/cloud/data/seed/bigstep/url", EXISTS, "", "bigstep", "ds-identify dscheck_Bigstep"),
    CloudRule("label:CLOUDMD", EXISTS, "", "rbxcloud", "ds-identify dscheck_RbxCloud"),
    CloudRule("label:cloudmd", EXISTS, "", "rbxcloud", "ds-identify dscheck_RbxCloud"),
    CloudRule("label:CONTEXT", EXISTS, "", "opennebula", "ds-identify dscheck_OpenNebula"),
    CloudRule("label:METADATA", EXISTS, "", "ibm", "ds-identify is_ibm_cloud (Xen guests)", hypervisor="xen"),
    CloudRule("label:metadata", EXISTS, "", "ibm", "ds-identify is_ibm_cloud (Xen guests)", hypervisor="xen"),
    CloudRule("file:root/provisioningConfiguration.cfg", EXISTS, "", "ibm", "ds-identify is_ibm_provisioning",
              hypervisor="xen"),
    # --- identifier prefixes, last: a random UUID starts with "ec2" once in 4096 ---
    CloudRule(HV_UUID, EQ, "ec2", "amazon", "ds-identify ec2_identify_platform (/sys/hypervisor/uuid ec2*)"),
    CloudRule(UUID, EQ, "ec2", "amazon", "ds-identify ec2_identify_platform (UUID and serial ec2*, either byte order)",
              also=(SERIAL, EQ, "ec2")),
)

# Clouds that ds-identify knows from on-machine data and this table cannot name, and why.
NOT_IDENTIFIED = {
    "tilaa": "no on-machine string of Tilaa's is documented in cloud-init 22.4.2 or virt-what 1.25",
}

# The only /proc/cmdline tokens a rule reads (whole words, as ds-identify's `*\ scaleway\ *`).
CMDLINE_TOKENS = ("scaleway", "vultr")
# Every file and label the rules read, for capture.PATHS.
MARKER_FILES = tuple(r.source.removeprefix("file:") for r in RULES if r.source.startswith("file:"))
LABELS = tuple(r.source.removeprefix("label:") for r in RULES if r.source.startswith("label:"))


def _ec2_uuid(text: str) -> bool:
    """An EC2 UUID: "ec2" first in either byte order of the first field (cloud-init identify_aws)."""
    u = text.strip().lower()
    if u.startswith("ec2"):
        return True
    head = u[:8]
    return len(head) == 8 and (head[6:8] + head[4:6]).startswith("ec2")


def derive_prefix(text: str) -> str:
    """The one fact a snapshot keeps of a UUID or serial: "ec2", "googlecloud", "brightbox", or ""."""
    t = text.strip()
    if _ec2_uuid(t):
        return "ec2"
    if t.startswith("GoogleCloud-"):
        return "googlecloud"
    if t.endswith(".brightbox.com"):
        return "brightbox"
    return ""


def cmdline_tokens(text: str) -> str:
    """The kernel command-line words a rule reads, and nothing else (no root=UUID=..., no addresses)."""
    words = set(text.split())
    return " ".join(t for t in CMDLINE_TOKENS if t in words)


def match(kind: str, pattern: str, value: str, nocase: bool = False) -> bool:
    if nocase:
        value, pattern = value.lower(), pattern.lower()
    if kind == EQ:
        return value == pattern
    if kind == PREFIX:
        return value.startswith(pattern)
    if kind == SUFFIX:
        return value.endswith(pattern)
    if kind == CONTAINS:
        return pattern in value
    return True


class CloudHit(NamedTuple):
    rule: CloudRule
    value: str  # what the source said (a derived fact for derived sources)


def match_rules(facts: dict[str, str]) -> list[CloudHit]:
    """Every rule whose source(s) match `facts` (source -> value; a present key of an EXISTS source
    means the file exists), in table order. Pure: the gating on VM evidence is the decision's."""
    hits: list[CloudHit] = []
    for rule in RULES:
        value = facts.get(rule.source)
        if value is None or (rule.match != EXISTS and not value):
            continue
        if not _matches(rule.match, rule.pattern, value, rule):
            continue
        if rule.also is not None:
            other = facts.get(rule.also[0])
            if other is None or not match(rule.also[1], rule.also[2], other, rule.nocase):
                continue
        hits.append(CloudHit(rule, value))
    return hits


def _matches(kind: str, pattern: str, value: str, rule: CloudRule) -> bool:
    if rule.source == CMDLINE:
        return pattern in value.split()
    return match(kind, pattern, value, rule.nocase)
