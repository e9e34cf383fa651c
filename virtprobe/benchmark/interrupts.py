"""Ctrl-C and SIGTERM during a run: hold them across engine calls, then clean up everything.

Signals are process-wide and their handlers run in the main thread only, so the state
here is module-level. Every container carries io.virtprobe.run=<run id>; `cleanup_guard`
removes all of them on normal exit, on errors, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from virtprobe.benchmark.backend import Backend
from virtprobe.errors import EngineError, Interrupted


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered in the main thread like Ctrl-C so the same cleanup runs."""


# Signals are process-wide and their handlers run in the main thread only, so this
# state is module-level: how deep the main thread is in engine calls that must not be
# cut in half, and the interrupt that arrived meanwhile.
_hold_depth = 0
_held: KeyboardInterrupt | None = None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _held
    err = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _hold_depth and _held is None:
        _held = err
        return
    # Outside a held call, or a second signal while one is held: stop now.
    raise err


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the engine call inside has returned, then raise it.

    An interrupt that cuts a create request in half leaves the daemon to finish it:
    the container appears after the sweep has listed the run's containers, with an id
    virtprobe never learnt, and leaks (seen in CI). Cutting a start or remove request
    in half makes the sweep race the daemon on the same container. So these calls run
    to their end; a second Ctrl-C still stops at once. Only the main thread's calls
    need holding: workers are never interrupted, and the pool drains before the sweep.
    """
    global _hold_depth, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _hold_depth += 1
    try:
        yield
    finally:
        _hold_depth -= 1
        if _hold_depth == 0 and _held is not None:
            err, _held = _held, None
            raise err


@contextmanager
def _signal_handler(handler: Any, *signums: signal.Signals) -> Iterator[None]:
    """Within: `handler` for these signals, then the previous ones again (main thread only:
    Python installs signal handlers nowhere else)."""
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, handler) for sig in signums} if main else {}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def signals_interrupt(*signums: signal.Signals) -> contextlib.AbstractContextManager[None]:
    """Within: these signals raise KeyboardInterrupt (SIGTERM: Terminated) in the main thread."""
    return _signal_handler(_on_signal, *signums)


@contextmanager
def cleanup_guard(backend: Backend, run_id: str) -> Iterator[None]:
    """Remove every container of this run however the body ends; Ctrl-C/SIGTERM -> Interrupted."""
    with signals_interrupt(signal.SIGINT, signal.SIGTERM), _guarded(backend, run_id):
        yield


@contextmanager
def _guarded(backend: Backend, run_id: str) -> Iterator[None]:
    global _held
    try:
        yield
    except KeyboardInterrupt as err:
        sweep(backend, run_id)
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        raise Interrupted(f"{what}; every container of run {run_id} has been removed") from err
    except BaseException:
        # The original error (e.g. the daemon died) is the one to report.
        with contextlib.suppress(EngineError):
            sweep(backend, run_id)
        raise
    else:
        sweep(backend, run_id)
    finally:
        _held = None


def signals_ignored() -> contextlib.AbstractContextManager[None]:
    """A second Ctrl-C/SIGTERM must not abandon a cleanup half way."""
    return _signal_handler(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM)


def sweep(backend: Backend, run_id: str) -> None:
    with signals_ignored():
        backend.remove_labelled(run_id)
