"""Golden-text test of the bench page in the terminal writer, at a fixed width without colour."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.sections.bench import build_bench_page
from virtprobe.report.writers import terminal

GOLDEN = Path(__file__).parent / "fixtures" / "bench_table.txt"


def document() -> dict[str, Any]:
    samples = []
    for i in range(7):
        jitter = (i % 3) * 0.001
        samples.append(
            {
                "index": i,
                "warmup": i < 2,
                "create_s": 0.007 + jitter,
                "start_s": 0.140 + jitter,
                "first_instruction_s": 0.136 + jitter,
                "first_output_s": None,
                "run_to_exit_s": 0.024,
                "remove_s": 0.006,
                "cycle_s": 0.178 + 2 * jitter,
            }
        )
    return {
        "schema_version": "1.0",
        "kind": "bench",
        "container": {
            "image": {"name": "virtprobe/probe:x86_64-test", "probe": True, "build_s": 0.17},
            "timing_basis": "first_instruction",
            "samples": samples,
            "memory": {
                "n": 3,
                "cgroup_bytes": [650_000, 660_000, 640_000],
                "process_pss_bytes": [3_500_000, 3_600_000, 3_400_000],
                "process_name": "containerd-shim",
                "host_available_drop_bytes_per_container": 3_460_000.0,
                "host_kernel_anon_growth_bytes_per_container": None,
            },
            "parallel": {
                "parallel": 4,
                "n": 8,
                "wall_s": 0.75,
                "containers_per_s": 10.67,
                "cycle_s": [0.3, 0.31, 0.32, 0.3, 0.29, 0.33, 0.3, 0.31],
            },
            "floor": {
                "fork_exec_s": [0.0007, 0.0008],
                "unshare_s": [0.0022, 0.0023],
                "runc_s": [0.0176],
                "crun_s": None,
                "notes": ["crun not found on PATH; skipped"],
            },
        },
        "vm": None,
        "warnings": ["cycle CV 14% >= 10%: noisy"],
    }


def render(doc: dict[str, Any], width: int = 100) -> str:
    return terminal.write([build_bench_page(BenchResult.from_dict(doc))], width)


def test_bench_table_golden() -> None:
    text = render(document())
    if os.environ.get("VIRTPROBE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_warmup_excluded_and_empty_document() -> None:
    text = render(document())
    # 5 measured samples, 2 warmups left out.
    cycle_row = next(line for line in text.splitlines() if line.startswith("whole cycle"))
    assert cycle_row.split()[-1] == "5"
    assert "no container measurements" in render({"kind": "bench", "container": None, "warnings": []})
