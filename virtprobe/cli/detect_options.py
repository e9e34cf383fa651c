"""The options of `virtprobe detect`, declared once, and the stdlib-only parser that reads them.

`detect` must start faster than virt-what (about 40 ms here), and importing Typer and
Click alone costs 30-45 ms, so `detect` is parsed by a loop over the table below
(argparse costs 4-5 ms to import and build, getopt 1.4 ms for its gettext). The same
table builds the Click command that `virtprobe --help`, `detect --help`, shell completion
and the man page show (cli/app.py): the options are declared once, and the loop holds
none of its own (tests/test_cli.py checks that it and Click read every argv alike). Help
and usage errors go to Click, so every command prints them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

# --format values; one row each in cli/detect.py's writers. The section model adds "prometheus".
FORMATS = ("table", "json", "lines", "env", "nfd", "prometheus")


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
    Opt(("-o", "--output"), "output", "Write the json, nfd, prometheus, lines or env output to FILE (atomically).",
        str, "FILE"),
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


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """The options of a detect call, or None for help and anything it cannot read (Click then says why).

    GNU rules, as getopt.gnu_getopt reads them (options and TARGETs in any order, `--opt=value`,
    `-qc` for `-q -c`, `--` ends the options), without getopt's import of gettext: a loop over
    the table above. No abbreviations: Click refuses them too."""
    by_flag = {flag: opt for opt in OPTIONS for flag in opt.flags}
    values: dict[str, Any] = {o.dest: (False if o.takes is None else None) for o in OPTIONS}
    targets: list[str] = []
    args = list(argv)
    while args:
        word = args.pop(0)
        if word == "--":
            targets += args
            break
        if not word.startswith("-") or word == "-":
            targets.append(word)
            continue
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            pairs = [(name, inline if eq else None)]
        else:  # -qc: a cluster of short flags; the last may take a value (-oFILE or -o FILE)
            pairs = []
            for i, char in enumerate(word[1:], start=1):
                opt = by_flag.get("-" + char)
                if opt is not None and opt.takes is not None:
                    pairs.append(("-" + char, word[i + 1 :] or None))
                    break
                pairs.append(("-" + char, None))
        for flag, value in pairs:
            opt = by_flag.get(flag)
            if opt is None:
                return None
            if opt.takes is None:
                if value is not None:
                    return None  # --json=yes: a flag takes no value
                values[opt.dest] = True
                continue
            if value is None:
                if not args:
                    return None
                value = args.pop(0)
            if values[opt.dest] is not None:
                return None  # given twice: let Click judge it
            try:
                values[opt.dest] = opt.takes(value)
            except ValueError:
                return None
    values["targets"] = targets
    return values
