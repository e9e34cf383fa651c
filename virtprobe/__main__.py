"""Allow `python -m virtprobe`."""

from virtprobe.cli import main

main()
