"""The fenced blocks of README.md and docs/*.md, the virtprobe commands in them, and the rule for what runs here.

tests/test_docs_commands.py runs every documented `virtprobe` command that needs no engine;
this module only reads Markdown and decides, so the rule itself can be tested on plain text.

- A block is fenced with ``` or ~~~; its language is the first word of the info string.
- Shell blocks (sh, bash, shell, console) are split into statements, each a complete shell
  command (a line, or lines joined by a trailing backslash, an open `if`, a pipe...): the split
  asks `bash -n` whether the text so far is complete, so it follows the shell's own grammar.
  In a console block only `$ ` lines are commands; the rest is output.
- A statement's comments name the exit codes it expects: `# exit 3: a regression`,
  `# exit 0 in a container, 1 when not`. No code named: 0.
- A `virtprobe` word at a command position (after a separator, a keyword or variable
  assignments) is an invocation: `./virtprobe` (a folder), `virtprobe-snapshot.json`,
  `kubectl -n virtprobe` and `python -m virtprobe` are not.
- The rule: a statement is skipped when it runs an engine command (bench, clean), a program that
  needs an engine, a cluster, the network or root (docker, kubectl, pip, ...), or reads a file
  that a skipped statement of its block would have written (`report out.json` after
  `bench -o out.json`). Everything else runs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))

SHELL = frozenset({"sh", "bash", "shell", "console"})
YAML = frozenset({"yaml", "yml"})
# The virtprobe commands that drive a container engine: never run by the docs test.
ENGINE_COMMANDS = frozenset({"bench", "clean"})
# Programs whose statements need what a test here must not use or change: an engine or a
# cluster (docker, podman, kubectl), the network or this Python environment (pip, pipx, git,
# curl), root or the host's services (sudo, apt-get, systemctl), another machine (ssh).
OUTSIDE = frozenset(
    {"docker", "podman", "kubectl", "pip", "pipx", "git", "curl", "wget", "sudo", "apt-get", "systemctl", "ssh"}
)
# A GitHub Actions expression, `${{ matrix.runner }}`: one word to the shell's eye.
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
INVOCATION = re.compile(r"(?:^|(?<=[\s;|&(`]))virtprobe(?=$|[\s;|&)`])", re.M)
OUTPUT_OPTIONS = frozenset({"-o", "--output", "--trace"})
KEYWORDS = frozenset({"if", "then", "else", "elif", "while", "until", "do", "!", "time", "exec"})


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


@dataclass(frozen=True)
class Statement:
    block: Block
    line: int  # 1-based line in the file
    text: str  # the shell text without its comments (they are in `comments`)
    comments: tuple[str, ...]
    calls: tuple[tuple[str, ...], ...]  # argv after `virtprobe` of every invocation

    @property
    def where(self) -> str:
        return f"{self.block.path.relative_to(REPO)}:{self.line}"

    @property
    def expected_codes(self) -> frozenset[int]:
        """The exit codes its comments name after the word `exit`/`exits`; {0} when none."""
        codes: set[int] = set()
        for comment in self.comments:
            tail = re.search(r"\bexits?\b(.*)", comment)
            if tail:
                codes.update(int(n) for n in re.findall(r"(?<![\w.-])(\d{1,3})(?![\w.])", tail.group(1)))
        return frozenset(codes or {0})


@dataclass
class Plan:
    """What the rule decided for one block: each statement's skip reason (None: it runs)."""

    block: Block
    statements: list[Statement] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)

    def runnable(self) -> list[Statement]:
        return [s for s, r in zip(self.statements, self.reasons, strict=True) if r is None and s.calls]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^( {0,3})(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = len(opening.group(1)), opening.group(2), opening.group(3).lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        found.append(Block(path, i + 1, lang, "\n".join(body) + "\n"))
        i = j + 1
    return found


def all_blocks() -> list[Block]:
    return [b for path in DOCS for b in blocks(path)]


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one physical shell line: a `#` outside quotes that begins a word."""
    quote, i = "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1  # an escaped character inside double quotes
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1 :].strip()
        i += 1
    return line, ""


def complete(text: str) -> bool:
    """Whether text is a whole shell command list (bash's own parser says)."""
    proc = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode == 0


def invocations(code: str) -> tuple[tuple[str, ...], ...]:
    """The argv (after `virtprobe`) of every invocation in comment-free shell text."""
    code = GITHUB_EXPRESSION.sub("X", code).replace("\\\n", " ")
    calls = []
    for m in INVOCATION.finditer(code):
        if not _command_position(code[: m.start()]):  # `kubectl -n virtprobe`, `python -m virtprobe`
            continue
        words = _words(code[m.end() :])
        calls.append(tuple(words))
    return tuple(calls)


def _command_position(before: str) -> bool:
    """Whether a word after this text is a command: only assignments and keywords since the last separator."""
    cut = max(before.rfind(c) for c in ";|&(`\n")
    return all(re.fullmatch(r"\w+=\S*", w) or w in KEYWORDS for w in before[cut + 1 :].split())


def _words(rest: str) -> list[str]:
    """The words of one simple command: up to an unquoted ; | & ) < > ` or newline."""
    quote, end = "", len(rest)
    for i, ch in enumerate(rest):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in ";|&)<>`\n" and not (ch == ")" and rest[:i].count("$(") > rest[:i].count(")")):
            end = i
            break
    text = rest[:end]
    if end < len(rest) and rest[end] in "<>":
        text = re.sub(r"\s\d$", "", text)  # `2>/dev/null`: the 2 is the redirection's
    return shlex.split(text)


def statements(block: Block) -> list[Statement]:
    """The shell statements of a shell block (bash -n decides where each ends)."""
    out: list[Statement] = []
    pending: list[str] = []
    comments: list[str] = []
    start = 0
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw
        if block.lang == "console":
            if not pending:
                if not raw.startswith("$ "):
                    continue  # output
                line = raw[2:]
            elif raw.startswith("> "):
                line = raw[2:]
        code, comment = split_comment(line)
        if not pending and not code.strip():
            continue
        if not pending:
            start = block.line + 1 + offset
        pending.append(code)
        if comment:
            comments.append(comment)
        text = "\n".join(pending)
        if not code.rstrip().endswith("\\") and complete(text):  # bash -n takes a final backslash as complete
            out.append(Statement(block, start, text, tuple(comments), invocations(text)))
            pending, comments = [], []
    if pending:
        raise ValueError(f"{block.where}: a shell statement that never completes: {' '.join(pending)!r}")
    return out


def writes(statement: Statement) -> set[str]:
    """Paths a statement writes: `-o FILE`, `--trace FILE`, `> FILE`, `>> FILE`, snapshot's OUT."""
    words = _shell_words(statement.text)
    out: set[str] = set()
    for i, word in enumerate(words[:-1]):
        if word in OUTPUT_OPTIONS or word in (">", ">>"):
            out.add(words[i + 1])
    for call in statement.calls:
        if call[:1] == ("snapshot",):
            out.update(w for w in call[1:] if not w.startswith("-"))
    return {w for w in out if w not in ("-", "/dev/null")}


def _shell_words(text: str) -> list[str]:
    text = GITHUB_EXPRESSION.sub("X", text).replace("\\\n", " ")
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";|&<>()")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return text.split()


def _prefix(path: str) -> str:
    """A path's text before its first variable or glob: `nodes/` for `nodes/$node.json`."""
    cut = min((i for i in (path.find("$"), path.find("*"), path.find("?")) if i >= 0), default=-1)
    return path if cut < 0 else path[:cut]


def _reads(word: str, path: str) -> bool:
    """Whether a word can name what a statement wrote to path (either may hold a glob or a variable)."""
    if word == path:
        return True
    for pattern, other in ((path, word), (word, path)):
        prefix = _prefix(pattern)
        if prefix != pattern and prefix and other.startswith(prefix):
            return True
    return False


def skip_reason(statement: Statement, written_by_skipped: set[str]) -> str | None:
    """Why this statement cannot run here, by the rule in the module docstring; None: it runs."""
    for call in statement.calls:
        if call[:1] and call[0] in ENGINE_COMMANDS:
            return f"virtprobe {call[0]} needs an engine"
    words = _shell_words(statement.text)
    for word in words:
        if word in OUTSIDE:
            return f"{word} needs an engine, a cluster, the network or root"
    for word in words:
        for path in sorted(written_by_skipped):
            if _reads(word, path):
                return f"reads {path}, which a skipped statement writes"
    return None


def plan(block: Block) -> Plan:
    """Each statement of a shell block with the rule's decision, in order."""
    result = Plan(block)
    skipped_writes: set[str] = set()
    for statement in statements(block):
        reason = skip_reason(statement, skipped_writes)
        if reason is not None:
            skipped_writes |= writes(statement)
        result.statements.append(statement)
        result.reasons.append(reason)
    return result


def yaml_calls(block: Block) -> list[tuple[str, ...]]:
    """The virtprobe invocations in the `run:` steps of a YAML block (a CI workflow)."""
    import yaml

    runs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    runs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(block.text))
    calls: list[tuple[str, ...]] = []
    for run in runs:
        code = "\n".join(split_comment(line)[0] for line in run.splitlines())
        calls.extend(invocations(code))
    return calls
