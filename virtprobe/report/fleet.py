"""Fleet documents: many detect and bench reports in one file, grouped by environment, summarised, compared.

A fleet document (kind "fleet", schema report/schemas/fleet-1.0.schema.json) is
a list of members. Each member is one host or engine: its name, where it came
from (a report file for `merge`, an engine address for `bench --host`), and
either its complete embedded report (a detect or bench document, validated by
its own schema on load) or the error that left it without one.

Everything else is derived on load, never stored: the environment fingerprint
of each member, the groups, the verdict counts, the fleet p50/p99 over host
medians, the outlier hosts (modified Z-score, virtprobe/stats.py). A file's
summary therefore cannot disagree with its members.

`compare` of two fleets is report/fleet_compare.py; `merge` is report/merge.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult
from virtprobe.detection.model import DetectResult
from virtprobe.errors import ReportFormatError
from virtprobe.report.anonymize import PREFIX, anonymize, stable_hash
from virtprobe.report.document import BenchReport, DetectReport, Report, from_document, new_report, to_document
from virtprobe.report.envelope import KIND_BENCH, KIND_DETECT, KIND_FLEET, Header
from virtprobe.report.metrics import container_memory_per_instance, container_startup_phase

if TYPE_CHECKING:
    from virtprobe.benchmark.fleet import EngineOutcome

STATUS_OK = "ok"
STATUS_FAILED = "failed"

# The environment fingerprint: what makes two hosts' figures comparable.
FINGERPRINT_FIELDS = (
    "cpu_model",
    "kernel",
    "engine",
    "containerd",
    "runtime",
    "runtime_version",
    "hypervisor",
    "vmm",
    "cgroup_version",
)

# Bench metrics summarised per host (their names for people: report/labels.py HOST_METRIC_LABELS).
# "startup" is the probe's first instruction (first output for --image), as
# report/metrics.container_startup_phase picks it.
HOST_METRICS: tuple[str, ...] = ("create_s", "start_s", "startup_s", "cycle_s", "memory_bytes")


@dataclass(frozen=True)
class MemberError:
    type: str
    message: str
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "exit_code": self.exit_code}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemberError:
        code = d.get("exit_code")
        return cls(
            type=str(d.get("type") or "error"),
            message=str(d.get("message") or ""),
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        )


@dataclass(frozen=True)
class FleetMember:
    """One host or engine of the fleet."""

    name: str
    source: str  # a report file (merge) or an engine address (bench --host)
    origin: str  # "file", "--host", "--context", "DOCKER_HOST", ...
    report: Report | None
    error: MemberError | None = None
    elapsed_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None

    @property
    def kind(self) -> str | None:
        return None if self.report is None else self.report.header.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "origin": self.origin,
            "status": STATUS_OK if self.ok else STATUS_FAILED,
            "error": None if self.error is None else self.error.to_dict(),
            "elapsed_s": self.elapsed_s,
            "report": None if self.report is None else to_document(self.report),
        }


@dataclass(frozen=True)
class FleetReport:
    header: Header
    members: tuple[FleetMember, ...]

    @property
    def ok_members(self) -> tuple[FleetMember, ...]:
        return tuple(m for m in self.members if m.ok)

    @property
    def failed(self) -> tuple[FleetMember, ...]:
        return tuple(m for m in self.members if not m.ok)


# --- making fleets ------------------------------------------------------------------


def new_fleet(members: Sequence[FleetMember], created_utc: str | None = None) -> FleetReport:
    return FleetReport(Header.new(KIND_FLEET, created_utc), tuple(_unique_names(members)))


def _unique_names(members: Sequence[FleetMember]) -> list[FleetMember]:
    seen: dict[str, int] = {}
    out = []
    for m in members:
        n = seen.get(m.name, 0) + 1
        seen[m.name] = n
        out.append(m if n == 1 else dataclasses.replace(m, name=f"{m.name} ({n})"))
    return out


def fleet_from_outcomes(outcomes: Sequence[EngineOutcome], created_utc: str | None = None) -> FleetReport:
    """The fleet report of one `bench` run against several engines."""
    members = []
    for o in outcomes:
        report = None if o.result is None else new_report(o.result, created_utc)
        error = None if o.error is None else MemberError(o.error_type or "error", o.error, o.exit_code)
        members.append(FleetMember(o.target.name, o.target.describe(), o.target.origin, report, error, o.elapsed_s))
    return new_fleet(members, created_utc)


# --- documents ----------------------------------------------------------------------


def fleet_to_document(fleet: FleetReport) -> dict[str, Any]:
    return {**fleet.header.to_dict(), "members": [m.to_dict() for m in fleet.members]}


def fleet_from_document(doc: Mapping[str, Any], name: str, check: Callable[[Any, str], dict[str, Any]]) -> FleetReport:
    """A typed fleet from a document whose envelope load.py has checked; `check` validates each member's report."""
    header = Header.from_dict(doc)
    members = []
    for i, raw in enumerate(doc.get("members") or ()):
        where = f"{name}: member {i} ({raw.get('name')!r})"
        embedded = raw.get("report")
        report: Report | None = None
        if isinstance(embedded, Mapping):
            if embedded.get("kind") not in (KIND_DETECT, KIND_BENCH):
                raise ReportFormatError(
                    f"{where}: a fleet member holds a detect or bench report, not {embedded.get('kind')!r}"
                )
            checked = check(dict(embedded), where)
            try:
                report = from_document(checked)
            except ReportFormatError as err:
                raise ReportFormatError(f"{where}: {err.message}") from err
        err_d = raw.get("error")
        error = MemberError.from_dict(err_d) if isinstance(err_d, Mapping) else None
        if report is None and error is None:
            error = MemberError("error", "no report and no error recorded")
        elapsed = raw.get("elapsed_s")
        members.append(
            FleetMember(
                name=str(raw.get("name") or f"member {i}"),
                source=str(raw.get("source") or ""),
                origin=str(raw.get("origin") or ""),
                report=report,
                error=error,
                elapsed_s=float(elapsed)
                if isinstance(elapsed, int | float) and not isinstance(elapsed, bool)
                else None,
            )
        )
    return FleetReport(header, tuple(members))


# --- anonymizing --------------------------------------------------------------------


def anonymize_fleet(fleet: FleetReport) -> FleetReport:
    """Member names, sources and embedded hostnames hashed; error messages scrubbed of them too."""

    def hashed(value: str) -> str:
        return value if not value or value.startswith(PREFIX) else stable_hash(value)

    members = []
    for m in fleet.members:
        secrets = {m.name, m.source}
        host = _url_host(m.source)
        if host:
            secrets.add(host)
        report = m.report
        if isinstance(report, BenchReport):
            env = report.result.environment
            secrets.update(x for x in (env.hostname, env.machine_id) if x)
            report = anonymize(report)
        error = m.error
        if error is not None:
            message = error.message
            for s in sorted((s for s in secrets if s and not s.startswith(PREFIX)), key=len, reverse=True):
                message = message.replace(s, stable_hash(s))
            error = dataclasses.replace(error, message=message)
        members.append(dataclasses.replace(m, name=hashed(m.name), source=hashed(m.source), report=report, error=error))
    return dataclasses.replace(fleet, members=tuple(members))


def _url_host(source: str) -> str | None:
    """The host part of an engine address (tcp://HOST:PORT, ssh://HOST:PORT), for scrubbing."""
    scheme, sep, rest = source.partition("://")
    if not sep or scheme == "unix":
        return None
    netloc = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


# --- fingerprints and groups --------------------------------------------------------


Fingerprint = tuple[tuple[str, Any], ...]


def fingerprint(report: Report) -> Fingerprint:
    """The environment of a member: CPU model, kernel, engine and runtime versions, hypervisor, VMM, cgroups."""
    values: dict[str, Any] = dict.fromkeys(FINGERPRINT_FIELDS)
    if isinstance(report, BenchReport):
        env = report.result.environment
        # Read by name: the engine record grows with the engines work (benchmark/engine.py),
        # and a field an older report lacks is simply unknown here.
        eng = getattr(env, "engine", None) or getattr(env, "docker", None)
        product = getattr(eng, "product", None)
        version = getattr(eng, "product_version", None) or getattr(eng, "engine_version", None)
        runtime = getattr(eng, "runtime", None) or getattr(eng, "default_runtime", None)
        values.update(
            cpu_model=env.cpu_model,
            # The engine's own kernel where it says it: a remote engine's is not this machine's.
            kernel=getattr(eng, "kernel_version", None) or env.kernel,
            engine=" ".join(str(x) for x in (product, version) if x) or None,
            containerd=getattr(eng, "containerd_version", None),
            runtime=runtime,
            runtime_version=getattr(eng, "runtime_version", None) or getattr(eng, "runc_version", None),
            hypervisor=env.detect.hypervisor if env.detect else None,
            vmm=env.detect.vmm if env.detect else None,
            cgroup_version=getattr(eng, "cgroup_version", None),
        )
    else:
        r: DetectResult = report.result
        values.update(
            cpu_model=r.cpu.model_name,
            kernel=r.host.kernel,
            hypervisor=r.hypervisor.id,
            vmm=r.hypervisor.vmm,
            cgroup_version=r.container.cgroup_version,
        )
    return tuple((k, values[k]) for k in FINGERPRINT_FIELDS)


def fingerprint_id(fp: Fingerprint) -> str:
    """A short stable id of a fingerprint, the same in every fleet (compare matches groups by it)."""
    text = json.dumps([[k, v] for k, v in fp], sort_keys=True)
    return "env-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def fingerprint_text(fp: Fingerprint) -> str:
    """The known fields of a fingerprint, for people: "cpu_model=AMD EPYC, kernel=6.1, ..."."""
    shown = [f"{k}={v}" for k, v in fp if v is not None]
    return ", ".join(shown) if shown else "nothing known"


@dataclass(frozen=True)
class Group:
    id: str
    kind: str  # "detect" or "bench": a host's detect and bench reports know different things
    fingerprint: Fingerprint
    members: tuple[FleetMember, ...]

    @property
    def text(self) -> str:
        return fingerprint_text(self.fingerprint)


def groups(fleet: FleetReport) -> list[Group]:
    """Members with a report, grouped by kind and fingerprint, in order of first appearance."""
    found: dict[tuple[str, str], tuple[Fingerprint, list[FleetMember]]] = {}
    for m in fleet.ok_members:
        assert m.report is not None
        fp = fingerprint(m.report)
        key = (m.report.header.kind, fingerprint_id(fp))
        found.setdefault(key, (fp, []))[1].append(m)
    return [Group(gid, kind, fp, tuple(ms)) for (kind, gid), (fp, ms) in found.items()]


# --- detect: counts per verdict -----------------------------------------------------


def _kvm_text(r: DetectResult) -> str:
    k = r.kvm
    module = f", {k.module}" if k.module else ""
    if k.usable is True:
        return f"/dev/kvm usable{module}"
    if k.device_present is False:
        return "/dev/kvm absent"
    if k.usable is False:
        return f"/dev/kvm unusable{module}"
    return f"/dev/kvm unknown{module}"


def _hypervisor_text(r: DetectResult) -> str:
    h = r.hypervisor
    if h.id is None:
        return "hypervisor unknown"
    if h.id == "none":
        return "no hypervisor (bare metal)"
    return f"hypervisor {h.id}" + (f", VMM {h.vmm}" if h.vmm else "")


def _opt(label: str, value: Any) -> str:
    return f"{label} {'unknown' if value is None else value}"


VERDICTS: tuple[tuple[str, Callable[[DetectResult], str]], ...] = (
    ("kvm", _kvm_text),
    ("hypervisor", _hypervisor_text),
    ("nested", lambda r: _opt("nested virtualization", {True: "on", False: "off"}.get(r.kvm.nested))),  # type: ignore[arg-type]
    ("cvm", lambda r: _opt("confidential VM", r.cvm.id)),
    ("cloud", lambda r: _opt("cloud", r.cloud.id)),
    ("container", lambda r: _opt("container", r.container.id)),
    ("cgroup", lambda r: _opt("cgroup v", r.container.cgroup_version).replace("v ", "v")),
    ("cpu", lambda r: _opt("CPU virtualization", r.cpu.virt_tech)),
)


@dataclass(frozen=True)
class VerdictCount:
    topic: str
    text: str
    count: int
    total: int
    hosts: tuple[str, ...]

    @property
    def line(self) -> str:
        return f"{self.count} of {self.total} host{'s' if self.total != 1 else ''}: {self.text}"


def verdict_counts(members: Sequence[FleetMember]) -> list[VerdictCount]:
    """For every verdict topic, how many detect members gave each answer (most common first)."""
    detects = [(m.name, m.report.result) for m in members if isinstance(m.report, DetectReport)]
    total = len(detects)
    out: list[VerdictCount] = []
    for topic, text_of in VERDICTS:
        by_text: dict[str, list[str]] = {}
        for name, result in detects:
            by_text.setdefault(text_of(result), []).append(name)
        for text, names in sorted(by_text.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            out.append(VerdictCount(topic, text, len(names), total, tuple(names)))
    return out


# --- bench: one row per host, fleet percentiles, outliers ---------------------------


def host_medians(result: BenchResult) -> dict[str, float | None]:
    """The medians shown for one host (seconds, and bytes for memory)."""
    c = result.container
    if c is None:
        return dict.fromkeys(HOST_METRICS)
    return {
        "create_s": c.summary("create_s").median,
        "start_s": c.summary("start_s").median,
        "startup_s": c.summary(container_startup_phase(c)).median,
        "cycle_s": c.summary("cycle_s").median,
        "memory_bytes": container_memory_per_instance(c)[0],
    }


@dataclass(frozen=True)
class HostRow:
    name: str
    group: str
    runs: int
    timing: str | None  # which clock the startup times use (clock.mode: same-kernel, engine-offset, client-only)
    medians: dict[str, float | None]
    outlier_metrics: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class FleetStat:
    metric: str
    n_hosts: int
    p50: float | None
    p99: float | None
    outliers: tuple[str, ...]  # host names with |modified Z| > 3.5


@dataclass(frozen=True)
class BenchSummary:
    rows: tuple[HostRow, ...]
    stats: tuple[FleetStat, ...]


def bench_summary(fleet: FleetReport) -> BenchSummary:
    group_of = {m.name: g.id for g in groups(fleet) for m in g.members}
    benches = [(m.name, m.report.result) for m in fleet.members if isinstance(m.report, BenchReport)]
    medians = {name: host_medians(result) for name, result in benches}
    fleet_stats = []
    flagged: dict[str, list[str]] = {}
    for key in HOST_METRICS:
        pairs = [(name, v) for name, meds in medians.items() if (v := meds[key]) is not None]
        values = [v for _, v in pairs]
        outliers = tuple(pairs[i][0] for i in stats.outlier_indexes(values)) if len(values) >= 3 else ()
        for name in outliers:
            flagged.setdefault(name, []).append(key)
        ordered = sorted(values)
        fleet_stats.append(
            FleetStat(
                key,
                len(values),
                stats.percentile(ordered, 50) if ordered else None,
                stats.percentile(ordered, 99) if ordered else None,
                outliers,
            )
        )
    rows = tuple(
        HostRow(
            name=name,
            group=group_of.get(name, "-"),
            runs=len(result.container.measured("cycle_s")) if result.container else 0,
            timing=_timing(result),
            medians=medians[name],
            outlier_metrics=tuple(flagged.get(name, ())),
            warnings=result.warnings,
        )
        for name, result in benches
    )
    return BenchSummary(rows, tuple(fleet_stats))


def _timing(result: BenchResult) -> str | None:
    """The clock label of a host's startup figures: a remote engine's are client-side or offset-corrected."""
    c = result.container
    if c is None:
        return None
    clock = getattr(c, "clock", None)
    mode = getattr(clock, "mode", None)
    return str(mode) if mode else c.timing_basis
