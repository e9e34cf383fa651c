"""The runner against a scripted backend and a fake clock: phases, order, memory, cleanup."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

from tests.scripted import FakeClock, ScriptedBackend
from virtprobe.benchmark import floor as floor_mod
from virtprobe.benchmark import interrupts, runner
from virtprobe.benchmark.noise import noise_warnings
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import ContainerSection, CycleSample
from virtprobe.errors import EngineError, Interrupted, UnrunnableError


def run(backend: ScriptedBackend, clock: FakeClock, probe: bool = True, **kw: Any) -> ContainerSection:
    opts = BenchOptions(**{"runs": 5, "warmup": 2, "memory_containers": 0, **kw})
    with interrupts.cleanup_guard(backend, "vp-test"):
        return runner.run_containers(
            backend, clock, opts, run_id="vp-test", image="img", probe=probe, sleep=lambda s: None
        )


def test_phases_from_the_scripted_costs() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    section = run(backend, clock)
    samples = section.samples
    assert [s.index for s in samples] == list(range(7))
    assert [s.warmup for s in samples] == [True, True, False, False, False, False, False]
    for s in samples:
        assert s.create_s == pytest.approx(0.008)  # 7 ms cost + 1 ms clock read
        assert s.start_s == pytest.approx(0.141)
        assert s.run_to_exit_s == pytest.approx(0.025)
        assert s.remove_s == pytest.approx(0.007)
        assert s.first_instruction_s == pytest.approx(0.100)
        assert s.first_output_s is None
        assert s.create_s and s.start_s and s.run_to_exit_s and s.remove_s and s.cycle_s
        assert s.cycle_s >= s.create_s + s.start_s + s.run_to_exit_s + s.remove_s
        assert s.first_instruction_s is not None and s.start_s is not None and s.run_to_exit_s is not None
        assert 0 < s.first_instruction_s < s.start_s + s.run_to_exit_s
    assert section.timing_basis == "first_instruction"
    assert section.image is not None and section.image.to_dict() == {"name": "img", "probe": True, "build_s": None}


def test_order_of_calls_and_labels() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    run(backend, clock, runs=1, warmup=0)
    assert [c for c, _ in backend.calls] == ["create", "start", "wait", "logs", "remove"]
    assert backend.containers == {}


def test_user_image_uses_first_output() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    section = run(backend, clock, probe=False)
    assert section.timing_basis == "first_output"
    s = section.samples[-1]
    assert s.first_instruction_s is None
    assert s.first_output_s == pytest.approx(0.103)
    assert "logs" not in [c for c, _ in backend.calls]


def test_memory_section() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    section = run(backend, clock, runs=1, warmup=0, memory_containers=4)
    mem = section.memory
    assert mem is not None and mem.n == 4
    assert mem.cgroup_bytes == (650_000,) * 4
    assert mem.process_pss_bytes == (3_400_000,) * 4 and mem.process_name == "containerd-shim"
    assert mem.host_available_drop_bytes_per_container == pytest.approx(3_300_000)
    assert mem.host_kernel_anon_growth_bytes_per_container == pytest.approx(3_300_000)
    paused = [c for c, cid in backend.calls if c == "create"]
    assert len(paused) == 5
    assert backend.containers == {}  # the idle containers were removed


def test_parallel_section() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    section = run(backend, clock, runs=6, warmup=0, parallel=3)
    par = section.parallel
    assert par is not None and par.parallel == 3 and par.n == 6 and len(par.cycle_s) == 6
    assert par.containers_per_s is not None and par.containers_per_s > 0
    assert backend.containers == {}


def test_cleanup_on_error_removes_everything_of_the_run() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock, fail_at=("wait", 3))
    foreign = backend.create("other", "another-run")
    backend.containers["manual"] = {"labels": {}, "image": "x", "command": None, "probe_ns": None}
    with pytest.raises(EngineError):
        run(backend, clock)
    assert set(backend.containers) == {foreign, "manual"}


def test_cleanup_on_keyboard_interrupt_raises_interrupted() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock, interrupt_at=2)
    with pytest.raises(Interrupted) as info:
        run(backend, clock)
    assert info.value.exit_code == 130
    assert backend.containers == {}
    # The signal handlers are restored afterwards.
    assert signal.getsignal(signal.SIGTERM) is not interrupts._on_signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class DaemonFinishesLater(ScriptedBackend):
    """A create whose container appears on the daemon's side after the request was sent.

    This is the race CI caught: Ctrl-C landed while create() was waiting for its
    answer; the daemon still created the container, after the sweep had listed the
    run's containers, and it leaked.
    """

    signal: signal.Signals = signal.SIGINT  # the one the test raises mid-create

    def create(
        self,
        image: str,
        run_id: str,
        command: list[str] | None = None,
        role: str = "bench",
        runtime: str | None = None,
        entrypoint: list[str] | None = None,
    ) -> str:
        answered = threading.Event()
        ids: list[str] = []

        def daemon_side() -> None:
            threading.Event().wait(0.05)
            ids.append(ScriptedBackend.create(self, image, run_id, command, role, runtime, entrypoint))
            answered.set()

        threading.Thread(target=daemon_side).start()
        signal.raise_signal(self.signal)  # arrives while the request is in flight
        answered.wait(5)
        return ids[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_create_waits_for_the_container_and_removes_it(sig: signal.Signals) -> None:
    clock = FakeClock()
    backend = DaemonFinishesLater(clock)
    backend.signal = sig
    with pytest.raises(Interrupted):
        run(backend, clock)
    assert backend.created == 1  # the interrupt stopped the run after the first create
    assert backend.containers == {}


def test_second_interrupt_during_a_held_call_stops_at_once() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    with pytest.raises(Interrupted), interrupts.cleanup_guard(backend, "vp-test"), interrupts.held_interrupts():
        signal.raise_signal(signal.SIGINT)  # held
        backend.create("img", "vp-test")
        signal.raise_signal(signal.SIGINT)  # the user insists
        pytest.fail("a second Ctrl-C must not wait for the held call")
    assert backend.containers == {}


def test_cleanup_on_interrupt_in_parallel_pool() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock, fail_at=("start", 4))
    with pytest.raises(EngineError):
        run(backend, clock, runs=8, warmup=0, parallel=4)
    assert backend.containers == {}


def test_sigterm_becomes_interrupted() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    backend.create("img", "vp-test")
    with pytest.raises(Interrupted) as info, interrupts.cleanup_guard(backend, "vp-test"):
        signal.raise_signal(signal.SIGTERM)
    assert "terminated" in info.value.message
    assert backend.containers == {}


def test_probe_without_clock_reading_is_unrunnable() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    backend.logs = lambda cid: b"garbage"  # type: ignore[method-assign]
    with pytest.raises(UnrunnableError):
        run(backend, clock)
    assert backend.containers == {}


def test_noise_warnings() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    assert noise_warnings(run(backend, clock)) == []  # the scripted costs have no noise
    noisy = ContainerSection(
        image=None,
        timing_basis="first_instruction",
        samples=tuple(
            CycleSample(i, False, None, None, None, None, None, None, x) for i, x in enumerate((0.1, 0.2, 0.1, 0.3))
        ),
    )
    assert any(w.startswith("cycle CV") for w in noise_warnings(noisy))


def test_error_translation() -> None:
    import docker.errors
    import requests.exceptions

    from virtprobe.benchmark.docker_backend import DockerBackend, translate_connect_error

    refused = docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file'))"
    )
    assert "not reachable" in translate_connect_error(refused).message
    assert translate_connect_error(refused).exit_code == 4
    denied = docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))"
    )
    msg = translate_connect_error(denied).message
    assert "permission denied" in msg and "docker group" in msg

    class DeadApi:
        def start(self, cid: str) -> None:
            raise requests.exceptions.ConnectionError("('Connection aborted.', ConnectionRefusedError(111))")

        def inspect_image(self, name: str) -> dict[str, Any]:
            raise docker.errors.ImageNotFound("no such image")

    backend = DockerBackend.__new__(DockerBackend)
    backend.api = DeadApi()
    backend.host, backend._target = "unix:///run/other.sock", None
    with pytest.raises(EngineError, match="stopped answering mid-run") as died:
        backend.start("abc")
    # The advice cleans the engine that died, not the default one.
    assert "virtprobe clean --host unix:///run/other.sock" in died.value.message
    with pytest.raises(UnrunnableError, match="not found locally"):
        backend.check_user_image("nope")


def test_busy_warning_judges_the_load_before_the_run() -> None:
    from virtprobe.benchmark.environment import busy_warning

    assert busy_warning((0.4, 0.5, 0.6), 2) is None  # the run's own load does not count
    assert busy_warning(None, 2) is None
    warning = busy_warning((1.5, 1.0, 0.9), 2)
    assert warning is not None and "1.50 on 2 CPUs before the run began" in warning


# --- DockerBackend.remove_labelled against a scripted low-level API -----------------------


class ScriptedApi:
    """The two calls remove_labelled makes, with the daemon's answers scripted per round."""

    def __init__(self, listings: list[list[str]], in_progress: frozenset[str] = frozenset()) -> None:
        self.listings = listings
        self.in_progress = in_progress
        self.removed: list[str] = []

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, str]]:
        assert filters["label"].startswith("io.virtprobe.run")
        ids = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        return [{"Id": i} for i in ids]

    def remove_container(self, cid: str, v: bool, force: bool) -> None:
        import docker.errors
        import requests

        if cid in self.in_progress:
            resp = requests.Response()
            resp.status_code = 409
            raise docker.errors.APIError(
                "409 Client Error: Conflict",
                response=resp,
                explanation=f"removal of container {cid} is already in progress",
            )
        self.removed.append(cid)


def _backend(api: ScriptedApi) -> Any:
    from virtprobe.benchmark.docker_backend import DockerBackend

    be = object.__new__(DockerBackend)
    be.api = api
    return be


def test_sweep_lists_again_and_removes_a_late_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    # The daemon finished a create after the first listing.
    api = ScriptedApi([["a", "b"], ["late"], []])
    assert _backend(api).remove_labelled("vp-x") == ["a", "b", "late"]
    assert api.removed == ["a", "b", "late"]


def test_sweep_accepts_a_removal_already_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    api = ScriptedApi([["a", "b"], ["b"], []], in_progress=frozenset({"b"}))
    assert _backend(api).remove_labelled("vp-x") == ["a", "b"]


def test_sweep_gives_up_with_a_clear_error_when_containers_keep_coming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    api = ScriptedApi([["c1"], ["c2"], ["c3"], ["c4"]])
    with pytest.raises(EngineError, match=r"keep reappearing.*virtprobe clean"):
        _backend(api).remove_labelled("vp-x")


def test_interrupted_floor_run_lets_the_child_finish(tmp_path: Any) -> None:
    """Ctrl-C during a timed floor run: the child (runc in real runs) ends on its own and is reaped."""
    import os

    log = tmp_path / "runs"
    script = tmp_path / "child.sh"
    # The second run is the first timed one: it sends the Ctrl-C itself, then keeps working.
    script.write_text(
        f"#!/bin/sh\necho start >> {log}\n"
        f"[ $(grep -c start {log}) -eq 2 ] && kill -INT {os.getpid()}\n"
        f"sleep 0.4\necho end >> {log}\n"
    )
    script.chmod(0o755)
    with pytest.raises(KeyboardInterrupt):
        floor_mod._time_cmd([str(script)], runs=5)
    lines = log.read_text().split()
    assert lines == ["start", "end", "start", "end"]  # the untimed run, then the interrupted one, whole
    with pytest.raises(ChildProcessError):  # nothing left running or unreaped
        os.waitpid(-1, os.WNOHANG)


# --- who owns a container: clean keeps the containers of runs still going -----------------


def test_parse_stat_starttime_counts_fields_after_the_last_parenthesis() -> None:
    from virtprobe.benchmark.ownership import parse_stat_starttime

    # /proc/self/stat of a real process, with its comm replaced by one holding ") (".
    real = open("/proc/self/stat").read()  # noqa: SIM115
    tricky = real[: real.index("(")] + "(a) (b c)" + real[real.rindex(")") + 1 :]
    expected = int(real.rpartition(")")[2].split()[19])
    assert parse_stat_starttime(real) == expected
    assert parse_stat_starttime(tricky) == expected
    assert parse_stat_starttime("") is None and parse_stat_starttime("1 (x) S 0") is None


def test_owner_alive_only_for_this_boot_this_pid_this_start() -> None:
    import subprocess
    import sys

    from virtprobe.benchmark.ownership import owner_alive, owner_label

    me = owner_label()
    boot, pid, start = me.split(":")
    assert owner_alive(me)
    assert not owner_alive(f"{boot}:{pid}:{int(start) + 1}")  # the pid, reused by a later process
    assert not owner_alive(f"00000000-0000-0000-0000-000000000000:{pid}:{start}")  # another boot or machine
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not owner_alive(f"{boot}:{child.stdout.strip()}:{start}")  # gone
    for bad in (None, "", "x", f"{boot}:{pid}", f"{boot}:abc:{start}", f":{pid}:{start}"):
        assert not owner_alive(bad)
