"""virtprobe: what is this machine, really, and what does isolation cost on it?

The public Python API. `import virtprobe` is cheap: it imports nothing heavy (no
docker, rich, typer or jsonschema); each function loads what it needs.

    >>> import virtprobe
    >>> result = virtprobe.detect()                 # the live machine
    >>> result.hypervisor.id, result.container.id
    >>> snap = virtprobe.detect(root="snapshot/")   # a captured snapshot folder
    >>> report = virtprobe.load_report("out.json")  # a saved detect or bench report
    >>> virtprobe.compare(virtprobe.load_report("base.json"), report).regressions

The names in __all__ are the stable API; everything else may change between minor versions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from virtprobe.benchmark.backend import Progress
    from virtprobe.benchmark.options import BenchOptions
    from virtprobe.benchmark.result import BenchResult
    from virtprobe.detection.model import DetectResult
    from virtprobe.errors import VirtprobeError
    from virtprobe.report.compare import Comparison
    from virtprobe.report.document import BenchReport, DetectReport, Report

__all__ = [
    "BenchOptions",
    "BenchReport",
    "BenchResult",
    "Comparison",
    "DetectReport",
    "DetectResult",
    "VirtprobeError",
    "__version__",
    "bench",
    "compare",
    "detect",
    "load_report",
]

# Types re-exported lazily (PEP 562), so that naming them costs nothing until used.
_LAZY = {
    "BenchOptions": "virtprobe.benchmark.options",
    "BenchResult": "virtprobe.benchmark.result",
    "DetectResult": "virtprobe.detection.model",
    "VirtprobeError": "virtprobe.errors",
    "Comparison": "virtprobe.report.compare",
    "BenchReport": "virtprobe.report.document",
    "DetectReport": "virtprobe.report.document",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'virtprobe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def detect(
    root: str | os.PathLike[str] | None = None, *, kvm_probe: bool = True, checks: bool = False
) -> DetectResult:
    """Everything virtprobe can tell about this machine, or about a captured snapshot at `root`.

    With `root`, only the snapshot is read, never the live machine. `kvm_probe=False`
    skips running a test guest on /dev/kvm; `checks=True` also answers "can this host run X?"
    for every `detect --check` target (result.checks). Never raises for what the machine hides:
    unknown answers are None with the reason in `result.evidence`. Raises
    virtprobe.errors.InputError for a `root` that does not exist.
    """
    from virtprobe.detection.run import detect as _detect
    from virtprobe.machine.roots import open_source

    return _detect(open_source(root), kvm_probe=kvm_probe, checks=checks)


def bench(options: BenchOptions | None = None, *, progress: Progress | None = None, **kwargs: Any) -> BenchResult:
    """Measure container startup and memory on the Docker engine that DOCKER_HOST names.

    Pass a BenchOptions, or its fields as keywords: `virtprobe.bench(runs=10, memory_containers=0)`.
    Every container the run creates is removed, whatever happens. Raises
    virtprobe.errors.EngineError when the engine cannot be used (when it died mid-run, the
    error's `partial` is the BenchResult of what was measured before), UnrunnableError when
    the workload cannot run, Interrupted on Ctrl-C/SIGTERM (after cleaning up).
    """
    from virtprobe.benchmark.backend import no_progress
    from virtprobe.benchmark.docker_backend import DockerBackend
    from virtprobe.benchmark.options import BenchOptions
    from virtprobe.benchmark.runner import run_bench
    from virtprobe.detection.run import detect as _detect
    from virtprobe.machine.source import LiveSource

    if options is None:
        options = BenchOptions(**kwargs)
    elif kwargs:
        raise TypeError("pass either a BenchOptions or keyword options, not both")
    # One detect run per bench: its KVM verdict is what --vm qemu and --hwvirt use.
    detected = _detect(LiveSource(), kvm_probe=True)
    return run_bench(options, DockerBackend(), detected, progress=progress or no_progress)


def load_report(path: str | os.PathLike[str]) -> Report:
    """A saved detect or bench report (any 1.x version), validated and typed.

    Raises virtprobe.errors.ReportFormatError, naming the file, for anything that is not
    a readable virtprobe report.
    """
    from virtprobe.report.load import load_report as _load

    return _load(path)


def compare(base: Report, new: Report, *, threshold: float = 0.10, force: bool = False) -> Comparison:
    """Compare two reports of the same kind: bench metrics with a significance test, detect verdicts as a diff.

    A bench metric is a regression when it is significantly worse (Mann-Whitney U,
    p < 0.05) and worse than `threshold` (a fraction: 0.10 is 10%). Reports from different
    environments raise InputError unless `force`.
    """
    from virtprobe.report.compare import compare as _compare

    return _compare(base, new, threshold=threshold, force=force)
