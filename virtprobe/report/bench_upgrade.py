"""Upgrading a bench 1.0 document to 1.1 (report/load.py keeps the version history and calls this).

1.0 called every engine Docker and every per-container process the shim, and kept a
host figure below zero as a figure. 1.1 names the engine (environment.engine), the
per-container process (memory.process_name) and keeps a host figure only when it is
measurable; what 1.0 did not record stays unknown here instead of being guessed.
"""

from __future__ import annotations

import re
from typing import Any

from virtprobe.benchmark.engine import CONTAINERD_SHIM, runtime_kind

MIB = 1024 * 1024

# 1.0 reports cited the containerd runtimes study through a virtprobe issue; an issue
# is not a source. The study is the public repository (its results/ folder).
_ISSUE_CITED = re.compile(r",?\s*as cited in virtprobe issue #\d+")
STUDY = "benchmark-containerd-runtimes"
STUDY_CITATION = "(idlab-discover), results/ at github.com/idlab-discover/benchmark-containerd-runtimes"
STUDY_URL = "https://github.com/idlab-discover/benchmark-containerd-runtimes"


def _uncite_issue(text: str) -> str:
    if not _ISSUE_CITED.search(text):
        return text
    replacement = f" {STUDY_CITATION}" if STUDY in text else ""
    return _ISSUE_CITED.sub(replacement, text, count=1).replace(" study (2024) (idlab", " (2024, idlab")


def _baselines(doc: dict[str, Any]) -> None:
    # Before validation: any field may hold any JSON value (a crafted `"baselines": true`).
    vm = doc.get("vm")
    baselines = vm.get("baselines") if isinstance(vm, dict) else None
    for b in baselines if isinstance(baselines, list) else []:
        if not isinstance(b, dict):
            continue
        source = b.get("source")
        if isinstance(source, dict) and isinstance(source.get("citation"), str):
            cited = source["citation"]
            source["citation"] = _uncite_issue(cited)
            if cited != source["citation"] and STUDY in cited and not source.get("url"):
                source["url"] = STUDY_URL
        if isinstance(b.get("notes"), list):
            b["notes"] = [_uncite_issue(n) if isinstance(n, str) else n for n in b["notes"]]


def engine_from_1_0(docker: Any) -> dict[str, Any] | None:
    """1.0's `environment.docker` block as 1.1's `environment.engine`.

    Only Docker reports a containerd version, so a block without one (Podman's
    compatible API, for one) keeps its product unknown rather than being named
    Docker Engine a second time.
    """
    if not isinstance(docker, dict):
        return None
    runtime = docker.get("default_runtime")
    kind = runtime_kind(runtime) if isinstance(runtime, str) else None
    product = "docker-engine" if docker.get("containerd_version") is not None else None
    cgroup = docker.get("cgroup_version")
    return {
        "product": product,
        "product_version": docker.get("engine_version") if product else None,
        "engine_version": docker.get("engine_version"),
        "api_version": docker.get("api_version"),
        "containerd_version": docker.get("containerd_version"),
        "runtime": runtime,
        "runtime_kind": kind,
        # 1.0 recorded the runc Docker ships; it is the runtime's only when that is runc.
        "runtime_version": docker.get("runc_version") if kind == "runc" else None,
        "runtimes": [],
        "container_process": CONTAINERD_SHIM if product else None,
        "container_process_version": None,
        "rootless": None,
        "cgroup_version": cgroup if cgroup in (1, 2) else None,
        "cgroup_driver": docker.get("cgroup_driver"),
        "storage_driver": docker.get("storage_driver"),
        "kernel_version": None,
        "operating_system": None,
        "os_type": None,
        "arch": None,
        "ncpu": None,
        "on_this_machine": None,
        "location_reason": "not recorded: a bench 1.0 report",
    }


def _memory(memory: dict[str, Any], process: str | None) -> None:
    memory["process_pss_bytes"] = memory.pop("shim_pss_bytes", None)
    # 1.0 measured the parent of the container's init and assumed it was the shim.
    memory.setdefault("process_name", process)
    notes = memory.get("notes")
    if not isinstance(notes, list):
        notes = memory["notes"] = []
    for key in ("host_available_drop_bytes_per_container", "host_kernel_anon_growth_bytes_per_container"):
        value = memory.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            # The raw before/after readings stay in host_meminfo_*_bytes.
            memory[key] = None
            notes.append(f"{key}: not measurable on this host (below zero: {value / MIB:.2f} MiB)")


def bench_1_0_to_1_1(doc: dict[str, Any]) -> dict[str, Any]:
    env = doc.get("environment")
    engine = None
    if isinstance(env, dict) and "engine" not in env:
        engine = engine_from_1_0(env.pop("docker", None))
        env["engine"] = engine
    container = doc.get("container")
    if isinstance(container, dict):
        container.setdefault("runtime", engine.get("runtime") if engine else None)
        container.setdefault("runtime_kind", engine.get("runtime_kind") if engine else None)
        container.setdefault("clock", None)  # 1.0 never checked which kernel the probe ran under
        container.setdefault("refused", None)
        memory = container.get("memory")
        if isinstance(memory, dict):
            _memory(memory, engine.get("container_process") if engine else None)
    _baselines(doc)
    doc.setdefault("other_runtimes", [])
    doc.setdefault("function", None)
    return doc
