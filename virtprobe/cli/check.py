"""`virtprobe detect --check [TARGET...] [-q]`: show the "can this host run X?" answers and pick the exit code.

Exit 3 (GateFailed) when any check shown FAILs, as virt-host-validate exits non-zero on
any failure, and when a TARGET named on the command line is not confirmed (FAIL or
UNKNOWN). `-q` shows only the checks that do not pass; the JSON document is always whole.
"""

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


def shown_targets(result: DetectResult, targets: list[str], quiet: bool) -> list[str]:
    """The checks to show: the named targets (all when none), less those that pass with -q."""
    shown = targets or [c.target for c in result.checks]
    if quiet:
        status = {c.target: c.status for c in result.checks}
        shown = [t for t in shown if status.get(t) != PASS]
    return shown


def show_checks(result: DetectResult, names: list[str], json_out: bool, quiet: bool = False) -> None:
    """Print the checks and raise GateFailed (exit 3) when one shown FAILs or a named target is not confirmed."""
    targets, _ = resolve_targets(names)  # the CLI has already refused unknown names
    shown = shown_targets(result, targets, quiet)
    if json_out:
        sys.stdout.write(result.to_json())
        sys.stdout.flush()
    elif shown or not quiet:
        from virtprobe.cli.console import stdout_console
        from virtprobe.report.sections.detect import build_checks_page
        from virtprobe.report.writers.terminal import renderable

        stdout_console().print(renderable([build_checks_page(result, shown)]))
    bad = failed_targets(result, targets)
    fails = [c.target for c in result.checks if c.status == FAIL and c.target in shown]
    if bad:
        worst = [b for b in bad if FAIL.upper() in b]
        what = "cannot run here" if worst else "could not be confirmed"
        raise GateFailed(f"requested check {what}: {', '.join(bad)}")
    if fails:
        raise GateFailed(f"{len(fails)} check(s) FAIL: {', '.join(fails)}")
