"""CI gates on a finished bench result: --max-startup-ms and --max-memory-mib."""

from __future__ import annotations

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.labels import phase_label
from virtprobe.report.metrics import container_memory_per_instance, container_startup_median_s, container_startup_phase

MIB = 1024 * 1024


def check_gates(result: BenchResult, max_startup_ms: float | None, max_memory_mib: float | None) -> list[str]:
    """One line per exceeded gate; empty when every gate holds. A gate on a figure
    the run did not measure fails too: a CI gate must never pass by default."""
    container = result.container
    failures: list[str] = []
    if max_startup_ms is not None:
        median = container_startup_median_s(container) if container is not None else None
        if container is None or median is None:
            failures.append(f"--max-startup-ms {max_startup_ms:g}: no startup figure was measured")
        elif median * 1000 > max_startup_ms:
            phase = phase_label(container_startup_phase(container))
            failures.append(f"startup median ({phase}) {median * 1000:.1f} ms > --max-startup-ms {max_startup_ms:g}")
    if max_memory_mib is not None:
        value, basis = container_memory_per_instance(container)
        if value is None:
            why = "--memory 0?" if basis == "not measured" else basis  # e.g. the engine is not on this machine
            failures.append(f"--max-memory-mib {max_memory_mib:g}: memory was not measured ({why})")
        elif value / MIB > max_memory_mib:
            failures.append(
                f"memory per container ({basis}) {value / MIB:.2f} MiB > --max-memory-mib {max_memory_mib:g}"
            )
    return failures
