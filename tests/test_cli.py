"""The CLI as the tools around it behave: systemd-detect-virt's drop-in modes, formats for shells,
-h, completion, the man page, one name per option, lazily loaded commands, missing extras."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOTS, live_skip
from virtprobe.detection.model import DetectResult

REPO = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures" / "reports"
SDV = shutil.which("systemd-detect-virt")


def vp(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        timeout=timeout,
        check=False,
    )


def sdv(*args: str) -> subprocess.CompletedProcess[str]:
    assert SDV is not None
    return subprocess.run([SDV, *args], capture_output=True, text=True, timeout=60, check=False)


def need_sdv() -> None:
    if SDV is None:
        live_skip("systemd-detect-virt is not installed (apt-get install systemd)")


# --- the drop-in modes against the real systemd-detect-virt ------------------------------


def _dockerenv_overruled() -> bool:
    """virtprobe's reason to differ on --container: /.dockerenv exists but stronger evidence overruled it."""
    doc = json.loads(vp("detect", "--json", "--no-kvm-probe").stdout)
    return any(
        e["topic"] == "container" and e["source"].startswith("/.dockerenv") and e["weight"] == "overruled"
        for e in doc["evidence"]
    )


@pytest.mark.live
@pytest.mark.parametrize("mode", ["--vm", "--container", ""])
def test_dropin_answers_as_systemd_detect_virt_here(mode: str) -> None:
    need_sdv()
    args = [mode] if mode else []
    theirs = sdv(*args)
    ours = vp("detect", *(args or ["--virt"]))
    assert ours.stderr == "", ours.stderr
    if (theirs.stdout, theirs.returncode) == (ours.stdout, ours.returncode):
        return
    # Where the two differ, virtprobe must be right for a reason it can name. The one known case:
    # a stale /.dockerenv on a machine that is no container (systemd-detect-virt trusts the file;
    # virtprobe weighs it against PID 1's cgroups and mounts and overrules it).
    assert theirs.stdout.strip() == "docker" and os.path.exists("/.dockerenv"), (theirs, ours)
    assert _dockerenv_overruled(), "virtprobe differs from systemd-detect-virt without overruling /.dockerenv"
    if mode == "--container":
        assert (ours.stdout, ours.returncode) == ("none\n", 1)
    else:  # no container: the innermost layer is the VM, as systemd-detect-virt --vm says
        assert (ours.stdout, ours.returncode) == (sdv("--vm").stdout, sdv("--vm").returncode)


@pytest.mark.live
@pytest.mark.parametrize("mode", ["--vm", "--container", "--chroot", "--private-users"])
def test_quiet_dropin_prints_nothing_and_keeps_the_exit_code(mode: str) -> None:
    loud, quiet = vp("detect", mode), vp("detect", mode, "-q")
    assert quiet.stdout == "" and quiet.returncode == loud.returncode


@pytest.mark.live
@pytest.mark.parametrize("mode", ["--chroot", "--private-users"])
def test_silent_modes_exit_as_systemd_detect_virt(mode: str) -> None:
    need_sdv()
    theirs, ours = sdv(mode), vp("detect", mode)
    assert ours.stdout == theirs.stdout == ""
    assert ours.returncode == theirs.returncode, (theirs.stderr, ours.stderr)
    # Both fail the same way where PID 1's root cannot be read (a sandbox): one line that says why.
    if theirs.stderr:
        assert ours.stderr.count("\n") == 1 and ours.stderr.startswith("virtprobe: cannot tell (")


def test_list_holds_every_identifier_systemd_detect_virt_lists() -> None:
    need_sdv()
    ours = vp("detect", "--list")
    assert ours.returncode == 0
    assert set(sdv("--list").stdout.split()) <= set(ours.stdout.split())
    cvm = vp("detect", "--list-cvm")
    assert cvm.stdout.split()[:6] == ["none", "sev", "sev-es", "sev-snp", "tdx", "protvirt"]
    theirs = sdv("--list-cvm")  # systemd 254 and later; 252 (Debian 12) refuses the option
    if theirs.returncode == 0:
        assert set(theirs.stdout.split()) <= set(cvm.stdout.split())


@pytest.mark.parametrize(
    ("root", "mode", "out", "code"),
    [
        ("aws_nitro", "--vm", "amazon\n", 0),
        ("aws_nitro", "--container", "none\n", 1),
        ("docker_cgroup_v2", "--container", "docker\n", 0),
        ("gvisor_runsc", "--container", "container-other\n", 0),
        ("bare_metal_intel", "--vm", "none\n", 1),
        ("bare_metal_intel", "--virt", "none\n", 1),
        ("docker_in_vm", "--virt", "docker\n", 0),
        ("gcp_sev_snp", "--cvm", "sev-snp\n", 0),
        ("gcp_tdx", "--cvm", "tdx\n", 0),
    ],
)
def test_dropin_on_captured_machines(root: str, mode: str, out: str, code: int) -> None:
    proc = vp("detect", mode, "--root", str(ROOTS / root))
    assert (proc.stdout, proc.returncode) == (out, code), proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--vm", "--container"],
        ["--vm", "--json"],
        ["--container", "--check"],
        ["--chroot", "--root", "/"],
        ["-q"],
        ["--list", "--vm"],
    ],
)
def test_dropin_refuses_options_it_cannot_honour(args: list[str]) -> None:
    proc = vp("detect", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("virtprobe: error: ")


# --- lines and env -----------------------------------------------------------------------


def test_env_is_eval_safe_and_lines_say_the_same() -> None:
    root = str(ROOTS / "aws_nitro")
    env = vp("detect", "--format", "env", "--root", root)
    lines = vp("detect", "-f", "lines", "--root", root)
    assert env.returncode == lines.returncode == 0
    sh = subprocess.run(
        ["sh", "-c", 'eval "$1"; echo "$VIRTPROBE_HYPERVISOR $VIRTPROBE_CLOUD $VIRTPROBE_CONTAINER"', "sh", env.stdout],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sh.stdout.split() == ["amazon", "amazon", "none"]
    facts = dict(line.split(" ", 1) for line in lines.stdout.splitlines())
    assert (facts["hypervisor"], facts["cloud"]) == ("amazon", "amazon")
    assert len(facts) == len(env.stdout.splitlines())


@functools.cache
def _nitro() -> DetectResult:
    import virtprobe

    return virtprobe.detect(root=ROOTS / "aws_nitro", kvm_probe=False)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_env_survives_hostile_strings(hostile: str) -> None:
    """A DMI string from a machine under test cannot inject a command into `eval`."""
    from virtprobe.detection.model import CloudResult
    from virtprobe.report.detect_lines import facts, render_env

    result = _nitro()._replace(cloud=CloudResult(id="amazon", instance_type=hostile))
    text = render_env(result)
    assert text.count("\n") == len(facts(result))
    sh = subprocess.run(
        ["sh", "-c", 'eval "$1" && printf %s "$VIRTPROBE_INSTANCE_TYPE"', "sh", text],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sh.returncode == 0, sh.stderr
    assert sh.stdout == dict(facts(result))["instance_type"]


# --- the document and the API ------------------------------------------------------------


def test_to_dict_is_detect_json() -> None:
    import virtprobe

    root = ROOTS / "firecracker_this_machine"
    cli = json.loads(vp("detect", "--json", "--root", str(root)).stdout)
    api = virtprobe.detect(root=root).to_dict(created_utc=cli["created_utc"])
    assert api == cli
    assert (
        virtprobe.detect(root=root).to_json(created_utc=cli["created_utc"])
        == json.dumps(cli, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_bench_keywords_are_bench_options_fields() -> None:
    import virtprobe
    from virtprobe.benchmark.options import BenchOptions

    assert set(virtprobe.BenchKeywords.__annotations__) == {f.name for f in dataclasses.fields(BenchOptions)}


def test_bench_refuses_options_and_keywords_together() -> None:
    import virtprobe

    with pytest.raises(TypeError, match="not both"):
        virtprobe.bench(virtprobe.BenchOptions(), runs=3)


# --- help, completion, man page -----------------------------------------------------------


@pytest.mark.parametrize("command", ["", "detect", "snapshot", "bench", "clean", "report", "compare", "merge"])
def test_every_command_has_dash_h(command: str) -> None:
    proc = vp(*([command] if command else []), "-h")
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: virtprobe"), proc.stderr


def test_summaries_in_the_group_are_the_commands_own() -> None:
    import importlib

    from virtprobe.cli import detect_options
    from virtprobe.cli.app import COMMANDS

    for name, entry in COMMANDS.items():
        doc = detect_options.HELP if name == "detect" else importlib.import_module(entry.module).__dict__[
            entry.function].__doc__  # fmt: skip
        assert " ".join(doc.split("\n\n")[0].split()) == entry.summary, name


def run_and_modules(*args: str) -> tuple[str, set[str]]:
    """What one CLI call printed, and the modules it loaded (sys.modules: importlib.import_module
    escapes -X importtime)."""
    code = (
        "import sys\nfrom virtprobe.cli.main import main\n"
        f"sys.argv = ['virtprobe', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    return proc.stdout, set(proc.stderr.splitlines()[-1].split())


def modules_after(*args: str) -> set[str]:
    return run_and_modules(*args)[1]


def test_group_help_imports_no_command_module() -> None:
    loaded = modules_after("--help", "--help")  # not the root's own answer: Typer's group
    assert "virtprobe.cli.app" in loaded
    assert not {m for m in loaded if m.startswith(("virtprobe.report", "virtprobe.benchmark", "virtprobe.cli.bench"))}
    assert "rich" not in loaded


def test_bench_help_loads_only_bench() -> None:
    loaded = modules_after("bench", "-h")
    assert "virtprobe.cli.bench" in loaded
    assert not loaded & {"virtprobe.cli.report", "virtprobe.report.compare", "docker", "jsonschema"}


def test_detect_imports_neither_typer_nor_click() -> None:
    tops = {m.split(".")[0] for m in modules_after("detect", "--vm", "--no-kvm-probe")}
    assert not tops & {"typer", "click", "rich", "argparse", "docker", "jsonschema"}, sorted(tops)


@pytest.mark.parametrize(
    ("words", "expect"),
    [
        ("virtprobe det", "detect"),
        ("virtprobe detect --conta", "--container"),
        ("virtprobe compare --env", "--env-mismatch"),
    ],
)
def test_shell_completion(words: str, expect: str) -> None:
    proc = vp(
        env={"_VIRTPROBE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    )
    assert proc.returncode == 0 and expect in proc.stdout.split(), (proc.stdout, proc.stderr)
    # Typer finds the shell among the parent processes (shellingham): run it from bash, as a user
    # does, so the test does not depend on what started pytest (CI may start it from no shell).
    cmd = f"{shlex.quote(sys.executable)} -m virtprobe --show-completion; exit $?"
    script = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert script.returncode == 0 and "_VIRTPROBE_COMPLETE" in script.stdout, script.stderr


def test_man_page_is_current() -> None:
    """docs/virtprobe.1 is generated from the CLI; regenerate: `virtprobe man > docs/virtprobe.1`."""
    proc = vp("man")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (REPO / "docs" / "virtprobe.1").read_text(encoding="utf-8")
    for option in ("\\-\\-container", "\\-\\-env\\-mismatch", "\\-\\-output"):
        assert option in proc.stdout
    if shutil.which("man"):
        text = subprocess.run(["man", "-l", "-"], input=proc.stdout, capture_output=True, text=True, check=False)
        assert "EXIT STATUS" in text.stdout


# --- one name per option -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["detect", "snapshot", "bench", "report", "compare", "merge"])
def test_output_is_dash_o_everywhere_and_old_spellings_are_hidden(command: str) -> None:
    help_text = vp(command, "-h").stdout
    assert "-o, --output" in help_text
    assert "--out " not in help_text


def test_snapshot_takes_dash_o_too(tmp_path: Path) -> None:
    proc = vp("snapshot", "-o", str(tmp_path / "snap"), "--no-kvm-probe")
    assert proc.returncode == 0, proc.stderr
    assert vp("detect", "--vm", "--root", str(tmp_path / "snap")).stdout == vp("detect", "--vm").stdout


def test_old_spellings_still_work(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = vp("report", str(FIX / "bench-base.json"), "--format", "json", "--out", str(out))
    assert proc.returncode == 0 and json.loads(out.read_text())["kind"] == "bench"
    again = vp("report", str(FIX / "bench-base.json"), "--json", "-o", str(tmp_path / "r2.json"))
    assert again.returncode == 0 and (tmp_path / "r2.json").read_text() == out.read_text()


def test_threshold_is_named_for_its_unit_and_the_old_name_still_works() -> None:
    base, slower = str(FIX / "bench-base.json"), str(FIX / "bench-new-slower.json")
    assert "--threshold-pct" in vp("compare", "-h").stdout and "--threshold " not in vp("compare", "-h").stdout
    assert vp("compare", base, slower, "--threshold-pct", "10").returncode == 3
    assert vp("compare", base, slower, "--threshold-pct", "10000").returncode == 0
    assert vp("compare", base, slower, "--threshold", "10000").returncode == 0


def test_compare_env_mismatch() -> None:
    base, other = str(FIX / "bench-base.json"), str(FIX / "bench-other-machine.json")
    refused = vp("compare", base, other)
    assert refused.returncode == 1 and "--env-mismatch warn" in refused.stderr
    warned = vp("compare", base, other, "--env-mismatch", "warn")
    assert warned.returncode in (0, 3), warned.stderr
    assert "virtprobe: warning: the environments differ (" in warned.stderr and "kernel" in warned.stderr
    assert vp("compare", base, other, "--env-mismatch", "maybe").returncode == 2


# --- install: lean, extras, one line for a missing one -----------------------------------


def test_runtime_dependencies_are_what_detect_needs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("[")[0].split("<")[0] for d in project["dependencies"]}
    assert names == {"typer", "rich"}
    extras = project["optional-dependencies"]
    assert any(d.startswith("docker") for d in extras["bench"]) and any(d.startswith("psutil") for d in extras["bench"])
    assert any(d.startswith("paramiko") for d in extras["ssh"]) and any(d.startswith("lz4") for d in extras["vm"])
    # The HTML writer draws its own SVG: no extra beyond reading the report ([report]).
    assert "html" not in extras and not any(d.startswith("pygal") for g in extras.values() for d in g)
    assert "virtprobe[bench,ssh,vm,report]" in extras["test"]
    everywhere = [d for group in (project["dependencies"], *extras.values()) for d in group]
    assert not any(d.startswith("py-cpuinfo") for d in everywhere)


@pytest.mark.parametrize(
    ("args", "module", "extra"),
    [
        (["bench", "-n", "1"], "docker", "bench"),
        (["report", str(FIX / "bench-base.json")], "jsonschema", "report"),
    ],
)
def test_a_missing_extra_is_one_line_exit_6(args: list[str], module: str, extra: str) -> None:
    # The module made unimportable, as in an install without the extra.
    code = f"import sys; sys.modules[{module!r}] = None; sys.argv = ['virtprobe', *{args!r}]; " + (
        "from virtprobe.cli.main import main; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 6, proc.stderr
    assert (
        proc.stderr.splitlines() == [proc.stderr.splitlines()[0]] and f"pip install 'virtprobe[{extra}]'" in proc.stderr
    )


@pytest.mark.parametrize("module", ["docker", "psutil"])
def test_a_missing_extra_in_the_api_is_typed(module: str) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "import virtprobe\n"
        "try:\n    virtprobe.bench(runs=1)\n"
        "except virtprobe.MissingExtra as err:\n    print(err.extra)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.stdout.strip() == "bench", proc.stderr


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["bench", "--json", "out.json", "-n", "3"], ["bench", "--output", "out.json", "-n", "3"]),
        (["bench", "--json", "-"], ["bench", "--json"]),
        (["bench", "--json=r.json"], ["bench", "--output", "r.json"]),
        (["bench", "--json", "-n", "3"], ["bench", "--json", "-n", "3"]),
        (["report", "--json", "x.json"], ["report", "--json", "x.json"]),  # report's --json is a flag
    ],
)
def test_old_bench_json_file_spelling_is_rewritten(argv: list[str], expect: list[str]) -> None:
    from virtprobe.cli.aliases import rewrite

    assert rewrite(argv) == expect


_WORDS = st.sampled_from(
    [f for o in __import__("virtprobe.cli.detect_options", fromlist=["OPTIONS"]).OPTIONS for f in o.flags]
    + ["kvm", "60", "x.json", "env", "--", "-qc", "-fjson", "--output=o", "--json=1", "-z"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=6))
def test_detect_parser_and_its_click_command_read_argv_alike(argv: list[str]) -> None:
    """The stdlib loop (start-up) and the Click command (help, completion) come from one table: same reading."""
    from virtprobe.cli.app import detect_command
    from virtprobe.cli.detect_options import parse

    ours = parse(argv)
    try:
        ctx = detect_command().make_context("detect", list(argv))
    except Exception:  # a usage error for Click
        assert ours is None, (argv, ours)
        return
    if ours is None:
        return  # refused by the loop, accepted by Click (a value given twice): Click then runs it
    theirs = {**ctx.params, "targets": list(ctx.params["targets"])}
    assert ours == theirs, argv


def test_every_detect_format_has_a_writer() -> None:
    """One row per format: adding one to --format without its writer fails here (the table is Rich's)."""
    from virtprobe.cli.detect import TEXT_WRITERS
    from virtprobe.cli.detect_options import FORMATS

    assert set(FORMATS) == {"table", *TEXT_WRITERS}
    for fmt in FORMATS:
        proc = vp("detect", "--format", fmt, "--root", str(ROOTS / "aws_nitro"), "--no-kvm-probe")
        assert proc.returncode == 0 and proc.stdout, (fmt, proc.stderr)


@pytest.mark.parametrize("columns", [40, 72, 80, 100, 160])
def test_root_help_without_typer_is_clicks_help(columns: int) -> None:
    """cli/root.py answers `virtprobe --help` from the command table; Click, given the same group, prints the same."""
    env = {"COLUMNS": str(columns)}
    ours = vp("--help", env=env)
    click = subprocess.run(
        [sys.executable, "-c", "from virtprobe.cli.app import app; app(['--help'], prog_name='virtprobe')"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert (ours.returncode, click.returncode) == (0, 0), click.stderr
    assert ours.stdout == click.stdout
    assert vp("-h", env=env).stdout == ours.stdout


def test_root_answers_import_no_typer() -> None:
    for args in (["--help"], ["--version"]):
        loaded = modules_after(*args)
        assert not {m.split(".")[0] for m in loaded} & {"typer", "click", "rich"}, args
    from virtprobe import __version__

    assert vp("--version").stdout == f"virtprobe {__version__}\n"


def test_report_honours_columns() -> None:
    narrow = vp("report", str(FIX / "bench-base.json"), env={"COLUMNS": "70"})
    wide = vp("report", str(FIX / "bench-base.json"), env={"COLUMNS": "160"})
    assert narrow.returncode == wide.returncode == 0, narrow.stderr
    assert max(map(len, narrow.stdout.splitlines())) <= 70 < max(map(len, wide.stdout.splitlines()))
