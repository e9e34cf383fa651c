"""The cloud provider, from the DMI strings its firmware writes (/sys/class/dmi/id).

systemd-detect-virt has no cloud identifiers (only the hypervisor ids "amazon"
and "google"), so these are lowercase provider names. Each rule is one that
cloud-init uses to pick its datasource (tools/ds-identify, `dscheck_*`, and the
datasource modules), or one the provider documents:

| id | DMI rule | source |
| --- | --- | --- |
| amazon | sys_vendor or bios_vendor "Amazon EC2" (Nitro, metal); | AWS "Identify EC2 Linux instances"; |
|  | bios_version / product_version containing "amazon" (Xen era) | cloud-init DataSourceEc2 |
| azure | chassis_asset_tag "7783-7084-3265-9085-8269-3286-77" | ds-identify dscheck_Azure |
| google | product_name "Google Compute Engine", or sys_vendor "Google" | ds-identify dscheck_GCE; GCE docs |
| oracle | chassis_asset_tag "OracleCloud.com" | ds-identify dscheck_Oracle |
| alibaba | product_name "Alibaba Cloud ECS" | ds-identify dscheck_AliYun |
| digitalocean | sys_vendor "DigitalOcean" | ds-identify dscheck_DigitalOcean |
| hetzner | sys_vendor "Hetzner" | ds-identify dscheck_Hetzner |
| openstack | product_name "OpenStack Nova" / "OpenStack Compute"; | ds-identify dscheck_OpenStack |
|  | chassis_asset_tag "OpenTelekomCloud", "SAP CCloud VM" |  |
| huawei | chassis_asset_tag "HUAWEICLOUD" (an OpenStack cloud) | ds-identify dscheck_OpenStack |
| exoscale | product_name starting "Exoscale" | cloud-init DataSourceExoscale |
| scaleway | sys_vendor "Scaleway" | ds-identify dscheck_Scaleway |
| upcloud | sys_vendor "UpCloud" | ds-identify dscheck_UpCloud |
| vultr | sys_vendor "Vultr" | cloud-init sources/helpers/vultr.py |
| akamai | sys_vendor "Linode" or "Akamai" | cloud-init DataSourceAkamai |

Plain Hyper-V also says "Microsoft Corporation" / "Virtual Machine"; only the
asset tag tells Azure apart. "none" means DMI was readable and names no cloud;
None means there is no DMI to read (Firecracker, Xen PV, a container without /sys).
`bare_metal` is True for an EC2 ".metal" product name or a cloud machine with the
CPUID hypervisor bit clear, False when the bit is set.
"""

from __future__ import annotations

from virtprobe.detection.cpu import read_hypervisor_bit
from virtprobe.detection.hv_readers import dmi_text, read_dmi
from virtprobe.detection.model import CONSIDERED, DECISIVE, NONE, SUPPORTING, UNKNOWN, CloudResult, Evidence
from virtprobe.machine.source import Source

TOPIC = "cloud"

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"

# (DMI file, match kind, string, cloud id); kinds: "eq", "prefix", "contains" (case-insensitive).
RULES: tuple[tuple[str, str, str, str], ...] = (
    ("chassis_asset_tag", "eq", AZURE_ASSET_TAG, "azure"),
    ("chassis_asset_tag", "eq", "OracleCloud.com", "oracle"),
    ("chassis_asset_tag", "eq", "HUAWEICLOUD", "huawei"),
    ("chassis_asset_tag", "eq", "OpenTelekomCloud", "openstack"),
    ("chassis_asset_tag", "eq", "SAP CCloud VM", "openstack"),
    ("sys_vendor", "prefix", "Amazon EC2", "amazon"),
    ("bios_vendor", "prefix", "Amazon EC2", "amazon"),
    ("bios_version", "contains", "amazon", "amazon"),
    ("product_version", "contains", "amazon", "amazon"),
    ("product_name", "eq", "Google Compute Engine", "google"),
    ("sys_vendor", "eq", "Google", "google"),
    ("product_name", "eq", "Alibaba Cloud ECS", "alibaba"),
    ("sys_vendor", "eq", "DigitalOcean", "digitalocean"),
    ("sys_vendor", "eq", "Hetzner", "hetzner"),
    ("product_name", "eq", "OpenStack Nova", "openstack"),
    ("product_name", "eq", "OpenStack Compute", "openstack"),
    ("product_name", "prefix", "Exoscale", "exoscale"),
    ("sys_vendor", "eq", "Scaleway", "scaleway"),
    ("sys_vendor", "eq", "UpCloud", "upcloud"),
    ("sys_vendor", "eq", "Vultr", "vultr"),
    ("sys_vendor", "eq", "Linode", "akamai"),
    ("sys_vendor", "eq", "Akamai", "akamai"),
)


def match_rule(kind: str, pattern: str, value: str) -> bool:
    if kind == "eq":
        return value == pattern
    if kind == "prefix":
        return value.startswith(pattern)
    return pattern.lower() in value.lower()


def match_cloud(dmi: dict[str, str]) -> list[tuple[str, str, str]]:
    """Every (file, value, cloud id) that a rule matches, in rule order (pure)."""
    hits = []
    for name, kind, pattern, cloud in RULES:
        value = dmi.get(name)
        if value and match_rule(kind, pattern, value):
            hits.append((name, value, cloud))
    return hits


def probe_cloud(src: Source) -> tuple[CloudResult, list[Evidence]]:
    ev: list[Evidence] = []
    reads = read_dmi(src)
    dmi = {name: text for name, r in reads.items() if (text := dmi_text(r))}
    if not any(r.ok for r in reads.values()):
        why = "; ".join(sorted({r.reason or "unreadable" for r in reads.values()}))
        ev.append(Evidence(TOPIC, src.path("sys/class/dmi/id"), "", UNKNOWN, note=f"no DMI to read: {why}"))
        return CloudResult(id=None), ev
    hits = match_cloud(dmi)
    if not hits:
        shown = ", ".join(f"{k}={dmi[k]!r}" for k in ("sys_vendor", "product_name") if k in dmi)
        ev.append(
            Evidence(
                TOPIC,
                src.path("sys/class/dmi/id"),
                shown or "(empty)",
                DECISIVE,
                NONE,
                "no cloud's DMI strings",
            )
        )
        return CloudResult(id=NONE), ev
    cloud = hits[0][2]
    for i, (name, value, cid) in enumerate(hits):
        weight = DECISIVE if i == 0 else SUPPORTING if cid == cloud else CONSIDERED
        ev.append(Evidence(TOPIC, reads[name].path, value, weight, cid))

    instance_type: str | None = None
    bare_metal: bool | None = None
    hb = read_hypervisor_bit(src)
    bit, bit_src, bit_val = hb.on, hb.source, hb.value
    if cloud == "amazon" and dmi.get("sys_vendor", "").startswith("Amazon EC2"):
        # On Nitro and metal instances product_name is the instance type (AWS docs).
        instance_type = dmi.get("product_name")
        if instance_type:
            ev.append(Evidence(TOPIC, reads["product_name"].path, instance_type, SUPPORTING, note="instance type"))
        if instance_type and instance_type.endswith(".metal"):
            bare_metal = True
    if bare_metal is None and bit is not None:
        bare_metal = not bit
        ev.append(Evidence(TOPIC, bit_src, bit_val, SUPPORTING if bit else DECISIVE, note="bare metal or not"))
    elif bit is not None:
        ev.append(Evidence(TOPIC, bit_src, bit_val, CONSIDERED))
    return CloudResult(id=cloud, instance_type=instance_type, bare_metal=bare_metal), ev
