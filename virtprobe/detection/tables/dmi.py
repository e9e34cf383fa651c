"""DMI/SMBIOS strings that name a hypervisor or a VMM, and macOS hw.model prefixes: one table for every platform.

Linux reads them from /sys/class/dmi/id; Windows from systeminfo/wmic (System Manufacturer
is sys_vendor, System Model is product_name); macOS has hw.model instead. `dmi_hypervisor()`
is the one matcher all of them call.
"""

from __future__ import annotations

from virtprobe.lean_typing import NamedTuple

# systemd src/basic/virt.c dmi_vendor_table[]: a prefix of product_name, sys_vendor,
# board_vendor, bios_vendor or product_version (case-sensitive, as systemd compares).
VENDORS: tuple[tuple[str, str], ...] = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
)
# The files systemd matches VENDORS against (detect_vm_dmi_vendor()).
VENDOR_FILES = ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version")

# Whole product names that name a hypervisor where the vendor string does not (exact match).
# (product_name, the sys_vendor values it needs or () for any, hypervisor id, vmm, source)
PRODUCTS: tuple[tuple[str, tuple[str, ...], str, str | None, str], ...] = (
    # Hyper-V's firmware (and Azure's): "Microsoft Corporation" / "Virtual Machine"; virt-what checks the
    # pair; a Surface says "Microsoft Corporation" / "Surface ...", so the product decides.
    ("Virtual Machine", ("Microsoft Corporation", "Microsoft", ""), "microsoft", "hyper-v", "Hyper-V's firmware"),
    # Xen's hvmloader SMBIOS type 1 product (tools/firmware/hvmloader/smbios.c "HVM domU").
    ("HVM domU", (), "xen", None, "Xen hvmloader's SMBIOS product"),
    # Apache CloudStack's KVM agent writes this SMBIOS product (cloud-init ds-identify dscheck_CloudStack
    # matches "CloudStack*").
    ("CloudStack KVM Hypervisor", (), "kvm", "qemu", "Apache CloudStack's KVM guests"),
    # Nutanix AHV is KVM: its guests say "Nutanix" / "AHV" (virt-what matches "Manufacturer: Nutanix";
    # Nutanix NX hardware says "Nutanix" / "NX-...", so only the product AHV counts here).
    ("AHV", ("Nutanix",), "kvm", "qemu", "Nutanix AHV (KVM)"),
    # oVirt and RHV write these (virt-what: "Manufacturer: oVirt", "Product Name: RHEV Hypervisor").
    ("oVirt Node", ("oVirt",), "kvm", "qemu", "oVirt (KVM)"),
    ("RHEV Hypervisor", (), "kvm", "qemu", "Red Hat Virtualization (KVM)"),
)

# DMI strings naming the VMM (prefix).
VMM: tuple[tuple[str, str], ...] = (
    ("QEMU", "qemu"),
    ("Bochs", "qemu"),  # SeaBIOS's default SMBIOS strings (CONFIG_APPNAME "Bochs") on QEMU
    ("Cloud Hypervisor", "cloud-hypervisor"),
    ("cloud-hypervisor", "cloud-hypervisor"),
    ("innotek GmbH", "virtualbox"),
    ("VirtualBox", "virtualbox"),
    ("VMware", "vmware"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
)

# macOS hw.model prefixes of VM firmware -> hypervisor ids (Apple: "VirtualMac2,1" in a
# Virtualization.framework guest; the others as their firmware names the model).
MAC_MODELS: tuple[tuple[str, str], ...] = (
    ("VirtualMac", "apple"),
    ("VMware", "vmware"),
    ("Parallels", "parallels"),
    ("VirtualBox", "oracle"),
)

# Every DMI file the hypervisor and cloud readers look at.
FILES = (
    "product_name",
    "sys_vendor",
    "board_vendor",
    "board_name",
    "bios_vendor",
    "product_version",
    "bios_version",
    "chassis_vendor",
    "chassis_asset_tag",
    "chassis_type",
)

# SMBIOS chassis types of machines nobody virtualizes (DSP0134 7.4.1): laptops, notebooks,
# hand-helds, tablets, convertibles, detachables. A VM's firmware says "Other" (1) or "Desktop" (3).
PORTABLE_CHASSIS = frozenset({"8", "9", "10", "11", "14", "30", "31", "32"})


class DmiHit(NamedTuple):
    file: str
    value: str
    id: str | None  # the hypervisor it names
    vmm: str | None
    note: str = ""


def vendor_id(value: str) -> str | None:
    for prefix, hv in VENDORS:
        if value.startswith(prefix):
            return hv
    return None


def vmm_id(value: str) -> str | None:
    for prefix, vmm in VMM:
        if value.startswith(prefix):
            return vmm
    return None


def product_form(product: str, vendor: str) -> tuple[str, str | None, str] | None:
    """(hypervisor id, vmm, source) for a whole product name that names a hypervisor, or None."""
    for name, vendors, hv, vmm, what in PRODUCTS:
        if product == name and (not vendors or vendor in vendors):
            return hv, vmm, what
    return None


def dmi_hypervisor(values: dict[str, str]) -> list[DmiHit]:
    """Every DMI value that names a hypervisor or a VMM, in FILES order (pure; values stripped)."""
    hits: list[DmiHit] = []
    vendor = values.get("sys_vendor", "")
    product = values.get("product_name", "")
    form = product_form(product, vendor) if product else None
    for name in FILES:
        value = values.get(name) or ""
        if not value:
            continue
        if name == "product_name" and form is not None:
            hits.append(DmiHit(name, value, form[0], form[1], form[2]))
            continue
        hv = vendor_id(value) if name in VENDOR_FILES else None
        if hv is None and name == "sys_vendor" and value.startswith("Microsoft Corporation"):
            note = (
                'with product "Virtual Machine": Hyper-V\'s firmware'
                if form
                else f"with product {product!r}: Microsoft hardware (e.g. a Surface) says this too"
            )
            hits.append(DmiHit(name, value, form[0] if form else None, form[1] if form else None, note))
            continue
        vmm = vmm_id(value)
        if hv or vmm:
            hits.append(DmiHit(name, value, hv, vmm))
    return hits


def mac_model_id(model: str) -> str | None:
    for prefix, hv in MAC_MODELS:
        if model.startswith(prefix):
            return hv
    return None
