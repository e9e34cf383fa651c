"""Temporary folders of virtprobe's own (an unpacked archive, a snapshot being written): removed however we end.

On success and on errors the owner removes its folder; on Ctrl-C the
KeyboardInterrupt unwinds through the owner's clean-up; at interpreter exit a
finalizer catches what is left. SIGTERM's default action would skip all of
these (the issue found a 48 MB unpack folder left behind), so while any such
folder exists a SIGTERM handler is installed: it removes every one of them at
once, then raises Interrupted (exit 130, as for Ctrl-C) so that the rest of the
run unwinds too. The handler is only installed from the main thread (Python
runs handlers there alone) and only over the default action: a caller that
handles SIGTERM itself (bench) keeps its own handler, and unwinds through ours
with its own exception.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from types import FrameType
from typing import Any

from virtprobe.errors import Interrupted

_lock = threading.Lock()
_folders: set[str] = set()
_previous: Any = None  # the SIGTERM handler ours replaced, while ours is installed
_installed = False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    with _lock:
        folders = sorted(_folders)
        _folders.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    _restore()
    raise Interrupted("terminated; the temporary folders virtprobe had made are removed")


def _install() -> None:
    global _previous, _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is not signal.SIG_DFL:
        return  # someone handles SIGTERM already and unwinds through our owners' clean-up
    _previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _installed = True


def _restore() -> None:
    global _previous, _installed
    if not _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, _previous if _previous is not None else signal.SIG_DFL)
    _previous = None
    _installed = False


def make_folder(prefix: str, parent: str | None = None) -> str:
    """A new private folder (mode 0700, made with mkdtemp), removed by remove_folder or on SIGTERM.

    SIGTERM is held while the folder is made and registered: one arriving between the
    two would otherwise end the process by default and leave the folder behind."""
    main = threading.current_thread() is threading.main_thread()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}) if main else None
    try:
        folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
        with _lock:
            _folders.add(folder)
        _install()
    finally:
        if held is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held SIGTERM now runs our handler
    return folder


def forget_folder(folder: str) -> None:
    """The folder is no longer scratch (it was renamed into place): SIGTERM must leave it alone."""
    with _lock:
        _folders.discard(folder)
        empty = not _folders
    if empty:
        _restore()


def remove_folder(folder: str) -> None:
    """Remove a folder made by make_folder (already gone is fine).

    Removed first and forgotten after: a SIGTERM during the removal finds it still registered."""
    shutil.rmtree(folder, ignore_errors=True)
    forget_folder(folder)
