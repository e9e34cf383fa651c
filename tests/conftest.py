"""Shared test setup: fixture roots, and the rule that CI never skips."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

# Property tests check what parsers and loaders do, not how fast: a shared CI
# machine must not fail them on Hypothesis's 200 ms per-example deadline.
settings.register_profile("virtprobe", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("virtprobe")

FIXTURES = Path(__file__).parent / "fixtures"
ROOTS = FIXTURES / "roots"

# In CI (.ci/run sets this), an integration test that would skip because the
# engine, /dev/kvm, QEMU or Chromium is missing fails instead: no green run
# without the real parts.
REQUIRE_LIVE = os.environ.get("VIRTPROBE_REQUIRE_LIVE") == "1"


def on_dev_vm() -> bool:
    """The development machine: a Firecracker microVM (ACPI OEM ID FIRECK in the FADT)
    whose /dev/kvm comes from kvm_pvm. Exact live verdicts are asserted only here."""
    try:
        with open("/sys/firmware/acpi/tables/FACP", "rb") as fh:
            header = fh.read(36)
    except OSError:
        return False
    return header[10:16] == b"FIRECK" and os.path.isdir("/sys/module/kvm_pvm")


# bench's progress lines on a pipe (cli/console.progress_lines): "virtprobe: container cycles 3/11".
_PROGRESS_LINE = re.compile(r"^virtprobe: [^:]*\S \d+/\d+$")


def without_progress(stderr: str) -> list[str]:
    """stderr's lines less bench's progress lines: what is left is the run's messages (an error is one line)."""
    return [line for line in stderr.strip().splitlines() if not _PROGRESS_LINE.match(line)]


def live_skip(reason: str) -> NoReturn:
    """Skip a live test on a user's machine; fail it in CI."""
    if REQUIRE_LIVE:
        pytest.fail(f"required live component missing (VIRTPROBE_REQUIRE_LIVE=1): {reason}")
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_LIVE and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/devvm/ asserts this development VM's exact verdicts: elsewhere it is not even
    collected, so that VIRTPROBE_REQUIRE_LIVE=1 on another machine does not fail for being
    another machine."""
    if "devvm" in collection_path.parts and not on_dev_vm():
        return True
    return None
