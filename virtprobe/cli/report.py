"""CLI commands `report` and `compare` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from virtprobe.errors import GateFailed, InputError


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


class CompareFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


def _rich_text(renderables: list[Any], width: int = 120) -> str:
    """Rich renderables as plain text, for -o FILE (no colour codes in files)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False, soft_wrap=False)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def _emit(text_or_renderables: str | list[Any], out: str, force: bool) -> None:
    from virtprobe.cli.output import write_text

    if isinstance(text_or_renderables, str):
        write_text(text_or_renderables, out, force=force)
        return
    if out == "-":
        from virtprobe.cli.console import stdout_console

        # Piped into a CI log, Rich would assume 80 columns and cut metric names.
        console = stdout_console(width=None if sys.stdout.isatty() else 120)
        for r in text_or_renderables:
            console.print(r)
        return
    write_text(_rich_text(text_or_renderables), out, force=force)


def _table(doc: dict[str, Any]) -> Any:
    if doc.get("kind") == "detect":
        from virtprobe.report.detect_table import render_detect
        from virtprobe.report.document import detect_from_document as from_document

        return render_detect(from_document(doc))
    from virtprobe.report.bench_table import render_bench

    return render_bench(doc)


def report(
    files: Annotated[list[Path], typer.Argument(help="Saved reports (virtprobe detect/bench --json).")],
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.table,
    out: Annotated[str, typer.Option("--out", "-o", help="Write to FILE instead of stdout ('-').")] = "-",
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace the hostname and machine IDs with stable hashes.")
    ] = False,
) -> None:
    """Render saved reports again as a table, Markdown, HTML or JSON."""
    from virtprobe.report.load import load_report

    docs = [load_report(f) for f in files]
    if anonymize:
        from virtprobe.report.anonymize import anonymize as anon

        docs = [anon(d) for d in docs]
    names = [str(f) for f in files]
    if fmt is ReportFormat.json:
        if len(docs) != 1:
            raise InputError(f"--format json writes one report at a time; got {len(docs)} files")
        from virtprobe.report.document import dumps

        _emit(dumps(docs[0]), out, force)
    elif fmt is ReportFormat.markdown:
        from virtprobe.report.markdown import render_markdown

        _emit("\n".join(render_markdown(d) for d in docs), out, force)
    elif fmt is ReportFormat.html:
        from virtprobe.report.html import render_html

        _emit(render_html(docs, names), out, force)
    else:
        _emit([_table(d) for d in docs], out, force)


def compare(
    base: Annotated[Path, typer.Argument(help="The reference report (e.g. a stored baseline).")],
    new: Annotated[Path, typer.Argument(help="The report to judge against BASE.")],
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", min=0.0, help="Percent change that counts as a regression when significant."
        ),
    ] = 10.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Compare even if the environments differ (still listed), and overwrite OUT."
        ),
    ] = False,
    fmt: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CompareFormat.table,
    out: Annotated[str, typer.Option("--out", "-o", help="Write to FILE instead of stdout ('-').")] = "-",
) -> None:
    """Compare two reports; exit 3 on a significant regression larger than --threshold."""
    from virtprobe.report import compare as cmp
    from virtprobe.report.load import load_report

    base_doc, new_doc = load_report(base), load_report(new)
    result = cmp.compare(
        base_doc, new_doc, threshold=threshold / 100.0, force=force, base_name=str(base), new_name=str(new)
    )
    if fmt is CompareFormat.json:
        from virtprobe.report.document import dumps

        _emit(dumps(result.to_dict()), out, force)
    elif fmt is CompareFormat.markdown:
        _emit(cmp.render_comparison_markdown(result), out, force)
    elif fmt is CompareFormat.html:
        from virtprobe.report.html import render_html

        _emit(render_html([base_doc, new_doc], [str(base), str(new)], comparison=result), out, force)
    else:
        _emit([cmp.render_comparison_table(result)], out, force)
    # After the result is out: CI reads the table, then keys on the exit code.
    if result.regressions:
        raise GateFailed(cmp.summary_line(result))
