#!/usr/bin/env python3
"""How fast is `virtprobe detect --json` beside virt-what, systemd-detect-virt and py-cpuinfo? Prints ratios.

Targets (issue #2): at most 3x virt-what's median, and at least 8x faster than
py-cpuinfo's get_cpu_info(). Runs hyperfine (Debian package) with -N (no
shell) and reads medians from its JSON export. The "library" row runs detect
without the CLI, to show what the command-line layer costs on top.

Usage: benchmarks/detect_speed.py [--runs N] [--check]   (--check: exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv" / "bin" / "python"
VIRTPROBE = REPO / ".venv" / "bin" / "virtprobe"

LIBRARY = (
    "import sys; from virtprobe.detect.run import detect; from virtprobe.machine.source import LiveSource; "
    "from virtprobe.report.document import detect_document as to_document, dumps; "
    "sys.stdout.write(dumps(to_document(detect(LiveSource()))))"
)


def commands() -> dict[str, list[str]]:
    cmds = {
        "virtprobe detect --json": [str(VIRTPROBE), "detect", "--json"],
        "virtprobe detect (library, no CLI)": [str(PY), "-c", LIBRARY],
        "virt-what": ["virt-what"],
        "systemd-detect-virt": ["systemd-detect-virt"],
        "py-cpuinfo get_cpu_info()": [str(PY), "-c", "import cpuinfo; cpuinfo.get_cpu_info()"],
    }
    return {k: v for k, v in cmds.items() if shutil.which(v[0]) or Path(v[0]).exists()}


def run_hyperfine(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median seconds per command name."""
    if shutil.which("hyperfine") is None:
        sys.exit("hyperfine not found: apt-get install hyperfine")
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in cmds.items():
            out = Path(tmp) / "h.json"
            # py-cpuinfo takes over a second per run: fewer runs for it.
            n = max(3, runs // 5) if "cpuinfo" in name else runs
            cmdline = " ".join(_quote(a) for a in argv)
            # virt-what and systemd-detect-virt exit non-zero on some machines: an answer, not a failure.
            subprocess.run(
                [
                    "hyperfine",
                    "-N",
                    "--warmup",
                    "2",
                    "--runs",
                    str(n),
                    "--ignore-failure",
                    "--style",
                    "none",
                    "--export-json",
                    str(out),
                    "--command-name",
                    name,
                    cmdline,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            medians[name] = json.loads(out.read_text())["results"][0]["median"]
    return medians


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    medians = run_hyperfine(commands(), args.runs)
    width = max(len(k) for k in medians)
    for name, med in medians.items():
        print(f"{name:<{width}}  median {med * 1000:8.1f} ms")
    vp = medians.get("virtprobe detect --json")
    ok = True
    if vp is None:
        print("virtprobe not installed in .venv", file=sys.stderr)
        return 1
    if "virt-what" in medians:
        r = vp / medians["virt-what"]
        good = r <= 3.0
        ok &= good
        print(f"virtprobe / virt-what           = {r:5.2f}x  (target <= 3x: {'met' if good else 'MISSED'})")
    if "systemd-detect-virt" in medians:
        print(f"virtprobe / systemd-detect-virt = {vp / medians['systemd-detect-virt']:5.2f}x  (no target)")
    if "py-cpuinfo get_cpu_info()" in medians:
        r = medians["py-cpuinfo get_cpu_info()"] / vp
        good = r >= 8.0
        ok &= good
        print(
            f"py-cpuinfo / virtprobe          = {r:5.2f}x"
            f"  (target >= 8x faster: {'met' if good else 'MISSED'})"
        )
    lib = medians.get("virtprobe detect (library, no CLI)")
    if lib is not None:
        print(f"CLI layer cost                  = {(vp - lib) * 1000:5.1f} ms (command minus library)")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
