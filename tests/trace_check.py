"""Validation of `bench --trace` files: a strict JSON Schema written from the Trace Event Format document,
the nesting rule of complete events, and Chrome DevTools' own trace engine (npm @paulirish/trace_engine,
installed by scripts/setup.sh under .cache/trace_engine) parsing the file into its track model."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema

from tests.conftest import live_skip

REPO = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "fixtures" / "trace" / "trace-event.schema.json"
TRACE_ENGINE = REPO / ".cache" / "trace_engine" / "node_modules"
EPS_US = 0.001
ENGINE_SCRIPT = Path(__file__).parent / "tools" / "trace_engine_check.mjs"


def schema_errors(doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


def nesting_errors(events: list[dict[str, Any]]) -> list[str]:
    """Complete events of one thread must nest (the format's rule for X events on one tid).

    Timestamps are microseconds with nanosecond decimals: ts + dur may pass the end of
    its parent by a float's rounding, so edges are compared to within 1 ns."""
    by_thread: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            by_thread[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
    errors = []
    for key, slices in by_thread.items():
        stack: list[tuple[float, float, str]] = []
        for start, end, name in sorted(slices, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1][1] <= start + EPS_US:
                stack.pop()
            if stack and end > stack[-1][1] + EPS_US:
                errors.append(f"{key}: {name} [{start}, {end}] overlaps {stack[-1][2]} without nesting")
            stack.append((start, end, name))
    return errors


def devtools_model(path: Path) -> dict[str, Any]:
    """What Chrome DevTools' trace engine made of the file (tests/tools/trace_engine_check.mjs)."""
    if shutil.which("node") is None or not (TRACE_ENGINE / "@paulirish" / "trace_engine").is_dir():
        live_skip("node or the DevTools trace engine is missing (scripts/setup.sh installs it under .cache/)")
    proc = subprocess.run(
        ["node", str(ENGINE_SCRIPT), str(TRACE_ENGINE), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"the DevTools trace engine could not read {path}: {proc.stderr[-2000:]}"
    model: dict[str, Any] = json.loads(proc.stdout)
    return model


def check_trace(path: Path, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every check on one trace file; with its report, the tracks match the report's containers."""
    doc = json.loads(path.read_text())
    assert schema_errors(doc) == []
    assert nesting_errors(doc["traceEvents"]) == []
    model = devtools_model(path)
    threads = [t for p in model["processes"] for t in p["threads"]]
    # One track per container: a cycle slice at its root with its four phases inside (DevTools puts
    # a phase that starts at the very nanosecond its neighbour ends below that neighbour).
    assert threads and all(t["entries"] == 5 and t["roots"] == 1 and t["descendants"] == [4] for t in threads)
    if report is not None:
        samples = len(report["container"]["samples"])
        samples += sum(len(report["image_cache"][k]) for k in ("cold", "warm")) if report.get("image_cache") else 0
        for part in ("density", "scaling"):
            if report.get(part):
                samples += sum(len(lv["samples"]) for lv in report[part]["levels"])
        assert len(threads) == samples
    return model
