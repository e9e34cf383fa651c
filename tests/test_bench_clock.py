"""The clock rule: a first-instruction time is never computed across two kernels' clocks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FIXTURES, ROOTS, live_skip
from virtprobe.benchmark import clock
from virtprobe.benchmark.clock import CLIENT_ONLY, ENGINE_OFFSET, SAME_KERNEL, ClockOffset, ClockVerdict
from virtprobe.benchmark.docker_backend import build_image
from virtprobe.benchmark.engine import EngineInfo, LocalMachine, parse_engine
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.guest.probe_image import ProbeReport
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import LiveSource, RootSource

# The development VM's boot id and the probe's real outputs there (tests/test_probe_image.py).
HOST_BOOT = "36caab33-baea-463b-9927-1c49a22d756b"
RUNC = probe_image.parse_probe_report(b"737.520863690\n36caab33-baea-463b-9927-1c49a22d756b\n1796109639.478658237\n")
RUNSC = probe_image.parse_probe_report(b"0.104806775\n-\n1796109639.790921290\n")
OLD = probe_image.parse_probe_report(b"477.226697045\n")
# The run's window on the host's CLOCK_MONOTONIC for that runc container (from the same capture).
RUNC_WINDOW = (737_378_266_461, 737_545_434_576)
DEVVM = LocalMachine("6.18.44-fc-v669", "devvm-host", "Debian GNU/Linux 12 (bookworm)", "debian")


def engine(name: str, local: LocalMachine | None = DEVVM) -> EngineInfo:
    doc = json.loads((FIXTURES / "engines" / f"{name}.json").read_text())
    return parse_engine(doc["version"], doc["info"], local=local)


DOCKER = engine("docker-20.10-debian12")
DESKTOP = engine("docker-desktop-4.26-macos", LocalMachine(None, "laptop", None, None, "darwin"))
# One real /info SystemTime and the local realtime around that call: a 1.2 ms round trip.
OFFSET = clock.estimate_offset("2026-12-01T07:18:33.531201792Z", 1_796_109_513_530_601_000, 1_796_109_513_531_801_000)


def test_fixtures_parsed() -> None:
    assert RUNC is not None and RUNSC is not None and OLD is not None and OFFSET is not None


def test_runc_on_this_kernel_keeps_first_instruction() -> None:
    assert RUNC is not None
    v = clock.decide_clock(RUNC, HOST_BOOT, DOCKER, window_ns=RUNC_WINDOW)
    assert v.mode == SAME_KERNEL and v.same_kernel is True and v.first_instruction_allowed
    assert "same boot id" in v.reason
    fi = clock.first_instruction(v, RUNC, start_request_monotonic_ns=RUNC_WINDOW[0])
    assert fi is not None and fi.clock == "CLOCK_MONOTONIC" and fi.error_s == 0.0
    assert fi.value_s == pytest.approx((737_520_863_690 - 737_378_266_461) / 1e9)


def test_runsc_never_gets_a_first_instruction_figure_even_with_an_offset() -> None:
    assert RUNSC is not None
    for offset in (None, OFFSET):
        v = clock.decide_clock(RUNSC, HOST_BOOT, DOCKER, runtime_kind="runsc", offset=offset)
        assert v.mode == CLIENT_ONLY and v.same_kernel is False and not v.first_instruction_allowed
        assert "runsc" in v.reason and "client-side" in v.reason
        assert clock.first_instruction(v, RUNSC, 0, 0) is None


def test_faked_boot_id_of_another_kernel_gives_no_monotonic_figure() -> None:
    """The unit test the issue asks for: the probe's boot id is faked to another kernel's."""
    assert RUNC is not None
    faked = ProbeReport(
        RUNC.monotonic_ns, "0f1e2d3c-4b5a-4968-8776-655443322110", probe_image.BOOT_ID_READ, RUNC.realtime_ns
    )
    v = clock.decide_clock(faked, HOST_BOOT, DOCKER, window_ns=RUNC_WINDOW)
    assert v.mode == CLIENT_ONLY and v.same_kernel is False
    assert "another kernel" in v.reason and "0f1e2d3c" in v.reason
    assert clock.first_instruction(v, faked, RUNC_WINDOW[0]) is None
    # With an offset it is computed on CLOCK_REALTIME, never on the two monotonic clocks.
    v = clock.decide_clock(faked, HOST_BOOT, DOCKER, offset=OFFSET)
    assert v.mode == ENGINE_OFFSET and v.offset == OFFSET
    fi = clock.first_instruction(v, faked, RUNC_WINDOW[0], start_request_realtime_ns=1_796_109_639_400_000_000)
    assert fi is not None and fi.clock == "CLOCK_REALTIME+engine offset"
    assert OFFSET is not None
    expected = (1_796_109_639_478_658_237 - OFFSET.offset_ns - 1_796_109_639_400_000_000) / 1e9
    assert fi.value_s == pytest.approx(expected) and fi.error_s == OFFSET.error_ns / 1e9
    # Without this machine's realtime at the start request there is nothing to subtract from.
    assert clock.first_instruction(v, faked, RUNC_WINDOW[0]) is None


def test_same_boot_id_outside_the_window_is_a_time_namespace() -> None:
    assert RUNC is not None
    v = clock.decide_clock(RUNC, HOST_BOOT, DOCKER, window_ns=(RUNC_WINDOW[1] + 1, RUNC_WINDOW[1] + 10))
    assert v.mode == CLIENT_ONLY and v.same_kernel is True and "time namespace" in v.reason


def test_own_kernel_runtime_is_distrusted_even_with_this_boot_id() -> None:
    assert RUNC is not None
    v = clock.decide_clock(RUNC, HOST_BOOT, DOCKER, runtime_kind="kata", offset=OFFSET)
    assert v.mode == CLIENT_ONLY and v.same_kernel is None and "kata" in v.reason


def test_vm_backed_engine_without_boot_id_uses_offset_or_nothing() -> None:
    assert OLD is not None and RUNSC is not None
    v = clock.decide_clock(OLD, HOST_BOOT, DESKTOP)
    assert v.mode == CLIENT_ONLY and "too old" in v.reason and "no engine clock offset" in v.reason
    assert "this machine runs macOS" in v.reason  # the engine's location is part of the reason
    # An old probe has no CLOCK_REALTIME, so even an offset cannot help.
    v = clock.decide_clock(OLD, HOST_BOOT, DESKTOP, offset=OFFSET)
    assert v.mode == CLIENT_ONLY and "no CLOCK_REALTIME" in v.reason
    remote = engine("docker-20.10-debian12", LocalMachine("6.1.0-13-amd64", "laptop", "Debian", "debian"))
    unreadable = ProbeReport(5, None, probe_image.BOOT_ID_UNREADABLE, RUNSC.realtime_ns)
    v = clock.decide_clock(unreadable, HOST_BOOT, remote, offset=OFFSET)
    assert v.mode == ENGINE_OFFSET and v.same_kernel is False and "6.18.44-fc-v669" in v.reason


def test_user_image_and_unknown_local_boot_id() -> None:
    assert clock.decide_clock(None, HOST_BOOT, DOCKER).mode == CLIENT_ONLY
    assert RUNC is not None
    v = clock.decide_clock(RUNC, None, DOCKER)
    assert v.mode == CLIENT_ONLY and v.same_kernel is None and "cannot be compared" in v.reason


def test_parse_system_time() -> None:
    # Real answers: dockerd (nine digits) and Podman's service on this machine.
    assert clock.parse_system_time("2026-12-01T07:18:33.531201792Z") == (1_796_109_513_531_201_792, 1)
    assert clock.parse_system_time("2026-12-01T07:18:34.066380116Z") == (1_796_109_514_066_380_116, 1)
    assert clock.parse_system_time("2026-12-01T07:18:33.5Z") == (1_796_109_513_500_000_000, 100_000_000)
    assert clock.parse_system_time("2026-12-01T07:18:33Z") == (1_796_109_513_000_000_000, 1_000_000_000)
    assert clock.parse_system_time("2026-12-01T08:18:33.25+01:00") == (1_796_109_513_250_000_000, 10_000_000)
    for bad in ("", "yesterday", "2026-13-01T00:00:00Z", "2026-12-01T07:18:33", "2026-12-01T07:18:33+99:00"):
        assert clock.parse_system_time(bad) is None, bad


def test_estimate_offset_error_bound() -> None:
    assert OFFSET is not None
    # Local midpoint ...531201000, engine ...531201792: +792 ns, within 600 us + 1 ns.
    assert ClockOffset(offset_ns=792, error_ns=600_001, round_trip_ns=1_200_000, resolution_ns=1) == OFFSET
    assert clock.estimate_offset("2026-12-01T07:18:33Z", 10, 5) is None  # received before sent
    assert clock.estimate_offset("no time", 0, 10) is None
    coarse = clock.estimate_offset("2026-12-01T07:18:33Z", 1_796_109_513_000_000_000, 1_796_109_513_002_000_000)
    assert coarse is not None and coarse.error_ns == 1_000_000 + 1_000_000_000
    assert clock.best_offset([None, coarse, OFFSET]) == OFFSET
    assert clock.best_offset([None]) is None


@given(
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=-(10**9), max_value=10**9),
)
def test_estimate_offset_brackets_the_truth(sent: int, rtt: int, true_offset: int) -> None:
    """Whenever the engine read its clock inside the round trip, the truth is within the bound."""
    for at in (sent, sent + rtt // 3, sent + rtt):
        engine_ns = at + true_offset
        sec, nsec = divmod(engine_ns, 10**9)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{nsec:09d}Z"
        est = clock.estimate_offset(text, sent, sent + rtt)
        assert est is not None
        assert abs(est.offset_ns - true_offset) <= est.error_ns


def test_verdict_roundtrip_and_rejects() -> None:
    assert RUNC is not None
    for v in (
        clock.decide_clock(RUNC, HOST_BOOT, DOCKER),
        clock.decide_clock(ProbeReport(1, None, probe_image.BOOT_ID_UNREADABLE, 2), HOST_BOOT, DESKTOP, offset=OFFSET),
        clock.decide_clock(RUNSC, HOST_BOOT, DOCKER, runtime_kind="runsc"),
    ):
        assert ClockVerdict.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    good = clock.decide_clock(RUNC, HOST_BOOT, DOCKER).to_dict()
    for bad, msg in (
        ({**good, "mode": "guess"}, "clock.mode"),
        ({**good, "same_kernel": "yes"}, "clock.same_kernel"),
        ({**good, "reason": None}, "clock.reason"),
        ({**good, "mode": ENGINE_OFFSET}, "clock.offset"),
        ({**good, "mode": ENGINE_OFFSET, "offset": {"offset_ns": 1.5}}, "clock.offset.offset_ns"),
    ):
        with pytest.raises(ReportFormatError, match=msg.replace(".", r"\.")):
            ClockVerdict.from_dict(bad)


@given(
    st.one_of(st.none(), st.sampled_from([HOST_BOOT, "0f1e2d3c-4b5a-4968-8776-655443322110"])),
    st.sampled_from([probe_image.BOOT_ID_READ, probe_image.BOOT_ID_UNREADABLE, probe_image.BOOT_ID_NOT_REPORTED]),
    st.one_of(st.none(), st.just(HOST_BOOT)),
    st.sampled_from([None, "runc", "crun", "runsc", "kata", "youki"]),
    st.booleans(),
    st.sampled_from([DOCKER, DESKTOP]),
)
def test_same_kernel_only_with_matching_boot_ids(
    boot: str | None, status: str, local: str | None, kind: str | None, with_offset: bool, eng: EngineInfo
) -> None:
    probe = ProbeReport(10, boot if status == probe_image.BOOT_ID_READ else None, status, 20)
    v = clock.decide_clock(probe, local, eng, runtime_kind=kind, offset=OFFSET if with_offset else None)
    if v.mode == SAME_KERNEL:
        assert probe.boot_id is not None and probe.boot_id == local and kind not in ("runsc", "kata")
    if kind in ("runsc", "kata"):
        assert v.mode == CLIENT_ONLY
    assert v.reason and (v.offset is not None) == (v.mode == ENGINE_OFFSET)


def test_read_boot_id() -> None:
    assert clock.read_boot_id(RootSource(ROOTS / "firecracker_this_machine")) is None  # not captured there
    live = clock.read_boot_id(LiveSource())
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
        assert live == fh.read().strip()


# --- live: the real engine's clock, and runc against runsc ---------------------------------


@pytest.fixture(scope="module")
def api() -> Any:
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=60).api
        client.ping()
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        live_skip(f"Docker engine unreachable: {err}")
    return client


@pytest.mark.docker
def test_local_engine_offset_is_zero_within_its_bound(api: Any) -> None:
    """dockerd here reads the same CLOCK_REALTIME as virtprobe: the estimate must bracket 0."""
    offsets = []
    for _ in range(5):
        sent = time.clock_gettime_ns(time.CLOCK_REALTIME)
        info = api.info()
        received = time.clock_gettime_ns(time.CLOCK_REALTIME)
        offsets.append(clock.estimate_offset(info["SystemTime"], sent, received))
    best = clock.best_offset(offsets)
    # Go drops trailing zeros of the nanoseconds, so a reading may show fewer digits.
    assert best is not None and best.resolution_ns <= 1000
    assert abs(best.offset_ns) <= best.error_ns


@pytest.mark.docker
@pytest.mark.parametrize(("runtime", "mode"), [("runc", SAME_KERNEL), ("runsc", CLIENT_ONLY)])
def test_live_runtimes(api: Any, runtime: str, mode: str) -> None:
    pytest.importorskip("docker")
    local = LiveSource()
    info, version = api.info(), api.version()
    from virtprobe.benchmark.engine import read_local_machine

    eng = parse_engine(version, info, local=read_local_machine(local))
    offer = eng.offers(runtime)
    if offer is None:
        live_skip(f"the engine offers no {runtime!r} runtime")
    assert offer is not None
    image = probe_image.probe_image("x86_64")
    build_image(api, image)
    host_config = api.create_host_config(network_mode="none", runtime=runtime, cap_drop=["ALL"], read_only=True)
    cid = api.create_container(image.tag, host_config=host_config, labels={"io.virtprobe.run": "test-clock"})["Id"]
    try:
        t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        api.start(cid)
        assert api.wait(cid, timeout=60)["StatusCode"] == 0
        t1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        report = probe_image.parse_probe_report(bytes(api.logs(cid, stdout=True, stderr=False)))
    finally:
        api.remove_container(cid, force=True)
    assert report is not None
    v = clock.decide_clock(report, clock.read_boot_id(local), eng, runtime_kind=offer.kind, window_ns=(t0, t1))
    assert v.mode == mode, v.reason
    fi = clock.first_instruction(v, report, t0)
    if mode == SAME_KERNEL:
        assert fi is not None and 0 < fi.value_s < (t1 - t0) / 1e9
    else:
        assert fi is None and "runsc" in v.reason
