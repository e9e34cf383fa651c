"""README.md and docs/ stay true: links resolve, exit codes and identifiers are the code's, the README stays short."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests.docblocks import DOCS, REPO
from virtprobe import errors

README = REPO / "README.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _without_fences(text: str) -> str:
    return re.sub(r"^( {0,3})(`{3,}|~{3,}).*?^\1\2", "", text, flags=re.S | re.M)


def _outside_code(text: str) -> str:
    """Markdown text without fenced blocks and inline code, where a `[x](y)` is not a link."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _without_fences(path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1).replace("`", ""))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def _all_links() -> list[tuple[Path, str]]:
    return [(doc, t) for doc in DOCS for t in LINK.findall(_outside_code(doc.read_text(encoding="utf-8")))]


def _links() -> list[object]:
    """Links into the repository (a link out of it cannot be followed without the network)."""
    return [pytest.param(doc, t, id=f"{doc.relative_to(REPO)} -> {t}") for doc, t in _all_links()
            if not re.match(r"^[a-z]+:", t)]  # fmt: skip


def test_links_out_of_the_repository_are_https() -> None:
    out = [t for _, t in _all_links() if re.match(r"^[a-z]+:", t)]
    assert all(t.startswith("https://") for t in out), out


@pytest.mark.parametrize(("doc", "target"), _links())
def test_every_link_resolves(doc: Path, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    path = (doc.parent / path_part).resolve() if path_part else doc
    assert path.exists(), f"{doc.relative_to(REPO)}: {target}: no such file"
    assert REPO in path.parents or path == REPO, f"{target} leaves the repository"
    if anchor:
        assert path.suffix == ".md", f"{target}: an anchor into a file that is not Markdown"
        assert anchor in anchors(path), f"{doc.relative_to(REPO)}: {target}: no heading #{anchor} in {path.name}"


def test_links_are_found() -> None:
    assert len(_links()) >= 40


def test_slugs_follow_github() -> None:
    assert slug("Can this host run it? --check") == "can-this-host-run-it---check"
    assert slug("`virtprobe compare --format json`".replace("`", "")) == "virtprobe-compare---format-json"
    assert slug("Addresses and context names (--host, DOCKER_HOST)") == "addresses-and-context-names---host-docker_host"


def test_the_readme_is_short() -> None:
    assert len(README.read_bytes()) <= 15 * 1024


def _exit_table(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    section = text[text.index("## Exit codes") :]
    return [(int(c), m) for c, m in re.findall(r"^\| (\d+) \| (.*) \|$", section.split("\n## ")[0], flags=re.M)]


def test_the_exit_codes_are_the_codes_of_errors_py_in_one_table() -> None:
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_") and isinstance(v, int)}
    readme, cli = _exit_table(README), _exit_table(REPO / "docs" / "cli.md")
    assert readme == cli, "README.md and docs/cli.md show the same exit code table"
    assert [c for c, _ in readme] == sorted(codes)


def test_every_identifier_the_code_can_print_is_in_docs_detect_md() -> None:
    from virtprobe.detection import names
    from virtprobe.detection.tables import clouds, platforms

    doc = (REPO / "docs" / "detect.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"`([a-z0-9-]+)`", doc))
    ids = (
        set(names.HYPERVISOR_NAMES) | set(names.VMM_NAMES) | set(names.CVM_NAMES)
        | {r.cloud for r in clouds.RULES} | {r.platform for r in platforms.RULES}
        | set(names.CONTAINER_NAMES)
    )  # fmt: skip
    assert ids - shown == set()
