"""Allow `python -m virtprobe`."""

from virtprobe.cli.main import main

main()
