"""The command group's table: every command, where it lives, what `virtprobe --help` says of it.

Plain data, cheap to import: cli/app.py's lazy group reads it to load a command only when
it runs, and cli/root.py reads it to answer `virtprobe --help` and `--version` without
importing Typer (which costs about as much as virt-what takes to answer).
"""

from __future__ import annotations

from virtprobe.lean_typing import NamedTuple

MAX_WIDTH = 100  # help text is wrapped to the terminal, at most this wide

APP_HELP = "What is this machine, really, and what does isolation cost on it?"
ROOT_HELP = "virtprobe inspects the machine it runs on and measures what isolation costs there."
VERSION_HELP = "Print the version and exit."
APP_EPILOG = (
    "Exit codes: 0 done; 1 bad input; 2 usage; 3 a regression, a --max-* gate or a --check FAIL; "
    "4 the engine cannot be used; 5 the workload cannot run; 6 a needed extra is not installed; "
    "130 interrupted. `virtprobe COMMAND -h` for each command."
)


class Entry(NamedTuple):
    module: str  # the module that defines the command
    function: str  # the Typer command function in it
    summary: str  # the line `virtprobe --help` shows (a test keeps it equal to the docstring's first line)
    hidden: bool = False


COMMANDS: dict[str, Entry] = {
    "detect": Entry("virtprobe.cli.detect_options", "", "Report hardware virtualization, KVM, hypervisor, VMM, "
                    "cloud, container, WSL and confidential VMs."),
    "snapshot": Entry("virtprobe.cli.snapshot", "snapshot", "Capture what detect reads from this machine, to "
                      "attach to a bug report or replay with --root."),
    "bench": Entry("virtprobe.cli.bench", "bench", "Time container startup phase by phase, and memory, against "
                   "VM baselines."),
    "clean": Entry("virtprobe.cli.bench", "clean", "Remove containers and images left by crashed virtprobe runs "
                   "(only virtprobe's own)."),
    "report": Entry("virtprobe.cli.report", "report", "Render saved reports again as a table, Markdown, HTML, "
                    "JSON, Prometheus text or CSV."),
    "compare": Entry("virtprobe.cli.report", "compare", "Compare two reports; exit 3 on a significant regression "
                     "larger than --threshold-pct."),
    "merge": Entry("virtprobe.cli.merge", "merge", "Gather reports from many machines into one versioned fleet "
                   "document (render it with `report`)."),
    "history": Entry("virtprobe.cli.history", "history", "Trend per metric over many bench reports (CI runs), change "
                     "points, and a gate on the newest report."),
    "man": Entry("virtprobe.cli.manpage", "man", "Print virtprobe's man page (roff), generated from this CLI.",
                 hidden=True),
}  # fmt: skip
