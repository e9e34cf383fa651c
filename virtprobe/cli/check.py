"""`virtprobe detect --check [TARGET...]`: show the "can this host run X?" answers and pick the exit code."""

from __future__ import annotations

import sys

from virtprobe.detection.checks import resolve_targets
from virtprobe.detection.model import FAIL, PASS, WARN, DetectResult
from virtprobe.errors import GateFailed


def failed_targets(result: DetectResult, targets: list[str]) -> list[str]:
    """The requested targets that cannot run here: FAIL, or UNKNOWN (not confirmed)."""
    by_target = {c.target: c for c in result.checks}
    bad = []
    for t in targets:
        c = by_target.get(t)
        if c is None or c.status not in (PASS, WARN):
            bad.append(f"{t} ({(c.status if c else 'not checked').upper()})")
    return bad


def show_checks(result: DetectResult, names: list[str], json_out: bool) -> None:
    """Print the checks (all of them when names is empty) and raise GateFailed (exit 3) when a
    named target fails. A bare --check is a report and exits 0."""
    targets, _ = resolve_targets(names)  # the CLI has already refused unknown names
    if json_out:
        from virtprobe.report.envelope import detect_document, dumps

        sys.stdout.write(dumps(detect_document(result)))
        sys.stdout.flush()
    else:
        from virtprobe.cli.console import stdout_console
        from virtprobe.report.sections.detect import build_checks_page
        from virtprobe.report.writers.terminal import renderable

        stdout_console().print(renderable([build_checks_page(result, targets or None)]))
    bad = failed_targets(result, targets)
    if bad:
        worst = [b for b in bad if FAIL.upper() in b]
        what = "cannot run here" if worst else "could not be confirmed"
        raise GateFailed(f"requested check {what}: {', '.join(bad)}")
