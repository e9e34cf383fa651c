"""The floor ladder: the same probe started by fork/exec, by unshare, and by runc/crun alone.

It shows where an engine's start time goes: everything above the runtime's own
cost is the engine's machinery, not isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

from virtprobe.benchmark.backend import Progress, no_progress
from virtprobe.benchmark.interrupts import signals_ignored
from virtprobe.benchmark.result import FloorSection


def _time_cmd(argv: list[str], runs: int, cwd: str | None = None) -> tuple[list[float], str | None]:
    """Wall time of `runs` executions of argv; (samples, None) or ([], why it failed).

    One untimed run through subprocess first, to warm caches and to capture
    stderr if the command fails. The timed runs use posix_spawn with output to
    /dev/null, which costs far less than subprocess's pipes and pre-exec work.
    """
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"{argv[0]}: {err}"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        return [], f"{' '.join(argv[:2])} failed (status {proc.returncode}): {lines[-1] if lines else ''}"
    out: list[float] = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            try:
                _, status = os.waitpid(pid, 0)
            except KeyboardInterrupt:
                # Let the runtime finish the probe (it exits at once) and delete its
                # container; killing runc half way would strand its state and cgroup.
                with signals_ignored():
                    os.waitpid(pid, 0)
                raise
            t1 = time.perf_counter_ns()
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                return [], f"{' '.join(argv[:2])} failed (status {code}) during timed runs"
            out.append((t1 - t0) / 1e9)
    finally:
        os.close(devnull)
    return out, None


def _bundle(base: str, elf: bytes, runtime: str) -> tuple[str | None, str | None]:
    """An OCI bundle whose rootfs holds only the probe; config from `<runtime> spec`, then edited."""
    bundle = os.path.join(base, f"bundle-{runtime}")
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(rootfs)
    with open(os.path.join(rootfs, "probe"), "wb") as fh:
        fh.write(elf)
    os.chmod(os.path.join(rootfs, "probe"), 0o755)
    try:
        proc = subprocess.run([runtime, "spec"], cwd=bundle, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{runtime} spec: {err}"
    if proc.returncode != 0:
        return None, f"{runtime} spec failed: {proc.stderr.decode(errors='replace').strip()}"
    path = os.path.join(bundle, "config.json")
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    config["root"] = {"path": "rootfs", "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/probe"]
    # A fresh, empty network namespace (no "path" to join an existing one): no network.
    for ns in config.get("linux", {}).get("namespaces", []):
        ns.pop("path", None)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2)
    return bundle, None


def _time_runtime(runtime: str, base: str, elf: bytes, runs: int) -> tuple[list[float] | None, str | None]:
    exe = shutil.which(runtime)
    if exe is None:
        return None, f"{runtime} not found on PATH; skipped"
    bundle, why = _bundle(base, elf, runtime)
    if bundle is None:
        return None, why
    state = os.path.join(base, f"state-{runtime}")
    # runc removes a container that exits on its own when run without --detach,
    # so one id can be reused run after run.
    samples, why = _time_cmd([exe, "--root", state, "run", "--bundle", bundle, f"virtprobe-floor-{os.getpid()}"], runs)
    return (samples or None), why


def run_floor(elf: bytes, runs: int, progress: Progress = no_progress) -> FloorSection:
    """The same probe run by fork/exec, by unshare into new namespaces, and by runc/crun alone."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="virtprobe-floor-") as base:
        exe = os.path.join(base, "probe")
        with open(exe, "wb") as fh:
            fh.write(elf)
        os.chmod(exe, 0o755)
        fork_exec, why = _time_cmd([exe], runs)
        if why:
            notes.append(why)
        progress("floor", 1, 4)
        unshare_bin = shutil.which("unshare")
        unshare: list[float] | None = None
        if unshare_bin is None:
            notes.append("unshare not found on PATH; skipped")
        else:
            samples, why = _time_cmd([unshare_bin, "--fork", "--pid", "--mount", "--net", "--uts", "--ipc", exe], runs)
            unshare = samples or None
            if why:
                notes.append(why)
        progress("floor", 2, 4)
        runc, why = _time_runtime("runc", base, elf, runs)
        if why:
            notes.append(why)
        progress("floor", 3, 4)
        crun, why = _time_runtime("crun", base, elf, runs)
        if why:
            notes.append(why)
        progress("floor", 4, 4)
    return FloorSection(
        fork_exec_s=tuple(fork_exec) or None,
        unshare_s=None if unshare is None else tuple(unshare),
        runc_s=None if runc is None else tuple(runc),
        crun_s=None if crun is None else tuple(crun),
        notes=tuple(notes),
    )
