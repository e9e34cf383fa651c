"""The options of `virtprobe detect`, declared once, and the stdlib parser that reads them.

`detect` must start faster than virt-what (about 40 ms here), and importing Typer and
Click alone costs 30-45 ms, so `detect` is parsed with getopt (well under 1 ms) from the table
below. The same table builds the Click command that `virtprobe --help`, `detect --help`,
shell completion and the man page show (cli/app.py), so there is one declaration and two
thin adapters, not a second hand-written parser. Help and usage errors go to Click, so
every command prints them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

# --format values; one row each in cli/detect.py's writers. The section model adds "prometheus".
FORMATS = ("table", "json", "lines", "env", "nfd")


class Opt(NamedTuple):
    flags: tuple[str, ...]
    dest: str
    help: str
    takes: type | None = None  # None: a flag; else the value's type (str, float)
    metavar: str | None = None
    hidden: bool = False  # an old spelling, kept working
    panel: str = "Output"  # the help section it is listed in


DROPIN = "systemd-detect-virt drop-in"

OPTIONS: tuple[Opt, ...] = (
    Opt(("--json",), "json_out", "Print the versioned JSON document on stdout (same as --format json)."),
    Opt(("-f", "--format"), "fmt", f"Output format: {', '.join(FORMATS)}.", str, "FORMAT"),
    Opt(("-o", "--output"), "output", "Write the json, nfd, lines or env output to FILE (atomically).", str, "FILE"),
    Opt(("--force",), "force", "Replace the --output file if it exists."),
    Opt(("-e", "--evidence"), "evidence", "Show every piece of evidence, not only the deciding ones."),
    Opt(("--root",), "root", "Read a captured snapshot folder or archive instead of the live machine.", str, "DIR",
        panel="Source"),
    Opt(("--host-root",), "host_root", "Read a live host mounted here (its /proc and /sys, as a DaemonSet "
        "mounts them); CPUID and the KVM probe stay live.", str, "DIR", panel="Source"),
    Opt(("--no-kvm-probe",), "no_kvm_probe", "Do not run a test guest on /dev/kvm.", panel="Source"),
    Opt(("--expiry-s",), "expiry_s", "nfd: labels expire this many seconds from now (+expiry-time).", float, "S"),
    Opt(("--check",), "check", "Can this host run X? PASS/WARN/FAIL per TARGET (all when none is named); "
        "exit 3 when a shown check FAILs or a named TARGET cannot be confirmed.", panel="Checks"),
    Opt(("-q", "--quiet"), "quiet", "--check: show only the checks that do not pass. Drop-in modes: print "
        "nothing, answer with the exit code only.", panel="Checks"),
    Opt(("--virt",), "virt", "Print the innermost virtualization (systemd-detect-virt with no option); "
        "exit 0 when virtualized, 1 when not.", panel=DROPIN),
    Opt(("-v", "--vm"), "vm", "Print only the hypervisor's identifier; exit 0 in a VM, 1 when not.", panel=DROPIN),
    Opt(("-c", "--container"), "container", "Print only the container's identifier; exit 0 in a container, "
        "1 when not.", panel=DROPIN),
    Opt(("--cvm",), "cvm", "Print only the confidential-VM technology; exit 0 in a confidential VM, 1 when not.",
        panel=DROPIN),
    Opt(("-r", "--chroot"), "chroot", "Exit 0 in a chroot(2) environment, 1 when not (prints nothing).",
        panel=DROPIN),
    Opt(("--private-users",), "private_users", "Exit 0 inside a user namespace, 1 when not (prints nothing).",
        panel=DROPIN),
    Opt(("--list",), "list_ids", "List every identifier --virt, --vm and --container can print.", panel=DROPIN),
    Opt(("--list-cvm",), "list_cvm", "List every identifier --cvm can print.", panel=DROPIN),
)  # fmt: skip

TARGETS_HELP = (
    "With --check: kvm (qemu, libvirt), firecracker, cloud-hypervisor, kata, gvisor, nested, passthrough, "
    "vhost-net, vhost-vsock, tun, ksm, hugepages, cvm-host, or all."
)
HELP = "Report hardware virtualization, KVM, hypervisor, VMM, cloud, container, WSL and confidential VMs."
EPILOG = (
    "Exit codes: 0 done (drop-in modes: virtualized); 1 not virtualized (drop-in modes), or bad input; "
    "2 usage error; 3 a --check shown FAILs or a named TARGET cannot be confirmed."
)


def _getopt_spec() -> tuple[str, list[str]]:
    shorts, longs = "", []
    for opt in OPTIONS:
        for flag in opt.flags:
            if flag.startswith("--"):
                longs.append(flag[2:] + ("=" if opt.takes else ""))
            else:
                shorts += flag[1:] + (":" if opt.takes else "")
    return shorts, longs


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """The options of a detect call, or None for help and anything getopt refuses (Click then says why).

    getopt, not argparse: argparse costs 4-5 ms to import and build (it imports shutil,
    bz2 and lzma to size its help), a tenth of the whole budget."""
    import getopt

    shorts, longs = _getopt_spec()
    try:
        pairs, targets = getopt.gnu_getopt(list(argv), shorts, longs)
    except getopt.GetoptError:
        return None
    by_flag = {flag: opt for opt in OPTIONS for flag in opt.flags}
    values: dict[str, Any] = {o.dest: (False if o.takes is None else None) for o in OPTIONS}
    for flag, text in pairs:
        opt = by_flag.get(flag)
        if opt is None or (opt.takes is not None and values[opt.dest] is not None):
            return None  # a value given twice: let Click judge it
        try:
            values[opt.dest] = True if opt.takes is None else opt.takes(text)
        except ValueError:
            return None
    values["targets"] = targets
    return values
