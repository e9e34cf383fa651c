"""virtprobe: what is this machine, really, and what does isolation cost on it?

The public Python API; the CLI is a client of it. `import virtprobe` is cheap: it imports
nothing heavy (no docker, rich, typer, jsonschema or psutil); each function loads what it needs.

    >>> import virtprobe
    >>> result = virtprobe.detect()                 # the live machine
    >>> result.hypervisor.id, result.container.id
    >>> result.to_json()                            # what `virtprobe detect --json` prints
    >>> run = virtprobe.bench(runs=10, engine="unix:///var/run/docker.sock")
    >>> run.container.summary("start_s").median     # metric names are typed: virtprobe.Phase
    >>> base, new = virtprobe.load_report("base.json"), virtprobe.load_report("new.json")
    >>> virtprobe.compare(base, new, threshold_pct=10).regressions

docs/python-api.md shows every function with examples that pass `mypy --strict`. The names
in __all__ are the stable API; everything else may change between minor versions.
"""

from __future__ import annotations

import os

from virtprobe._version import __version__
from virtprobe.errors import missing_extra
from virtprobe.lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Unpack

    from virtprobe.api_types import BenchKeywords, EnvMismatch
    from virtprobe.benchmark.backend import Progress
    from virtprobe.benchmark.connect import EngineTarget
    from virtprobe.benchmark.options import BenchOptions
    from virtprobe.benchmark.result import BenchResult, Phase
    from virtprobe.detection.model import DetectResult
    from virtprobe.errors import MissingExtra, VirtprobeError
    from virtprobe.report.compare import Comparison
    from virtprobe.report.document import BenchReport, DetectReport, Report


__all__ = [
    "BenchKeywords",
    "BenchOptions",
    "BenchReport",
    "BenchResult",
    "Comparison",
    "DetectReport",
    "DetectResult",
    "EnvMismatch",
    "MissingExtra",
    "Phase",
    "VirtprobeError",
    "__version__",
    "bench",
    "compare",
    "detect",
    "load_report",
]

# The imports below, in functions, are lazy on purpose: `import virtprobe` loads none of docker, rich,
# typer, jsonschema or psutil (tests/test_api.py), and `virtprobe --version` and `--help`, which import
# this package, load nothing they do not print (<= 1.5x virt-what, benchmarks/detect_speed.py).

# Types re-exported lazily (PEP 562), so that naming them costs nothing until used.
_LAZY = {
    "BenchKeywords": "virtprobe.api_types",
    "EnvMismatch": "virtprobe.api_types",
    "BenchOptions": "virtprobe.benchmark.options",
    "BenchResult": "virtprobe.benchmark.result",
    "Phase": "virtprobe.benchmark.result",
    "DetectResult": "virtprobe.detection.model",
    "VirtprobeError": "virtprobe.errors",
    "MissingExtra": "virtprobe.errors",
    "Comparison": "virtprobe.report.compare",
    "BenchReport": "virtprobe.report.document",
    "DetectReport": "virtprobe.report.document",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'virtprobe' has no attribute {name!r}")
    import importlib  # lazy: see above (`--version` does not load importlib)

    return getattr(importlib.import_module(module), name)


def detect(root: str | os.PathLike[str] | None = None, *, kvm_probe: bool = True, checks: bool = False) -> DetectResult:
    """Everything virtprobe can tell about this machine, or about a captured snapshot at `root`.

    With `root`, only the snapshot is read, never the live machine. `kvm_probe=False`
    skips running a test guest on /dev/kvm; `checks=True` also answers "can this host run X?"
    for every `detect --check` target (result.checks). Never raises for what the machine hides:
    unknown answers are None with the reason in `result.evidence`. Raises
    virtprobe.errors.InputError for a `root` that does not exist.
    `result.to_dict()` and `result.to_json()` are `virtprobe detect --json`'s document.
    """
    # lazy: see above.
    from virtprobe.detection.run import detect as _detect
    from virtprobe.machine.roots import open_source

    return _detect(open_source(root), kvm_probe=kvm_probe, checks=checks)


def bench(
    options: BenchOptions | None = None,
    *,
    engine: str | EngineTarget | None = None,
    progress: Progress | None = None,
    **keywords: Unpack[BenchKeywords],
) -> BenchResult:
    """Measure container startup and memory on one engine.

    `engine` is an address (`unix:///var/run/docker.sock`, `tcp://HOST:2376`,
    `ssh://USER@HOST`) or a Docker context's name; None is the engine DOCKER_HOST,
    DOCKER_CONTEXT or the current context names, as for the docker CLI. Pass a BenchOptions,
    or its fields as keywords: `virtprobe.bench(runs=10, memory_containers=0)`.
    `progress(task, done, total)` is called as the run goes. Every container the run creates
    is removed, whatever happens. Raises virtprobe.errors.EngineError when the engine cannot
    be used (when it died mid-run, the error's `partial` is the BenchResult of what was
    measured before), UnrunnableError when the workload cannot run, MissingExtra without the
    Docker SDK or psutil (pip install 'virtprobe[bench]'), Interrupted on Ctrl-C/SIGTERM (after cleaning up).
    """
    # lazy: see above.
    from virtprobe.benchmark.backend import no_progress
    from virtprobe.benchmark.engines import make_backend
    from virtprobe.benchmark.options import BenchOptions
    from virtprobe.detection.run import detect as _detect
    from virtprobe.machine.source import LiveSource

    try:
        from virtprobe.benchmark.runner import run_bench  # psutil (density, engine cost): the [bench] extra
    except ModuleNotFoundError as err:
        extra = missing_extra(err)
        if extra is None:
            raise
        raise extra from err
    if options is not None and keywords:
        raise TypeError("pass either a BenchOptions or keyword options, not both")
    if options is None:
        given: dict[str, Any] = dict(keywords)
        for name in ("vm", "runtimes"):  # any sequence of names; BenchOptions keeps tuples
            if name in given:
                given[name] = tuple(given[name])
        options = BenchOptions(**given)
    backend = make_backend(engine)
    # One detect run per bench: its KVM verdict is what --vm qemu and --hwvirt use.
    detected = _detect(LiveSource(), kvm_probe=True)
    return run_bench(options, backend, detected, progress=progress or no_progress)


def load_report(path: str | os.PathLike[str]) -> Report:
    """A saved detect or bench report (any 1.x version), validated and typed.

    Raises virtprobe.errors.ReportFormatError, naming the file, for anything that is not
    a readable virtprobe report; MissingExtra without jsonschema (pip install 'virtprobe[report]').
    """
    try:
        # lazy: see above; and without jsonschema (the [report] extra) this import raises, below.
        from virtprobe.report.load import load_report as _load

        return _load(path)
    except ModuleNotFoundError as err:
        extra = missing_extra(err)
        if extra is None:
            raise
        raise extra from err


def compare(
    base: Report,
    new: Report,
    *,
    threshold_pct: float = 10.0,
    env_mismatch: EnvMismatch = "refuse",
) -> Comparison:
    """Compare two reports of the same kind: bench metrics with a significance test, detect verdicts as a diff.

    A bench metric is a regression when it is significantly worse (Mann-Whitney U,
    p < 0.05) and worse by more than `threshold_pct` percent (10 is 10%, as the CLI's
    `--threshold 10`). Reports from different environments raise InputError with
    `env_mismatch="refuse"`; with "warn" they are compared and the differences are listed
    in `Comparison.env_differences`.
    """
    # lazy: see above.
    from virtprobe.report.compare import compare as _compare

    return _compare(base, new, threshold=threshold_pct / 100.0, force=env_mismatch == "warn")
