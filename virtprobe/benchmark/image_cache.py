"""`--image-cache cold|warm|both`: container cycles whose image is absent from the engine's store, or present.

Cold means the image's layers are not in the store when the cycle starts: the run
builds an image of its own (one layer holding the probe and the run id, so no layer
is shared with another image and removing it really empties the store of it), saves
it once as an archive, and before every cold cycle removes it and loads it back
(/images/load), timed as a phase of its own. Where this process is root and the
engine runs on this machine, the page cache of the archive and of the unpacked layer
files is dropped too (fsync, then POSIX_FADV_DONTNEED on each file), so the load
reads the archive from disk and the first run reads its layers from disk. Only the
run's own image is ever removed: its labels are checked first (DockerBackend.remove_run_image).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from virtprobe.benchmark.backend import Clock, Progress
from virtprobe.benchmark.cycles import ClockJudge, one_cycle
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import CycleSample, ImageCacheSection

METHOD_LOAD = "load"
# Bounds on what the page-cache drop walks: a probe image has three files.
MAX_FILES = 10_000


def drop_page_cache(paths: Iterable[str]) -> tuple[int, list[str]]:
    """fsync then POSIX_FADV_DONTNEED every regular file at or below `paths`: (files dropped, problems).

    fadvise cannot evict dirty pages, hence the fsync first. Problems (a folder that
    cannot be read, a file that cannot be opened) are returned, not raised.
    """
    dropped = 0
    problems: list[str] = []
    for top in paths:
        files = [top] if os.path.isfile(top) else []
        if os.path.isdir(top):
            for root, _dirs, names in os.walk(top, onerror=lambda e: problems.append(str(e))):
                files.extend(os.path.join(root, n) for n in names)
        for path in files[:MAX_FILES]:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as err:
                problems.append(f"{path}: {err.strerror or err}")
                continue
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                dropped += 1
            except OSError as err:
                problems.append(f"{path}: {err.strerror or err}")
            finally:
                os.close(fd)
    return dropped, problems


def page_cache_plan(engine: EngineInfo, euid: int) -> str | None:
    """Pure: None when the page cache can be dropped, else why not (said in the report)."""
    if engine.on_this_machine is not True:
        return f"not dropped: the engine's files are not on this machine ({engine.location_reason})"
    if euid != 0:
        return "not dropped: the layer files belong to the engine and only root may open them"
    return None


def run_image_cache(
    backend: Any,
    clock: Clock,
    options: BenchOptions,
    progress: Progress,
    *,
    run_id: str,
    engine: EngineInfo,
    judge: ClockJudge | None,
    realtime: Clock = time.time_ns,
) -> ImageCacheSection:
    """Cold and/or warm cycles of the run's own image; cold and warm alternate under `both`."""
    mode = options.image_cache or "warm"
    if options.image:
        return ImageCacheSection(
            mode=mode, image=options.image, method=None, cold=(), load_s=(), warm=(),
            refused="--image-cache times virtprobe's own image: virtprobe never removes an image it did not build",
        )  # fmt: skip
    with held_interrupts():
        tag = backend.build_run_image(engine.arch, run_id)
    why_not = page_cache_plan(engine, os.geteuid())
    problems: list[str] = []
    dropped_files = 0
    cold: list[CycleSample] = []
    warm: list[CycleSample] = []
    load_s: list[float] = []
    archive_bytes: int | None = None
    total = options.warmup + options.runs
    try:
        with tempfile.TemporaryDirectory(prefix="virtprobe-image-") as tmp:
            archive_path = os.path.join(tmp, "image.tar")
            with held_interrupts():
                archive = backend.save_image(tag)
            archive_bytes = len(archive)
            with open(archive_path, "wb") as fh:
                fh.write(archive)
            del archive
            for i in range(total):
                warmup = i < options.warmup
                if mode in ("cold", "both"):
                    with held_interrupts():
                        backend.remove_run_image(tag, run_id)
                    if why_not is None:
                        n, errs = drop_page_cache([archive_path])
                        dropped_files += n
                        problems += errs
                    with held_interrupts():
                        t0 = clock()
                        with open(archive_path, "rb") as fh:
                            backend.load_image(fh.read())
                        load_s.append((clock() - t0) / 1e9)
                    if why_not is None:
                        n, errs = drop_page_cache(backend.image_layer_dirs(tag))
                        dropped_files += n
                        problems += errs
                    cold.append(one_cycle(backend, clock, tag, run_id, i, warmup, True, None, judge, realtime))
                if mode in ("warm", "both"):
                    warm.append(one_cycle(backend, clock, tag, run_id, i, warmup, True, None, judge, realtime))
                progress("image cache", i + 1, total)
    finally:
        with held_interrupts():
            backend.remove_run_image(tag, run_id)
    page_cache: str | None
    if why_not is None:
        page_cache = f"dropped before each cold cycle: the archive and the loaded layer files ({dropped_files} drops)"
        if problems:
            page_cache += f"; {len(problems)} file(s) could not be dropped, e.g. {problems[0]}"
    else:
        page_cache = why_not if mode != "warm" else None
    return ImageCacheSection(
        mode=mode,
        image=tag,
        method=METHOD_LOAD if mode != "warm" else None,
        cold=tuple(cold),
        load_s=tuple(load_s),
        warm=tuple(warm),
        archive_bytes=archive_bytes,
        page_cache=page_cache,
    )
