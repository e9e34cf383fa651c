"""`virtprobe clean`: remove what crashed runs left behind, and only virtprobe's own containers."""

from __future__ import annotations

from virtprobe.benchmark.backend import Backend
from virtprobe.benchmark.ownership import OWNER_LABEL, owner_alive


def clean(
    backend: Backend, images: bool = False, include_running: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """Remove the containers of crashed virtprobe runs; probe images with images=True.

    Returns (removed, kept because their run is still going, removed images).
    Only containers with virtprobe's run label are ever looked at.
    """
    removed: list[str] = []
    running: list[str] = []
    for cid, labels in backend.labelled_containers(None):
        if not include_running and owner_alive(labels.get(OWNER_LABEL)):
            running.append(cid)
            continue
        backend.remove(cid)
        removed.append(cid)
    removed_images = backend.remove_probe_images() if images else []
    return removed, running, removed_images
