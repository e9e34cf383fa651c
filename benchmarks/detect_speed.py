#!/usr/bin/env python3
"""How fast does each virtprobe command start, beside virt-what? Every ratio, measured in one run, with pass/fail.

Targets (issue 17), against virt-what's median measured in the same run:

- at most 1.0x: `detect --json` and the systemd-detect-virt drop-in modes (`detect --vm`, `detect --container`);
- at most 1.5x: `--version`, `--help`, `detect` (the table) and `detect --check`.

virtprobe runs as pip installs it: its wheel in a fresh venv, bytecode compiled at install
time, started by the `virtprobe` script pip writes (its dependencies, Typer and Rich, come
from this checkout's .venv through a .pth file, so nothing is downloaded). For
information, more rows: the checkout as scripts/setup.sh installs it (editable, bytecode
compiled by setup) with
PYTHONDONTWRITEBYTECODE=1 as this machine sets it, and systemd-detect-virt and py-cpuinfo
(when installed) for scale. hyperfine (Debian package) runs each command with -N (no
shell) over two passes in opposite orders, since the first command of a batch runs slower
on a busy machine; medians come from its JSON export. This is a benchmark, not a test:
timings on a shared 2-core machine are noisy, so run it when the machine is quiet.

Usage: benchmarks/detect_speed.py [--runs N] [--check]   (--check: exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
DEV_PY = REPO / ".venv" / "bin" / "python"
VIRT_WHAT = "virt-what"


class Row(NamedTuple):
    name: str
    argv: tuple[str, ...]  # after `python -m virtprobe`
    target: float | None  # at most this multiple of virt-what's median; None: information only


ROWS = (
    Row("detect --json", ("detect", "--json"), 1.0),
    Row("detect --vm (drop-in)", ("detect", "--vm"), 1.0),
    Row("detect --container (drop-in)", ("detect", "--container"), 1.0),
    Row("virtprobe --version", ("--version",), 1.5),
    Row("virtprobe --help", ("--help",), 1.5),
    Row("detect (table)", ("detect",), 1.5),
    Row("detect --check", ("detect", "--check"), 1.5),
)


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*")) / "site-packages"


def wheel_venv(tmp: Path) -> Path:
    """A fresh venv with virtprobe's wheel and its `virtprobe` script, bytecode compiled at install as for users."""
    subprocess.run(
        [str(DEV_PY), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "wheel"), str(REPO)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    venv = tmp / "venv"
    subprocess.run([str(DEV_PY), "-m", "venv", str(venv)], check=True)
    wheel = next((tmp / "wheel").glob("virtprobe-*.whl"))
    target = site_packages(venv)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-index", str(wheel)],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # Typer and Rich from the checkout's venv: appended after the venv's own site-packages,
    # so the wheel's virtprobe is the one imported (a path added by a .pth file is not a
    # site directory: the checkout's editable .pth inside it is not read).
    (target / "zz-deps.pth").write_text(str(site_packages(REPO / ".venv")) + "\n")
    return venv


def commands(wheel: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    # The `virtprobe` script pip writes, as a user runs it (not `python -m`, which adds runpy).
    script = str(wheel / "bin" / "virtprobe")
    cmds: dict[str, tuple[list[str], dict[str, str]]] = {row.name: ([script, *row.argv], {}) for row in ROWS}
    cmds["detect --json, checkout, PYTHONDONTWRITEBYTECODE=1"] = (
        [str(REPO / ".venv" / "bin" / "virtprobe"), "detect", "--json"],
        {"PYTHONDONTWRITEBYTECODE": "1"},
    )
    cmds[VIRT_WHAT] = (["virt-what"], {})
    if shutil.which("systemd-detect-virt"):
        cmds["systemd-detect-virt"] = (["systemd-detect-virt"], {})
    has_cpuinfo = subprocess.run([str(DEV_PY), "-c", "import cpuinfo"], capture_output=True).returncode == 0
    if has_cpuinfo:
        cmds["py-cpuinfo get_cpu_info()"] = ([str(DEV_PY), "-c", "import cpuinfo; cpuinfo.get_cpu_info()"], {})
    return cmds


class Timing(NamedTuple):
    median_s: float  # wall clock, what the targets are about
    cpu_s: float  # mean user + system time: steadier than wall time on a busy machine (information)


def run_hyperfine(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int, tmp: Path) -> dict[str, Timing]:
    """Median wall seconds and mean CPU seconds per command name, over two passes in opposite orders."""
    if shutil.which("hyperfine") is None:
        sys.exit("hyperfine not found: apt-get install hyperfine")
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    for order in (list(cmds), list(reversed(cmds))):
        for name in order:
            argv, extra_env = cmds[name]
            out = tmp / "h.json"
            n = max(3, runs // 10) if "cpuinfo" in name else runs  # py-cpuinfo takes over a second a run
            # virt-what, systemd-detect-virt and the drop-in modes exit 1 when not virtualized: an answer.
            subprocess.run(
                ["hyperfine", "-N", "--warmup", "3", "--runs", str(n), "--ignore-failure", "--style", "none",
                 "--export-json", str(out), f"--command-name={name}", shlex.join(argv)],
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, **extra_env},
                # Not the checkout: `python -m` puts the working directory first on sys.path.
                cwd=tmp,
            )  # fmt: skip
            result = json.loads(out.read_text())["results"][0]
            samples[name] += result["times"]
            cpu[name].append(result["user"] + result["system"])
    return {name: Timing(statistics.median(xs), statistics.mean(cpu[name])) for name, xs in samples.items()}


def report(timings: dict[str, Timing]) -> bool:
    """Print every median and every ratio to virt-what; True when every target is met."""
    base, base_cpu = timings[VIRT_WHAT]
    width = max(len(k) for k in timings)
    print(f"{'command':<{width}}  {'median':>9}  {'/virt-what':>10}  {'cpu ratio':>9}  target")
    ok = True
    targets = {row.name: row.target for row in ROWS}
    for name, (med, cpu) in timings.items():
        ratio = med / base
        target = targets.get(name)
        if target is None:
            verdict = "(information)"
        else:
            good = ratio <= target
            ok &= good
            verdict = f"<= {target:.1f}x  {'pass' if good else 'FAIL'}"
        print(f"{name:<{width}}  {med * 1000:6.1f} ms  {ratio:9.2f}x  {cpu / base_cpu:8.2f}x  {verdict}")
    cpuinfo = timings.get("py-cpuinfo get_cpu_info()")
    if cpuinfo is not None:
        print(f"py-cpuinfo is {cpuinfo.median_s / timings['detect --json'].median_s:.0f}x slower than detect --json")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if shutil.which(VIRT_WHAT) is None:
        print("virt-what not installed (apt-get install virt-what): no reference to compare with", file=sys.stderr)
        return 1
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs: wall-clock ratios will be noisy; "
              "the cpu ratio column is steadier", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="virtprobe-speed-") as tmp_name:
        tmp = Path(tmp_name)
        timings = run_hyperfine(commands(wheel_venv(tmp)), args.runs, tmp)
    ok = report(timings)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
