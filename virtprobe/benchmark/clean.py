"""`virtprobe clean`: remove what crashed runs left behind, and only virtprobe's own containers.

Only containers carrying virtprobe's run label are ever looked at. Of those, a
container is kept unless `include_running` is given when its run's process is
still alive (the owner label), and also when the container itself is running or
paused, whatever its labels say: a label is only a claim, and a running
container that merely carries io.virtprobe.run may be someone's work (issue 16).
The removal of a stopped container is asked for without force, so one that was
started meanwhile is refused by the engine and kept, not killed.
"""

from __future__ import annotations

from virtprobe.benchmark.backend import Backend
from virtprobe.benchmark.ownership import OWNER_LABEL, owner_alive


def clean(
    backend: Backend, images: bool = False, include_running: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """Remove the stopped containers of crashed virtprobe runs; probe images with images=True.

    Returns (removed, kept because their run is still going or they are running, removed images).
    """
    removed: list[str] = []
    kept: list[str] = []
    for cid, labels in backend.labelled_containers(None):
        if include_running:
            backend.remove(cid)
            removed.append(cid)
        elif owner_alive(labels.get(OWNER_LABEL)) or not backend.remove_if_stopped(cid):
            kept.append(cid)
        else:
            removed.append(cid)
    removed_images = backend.remove_probe_images() if images else []
    return removed, kept, removed_images
