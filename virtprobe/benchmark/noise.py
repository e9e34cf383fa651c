"""Noise warnings on a finished container section, as pyperf `check` gives them."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import PHASES, ContainerSection


def noise_warnings(container: ContainerSection | None) -> list[str]:
    """A warning for each phase whose standard deviation is at least 10% of its mean."""
    if container is None:
        return []
    out = []
    for key in PHASES:
        summary = container.summary(key)
        if summary.noisy and summary.cv is not None:
            out.append(
                f"{key.removesuffix('_s').replace('_', ' ')} CV {summary.cv * 100:.0f}% >= "
                f"{stats.NOISY_CV * 100:.0f}%: noisy; close other work or raise --runs"
            )
    if container.parallel is not None:
        summary = stats.summarize(container.parallel.cycle_s)
        if summary.noisy and summary.cv is not None:
            out.append(f"parallel cycle CV {summary.cv * 100:.0f}% >= 10%: noisy (expected under load)")
    return out
