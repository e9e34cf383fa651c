"""compare: Mann-Whitney U against known values, regression decisions, environment refusal, detect diffs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from virtprobe.errors import InputError
from virtprobe.report.compare import compare, environment_differences, metric_change
from virtprobe.report.document import BenchReport, Report, from_document
from virtprobe.report.load import load_document, load_report
from virtprobe.stats import bootstrap_ci, mann_whitney_u

FIX = Path(__file__).parent / "fixtures" / "reports"


def _load(name: str) -> Report:
    return load_report(FIX / name)


def _bench(doc: dict[str, Any]) -> BenchReport:
    report = from_document(doc)
    assert isinstance(report, BenchReport)
    return report


def test_mann_whitney_scipy_docs_example() -> None:
    # scipy.stats.mannwhitneyu docs: males vs females, method="asymptotic"
    # gives statistic=17.0, pvalue=0.11134688653314041.
    r = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert r.u == 17.0
    assert r.p_value == pytest.approx(0.11134688653314041, abs=1e-12)


def test_mann_whitney_complete_separation_by_hand() -> None:
    # U1 = 0, U = 9, mu = 4.5, var = 3*3/12 * 7 = 5.25 (no ties);
    # z = (9 - 4.5 - 0.5) / sqrt(5.25) = 1.745743; p = erfc(z / sqrt 2) = 0.080856.
    r = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert r.u == 0.0
    assert r.p_value == pytest.approx(0.080856, abs=1e-6)


def test_mann_whitney_ties_by_hand() -> None:
    # Ranks 1.5 1.5 3.5 | 3.5 5.5 5.5: R1 = 6.5, U1 = 0.5, U = 8.5.
    # Three tie groups of 2: sum(t^3 - t) = 18, / (6 * 5) = 0.6; var = 9/12 * (7 - 0.6) = 4.8.
    # z = (8.5 - 4.5 - 0.5) / sqrt(4.8) = 1.597524; p = 0.110149.
    r = mann_whitney_u([1, 1, 2], [2, 3, 3])
    assert r.u == 0.5
    assert r.p_value == pytest.approx(0.110149, abs=1e-6)


def test_mann_whitney_all_equal_and_symmetry() -> None:
    assert mann_whitney_u([5, 5, 5], [5, 5]).p_value == 1.0
    x, y = [0.1, 0.4, 0.35, 0.8], [0.2, 0.9, 0.95, 0.7, 0.6]
    assert mann_whitney_u(x, y).p_value == pytest.approx(mann_whitney_u(y, x).p_value)
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])


BASE = [0.100 + 0.001 * i for i in range(20)]  # 100..119 ms


def test_big_significant_slowdown_is_a_regression() -> None:
    m = metric_change("container start_s", "s", BASE, [x * 1.3 for x in BASE], threshold=0.10)
    assert m.significant and m.regression and not m.improvement
    assert m.change == pytest.approx(0.3)
    assert m.ci_low is not None and m.ci_high is not None and m.ci_low <= 0.3 <= m.ci_high


def test_significant_but_small_change_is_not_a_regression() -> None:
    m = metric_change("x", "s", BASE, [x * 1.05 for x in BASE], threshold=0.10)
    assert not m.regression
    m2 = metric_change("x", "s", BASE, [x * 1.05 for x in BASE], threshold=0.02)
    assert m2.significant and m2.regression


def test_large_but_not_significant_change_is_not_a_regression() -> None:
    # Two samples each side: the test cannot reach p < 0.05, however large the change.
    m = metric_change("x", "s", [0.1, 0.2], [0.3, 0.4], threshold=0.10)
    assert m.change is not None and m.change > 1
    assert not m.significant and not m.regression


def test_same_distribution_is_not_significant() -> None:
    new = list(reversed(BASE))
    m = metric_change("x", "s", BASE, new, threshold=0.10)
    assert m.change == 0 and not m.significant and not m.regression


def test_higher_is_better_direction() -> None:
    worse = metric_change("tput", "1/s", BASE, [x * 0.7 for x in BASE], threshold=0.1, higher_is_better=True)
    better = metric_change("tput", "1/s", BASE, [x * 1.3 for x in BASE], threshold=0.1, higher_is_better=True)
    assert worse.regression and not better.regression and better.improvement


def test_bootstrap_is_seeded() -> None:
    new = [x * 1.2 for x in BASE]
    assert bootstrap_ci(BASE, new) == bootstrap_ci(BASE, new)
    assert bootstrap_ci([], new) is None


def test_fixture_compare_same_vs_slower() -> None:
    base = _load("bench-base.json")
    same = compare(base, _load("bench-new-same.json"))
    assert same.regressions == ()
    slower = compare(base, _load("bench-new-slower.json"))
    names = {m.name for m in slower.regressions}
    assert {
        "container start_s",
        "container cycle_s",
        "memory cgroup_bytes",
        "vm qemu-microvm boot_s",
    } <= names
    assert "container create_s" not in names
    # simulated baselines are not compared: their samples are generated, not measured
    assert not any("firecracker" in m.name for m in slower.metrics)


def test_environment_mismatch_refused_and_listed() -> None:
    base, other = _load("bench-base.json"), _load("bench-other-machine.json")
    with pytest.raises(InputError) as info:
        compare(base, other, base_name="a.json", new_name="b.json")
    msg = str(info.value)
    assert "kernel: 6.18.44-fc-v669 -> 6.1.0-26-amd64" in msg
    assert "engine version: 20.10.24+dfsg1 -> 24.0.7" in msg
    assert "--env-mismatch warn" in msg and "a.json" in msg and "\n" not in msg
    forced = compare(base, other, force=True)
    assert "kernel: 6.18.44-fc-v669 -> 6.1.0-26-amd64" in forced.env_differences
    assert forced.to_dict()["environment_differences"]


@pytest.mark.parametrize(
    ("path", "value", "label"),
    [
        (("cpu_model",), "AMD EPYC", "cpu_model"),
        (("engine", "containerd_version"), "1.7.0", "containerd"),
        (("engine", "runtime_version"), "1.2.0", "OCI runtime version"),
        (("engine", "runtime_kind"), "crun", "OCI runtime"),
        (("engine", "container_process"), "conmon", "per-container process"),
        (("engine", "rootless"), True, "rootless"),
        (("engine", "cgroup_version"), 2, "cgroup version"),
        (("detect", "hypervisor"), "none", "hypervisor"),
    ],
)
def test_each_environment_field_is_checked(path: tuple[str, ...], value: Any, label: str) -> None:
    base = load_document(FIX / "bench-base.json")
    new = copy.deepcopy(base)
    target = new["environment"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    diffs = environment_differences(_bench(base).result, _bench(new).result)
    assert len(diffs) == 1 and diffs[0].startswith(f"{label}: ")


def test_detect_diff() -> None:
    c = compare(_load("detect-firecracker.json"), _load("detect-docker-on-metal.json"))
    changes = {label: (b, n) for label, b, n in c.verdict_changes}
    assert changes["hypervisor"] == ("kvm", "none")
    assert changes["container"] == ("none", "docker")
    assert c.regressions == ()
    same = compare(_load("detect-firecracker.json"), _load("detect-firecracker.json"))
    assert same.verdict_changes == ()


def test_kind_mismatch() -> None:
    with pytest.raises(InputError, match="cannot compare a bench report"):
        compare(_load("bench-base.json"), _load("detect-firecracker.json"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", "compare", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_exit_codes(tmp_path: Path) -> None:
    base = str(FIX / "bench-base.json")
    ok = _cli(base, str(FIX / "bench-new-same.json"))
    assert ok.returncode == 0, ok.stderr
    assert "no regression" in ok.stdout
    reg = _cli(base, str(FIX / "bench-new-slower.json"), "--format", "markdown")
    assert reg.returncode == 3
    assert "**REGRESSION**" in reg.stdout  # the result is printed before the exit code
    assert "Traceback" not in reg.stderr and len(reg.stderr.strip().splitlines()) == 1
    # a threshold above the change: no regression
    assert _cli(base, str(FIX / "bench-new-slower.json"), "--threshold", "50").returncode == 0
    env = _cli(base, str(FIX / "bench-other-machine.json"))
    assert env.returncode == 1 and "kernel:" in env.stderr and "Traceback" not in env.stderr
    assert _cli(base, str(FIX / "bench-other-machine.json"), "--force").returncode == 0
    assert _cli(base, str(tmp_path / "missing.json")).returncode == 1
    out = tmp_path / "cmp.json"
    assert _cli(base, str(FIX / "bench-new-same.json"), "--format", "json", "-o", str(out)).returncode == 0
    assert '"kind": "compare"' in out.read_text()
    again = _cli(base, str(FIX / "bench-new-same.json"), "--format", "json", "-o", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr


# --- measured differently: same machine, another setup --------------------------------------

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def test_setup_differences_name_the_changed_qemu_arguments() -> None:
    """A real report of this machine against itself with the older bzImage command line."""
    from virtprobe.report.compare import setup_differences
    from virtprobe.report.formats import OutputFormat, render_comparison

    new = load_document(REPORTS / "bench-firecracker.json")
    assert setup_differences(_bench(new).result, _bench(new).result) == []
    base = copy.deepcopy(new)
    qemu = next(b for b in base["vm"]["baselines"] if b["kind"] == "measured")
    i = next(i for i, n in enumerate(qemu["notes"]) if n.startswith("command: "))
    kernel = qemu["notes"][i].split("<vmlinux from ")[1].split(">")[0]
    qemu["notes"][i] = qemu["notes"][i].replace(f"<vmlinux from {kernel}>", f"<kernel {kernel}>")
    base["container"]["image"]["name"] = "example/app:1"
    diffs = setup_differences(_bench(base).result, _bench(new).result)
    assert diffs == [
        f"image: example/app:1 -> {new['container']['image']['name']}",
        f"vm {qemu['name']} command: <kernel {kernel}> -> <vmlinux from {kernel}>",
    ]
    c = compare(_bench(base), _bench(new))
    assert c.setup_differences == tuple(diffs) and c.to_dict()["setup_differences"] == diffs
    md = render_comparison(c, [], [], OutputFormat.markdown)
    assert isinstance(md, str)
    # Escaped, or GitHub would take "<kernel ...>" for an HTML tag and drop it.
    assert f"&lt;kernel {kernel}> -> &lt;vmlinux from {kernel}>" in md
    assert "<kernel" not in md
