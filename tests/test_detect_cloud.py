"""The cloud probe: DMI rules from cloud-init's ds-identify, and null when there is no DMI."""

from __future__ import annotations

from tests.conftest import ROOTS
from virtprobe.detection.cloud import AZURE_ASSET_TAG, match_cloud, probe_cloud
from virtprobe.machine.source import RootSource


def test_cloud_azure_needs_the_asset_tag() -> None:
    hyperv = {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}
    assert match_cloud(hyperv) == []
    hits = match_cloud({**hyperv, "chassis_asset_tag": AZURE_ASSET_TAG})
    assert [h[2] for h in hits] == ["azure"]


def test_cloud_rules() -> None:
    assert match_cloud({"bios_version": "4.11.amazon"})[0][2] == "amazon"
    assert match_cloud({"product_name": "Google Compute Engine"})[0][2] == "google"
    assert match_cloud({"chassis_asset_tag": "OracleCloud.com"})[0][2] == "oracle"
    assert match_cloud({"product_name": "Alibaba Cloud ECS"})[0][2] == "alibaba"
    assert match_cloud({"sys_vendor": "Dell Inc."}) == []


def test_no_dmi_is_null_with_a_reason() -> None:
    for scenario in ("partial_snapshot", "firecracker_docker_container", "s390x_zvm"):
        cloud, ev = probe_cloud(RootSource(ROOTS / scenario))
        assert cloud.id is None, scenario
        assert any(e.weight == "unknown" and "no DMI" in e.note for e in ev), scenario
