"""The platform: what manages this VM or container, where on-machine evidence shows it.

The rules are one table (detection/tables/platforms.py): CI runners from their documented
variables (read through the source's mapping, and kept only as derived facts), desktop VM
managers from their kernels, files and mounts, LXD and Incus from their agents' devices,
VM managers from the SMBIOS strings they write, Proxmox VE from its kernel, and WSL from the
WSL verdict. The first rule that matches decides; the others are evidence rows.

`none` when the sources were read (the kernel release or DMI) and named nothing; `null` when
there was nothing to read (on Windows and macOS only the CI variables are read: null unless
one names a runner).
"""

from __future__ import annotations

from virtprobe.detection.hv_readers import dmi_text, read_dmi
from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    SUPPORTING,
    UNKNOWN,
    Evidence,
    PlatformResult,
    WslResult,
)
from virtprobe.detection.tables import platforms as T
from virtprobe.machine.source import Source

TOPIC = "platform"


def mount_points(mountinfo: str) -> str:
    """The mount points of /proc/self/mountinfo (field 5), space-separated (pure)."""
    return " ".join(f[4] for f in (line.split() for line in mountinfo.splitlines()) if len(f) > 4)


def read_env_facts(src: Source) -> dict[str, str]:
    return {f"env:{name}": src.env[name] for name in T.ENV if name in src.env}


def read_platform_facts(src: Source) -> tuple[dict[str, str], dict[str, str], bool]:
    """(source -> value, source -> path shown, whether the kernel release or DMI was readable)."""
    facts = read_env_facts(src)
    paths = {k: k.replace("env:", "env ") for k in facts}
    osrel = src.read("proc/sys/kernel/osrelease", limit=256)
    if osrel.text is not None:
        facts["osrelease"], paths["osrelease"] = osrel.text.strip(), osrel.path
    dmi = read_dmi(src)
    for name, r in dmi.items():
        text = dmi_text(r)
        if text is not None:
            facts[f"dmi:{name}"], paths[f"dmi:{name}"] = text, r.path
    for rel in T.FILES:
        if src.exists(rel):
            facts[f"file:{rel}"], paths[f"file:{rel}"] = "exists", src.path(rel)
    mi = src.read("proc/self/mountinfo", limit=1 << 20)
    if mi.text is not None:
        facts["mount"], paths["mount"] = mount_points(mi.text), f"{mi.path}: mount points"
    comm = src.read("proc/1/comm", limit=256)
    if comm.text is not None:
        facts["pid1"], paths["pid1"] = comm.text.strip(), comm.path
    readable = osrel.text is not None or any(r.ok for r in dmi.values())
    return facts, paths, readable


def decide_platform(
    hits: list[tuple[T.PlatformRule, str]], wsl: WslResult | None, readable: bool
) -> tuple[str | None, str | None, str]:
    """(platform id, what it manages, note) from the matches, in table order, then WSL (pure)."""
    if hits:
        rule = hits[0][0]
        return rule.platform, rule.kind, rule.cite
    if wsl is not None and wsl.version in (1, 2):
        return "wsl", T.VM if wsl.version == 2 else T.CONTAINER, f"WSL {wsl.version} (the wsl verdict)"
    if readable:
        return NONE, None, "no CI runner's variables, no VM manager's or container manager's trail"
    return None, None, "nothing to read: no kernel release, no DMI"


def probe_platform(src: Source, wsl: WslResult | None = None) -> tuple[PlatformResult, list[Evidence]]:
    """Never raises."""
    facts, paths, readable = read_platform_facts(src)
    hits = T.match_rules(facts)
    pid, kind, note = decide_platform(hits, wsl, readable)
    ev: list[Evidence] = []
    for i, (rule, value) in enumerate(hits):
        weight = DECISIVE if i == 0 else SUPPORTING if rule.platform == pid else CONSIDERED
        shown = value if not rule.source.startswith("mount") else rule.pattern
        extra = "" if weight != CONSIDERED else f"; {pid} comes first"
        ev.append(Evidence(TOPIC, paths.get(rule.source, rule.source), shown, weight, rule.platform, rule.cite + extra))
    if not hits and pid == "wsl":
        ev.append(Evidence(TOPIC, "verdict: wsl", f"WSL {wsl.version if wsl else ''}", DECISIVE, "wsl", note))
    elif pid == NONE:
        ev.append(Evidence(TOPIC, paths.get("osrelease", "/proc/sys/kernel/osrelease"), facts.get("osrelease", ""),
                           DECISIVE, NONE, note))
    elif pid is None:
        ev.append(Evidence(TOPIC, "verdict: platform", "", UNKNOWN, None, note))
    return PlatformResult(id=pid, kind=kind), ev


def probe_platform_env_only(src: Source) -> tuple[PlatformResult, list[Evidence]]:
    """Windows and macOS: only the CI runners' variables are read."""
    hits = T.match_rules(read_env_facts(src))
    if hits:
        rule, value = hits[0]
        ev = [Evidence(TOPIC, rule.source.replace("env:", "env "), value, DECISIVE, rule.platform, rule.cite)]
        return PlatformResult(id=rule.platform, kind=rule.kind), ev
    why = f"on {src.platform} only CI runners' variables are read, and none is set"
    return PlatformResult(id=None), [Evidence(TOPIC, "verdict: platform", "", UNKNOWN, None, why)]
