"""The HTML writer's one escaping step, shared by its page and its SVG charts."""

from __future__ import annotations

import html

from virtprobe.report.writers.cells import printable


def esc(value: object) -> str:
    """Report text as inert HTML (element content and quoted attribute values alike)."""
    return html.escape(printable(str(value)), quote=True)
