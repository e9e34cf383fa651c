"""Old spellings that a hidden Click option cannot carry, rewritten before parsing.

`bench --json FILE` was bench's way to write the report; every command now writes files
with `-o/--output FILE` and takes `--json` as a flag (JSON on stdout). Click options
cannot take an optional value, and bench takes no positional argument, so a word after
`--json` that is not an option can only be the old FILE: `--json FILE` becomes `-o FILE`,
and `--json -` (the old "stdout only") becomes `--json`.
"""

from __future__ import annotations

from collections.abc import Sequence


def rewrite(argv: Sequence[str]) -> list[str]:
    """argv with the old spellings replaced (only bench has any)."""
    args = list(argv)
    if not args or args[0] != "bench":
        return args
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            out += args[i:]
            break
        if word == "--json" and i + 1 < len(args) and not args[i + 1].startswith("-"):
            out += ["--output", args[i + 1]]
            i += 2
            continue
        if word == "--json" and i + 1 < len(args) and args[i + 1] == "-":
            out.append("--json")
            i += 2
            continue
        if word.startswith("--json="):
            value = word.split("=", 1)[1]
            out += ["--json"] if value == "-" else ["--output", value]
            i += 1
            continue
        out.append(word)
        i += 1
    return out
