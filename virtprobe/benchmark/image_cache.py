"""`--image-cache cold|warm|both`: container cycles whose image is absent from the engine's store, or present.

Cold means the image's layers are not in the store when the cycle starts: the run
builds an image of its own (one layer holding the probe and the run id, so no layer
is shared with another image and removing it really empties the store of it), saves
it once as an archive, and before every cold cycle removes it and loads it back
(/images/load), timed as a phase of its own. With a registry (--registry HOST:PORT,
e.g. Debian's docker-registry on 127.0.0.1) the image is pushed there once and each
cold cycle pulls it instead: a real pull, the way a new image reaches a node. Where this process is root and the
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
METHOD_PULL = "pull"
REGISTRY_REPO = "virtprobe/probe-cold"
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
        ref = f"{options.registry}/{REGISTRY_REPO}:{run_id}" if options.registry else None
        if ref is not None:
            backend.push_image(tag, ref)
    method = METHOD_PULL if ref is not None else METHOD_LOAD
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
            if ref is None:  # a pull needs no archive
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
                        backend.remove_run_image(ref or tag, run_id)
                    if why_not is None and ref is None:
                        n, errs = drop_page_cache([archive_path])
                        dropped_files += n
                        problems += errs
                    with held_interrupts():
                        t0 = clock()
                        if ref is not None:
                            backend.pull_image(ref)
                        else:
                            with open(archive_path, "rb") as fh:
                                backend.load_image(fh.read())
                        load_s.append((clock() - t0) / 1e9)
                    if why_not is None:
                        n, errs = drop_page_cache(backend.image_layer_dirs(ref or tag))
                        dropped_files += n
                        problems += errs
                    cold.append(one_cycle(backend, clock, ref or tag, run_id, i, warmup, True, None, judge, realtime))
                if mode in ("warm", "both"):
                    warm.append(one_cycle(backend, clock, ref or tag, run_id, i, warmup, True, None, judge, realtime))
                progress("image cache", i + 1, total)
    finally:
        with held_interrupts():
            for name in {tag, ref or tag}:
                backend.remove_run_image(name, run_id)
    page_cache: str | None
    if why_not is None:
        what = "the archive and the loaded layer files" if ref is None else "the pulled layer files"
        page_cache = f"dropped before each cold cycle: {what} ({dropped_files} drops)"
        if problems:
            page_cache += f"; {len(problems)} file(s) could not be dropped, e.g. {problems[0]}"
    else:
        page_cache = why_not if mode != "warm" else None
    return ImageCacheSection(
        mode=mode,
        image=tag,
        method=method if mode != "warm" else None,
        cold=tuple(cold),
        load_s=tuple(load_s),
        warm=tuple(warm),
        archive_bytes=archive_bytes,
        page_cache=page_cache,
    )
