"""The bench section on hardware virtualization itself (--hwvirt): /dev/kvm driven directly, no VMM."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult, ExitRoundTrip
from virtprobe.report.page import Cell, Column, ColumnKind, Note, NoteKind, Section, Table, Tone

COLUMNS = (
    Column("measure", ColumnKind.label, metric="measure"),
    Column("median", ColumnKind.seconds, metric="bench_hwvirt_median"),
    Column("p99", ColumnKind.seconds, metric="bench_hwvirt_p99"),
    Column("n", ColumnKind.integer),
)


def _row(key: str, label: str, samples: tuple[float, ...]) -> tuple[Cell, ...]:
    s = stats.summarize(samples)
    return (Cell(key, label), Cell(s.median, tone=Tone.strong), Cell(s.p99), Cell(s.n))


def _exit_rows(ex: ExitRoundTrip, mode: str, key: str) -> list[tuple[Cell, ...]]:
    return [
        _row(f"exit_raw_{key}", f"VM exit round trip, {mode}, raw", ex.raw_per_exit_s),
        _row(f"null_ioctl_{key}", f"Python null ioctl ({mode} run)", ex.null_ioctl_per_call_s),
        _row(f"exit_net_{key}", f"VM exit round trip, {mode}, net of the null ioctl", ex.net_per_exit_s),
    ]


def hwvirt_section(result: BenchResult) -> Section | None:
    hw = result.hwvirt
    if hw is None:
        return None
    title = f"Hardware virtualization itself (/dev/kvm via {hw.kvm_module or '?'}, no VMM)"
    if not hw.available:
        note = Note(f"not available: {hw.reason or 'unknown reason'}", NoteKind.warning)
        return Section("bench.hwvirt", title, (note,))
    rows: list[tuple[Cell, ...]] = []
    notes = []
    if hw.vm_floor is not None:
        rows.append(_row("vm_floor", "VM floor: KVM_CREATE_VM to first guest output", hw.vm_floor.samples_s))
        notes.append(Note(f"VM floor: {hw.vm_floor.meaning}"))
    if hw.exit_round_trip is not None:
        rows += _exit_rows(hw.exit_round_trip, "64-bit user mode", "user64")
        notes.append(Note(f"VM exit: {hw.exit_round_trip.meaning}"))
    if hw.exit_round_trip_real_mode is not None:
        rows += _exit_rows(hw.exit_round_trip_real_mode, "real mode", "real")
    labels = (("kvm_module", hw.kvm_module or "unknown"),)
    blocks: list[Table | Note] = [Table("bench.hwvirt", COLUMNS, tuple(rows), labels=labels)]
    nn = hw.near_native
    if nn is not None:
        ratios = tuple(
            (Cell(key, label), Cell(value, tone=Tone.strong))
            for key, label, value in (("user", "guest user mode / native", nn.ratio_user),
                                      ("kernel", "guest kernel mode / native", nn.ratio_kernel))
            if value is not None
        )  # fmt: skip
        columns = (Column("same compute loop", ColumnKind.label, metric="mode"),
                   Column("time ratio", ColumnKind.ratio, metric="bench_hwvirt_near_native"))  # fmt: skip
        if ratios:
            blocks.append(Table("bench.hwvirt.near-native", columns, ratios))
        notes.append(Note(f"Near-native: {nn.meaning}"))
        if nn.verdict:
            notes.append(Note(f"Verdict: {nn.verdict}", NoteKind.verdict))
    notes += [Note(f"note: {n}") for n in hw.notes]
    return Section("bench.hwvirt", title, (*blocks, *notes))
