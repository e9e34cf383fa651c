"""The HTML writer's one escaping step, shared by its page and its SVG charts."""

from __future__ import annotations

import html

from virtprobe.report.writers.cells import printable


def esc(value: object) -> str:
    """Report text as inert HTML (element content and quoted attribute values alike).

    The page may be printed to a CI log (`report --format html` on stdout), so "::" and
    "##[" (GitHub workflow commands) are written with a character reference: the page
    shows them unchanged, and no log line holds them.
    """
    text = html.escape(printable(str(value)), quote=True)
    return text.replace("::", ":&#58;").replace("##[", "#&#35;[")
