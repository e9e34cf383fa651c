"""The terminal writer's layout engine (stdlib, no Rich), colour rules, page checks, and what detect imports.

tests/test_writers.py checks every writer on one page of everything and on hostile text;
the golden files (tests/fixtures/golden, tests/fixtures/bench_table.txt, reports/*.txt)
pin whole pages. Here: display widths, wrapping, the fitted and stacked table layouts,
the width and colour of stdout, the checks a page must pass, and that `detect` and
`detect --check` import neither Rich nor dataclasses (the measured reason for this writer).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_cli import run_and_modules
from virtprobe.cli.console import PIPED_WIDTH, TextConsole, colour_on, columns, terminal_width
from virtprobe.errors import ReportFormatError
from virtprobe.report.formats import report_page
from virtprobe.report.load import load_any
from virtprobe.report.page import (
    Cell,
    Citation,
    Column,
    ColumnKind,
    Facts,
    Note,
    Page,
    Section,
    Table,
    Tone,
    check_page,
)
from virtprobe.report.writers import terminal
from virtprobe.report.writers.terminal import cells, wrap

REPO = Path(__file__).resolve().parent.parent
ROOTS = Path(__file__).parent / "fixtures" / "roots"


def page_of(*blocks: Facts | Table | Note, citations: tuple[Citation, ...] = ()) -> Page:
    return Page.of("t", "title", (Section("s", "section", blocks, citations),))


# --- display width and wrapping ------------------------------------------------------------------


def test_display_width_counts_wide_and_combining_characters() -> None:
    assert cells("abc") == 3
    assert cells("日本") == 4  # east-asian wide: two columns each
    assert cells("e\u0301") == 1  # e + combining acute
    assert cells(":\u200b:") == 2  # the zero-width space `defused` puts between "::"
    assert cells("ｶ") == 1  # halfwidth katakana


def test_wrap_breaks_at_spaces_and_folds_only_longer_words() -> None:
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]
    assert wrap("abcdefghijkl xy", 5) == ["abcde", "fghij", "kl xy"]
    assert wrap("a\nb", 10) == ["a", "b"]
    assert wrap("日本語のテキスト", 5) == ["日本", "語の", "テキ", "スト"]  # a wide character is never split


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60), width=st.integers(2, 30))
def test_wrap_never_exceeds_the_width_and_loses_no_letter(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(cells(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")


# --- tables --------------------------------------------------------------------------------------

COLUMNS = (
    Column("runtime", ColumnKind.label),
    Column("median", ColumnKind.seconds),
    Column("why", ColumnKind.text),
)


def _table(why: str = "a fairly long explanation that has to wrap somewhere") -> Table:
    rows = (
        (Cell("runc"), Cell(0.1761), Cell(why)),
        (Cell("日本語ランタイム"), Cell(1.234), Cell("short")),
    )
    return Table("t.x", COLUMNS, rows, title="Runtimes")


def _lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("width", [40, 60, 100])
def test_a_fitted_table_stays_within_the_width_with_aligned_columns(width: int) -> None:
    out = terminal.write([page_of(_table())], width)
    lines = _lines(out)
    assert all(cells(line) <= width for line in lines), out
    rule = next(line for line in lines if line.startswith("─"))
    header = lines[lines.index(rule) - 1]
    assert header.startswith("runtime")
    # Figures are right-aligned: both end in the same display column, and stay whole.
    row1 = next(line for line in lines if line.startswith("runc"))
    row2 = next(line for line in lines if line.startswith("日本語ランタイム"))
    end1 = cells(row1[: row1.index("176.1 ms") + len("176.1 ms")])
    end2 = cells(row2[: row2.index("1.234 s") + len("1.234 s")])
    assert end1 == end2
    assert not any(line != line.rstrip() for line in lines), "no trailing spaces"


def test_a_table_too_wide_for_any_layout_becomes_column_value_lines() -> None:
    out = terminal.write([page_of(_table())], 20)
    assert "runc" in _lines(out)
    assert "  median: 176.1 ms" in _lines(out)
    assert "─" not in out
    assert all(cells(line) <= 20 for line in _lines(out))


def test_tones_are_sgr_styles_only_with_colour() -> None:
    rows = ((Cell("FAIL", tone=Tone.bad),),)
    page = page_of(Table("t.s", (Column("status", ColumnKind.status),), rows))
    plain = terminal.render([page], 80, colour=False)
    styled = terminal.render([page], 80, colour=True)
    assert "\x1b" not in plain
    assert "\x1b[1;31mFAIL\x1b[0m" in styled
    assert (
        styled.replace("\x1b[1;31m", "").replace("\x1b[0m", "").replace("\x1b[1m", "").replace("\x1b[1;4m", "") == plain
    )


def test_facts_align_their_values_and_wrap_under_them() -> None:
    facts = Facts("f", (("a", Cell("one two three four five six")), ("longer name", Cell(True))))
    lines = _lines(terminal.write([page_of(facts)], 30))
    assert lines[3:] == ["a            one two three", "             four five six", "longer name  yes"]


# --- stdout: width and colour ---------------------------------------------------------------------


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("env", "tty", "want"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"TERM": "dumb"}, True, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: not a refusal (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),  # the reader's refusal wins
    ],
)
def test_colour_only_for_a_terminal(env: dict[str, str], tty: bool, want: bool) -> None:
    assert colour_on(_Stream(tty), env) is want


def test_width_is_columns_else_the_terminal_else_80() -> None:
    assert terminal_width(_Stream(False), {"COLUMNS": "133"}) == 133
    assert terminal_width(_Stream(False), {}) == PIPED_WIDTH == 80
    assert terminal_width(_Stream(False), {"COLUMNS": "x"}) == 80
    assert terminal_width(_Stream(False), {}, piped=120) == 120  # report and compare, into a CI log
    assert terminal_width(_Stream(False), {"COLUMNS": "90"}, piped=120) == 90
    assert columns({"COLUMNS": "0"}) is None and columns({}) is None and columns({"COLUMNS": "77"}) == 77


def test_the_console_prints_pages_plain_into_a_pipe() -> None:
    out = _Stream(False)
    page = page_of(Note("hello"))
    TextConsole(width=50, stream=out).print(terminal.renderable([page]))
    assert out.getvalue() == terminal.write([page], 50)


# --- the checks a page must pass (NamedTuples have no __post_init__) ------------------------------


def test_page_of_checks_every_page() -> None:
    col = (Column("a"),)
    with pytest.raises(ValueError, match="a row has 2 cells for 1 columns"):
        page_of(Table("t", col, ((Cell(1), Cell(2)),)))
    with pytest.raises(ValueError, match="1 names for 2 items"):
        page_of(Facts("f", (("a", Cell(1)), ("b", Cell(2))), names=("a",)))
    with pytest.raises(ValueError, match="cites"):
        page_of(Note("x", cites=("nowhere",)))
    with pytest.raises(ValueError, match="two different texts"):
        Page.of(
            "t", "t", (Section("a", "a", (), (Citation("k", "one"),)), Section("b", "b", (), (Citation("k", "two"),)))
        )
    with pytest.raises(ValueError, match="appears twice"):
        check_page(Page("t", "t", (), citations=(Citation("k", "x"), Citation("k", "y"))))
    good = page_of(Note("x", cites=("k",)), citations=(Citation("k", "source"),))
    assert check_page(good) is good


def test_every_stored_report_builds_a_checked_page() -> None:
    fixtures = Path(__file__).parent / "fixtures" / "reports"
    built = 0
    for path in sorted((REPO / "reports").glob("*.json")) + sorted(fixtures.glob("*.json")):
        try:
            report = load_any(path)
        except ReportFormatError:
            continue  # the fixtures of refused reports (a future major version, a broken file)
        check_page(report_page(report, path.name))
        built += 1
    assert built >= 5


# --- what `detect` and `detect --check` import ---------------------------------------------------


@pytest.mark.parametrize("args", [["detect"], ["detect", "--check"], ["detect", "--evidence"]], ids=" ".join)
def test_detect_table_and_check_import_neither_rich_nor_dataclasses(args: list[str]) -> None:
    """Why this writer is not Rich (about 26 ms), page.py not dataclasses (about 10 ms), and no typing (3-4 ms)."""
    printed, loaded = run_and_modules(*args, "--root", str(ROOTS / "aws_nitro"), "--no-kvm-probe")
    assert printed.strip()  # the page was printed
    tops = {m.split(".")[0] for m in loaded}
    heavy = {"rich", "dataclasses", "inspect", "typer", "click", "typing"}
    assert not tops & heavy, sorted(tops & heavy)
    assert "virtprobe.report.writers.terminal" in loaded  # the check can fail: the writer did run
