"""Allow `python -m virtprobe`."""

from virtprobe.entry import main

main()
