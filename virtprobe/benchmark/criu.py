"""CRIU checkpoint/restore of a container, where criu works: the restore of a checkpointed container, timed.

Whether CRIU works is asked of criu itself (`criu check`), and its own words are the
reason of a refused row: nothing here hard-codes why it fails. Where it works, a
probe container in pause mode is checkpointed and restored through the engine:
Podman's libpod API (`/libpod/containers/ID/checkpoint`, then `/restore`), or
Docker's checkpoints API, which only an engine in experimental mode offers (its
refusal is then the reason).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.result import MEASURED, REFUSED, RestoreRow

CHECK_TIMEOUT_S = 30
MAX_REASON = 400
MEANING = (
    "CRIU restore of a checkpointed container through the engine: from the restore request to the "
    "engine's answer (the container's processes running again from their saved memory)"
)
LABEL = "CRIU container restore (this machine)"

Runner = Callable[..., subprocess.CompletedProcess[str]]


def parse_check(returncode: int, output: str) -> tuple[bool, str]:
    """Pure: whether `criu check` passed, and what it said (its error lines, or its verdict line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error")]
    ok = returncode == 0 and not errors and any("Looks good" in ln for ln in lines)
    said = "; ".join(errors or lines[-2:]) or f"exit status {returncode}, no output"
    return ok, said[:MAX_REASON]


def criu_check(run: Runner = subprocess.run) -> tuple[bool, str]:
    """Run `criu check` and return (works, its own words)."""
    if shutil.which("criu") is None:
        return False, "criu is not installed (Debian: apt-get install criu)"
    try:
        proc = run(["criu", "check"], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"criu check could not run: {err}"
    return parse_check(proc.returncode, (proc.stdout or "") + "\n" + (proc.stderr or ""))


def refused(reason: str) -> RestoreRow:
    return RestoreRow("criu", LABEL, REFUSED, (), MEANING, refused=reason)


def run_criu(
    backend: Any,
    image: str,
    run_id: str,
    engine: EngineInfo,
    samples: int,
    check: Callable[[], tuple[bool, str]] = criu_check,
    clock: Callable[[], float] = time.perf_counter,
) -> RestoreRow:
    """The CRIU row: measured where criu and the engine checkpoint, else refused with their own reason."""
    if engine.on_this_machine is not True:
        return refused(f"criu runs where the engine runs, not on this machine: {engine.location_reason}")
    ok, said = check()
    if not ok:
        return refused(f"criu check: {said}")
    times: list[float] = []
    for _ in range(max(1, samples)):
        with held_interrupts():
            cid = backend.create(image, run_id, command=[probe_image.PAUSE_ARG], role="criu")
        try:
            with held_interrupts():
                backend.start(cid)
            got = _checkpoint_restore(backend, engine, cid, clock)
        finally:
            with held_interrupts():
                backend.remove(cid)
        if isinstance(got, str):
            return refused(got)
        times.append(got)
    return RestoreRow("criu", LABEL, MEASURED, tuple(times), MEANING)


def _checkpoint_restore(backend: Any, engine: EngineInfo, cid: str, clock: Callable[[], float]) -> float | str:
    """Seconds the restore took, or the engine's refusal as a string."""
    api = backend.api
    if engine.product == "podman":
        base = f"{api.base_url}/v4.0.0/libpod/containers/{cid}"
        resp = api._post(f"{base}/checkpoint", params={"keep": "true"})
        if resp.status_code >= 300:
            return f"the engine's checkpoint failed: {_message(resp)}"
        t0 = clock()
        resp = api._post(f"{base}/restore", params={"keep": "true"})
        elapsed = clock() - t0
        return elapsed if resp.status_code < 300 else f"the engine's restore failed: {_message(resp)}"
    resp = api._post_json(api._url("/containers/{0}/checkpoints", cid), data={"CheckpointID": "virtprobe"})
    if resp.status_code >= 300:
        return f"the engine's checkpoint failed: {_message(resp)}"
    t0 = clock()
    resp = api._post_json(api._url("/containers/{0}/start", cid), data={}, params={"checkpoint": "virtprobe"})
    elapsed = clock() - t0
    return elapsed if resp.status_code < 300 else f"the engine's restore failed: {_message(resp)}"


def _message(resp: Any) -> str:
    try:
        body = resp.json()
        text = str(body.get("message") or body.get("cause") or body)
    except ValueError:
        text = resp.text or f"HTTP {resp.status_code}"
    return " ".join(text.split())[:MAX_REASON]
