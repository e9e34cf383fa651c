"""The cloud provider: read every trail the rule table names, then decide with the hypervisor's verdict.

The rules are one table, detection/tables/clouds.py (cloud-init ds-identify's breadth, each
row citing its source). The readers here collect what the table's sources say on this machine:
every DMI string, identifier prefixes derived from the DMI UUID and serial and from
/sys/hypervisor/uuid (read live, never stored: a snapshot keeps only the derived fact), the
kernel command line's known words, providers' marker files and file-system labels.

The decision (docs/detection.md, "Cloud"):
1. The first matching rule whose guest condition holds names the cloud: VM evidence (the
   hypervisor verdict names a hypervisor this machine is a guest of), a container for the
   rules that allow one, or none at all for a bare-metal instance type's own product.
2. Matches without that evidence: on a machine the hypervisor verdict calls bare metal, or
   whose chassis is a laptop or tablet, they are a vendor's name on physical hardware:
   `none`, each row overruled. With the VM question unanswered: `null`, saying so.
3. No match: `none` when DMI was readable, `null` when there was no DMI to read (or, for a
   Hyper-V guest, when the asset tag that tells Azure was not readable).
`bare_metal` is true for a bare-metal instance type (EC2 `.metal`) or a metal rule with the
hypervisor verdict `none`, false for a cloud VM, null when the hypervisor is unknown.
"""

from __future__ import annotations

from virtprobe.detection.hv_readers import dmi_text, read_dmi
from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    CloudResult,
    ContainerResult,
    Evidence,
    HypervisorResult,
)
from virtprobe.detection.tables import clouds as T
from virtprobe.detection.tables.dmi import PORTABLE_CHASSIS
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

TOPIC = "cloud"

# The derived sources and how each is derived from the file it reads.
DERIVED = {
    T.UUID: T.derive_prefix,
    T.SERIAL: T.derive_prefix,
    T.HV_UUID: T.derive_prefix,
    T.CMDLINE: T.cmdline_tokens,
}


class CloudFacts(NamedTuple):
    facts: dict[str, str]  # rule source -> what it said (derived value for derived sources)
    paths: dict[str, str]  # rule source -> the path as the machine names it
    dmi_readable: bool
    dmi_reason: str  # why no DMI could be read
    unread: tuple[str, ...]  # DMI files that could not be read


def read_cloud_facts(src: Source) -> CloudFacts:
    """Every source a rule names, read through `src`; decides nothing."""
    facts: dict[str, str] = {}
    paths: dict[str, str] = {}
    reads = read_dmi(src)
    for name, r in reads.items():
        paths[f"dmi:{name}"] = r.path
        text = dmi_text(r)
        if text is not None:
            facts[f"dmi:{name}"] = text
    unread = tuple(n for n, r in reads.items() if not r.ok)
    dmi_readable = any(r.ok for r in reads.values())
    why = "; ".join(sorted({r.reason or "unreadable" for r in reads.values()})) if not dmi_readable else ""
    for source, derive in DERIVED.items():
        rel = source.removeprefix("derived:")
        paths[source] = src.path(rel)
        got = src.derived(rel, derive)
        if got.ok:
            facts[source] = str(got.value)
    for rel in T.MARKER_FILES:
        if src.exists(rel):
            facts[f"file:{rel}"] = "exists"
            paths[f"file:{rel}"] = src.path(rel)
    labels = src.listdir("dev/disk/by-label") if T.LABELS else None
    for name in T.LABELS:
        if labels and name in labels:
            facts[f"label:{name}"] = "exists"
            paths[f"label:{name}"] = src.path(f"dev/disk/by-label/{name}")
    return CloudFacts(facts, paths, dmi_readable, why, unread)


class Verdict(NamedTuple):
    id: str | None
    bare_metal: bool | None
    decisive: T.CloudHit | None
    note: str


def guest_of(hypervisor: HypervisorResult) -> bool | None:
    """Is this machine a VM guest? From the hypervisor verdict: True, False (bare metal or a host), None."""
    if hypervisor.id is None:
        return None
    return not (hypervisor.id == NONE or hypervisor.role == "host")


def decide_cloud(
    hits: list[T.CloudHit],
    vm: bool | None,
    in_container: bool,
    hypervisor_id: str | None,
    facts: CloudFacts,
) -> Verdict:
    """The rules of the module docstring, in order (pure)."""
    blocked: list[T.CloudHit] = []
    for hit in hits:
        r = hit.rule
        if r.hypervisor is not None and hypervisor_id != r.hypervisor:
            continue
        guest = vm is True or (r.needs == T.GUEST and in_container)
        if r.metal == T.IS_METAL:
            return Verdict(r.cloud, True, hit, "the product is a bare-metal instance type")
        if guest:
            return Verdict(r.cloud, False if vm else None, hit, "")
        if r.metal == T.MAY_METAL:
            metal = True if vm is False else None
            return Verdict(r.cloud, metal, hit, "the cloud's own product: its bare-metal instances say it too")
        blocked.append(hit)
    if blocked:
        names = ", ".join(sorted({h.rule.cloud for h in blocked}))
        chassis = facts.facts.get("dmi:chassis_type", "")
        if vm is False:
            why = f"{names}: a vendor's name on physical hardware (no hypervisor), not a cloud"
            return Verdict(NONE, None, None, why)
        if chassis in PORTABLE_CHASSIS:
            why = f"{names}: a vendor's name on a laptop or tablet (chassis type {chassis}), not a cloud"
            return Verdict(NONE, None, None, why)
        return Verdict(None, None, None, f"{names} named, but whether this is a VM is unknown (a cloud needs one)")
    if not facts.dmi_readable:
        return Verdict(None, None, None, f"no DMI to read: {facts.dmi_reason}")
    if hypervisor_id == "microsoft" and vm and "chassis_asset_tag" in facts.unread:
        why = "a Hyper-V guest: Azure or on-premises Hyper-V, and the asset tag that tells them apart is unreadable"
        return Verdict(None, None, None, why)
    return Verdict(NONE, False if vm else None, None, "no cloud's string, identifier, command-line word or marker")


def _shown(source: str, value: str) -> str:
    """What a row shows: DMI strings verbatim, a derived fact as such (never the identifier)."""
    if source.startswith("derived:"):
        return f"derived: {value}" if value else "derived: no known prefix"
    return value


def evidence(v: Verdict, hits: list[T.CloudHit], facts: CloudFacts, hv: HypervisorResult) -> list[Evidence]:
    ev: list[Evidence] = []
    for hit in hits:
        path = facts.paths.get(hit.rule.source, hit.rule.source)
        value = _shown(hit.rule.source, hit.value)
        cite = f"rule: {hit.rule.cite}"
        if hit is v.decisive:
            ev.append(Evidence(TOPIC, path, value, DECISIVE, hit.rule.cloud, "; ".join(x for x in (cite, v.note) if x)))
        elif v.id not in (None, NONE) and hit.rule.cloud == v.id:
            ev.append(Evidence(TOPIC, path, value, SUPPORTING, hit.rule.cloud, cite))
        elif v.id == NONE:
            ev.append(Evidence(TOPIC, path, value, OVERRULED, hit.rule.cloud, f"{v.note} ({cite})"))
        elif v.id is None:
            ev.append(Evidence(TOPIC, path, value, CONSIDERED, hit.rule.cloud, f"{v.note} ({cite})"))
        else:
            ev.append(Evidence(TOPIC, path, value, OVERRULED, hit.rule.cloud, f"an earlier rule named {v.id}; {cite}"))
    hv_value = f"{hv.id}" + (f" ({hv.role})" if hv.role else "") if hv.id is not None else "unknown"
    if hits:
        w = SUPPORTING if v.id not in (None, NONE) and v.bare_metal is not True else CONSIDERED
        note = "a cloud needs a VM, or a bare-metal instance type's product"
        ev.append(Evidence(TOPIC, "verdict: hypervisor", hv_value, DECISIVE if v.id == NONE else w, None, note))
    if not hits and v.id == NONE:
        keys = [k for k in ("dmi:sys_vendor", "dmi:product_name") if k in facts.facts]
        shown = ", ".join(f"{k[4:]}={facts.facts[k]!r}" for k in keys)
        ev.append(Evidence(TOPIC, facts.paths.get("dmi:sys_vendor", "/sys/class/dmi/id"), shown or "(empty)",
                           DECISIVE, NONE, v.note))
    if v.id is None:
        where = "/sys/class/dmi/id" if not facts.dmi_readable else "verdict: cloud"
        ev.append(Evidence(TOPIC, where, "", UNKNOWN, None, v.note))
    return ev


def probe_cloud(
    src: Source, hypervisor: HypervisorResult, container: ContainerResult | None = None
) -> tuple[CloudResult, list[Evidence]]:
    """The cloud from every trail, gated on the hypervisor verdict. Never raises."""
    facts = read_cloud_facts(src)
    hits = T.match_rules(facts.facts)
    in_container = container is not None and container.id not in (None, NONE)
    v = decide_cloud(hits, guest_of(hypervisor), in_container, hypervisor.id, facts)
    instance_type = None
    if v.id == "amazon" and facts.facts.get("dmi:sys_vendor", "").startswith("Amazon EC2"):
        # On Nitro and metal instances product_name is the instance type (AWS docs).
        instance_type = facts.facts.get("dmi:product_name") or None
    ev = evidence(v, hits, facts, hypervisor)
    if instance_type:
        ev.append(Evidence(TOPIC, facts.paths["dmi:product_name"], instance_type, SUPPORTING, note="instance type"))
    return CloudResult(id=v.id, instance_type=instance_type, bare_metal=v.bare_metal), ev
