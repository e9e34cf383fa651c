#!/usr/bin/env python3
"""How fast is `virtprobe detect --json` beside virt-what, systemd-detect-virt and py-cpuinfo? Prints ratios.

Targets: `detect --json` at most 1.0x virt-what's median, measured in the same run,
in both bytecode modes:

- compiled: virtprobe installed from its wheel into a fresh venv, as pip installs it
  (pip compiles the bytecode at install time);
- this machine: the development checkout as scripts/setup.sh installs it (editable, with
  its bytecode compiled by setup), run with PYTHONDONTWRITEBYTECODE=1 as this machine sets
  it. Before setup compiled the bytecode, this mode compiled virtprobe from source on every
  run, because Python is told never to write bytecode.

A third row, for information, has no bytecode at all (the wheel install with its
__pycache__ removed): what compiling detect's modules from source costs on every run. py-cpuinfo's get_cpu_info() is
shown for scale (target: virtprobe at least 8x faster). hyperfine (Debian package) runs
each command with -N (no shell); medians come from its JSON export, and the order of
commands alternates between two passes, since the first command of a batch runs slower
on a busy machine.

Usage: benchmarks/detect_speed.py [--runs N] [--check]   (--check: exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV_PY = REPO / ".venv" / "bin" / "python"

COMPILED = "detect --json, wheel install (bytecode compiled)"
THIS_MACHINE = "detect --json, checkout as setup.sh installs it, PYTHONDONTWRITEBYTECODE=1"
SOURCE = "detect --json, no bytecode at all (information)"
VIRT_WHAT = "virt-what"


def wheel_venv(tmp: Path) -> Path:
    """A fresh venv with virtprobe's wheel installed (no dependencies: detect needs none)."""
    subprocess.run(
        [str(DEV_PY), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "wheel"), str(REPO)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = next((tmp / "wheel").glob("virtprobe-*.whl"))
    # pip compiles the package's bytecode at install time, as it does for users.
    subprocess.run(
        [str(DEV_PY), "-m", "pip", "install", "-q", "--no-deps", "--target", str(site_packages(venv)), str(wheel)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return venv


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*")) / "site-packages"


def source_only_copy(venv: Path, tmp: Path) -> Path:
    """A second venv whose virtprobe has no bytecode at all."""
    other = tmp / "venv-source"
    shutil.copytree(venv, other, symlinks=True)
    for cache in site_packages(other).joinpath("virtprobe").rglob("__pycache__"):
        shutil.rmtree(cache)
    return other


def commands(compiled: Path, source: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    quiet = {"PYTHONDONTWRITEBYTECODE": "1"}
    cmds = {
        COMPILED: ([str(compiled / "bin" / "python"), "-m", "virtprobe", "detect", "--json"], quiet),
        THIS_MACHINE: ([str(DEV_PY), "-m", "virtprobe", "detect", "--json"], quiet),
        SOURCE: ([str(source / "bin" / "python"), "-m", "virtprobe", "detect", "--json"], quiet),
        VIRT_WHAT: (["virt-what"], {}),
        "systemd-detect-virt": (["systemd-detect-virt"], {}),
        "py-cpuinfo get_cpu_info()": ([str(DEV_PY), "-c", "import cpuinfo; cpuinfo.get_cpu_info()"], {}),
    }
    return {k: v for k, v in cmds.items() if shutil.which(v[0][0]) or Path(v[0][0]).exists()}


def run_hyperfine(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int, tmp: Path) -> dict[str, float]:
    """Median seconds per command name, over two passes in opposite orders."""
    if shutil.which("hyperfine") is None:
        sys.exit("hyperfine not found: apt-get install hyperfine")
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for order in (list(cmds), list(reversed(cmds))):
        for name in order:
            argv, extra_env = cmds[name]
            out = tmp / "h.json"
            # py-cpuinfo takes over a second per run: fewer runs for it.
            n = max(3, runs // 10) if "cpuinfo" in name else runs
            # virt-what and systemd-detect-virt exit non-zero on some machines: an answer, not a failure.
            subprocess.run(
                ["hyperfine", "-N", "--warmup", "3", "--runs", str(n), "--ignore-failure", "--style", "none",
                 "--export-json", str(out), "--command-name", name, " ".join(_quote(a) for a in argv)],
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, **extra_env},
                # Not the checkout: `python -m` puts the working directory first on sys.path,
                # and the wheel installs would then run the checkout's code.
                cwd=tmp,
            )  # fmt: skip
            samples[name] += json.loads(out.read_text())["results"][0]["times"]
    import statistics

    return {name: statistics.median(xs) for name, xs in samples.items()}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="virtprobe-speed-") as tmp_name:
        tmp = Path(tmp_name)
        compiled = wheel_venv(tmp)
        medians = run_hyperfine(commands(compiled, source_only_copy(compiled, tmp)), args.runs, tmp)
    width = max(len(k) for k in medians)
    for name, med in medians.items():
        print(f"{name:<{width}}  median {med * 1000:8.1f} ms")
    ok = True
    if VIRT_WHAT not in medians:
        print("virt-what not installed (apt-get install virt-what): no target to compare with", file=sys.stderr)
        return 1
    for name, label in ((COMPILED, "compiled"), (THIS_MACHINE, "this machine")):
        r = medians[name] / medians[VIRT_WHAT]
        good = r <= 1.0
        ok &= good
        print(f"detect/virt-what, {label:<12} = {r:5.2f}x  (target <= 1.0x: {'met' if good else 'MISSED'})")
    print(f"detect/virt-what, no bytecode = {medians[SOURCE] / medians[VIRT_WHAT]:5.2f}x  (information)")
    if "systemd-detect-virt" in medians:
        r = medians[COMPILED] / medians["systemd-detect-virt"]
        print(f"detect/systemd-detect-virt    = {r:5.2f}x  (no target)")
    if "py-cpuinfo get_cpu_info()" in medians:
        r = medians["py-cpuinfo get_cpu_info()"] / medians[COMPILED]
        good = r >= 8.0
        ok &= good
        print(f"py-cpuinfo / detect           = {r:5.2f}x  (target >= 8x faster: {'met' if good else 'MISSED'})")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
