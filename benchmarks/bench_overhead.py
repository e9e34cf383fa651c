"""virtprobe bench against the bare engine, in the same run: prints ratios and PASS/FAIL (issue #3).

1. virtprobe's measured cycle median / a minimal raw SDK loop (create, start,
   wait, remove) with the same container config: must be <= 1.05. The two are
   interleaved cycle by cycle in ABBA order so that drift on a shared machine
   and position effects hit both alike.
2. `virtprobe bench -n 20 --memory 0` wall time (process start to exit) / the
   sum of its measured (non-warmup) cycles: <= 1.25, so the default 2 warmups,
   Python's start-up, the image check and detect all fit in 25%. The memory step is
   left out with --memory 0: it is not made of cycles and sleeps on purpose
   to let the host settle.
3. containers/s with 8 starts at a time / containers/s serially: >= 1.5.
4. virtprobe's cycle median / `docker run --rm --network none <probe>` timed by
   hyperfine (information only; the CLI also pays for its own start-up).

Run: .venv/bin/python benchmarks/bench_overhead.py   (exit 1 on any FAIL)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from virtprobe.benchmark import cycles as runner
from virtprobe.benchmark.docker_backend import HARDENING, DockerBackend
from virtprobe.benchmark.interrupts import cleanup_guard
from virtprobe.benchmark.ownership import new_run_id

REPO = Path(__file__).resolve().parent.parent
RUNS = 20
# Pairs for ratio 1: cycles vary by about 10% here, and with 20 pairs the ratio of
# medians moved between 0.97 and 1.12 across runs with nothing changed.
PAIRS = 60
WARMUP = 2


def raw_cycle(backend: DockerBackend, image: str, run_id: str) -> float:
    """The minimal SDK loop a user would write; labelled only so a crash leaves nothing unremovable."""
    api = backend.api
    t0 = time.monotonic_ns()
    cid = api.create_container(
        image,
        host_config=api.create_host_config(**HARDENING),
        labels={"io.virtprobe.run": run_id},
    )["Id"]
    api.start(cid)
    api.wait(cid)
    api.remove_container(cid, force=True)
    return (time.monotonic_ns() - t0) / 1e9


def check(name: str, value: float, limit: float, at_most: bool) -> bool:
    ok = value <= limit if at_most else value >= limit
    sign = "<=" if at_most else ">="
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {value:.3f} (must be {sign} {limit})")
    return ok


def main() -> int:
    backend = DockerBackend()
    info = backend.engine_info()
    image, _ = backend.ensure_probe_image(info.arch)
    run_id = new_run_id()
    results: list[bool] = []

    with cleanup_guard(backend, run_id):
        # 1. Interleaved in ABBA order (raw first on even cycles, virtprobe first on odd
        # ones): a fixed order lets a position effect pass for overhead, as it did in
        # vm_overhead.
        raw: list[float] = []
        vp: list[float] = []
        for i in range(WARMUP + PAIRS):
            if i % 2 == 0:
                r = raw_cycle(backend, image, run_id)
                s = runner.one_cycle(backend, time.monotonic_ns, image, run_id, i, i < WARMUP, True)
            else:
                s = runner.one_cycle(backend, time.monotonic_ns, image, run_id, i, i < WARMUP, True)
                r = raw_cycle(backend, image, run_id)
            if i >= WARMUP:
                raw.append(r)
                assert s.cycle_s is not None
                vp.append(s.cycle_s)
        raw_med, vp_med = statistics.median(raw), statistics.median(vp)
        print(f"raw SDK cycle median {raw_med * 1000:.1f} ms; virtprobe cycle median {vp_med * 1000:.1f} ms")
        results.append(check("virtprobe cycle / raw SDK cycle", vp_med / raw_med, 1.05, at_most=True))

        # 3. Density: 8 at a time against serial, both in this process.
        n = 24
        serial = [
            runner.one_cycle(backend, time.monotonic_ns, image, run_id, i, False, True).cycle_s or 0.0 for i in range(n)
        ]
        serial_rate = n / sum(serial)
        par = runner.run_parallel(backend, time.monotonic_ns, image, run_id, 8, n, True, lambda *a: None)
        print(f"serial {serial_rate:.2f} containers/s; --parallel 8 {par.containers_per_s or 0:.2f} containers/s")
        results.append(
            check("throughput --parallel 8 / serial", (par.containers_per_s or 0) / serial_rate, 1.5, at_most=False)
        )

    # 2. The CLI's wall time against the cycles it measured.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "virtprobe", "bench", "-n", str(RUNS), "--memory", "0", "--json", out],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            print(f"FAIL  virtprobe bench -n {RUNS} exited {proc.returncode}: {proc.stderr.strip()}")
            return 1
        with open(out, encoding="utf-8") as fh:
            doc = json.load(fh)
    container = doc["container"]
    samples = container["samples"]
    cycles_all = sum(s["cycle_s"] for s in samples)
    cycles_measured = sum(s["cycle_s"] for s in samples if not s["warmup"])
    print(
        f"bench -n {RUNS} --memory 0: wall {wall:.2f} s (process start to exit); "
        f"cycles incl. warmup {cycles_all:.2f} s, measured only {cycles_measured:.2f} s"
    )
    results.append(
        check(f"bench -n {RUNS} wall / sum of its measured cycles", wall / cycles_measured, 1.25, at_most=True)
    )
    print(f"INFO  bench -n {RUNS} wall / sum of all cycles, warmups included: {wall / cycles_all:.3f}")

    # 4. hyperfine on the docker CLI (information only).
    if shutil.which("hyperfine") is None:
        print("INFO  hyperfine not found; docker run ratio skipped")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            export = os.path.join(tmp, "hf.json")
            subprocess.run(
                [
                    "hyperfine",
                    "--warmup",
                    "2",
                    "--runs",
                    str(RUNS),
                    "--export-json",
                    export,
                    "--style",
                    "none",
                    f"docker run --rm --network none {image}",
                ],
                check=True,
                capture_output=True,
            )
            with open(export, encoding="utf-8") as fh:
                hf_median = json.load(fh)["results"][0]["median"]
        print(
            f"INFO  virtprobe cycle / `docker run --rm --network none` (hyperfine): "
            f"{vp_med * 1000:.1f} / {hf_median * 1000:.1f} ms = {vp_med / hf_median:.3f}"
        )
    print("ALL PASS" if all(results) else "SOME FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
