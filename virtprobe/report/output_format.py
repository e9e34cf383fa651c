"""The output formats a report can be written in: the CLI's `--format` choices.

A module of its own so that a command's options (and its `-h`) name the formats without
loading every writer; report/formats.py maps each format to its writer.
"""

from __future__ import annotations

import enum


class OutputFormat(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"
    prometheus = "prometheus"
    csv = "csv"
