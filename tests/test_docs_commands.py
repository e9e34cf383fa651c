"""Every `virtprobe` command shown in README.md and docs/*.md that needs no engine runs, as written.

Each fenced shell block (tests/docblocks.py) runs statement by statement in a temporary folder
holding copies of reports/ and tests/fixtures/, with a `virtprobe` first on PATH that records
each call (its argv, exit code, output) and runs the real one. For every statement that the
rule does not skip, each call must exit with a code the statement's comment names (0 when it
names none), print no traceback, and give output: on stdout, or in the file or folder it was
told to write; a quiet drop-in mode (`-q`, `--chroot`, `--private-users`) must print nothing.
Every invocation, skipped or not, and those in CI workflows (YAML `run:` steps), must parse
with the CLI's own options, none of them an old spelling kept only as a hidden alias.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.exceptions import TyperException  # Typer vendors Click: its usage errors derive from this

from tests.docblocks import (
    ENGINE_COMMANDS,
    REPO,
    SHELL,
    YAML,
    Block,
    Plan,
    Statement,
    all_blocks,
    blocks,
    invocations,
    plan,
    skip_reason,
    statements,
    writes,
    yaml_calls,
)
from virtprobe import errors

EXIT_CODES = frozenset(v for k, v in vars(errors).items() if k.startswith("EXIT_") and isinstance(v, int))
QUIET_FLAGS = frozenset({"--chroot", "-r", "--private-users"})
DROP_IN = frozenset({"--virt", "--vm", "-v", "--container", "-c", "--cvm", *QUIET_FLAGS})

# The `virtprobe` the docs' commands find first on PATH: it runs the real one (the script pip
# wrote beside this interpreter, as a user runs it) and appends one JSON line per call to
# $VP_LOG. An absolute output path outside the test's folder (`-o /var/lib/...`) is moved
# under $VP_ROOT, so a documented path never touches this machine.
SHIM = """#!{python}
import json, os, subprocess, sys
real = {real!r}
args = sys.argv[1:]
root = os.environ["VP_ROOT"]
outputs = []
for i, word in enumerate(args):
    takes = i > 0 and args[i - 1] in ("-o", "--output", "--trace")
    positional_out = args[:1] == ["snapshot"] and i > 0 and not word.startswith("-") and args[i - 1] != "-o"
    if (takes or positional_out) and word != "-":
        if os.path.isabs(word) and not word.startswith(os.environ["VP_BASE"]):
            word = args[i] = root + word
            os.makedirs(os.path.dirname(word), exist_ok=True)
        outputs.append(word)
proc = subprocess.run([*real, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.buffer.write(proc.stdout)
sys.stdout.flush()
sys.stderr.buffer.write(proc.stderr)
def size(path):
    if os.path.isdir(path):
        return sum(len(files) for _, _, files in os.walk(path))
    return os.path.getsize(path) if os.path.isfile(path) else -1
with open(os.environ["VP_LOG"], "a") as log:
    log.write(json.dumps({{"argv": args, "rc": proc.returncode, "stdout_bytes": len(proc.stdout),
                          "stderr": proc.stderr.decode(errors="replace")[-4000:],
                          "outputs": {{p: size(p) for p in outputs}}}}) + "\\n")
sys.exit(proc.returncode)
"""


@dataclass(frozen=True)
class Sandbox:
    base: Path
    bin: Path
    tests: Path  # a copy of tests/fixtures under tests/, for the paths the docs name


def _real_virtprobe() -> list[str]:
    script = Path(sys.executable).parent / "virtprobe"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "virtprobe"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    base = tmp_path_factory.mktemp("docs")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "virtprobe"
    shim.write_text(SHIM.format(python=sys.executable, real=_real_virtprobe()), encoding="utf-8")
    shim.chmod(0o755)
    tests = base / "repo" / "tests"
    shutil.copytree(REPO / "tests" / "fixtures", tests / "fixtures", symlinks=True)
    (base / "home").mkdir()
    return Sandbox(base, bin_dir, tests)


def _folder(sandbox: Sandbox, block: Block) -> Path:
    """A fresh working folder for one block: its statements share it, in order."""
    name = re.sub(r"\W", "_", block.where)
    cwd = sandbox.base / "blocks" / name
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir(parents=True)
    shutil.copytree(REPO / "reports", cwd / "reports")
    (cwd / "tests").symlink_to(sandbox.tests)
    return cwd


def _run(sandbox: Sandbox, statement: Statement, cwd: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    log = cwd / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{sandbox.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(sandbox.base / "home"),
        "VP_LOG": str(log),
        "VP_BASE": str(sandbox.base),
        "VP_ROOT": str(cwd / "root"),
        "GITHUB_STEP_SUMMARY": str(cwd / "step-summary.md"),
        "COLUMNS": "100",
    }
    shell = "sh" if statement.block.lang == "sh" else "bash"
    # `exit $?` keeps the shell alive as the command's parent (bash -c execs a lone command), as
    # a user's interactive shell is: `--install-completion` looks for its shell up the process tree.
    script = statement.text + "\nexit $?\n"
    proc = subprocess.run([shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, check=False)  # fmt: skip
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def _quiet(argv: list[str]) -> bool:
    """A drop-in mode that answers with its exit code only."""
    if argv[:1] != ["detect"]:
        return False
    drop_in = any(a in DROP_IN for a in argv)
    return bool(QUIET_FLAGS & set(argv)) or (drop_in and ("-q" in argv or "--quiet" in argv))


def problems_of(sandbox: Sandbox, block: Block) -> list[str]:
    """What is wrong with running a block's documented commands ([] when all is well)."""
    found: list[str] = []
    cwd = _folder(sandbox, block)
    the_plan = plan(block)
    for statement in the_plan.runnable():
        proc, calls = _run(sandbox, statement, cwd)
        where, expected = statement.where, statement.expected_codes
        if not calls:
            found.append(f"{where}: no virtprobe call ran: {statement.text!r} ({proc.stderr.strip()[-300:]})")
        if proc.returncode not in expected:
            found.append(f"{where}: the statement exited {proc.returncode}, documented {sorted(expected)}: "
                         f"{statement.text!r}: {proc.stderr.strip()[-500:]}")  # fmt: skip
        for call in calls:
            shown = "virtprobe " + " ".join(call["argv"])
            if call["rc"] not in expected:
                found.append(f"{where}: `{shown}` exited {call['rc']}, documented {sorted(expected)}: "
                             f"{call['stderr'].strip()[-500:]}")  # fmt: skip
            if "Traceback" in call["stderr"]:
                found.append(f"{where}: `{shown}` printed a traceback: {call['stderr'][-1500:]}")
            wrote = any(size > 0 for size in call["outputs"].values())
            if _quiet(call["argv"]):
                if call["stdout_bytes"]:
                    found.append(f"{where}: `{shown}` is quiet, yet printed {call['stdout_bytes']} bytes")
            elif not call["stdout_bytes"] and not wrote and call["rc"] in (0, 3):
                found.append(f"{where}: `{shown}` printed nothing and wrote nothing")
    return found


def _shell_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in SHELL]


def _plans() -> list[Plan]:
    return [plan(b) for b in _shell_blocks()]


def _runnable_blocks() -> Iterator[object]:
    for p in _plans():
        if p.runnable():
            yield pytest.param(p.block, id=p.block.where)


@pytest.mark.parametrize("block", list(_runnable_blocks()))
def test_documented_commands_run_as_documented(sandbox: Sandbox, block: Block) -> None:
    assert problems_of(sandbox, block) == []


# --- The rule: what is skipped, and only that ---------------------------------------------


def _statement(text: str, lang: str = "sh") -> list[Statement]:
    return statements(Block(REPO / "README.md", 1, lang, text))


def test_the_rule_runs_local_commands_and_skips_engine_commands_and_what_depends_on_them() -> None:
    text = (
        "virtprobe detect --vm  # exit 0 in a VM, 1 when not\n"
        "virtprobe bench --runs 30 -o out.json\n"
        'virtprobe report out.json --format markdown >> "$GITHUB_STEP_SUMMARY"\n'
        "virtprobe compare tests/fixtures/reports/bench-base.json tests/fixtures/reports/bench-new-slower.json\n"
        "virtprobe clean --images\n"
        "docker context ls\n"
        "kubectl logs pod > nodes/a.json\n"
        "virtprobe merge nodes/*.json -o cluster.json\n"
        "virtprobe report cluster.json\n"
        "if virtprobe detect -q --container; then\n  echo in a container\nfi\n"
    )
    decided = plan(Block(REPO / "README.md", 1, "sh", text))
    reasons = [(s.calls[0][0] if s.calls else s.text.split()[0], r) for s, r in zip(decided.statements, decided.reasons,
                                                                                     strict=True)]  # fmt: skip
    assert reasons == [
        ("detect", None),
        ("bench", "virtprobe bench needs an engine"),
        ("report", "reads out.json, which a skipped statement writes"),
        ("compare", None),
        ("clean", "virtprobe clean needs an engine"),
        ("docker", "docker needs an engine, a cluster, the network or root"),
        ("kubectl", "kubectl needs an engine, a cluster, the network or root"),
        ("merge", "reads nodes/a.json, which a skipped statement writes"),
        ("report", "reads cluster.json, which a skipped statement writes"),
        ("detect", None),
    ]
    assert decided.statements[0].expected_codes == {0, 1}
    assert decided.statements[-1].calls == (("detect", "-q", "--container"),)


def test_the_rule_skips_in_the_docs_only_what_needs_an_engine() -> None:
    """Across README.md and docs/, every virtprobe call the rule does not run is an engine command,
    or sits beside a program that needs an engine, a cluster, the network or root, or reads what
    such a statement writes; and every kind of command that needs no engine runs somewhere."""
    ran: set[str] = set()
    for p in _plans():
        for statement, reason in zip(p.statements, p.reasons, strict=True):
            for call in statement.calls:
                command = call[0] if call else "virtprobe"
                if reason is None:
                    ran.add(command)
                    continue
                # An engine command in the same statement: the statement runs whole or not at all.
                engine = reason in {f"virtprobe {c} needs an engine" for c in ENGINE_COMMANDS}
                beside = reason.endswith("needs an engine, a cluster, the network or root")
                depends = reason.startswith("reads ") and "which a skipped statement writes" in reason
                assert engine or beside or depends, f"{statement.where}: `virtprobe {' '.join(call)}` skipped: {reason}"
    assert ran >= {"detect", "snapshot", "report", "compare", "merge", "history", "--version"}, ran
    assert not ran & ENGINE_COMMANDS


def test_the_docs_test_fails_on_a_broken_command(sandbox: Sandbox) -> None:
    """Break a documented command three ways: a misspelt option, a missing file, a wrong exit code."""
    for text in (
        "virtprobe detect --format enviroment\n",
        "virtprobe report reports/no-such-report.json\n",
        "virtprobe compare tests/fixtures/reports/bench-base.json tests/fixtures/reports/bench-new-slower.json\n",
    ):
        block = Block(REPO / "docs" / "broken.md", 1, "sh", text)
        assert problems_of(sandbox, block), text
    fine = Block(REPO / "docs" / "fine.md", 1, "sh",
                 "virtprobe compare tests/fixtures/reports/bench-base.json "
                 "tests/fixtures/reports/bench-new-slower.json  # exit 3: a regression\n")  # fmt: skip
    assert problems_of(sandbox, fine) == []


def test_statements_follow_the_shell_grammar() -> None:
    got = _statement(
        "virtprobe detect --format lines |\n  awk '$1 == \"hypervisor\" { print $2 }'\n"
        'eval "$(virtprobe detect --format env)"; echo "$VIRTPROBE_HYPERVISOR"  # \'#\' in a comment\n'
        "virtprobe detect --json \\\n  --no-kvm-probe > out.json 2>/dev/null\n"
        "pip install ./virtprobe  # not a call: a folder\n"
        "python -m virtprobe detect\n"
    )
    assert [s.calls for s in got] == [
        (("detect", "--format", "lines"),),
        (("detect", "--format", "env"),),
        (("detect", "--json", "--no-kvm-probe"),),
        (),
        (),
    ]
    assert writes(got[2]) == {"out.json"}
    console = _statement("$ virtprobe --version\nvirtprobe 0.1.0\n", lang="console")
    assert [s.calls for s in console] == [(("--version",),)]
    assert skip_reason(got[3], set()) == "pip needs an engine, a cluster, the network or root"


# --- Every invocation parses, with today's option names -------------------------------------


def _every_call() -> Iterator[object]:
    for block in all_blocks():
        if block.lang in SHELL:
            calls = [c for s in statements(block) for c in s.calls]
        elif block.lang in YAML:
            calls = yaml_calls(block)
        else:
            continue
        for call in calls:
            yield pytest.param(call, id=f"{block.where}: virtprobe {' '.join(call)}"[:150])


ROOT_OPTIONS = frozenset({"--version", "--help", "-h", "--install-completion", "--show-completion"})


@pytest.mark.parametrize("call", list(_every_call()))
def test_every_documented_invocation_parses_with_current_options(call: tuple[str, ...]) -> None:
    from virtprobe.cli.app import load_command
    from virtprobe.cli.commands import COMMANDS

    if not call or call[0].startswith("-"):
        assert call and call[0] in ROOT_OPTIONS, call
        return
    name, args = call[0], list(call[1:])
    assert name in COMMANDS and not COMMANDS[name].hidden, f"no command {name!r}"
    if "-h" in args or "--help" in args:
        return
    command = load_command(name)
    by_flag = {flag: p for p in command.params for flag in (*p.opts, *p.secondary_opts)}
    for word in args:
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and flag != "-":
            assert flag in by_flag, f"virtprobe {name} has no option {flag}"
            assert not by_flag[flag].hidden, f"virtprobe {name} {flag} is an old spelling: use its new name"
    try:
        command.make_context(name, args)
    except TyperException as err:  # a usage error (unknown option, extra argument, bad value)
        pytest.fail(f"virtprobe {' '.join(call)}: {err}")


# --- No command hides where the tests do not look -------------------------------------------


def test_commands_are_only_in_blocks_that_are_run_or_parsed() -> None:
    hidden = [
        b.where
        for b in all_blocks()
        if b.lang not in SHELL | YAML | {"python"} and invocations("\n".join(line for line in b.text.splitlines()))
    ]
    assert hidden == [], "tag these blocks sh (or console) so that their commands run: " + ", ".join(hidden)


def test_every_shell_block_parses() -> None:
    for block in _shell_blocks():
        statements(block)  # raises on a statement that never completes


def test_exit_codes_named_in_the_docs_are_virtprobes() -> None:
    for p in _plans():
        for statement in p.statements:
            assert statement.expected_codes <= EXIT_CODES, statement.where


# --- The README's sample -------------------------------------------------------------------

SAMPLE = REPO / "reports" / "detect-firecracker.txt"


def test_the_readme_sample_is_the_first_lines_of_the_rendered_report() -> None:
    """README.md shows `virtprobe detect` on the development VM: the opening lines of
    reports/detect-firecracker.txt, which scripts/render-reports.py renders from that real
    report (tests/test_reports_reproducible.py keeps the two equal, and
    tests/devvm/test_readme_sample.py keeps the report equal to what detect says live)."""
    samples = [
        b for b in blocks(REPO / "README.md") if b.lang == "console" and b.text.startswith("$ virtprobe detect\n")
    ]
    assert len(samples) == 1, "README.md: one console block beginning `$ virtprobe detect`"
    shown = samples[0].text.splitlines()[1:]
    rendered = [line.rstrip() for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(shown) >= 15, "the sample shows the verdicts"
    assert shown == rendered[: len(shown)]
