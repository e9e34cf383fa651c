"""Which source a user's --root names: the live machine, a captured snapshot folder, or a snapshot archive."""

from __future__ import annotations

import os

from virtprobe.machine.source import LiveSource, RootSource, Source


def open_source(root: str | os.PathLike[str] | None) -> Source:
    """The live machine when root is None, else the captured root (never both).

    root may be a folder or a snapshot archive (.tar.gz, as written by
    `virtprobe snapshot OUT.tar.gz` or the shell script), unpacked safely to a
    temporary folder by machine.archive."""
    if root is None:
        return LiveSource()
    if os.path.isfile(root):
        # lazy: only a file can be an archive; tarfile costs milliseconds that the live
        # `detect --json` (<= 1.0x virt-what) never needs.
        from virtprobe.machine.archive import ArchiveSource, is_archive

        if is_archive(root):
            return ArchiveSource(root)
    return RootSource(root)
