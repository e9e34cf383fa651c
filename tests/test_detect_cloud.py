"""The cloud probe: one rule table (tables/clouds.py), gated on the hypervisor verdict; null when there is no DMI."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from virtprobe.detection.cloud import CloudFacts, decide_cloud, probe_cloud
from virtprobe.detection.hypervisor import probe_hypervisor
from virtprobe.detection.model import NONE
from virtprobe.detection.tables import clouds as T
from virtprobe.detection.tables.dmi import VENDORS, dmi_hypervisor
from virtprobe.machine.source import RootSource


def _facts(**dmi: str) -> CloudFacts:
    facts = {f"dmi:{k}": v for k, v in dmi.items()}
    return CloudFacts(facts, {}, True, "", ())


def _decide(
    vm: bool | None, hv: str | None = "kvm", container: bool = False, dmi: Mapping[str, str] | None = None, **more: str
) -> str | None:
    f = _facts(**(dmi or {}), **more)
    return decide_cloud(T.match_rules(f.facts), vm, container, hv, f).id


def test_azure_needs_the_asset_tag() -> None:
    hyperv = {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}
    assert _decide(True, "microsoft", dmi=hyperv) == NONE
    assert _decide(True, "microsoft", dmi=hyperv, chassis_asset_tag=T.AZURE_ASSET_TAG) == "azure"


def test_a_vendor_name_on_physical_hardware_is_not_a_cloud() -> None:
    # Chromebook: sys_vendor Google, coreboot; no rule matches at all.
    assert _decide(False, NONE, sys_vendor="Google", product_name="Eve", bios_vendor="coreboot") == NONE
    assert _decide(None, None, sys_vendor="Google", product_name="Eve", bios_vendor="coreboot") == NONE
    # Hetzner dedicated (ASRock Rack board): the vendor rule matches, but there is no VM.
    assert _decide(False, NONE, sys_vendor="Hetzner", product_name="X470D4U") == NONE
    assert _decide(True, "kvm", sys_vendor="Hetzner", product_name="vServer") == "hetzner"
    # Unknown whether it is a VM: null, unless the chassis is a laptop's.
    assert _decide(None, None, sys_vendor="Hetzner", product_name="X470D4U") is None
    assert _decide(None, None, sys_vendor="DigitalOcean", chassis_type="10") == NONE


def test_bare_metal_products_need_no_vm() -> None:
    assert _decide(False, NONE, sys_vendor="Amazon EC2", product_name="m5d.metal") == "amazon"
    assert _decide(False, NONE, chassis_asset_tag="OracleCloud.com", sys_vendor="Oracle Corporation") == "oracle"
    assert _decide(False, NONE, sys_vendor="Google", product_name="Google Compute Engine") == "google"
    # A non-metal EC2 product on physical hardware is not read as a cloud.
    assert _decide(False, NONE, sys_vendor="Amazon EC2", product_name="m5.large") == NONE


def test_clouds_shown_outside_the_product_name() -> None:
    assert _decide(True, chassis_asset_tag="OpenStack Nova") == "openstack"
    assert _decide(True, chassis_asset_tag="OpenStack Compute") == "openstack"
    assert _decide(True, chassis_asset_tag="Samsung Cloud Platform") == "samsung"
    assert _decide(True, sys_vendor="Alibaba Cloud") == "alibaba"
    assert _decide(True, bios_vendor="DigitalOcean") == "digitalocean"
    assert _decide(True, bios_vendor="Google") == "google"
    assert _decide(True, sys_vendor="OpenStack Foundation", product_name="OpenStack Nova") == "openstack"


def test_derived_identifiers() -> None:
    f = CloudFacts({T.HV_UUID: "ec2"}, {}, False, "not found", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "xen", f).id == "amazon"
    both = {T.UUID: "ec2", T.SERIAL: "ec2"}
    f = CloudFacts(both, {}, True, "", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "kvm", f).id == "amazon"
    # The UUID alone is not enough (1 in 4096 random UUIDs start with ec2), and a vendor rule wins.
    f = CloudFacts({T.UUID: "ec2", "dmi:sys_vendor": "QEMU"}, {}, True, "", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "kvm", f).id == NONE
    f = CloudFacts({**both, "dmi:sys_vendor": "Hetzner"}, {}, True, "", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "kvm", f).id == "hetzner"
    f = CloudFacts({T.SERIAL: "googlecloud"}, {}, True, "", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "kvm", f).id == "google"
    f = CloudFacts({T.CMDLINE: "scaleway"}, {}, True, "", ())
    assert decide_cloud(T.match_rules(f.facts), True, False, "kvm", f).id == "scaleway"


def test_derive_prefix_keeps_only_the_fact() -> None:
    assert T.derive_prefix("EC2E1916-9099-7CAF-FD21-012345ABCDEF\n") == "ec2"
    assert T.derive_prefix("45E12AEC-DCD1-B213-94ED-012345ABCDEF") == "ec2"  # the other byte order
    assert T.derive_prefix("ec2abcde-1111-2222-3333-444455556666") == "ec2"
    assert T.derive_prefix("GoogleCloud-0123456789ABCDEF") == "googlecloud"
    assert T.derive_prefix("srv-abcde.gb1.brightbox.com") == "brightbox"
    assert T.derive_prefix("4c4c4544-0051-3010-8057-b4c04f563232") == ""
    assert T.cmdline_tokens("BOOT_IMAGE=/vmlinuz root=UUID=1234 ro scaleway quiet") == "scaleway"
    assert T.cmdline_tokens("root=/dev/vda1 scalewayx") == ""


def test_matching_is_as_case_sensitive_as_each_rule_says() -> None:
    assert _decide(True, sys_vendor="GOOGLE", product_name="GOOGLE COMPUTE ENGINE") == NONE
    assert _decide(True, sys_vendor="hetzner") == NONE
    assert _decide(True, bios_version="4.2.AMAZON") == "amazon"  # virt-what's form; nocase in the rule


# (DMI file, string) pairs that both tables read: the hypervisor table names the cloud's hypervisor.
SHARED = (
    ("sys_vendor", "Amazon EC2", "amazon"),
    ("bios_vendor", "Amazon EC2", "amazon"),
    ("product_name", "Google Compute Engine", "google"),
    ("sys_vendor", "OpenStack Foundation", "openstack"),
    ("product_name", "OpenStack Nova", "openstack"),
)


def test_hypervisor_and_cloud_tables_agree_on_shared_strings() -> None:
    """A DMI string that names a cloud's own hypervisor in the hypervisor table names that cloud too."""
    for field, value, cloud in SHARED:
        assert any(h.id for h in dmi_hypervisor({field: value})), (field, value)
        assert _decide(True, dmi={field: value}) == cloud, (field, value)
    # And every hypervisor-table prefix that is a cloud's name is in SHARED.
    clouds = {"Amazon EC2", "Google Compute Engine", "OpenStack"}
    assert clouds <= {p for p, _ in VENDORS}
    assert all(any(v.startswith(c) for _, v, _ in SHARED) for c in clouds)


@given(st.dictionaries(st.sampled_from(sorted({r.source for r in T.RULES})), st.text(max_size=40)))
def test_rules_are_total_and_gated(facts: dict[str, str]) -> None:
    f = CloudFacts(facts, {}, True, "", ())
    hits = T.match_rules(facts)
    # Without a VM, only a bare-metal product names a cloud.
    got = decide_cloud(hits, False, False, NONE, f)
    if got.id not in (None, NONE):
        assert got.decisive is not None and got.decisive.rule.metal


def test_no_dmi_is_null_with_a_reason() -> None:
    for scenario in ("partial_snapshot", "firecracker_docker_container", "s390x_zvm"):
        src = RootSource(ROOTS / scenario)
        cloud, ev = probe_cloud(src, probe_hypervisor(src)[0])
        assert cloud.id is None, scenario
        assert any(e.weight == "unknown" and "no DMI" in e.note for e in ev), scenario
