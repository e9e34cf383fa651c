"""The one table of names people read for phases, floor rows and baselines, used by every renderer."""

from __future__ import annotations

from virtprobe.benchmark.result import FLOOR_LISTS, PHASES, Phase, VmBaseline

PHASE_LABELS: dict[Phase, str] = {
    "create_s": "create",
    "start_s": "start (API call)",
    "first_instruction_s": "start → first instruction",
    "first_output_s": "start → first output",
    "run_to_exit_s": "running to exit",
    "remove_s": "remove",
    "cycle_s": "whole cycle",
}

# bench --image-cache: the image load (or pull) before a cold cycle, a phase of its own.
IMAGE_LOAD_LABEL = "load (image into the store)"

# Cheapest first: the order of the floor ladder in every format.
FLOOR_ORDER = ("fork_exec_s", "unshare_s", "crun_s", "runc_s")
FLOOR_LABELS: dict[str, str] = {
    "fork_exec_s": "fork + exec",
    "unshare_s": "unshare into new pid, mount, net, uts, ipc namespaces",
    "crun_s": "crun run (the runtime alone)",
    "runc_s": "runc run (the runtime alone)",
}
ENGINE_START_LABEL = "engine start (API call)"
ENGINE_CYCLE_LABEL = "engine whole cycle"

# The names people read for engine products (benchmark/engine.py PRODUCTS).
PRODUCT_NAMES: dict[str, str] = {
    "docker-engine": "Docker Engine",
    "docker-desktop": "Docker Desktop",
    "podman": "Podman",
    "orbstack": "OrbStack",
    "colima": "Colima",
    "rancher-desktop": "Rancher Desktop",
}

# benchmark/clock.py's verdicts, as every renderer names them.
CLOCK_LABELS: dict[str, str] = {
    "same-kernel": "same kernel (CLOCK_MONOTONIC)",
    "engine-offset": "engine clock offset (CLOCK_REALTIME)",
    "client-only": "its own clock: client-side timings only",
}

# A cycle cut into parts that do not overlap, in the order they happen, so that they stack
# (report/sections/startup.py): the start call is split at the probe's first instruction
# where that clock is allowed, and the rest of the cycle is the logs and the client's own time.
SEGMENT_LABELS: dict[str, str] = {
    "create": PHASE_LABELS["create_s"],
    "first_instruction": PHASE_LABELS["first_instruction_s"],
    "after_first_instruction": "start call, after the first instruction",
    "start_unsplit": "start (API call), not split",
    "run_to_exit": PHASE_LABELS["run_to_exit_s"],
    "remove": PHASE_LABELS["remove_s"],
    "rest": "rest of the cycle (logs, client)",
}

# The memory measures of one idle container (report/sections/memory.py), tables and charts alike.
MEMORY_LABELS: dict[str, str] = {
    "cgroup_usage": "cgroup memory usage",
    "process_pss": "PSS of the per-container process",
    "host_available_drop": "host MemAvailable drop / container",
    "host_kernel_anon_growth": "host kernel+anon growth / container",
}


def memory_label(key: str, process: str | None = None) -> str:
    """A memory measure's name; the per-container process's PSS names the process when known."""
    if key == "process_pss" and process:
        return f"{process} PSS"
    return MEMORY_LABELS[key]


# report/fleet.py HOST_METRICS: each host's medians, as the fleet page names them.
HOST_METRIC_LABELS: dict[str, str] = {
    "create_s": "create",
    "start_s": "start (API call)",
    "startup_s": "startup (to ready)",
    "cycle_s": "whole cycle",
    "memory_bytes": "memory per container",
}

TCG_CAVEAT = "TCG is software emulation: not representative of hardware virtualization"

assert set(PHASE_LABELS) == set(PHASES), "every phase needs a label"
assert set(FLOOR_LABELS) == set(FLOOR_ORDER) == set(FLOOR_LISTS), "every floor row needs a label"


def product_name(product: str | None) -> str:
    return PRODUCT_NAMES.get(product or "", "unknown engine")


def phase_label(phase: Phase) -> str:
    return PHASE_LABELS[phase]


def baseline_name(b: VmBaseline) -> str:
    """A baseline's name that says what it is: "(simulated)", or the accelerator it was measured with."""
    name = b.label or b.name
    if b.simulated and "simulated" not in name.lower():
        name += " (simulated)"
    if not b.simulated and b.accel and b.accel.lower() not in name.lower():
        name += f" [{b.accel}]"
    return name


def baseline_kind(b: VmBaseline) -> str:
    """ "simulated" or "measured here (tcg)": never a bare number without its origin."""
    return "simulated" if b.simulated else f"measured here ({b.accel or '?'})"
