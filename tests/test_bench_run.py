"""run_bench and the bench CLI end to end against the scripted engine: the typed result, the report, the gates."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOTS
from tests.scripted import FakeClock, RealClock, ScriptedBackend
from virtprobe.benchmark import memory
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.runner import run_bench
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource
from virtprobe.report.document import dumps, from_document, new_report, to_document
from virtprobe.report.load import check_document

CLI = Callable[..., tuple[int, str, str]]

# A real machine's verdict: this project's Firecracker VM, whose /dev/kvm is kvm_pvm.
DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)


def _run(**kw: object) -> tuple[ScriptedBackend, object]:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    options = BenchOptions(**{"runs": 4, "warmup": 1, "memory_containers": 2, **kw})  # type: ignore[arg-type]
    result = run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)
    return backend, result


def test_run_bench_returns_a_typed_result_and_leaves_nothing() -> None:
    backend, result = _run()
    from virtprobe.benchmark.result import BenchResult

    assert isinstance(result, BenchResult)
    assert backend.containers == {}
    assert result.container is not None and len(result.container.samples) == 5
    assert result.container.summary("first_instruction_s").median == pytest.approx(0.100)
    assert result.environment.detect is not None
    assert result.environment.detect.hypervisor == DETECTED.hypervisor.id
    assert result.environment.detect.kvm_module == DETECTED.kvm.module
    engine = result.environment.engine
    assert engine is not None and engine.engine_version == "20.10.24+scripted" and engine.product == "docker-engine"
    # The simulated baselines are always there, each with its source.
    assert result.baselines and all(b.simulated and b.source and b.source.text() for b in result.baselines)
    assert ("ensure_probe_image", "x86_64") in backend.calls


def test_the_report_round_trips_through_its_json_document() -> None:
    _, result = _run(parallel=2)
    report = new_report(result)  # type: ignore[arg-type]
    doc = json.loads(dumps(to_document(report)))
    assert doc["schema_version"] == "1.2" and doc["kind"] == "bench"
    assert from_document(check_document(doc, "round trip")) == report


def test_hwvirt_uses_detects_kvm_verdict_instead_of_probing_again() -> None:
    """The verdict says /dev/kvm is unusable: --hwvirt reports that reason and opens nothing."""
    no_kvm = detect(RootSource(ROOTS / "docker_cgroup_v2"), kvm_probe=True)
    assert no_kvm.kvm.usable is not True
    clock = FakeClock()
    result = run_bench(
        BenchOptions(runs=2, warmup=0, memory_containers=0, hwvirt=True),
        ScriptedBackend(clock),
        no_kvm,
        clock=clock,
        sleep=lambda s: None,
    )
    assert result.hwvirt is not None and not result.hwvirt.available
    assert result.hwvirt.reason and "unusable" in result.hwvirt.reason


def test_user_image_is_checked_and_timed_by_first_output() -> None:
    backend, result = _run(image="my/app:1")
    assert ("check_user_image", "my/app:1") in backend.calls
    assert result.container.timing_basis == "first_output"  # type: ignore[attr-defined]
    assert any("first byte of output" in w for w in result.warnings)  # type: ignore[attr-defined]


# --- the CLI, end to end, on the scripted engine -------------------------------------------


@pytest.fixture
def scripted_engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedBackend:
    backend = ScriptedBackend(RealClock())  # the CLI's runner reads the real monotonic clock
    monkeypatch.setattr("virtprobe.benchmark.docker_backend.DockerBackend", lambda: backend)
    monkeypatch.setattr("virtprobe.detection.run.detect", lambda src, kvm_probe=True: DETECTED)
    monkeypatch.setattr(memory, "MEMORY_SETTLE_S", 0.0)
    return backend


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    """The real entry point (with its one error boundary), in this process."""
    from virtprobe.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["virtprobe", *args])
        with pytest.raises(SystemExit) as done:
            main()
        out = capsys.readouterr()
        return int(done.value.code or 0), out.out, out.err

    return run


def test_bench_cli_writes_a_loadable_report(scripted_engine: ScriptedBackend, cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code, stdout, stderr = cli("bench", "-n", "3", "--warmup", "1", "--memory", "2", "--json", str(out))
    assert code == 0, stderr
    assert "Container startup, phase by phase" in stdout
    from virtprobe import load_report

    report = load_report(out)
    assert report.header.kind == "bench"
    assert report.result.container is not None and len(report.result.container.samples) == 4  # type: ignore[union-attr]
    assert scripted_engine.containers == {}


def test_bench_cli_gate_exits_3_after_writing_the_report(
    scripted_engine: ScriptedBackend, cli: CLI, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    code, _, stderr = cli("bench", "-n", "3", "--memory", "0", "--json", str(out), "--max-startup-ms", "1")
    assert code == 3
    assert "gate exceeded: startup median" in stderr and "--max-startup-ms 1" in stderr
    assert out.exists()  # the evidence is kept


def test_bench_cli_json_to_stdout_is_only_the_document(scripted_engine: ScriptedBackend, cli: CLI) -> None:
    code, stdout, _ = cli("bench", "-n", "2", "--memory", "0", "--json", "-")
    assert code == 0
    assert json.loads(stdout)["kind"] == "bench"


def test_bench_in_a_ci_log_prints_progress_lines(scripted_engine: ScriptedBackend, cli: CLI) -> None:
    """stderr is not a terminal here (captured), as in a CI log: plain lines, a start and each quarter."""
    code, _, stderr = cli("bench", "-n", "8", "--warmup", "0", "--memory", "0")
    assert code == 0, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("virtprobe: container cycles")]
    # The first cycle, then each quarter: a line that shows the run moving, not one per container.
    assert lines == [f"virtprobe: container cycles {n}/8" for n in (1, 2, 4, 6, 8)]
