"""virtprobe's own overhead at every concurrency level of `bench --parallel 1,2,4,8,16`, in one run (issue 19).

At each level P, batches of full cycles run on P threads, alternately through
virtprobe's parallel runner (cycles.parallel_cycles, with its clock judge, output
read and every phase timed, as `bench` runs them) and through a raw Docker SDK loop
on a pool of P threads (create, start, wait, remove, nothing else), in ABBA order so
that drift on a shared machine hits both alike. The overhead ratio of a level is the
median batch wall time of virtprobe over that of the raw loop: <= 1.05 passes.

Run: .venv/bin/python benchmarks/bench_scaling.py [--levels 1,2,4,8,16] [--batches 8]
     (DOCKER_HOST picks the engine; exit 1 on any FAIL)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from virtprobe.benchmark.cycles import ClockJudge, parallel_cycles
from virtprobe.benchmark.docker_backend import HARDENING, DockerBackend
from virtprobe.benchmark.interrupts import cleanup_guard
from virtprobe.benchmark.ownership import RUN_LABEL, new_run_id
from virtprobe.benchmark.runner import local_boot_id

LIMIT = 1.05


def raw_cycle(backend: DockerBackend, image: str, run_id: str) -> None:
    """The minimal SDK loop a user would write; labelled only so a crash leaves nothing unremovable."""
    api = backend.api
    cid = api.create_container(image, host_config=api.create_host_config(**HARDENING), labels={RUN_LABEL: run_id})
    api.start(cid["Id"])
    api.wait(cid["Id"])
    api.remove_container(cid["Id"], force=True)


def raw_batch(backend: DockerBackend, image: str, run_id: str, level: int, n: int) -> float:
    """Wall seconds of n raw cycles on `level` threads."""
    with ThreadPoolExecutor(max_workers=level) as pool:
        t0 = time.monotonic_ns()
        for f in [pool.submit(raw_cycle, backend, image, run_id) for _ in range(n)]:
            f.result()
        return (time.monotonic_ns() - t0) / 1e9


def vp_batch(backend: DockerBackend, image: str, run_id: str, level: int, n: int, judge: ClockJudge) -> float:
    samples, wall_ns = parallel_cycles(
        backend, time.monotonic_ns, image, run_id, level, n, True, lambda *a: None, None, judge
    )
    assert len(samples) == n
    return wall_ns / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8,16")
    parser.add_argument("--batches", type=int, default=8, help="batches per side and level (ABBA)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    backend = DockerBackend()
    info = backend.engine_info()
    image, _ = backend.ensure_probe_image(info.arch)
    judge = ClockJudge(info, local_boot_id())
    run_id = new_run_id()
    ok = True
    print(f"engine: {info.product} {info.product_version}; {args.batches} batches per side and level, ABBA")
    print(f"{'level':>5} {'cycles/batch':>12} {'raw c/s':>8} {'virtprobe c/s':>13} {'overhead':>9}")
    with cleanup_guard(backend, run_id):
        vp_batch(backend, image, run_id, 1, 2, judge)  # warm the engine and the image
        for level in levels:
            n = max(8, 2 * level)
            raw: list[float] = []
            vp: list[float] = []
            for i in range(args.batches):
                first_raw = i % 4 in (0, 3)  # ABBA: raw, vp, vp, raw, ...
                for side in ("raw", "vp") if first_raw else ("vp", "raw"):
                    if side == "raw":
                        raw.append(raw_batch(backend, image, run_id, level, n))
                    else:
                        vp.append(vp_batch(backend, image, run_id, level, n, judge))
            ratio = statistics.median(vp) / statistics.median(raw)
            passed = ratio <= LIMIT
            ok &= passed
            print(
                f"{level:>5} {n:>12} {n / statistics.median(raw):>8.2f} {n / statistics.median(vp):>13.2f} "
                f"{ratio:>8.3f}x {'PASS' if passed else 'FAIL'} (<= {LIMIT})"
            )
    print("ALL PASS" if ok else "SOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
