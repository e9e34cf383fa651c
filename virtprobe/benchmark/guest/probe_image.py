"""The probe: a tiny static ELF generated as bytes, and the FROM-scratch image that holds it.

No registry can be reached on many CI runners, so virtprobe builds its own image
offline. The executable is hand-assembled (the source is in the comments next to
the bytes; it was assembled once with `llvm-mc` and the bytes pasted here, so
no compiler is needed at run time). At its first instructions it reads
CLOCK_MONOTONIC through the raw syscall and prints "sec.nsec\\n" in decimal on
fd 1; then it prints the boot id of the kernel it runs under (or "-" when it
cannot read one) and its CLOCK_REALTIME, so that a timing is only ever computed
against a clock of the same kernel (bench/clock.py decides). It then exits 0,
or waits forever when argv[1] starts with "p" ("pause"), so that memory can be
measured on an idle container.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass

from virtprobe.benchmark.guest.elf import EM_AARCH64, EM_X86_64, static_elf

# --- machine code ----------------------------------------------------------------

# Output, one write per line so that the first byte leaves as early as before:
#   <CLOCK_MONOTONIC sec.nsec>\n      read by the very first instructions
#   <boot id>\n or -\n                /proc/sys/kernel/random/boot_id of the kernel the probe ran
#                                      under (36 bytes), or "-" when it cannot be opened or read
#   <CLOCK_REALTIME sec.nsec>\n       read right after the monotonic clock, for the engine-offset
#                                      estimate when the container ran under another kernel
# Probes built before the boot id existed print only the first line; both parse.
# The source below was assembled with `llvm-mc -filetype=obj` (LLVM 14) and the
# .text bytes extracted with `llvm-objcopy -O binary -j .text`; there are no relocations.

# x86_64, Intel syntax. r12 keeps the entry sp (argc at [r12], argv[1] at [r12+16]);
# the frame below it holds the two timespecs ([rsp], [rsp+16]) and the text buffer
# ([rsp+32..127]: the boot id at +32, put_ts writes backwards from r12).
#   mov r12, rsp ; sub rsp, 128
#   mov eax, 228 ; mov edi, 1 ; mov rsi, rsp ; syscall               clock_gettime(MONOTONIC)
#   mov eax, 228 ; xor edi, edi ; lea rsi, [rsp+16] ; syscall        clock_gettime(REALTIME)
#   mov rbx, rsp ; call put_ts
#   mov eax, 2 ; lea rdi, [rip+path] ; xor esi, esi ; syscall        open(path, O_RDONLY)
#   test rax, rax ; js absent ; mov r13, rax
#   mov edi, eax ; xor eax, eax ; lea rsi, [rsp+32] ; mov edx, 36 ; syscall   read(fd, buf, 36)
#   mov r14, rax ; mov eax, 3 ; mov rdi, r13 ; syscall              close(fd)
#   cmp r14, 36 ; jne absent ; mov byte [rsp+68], 10 ; mov edx, 37 ; jmp emit
# absent: mov word [rsp+32], 0x0a2d ; mov edx, 2                    "-\n"
# emit: lea rsi, [rsp+32] ; mov edi, 1 ; mov eax, 1 ; syscall        write(1, ...)
#   lea rbx, [rsp+16] ; call put_ts
#   cmp qword [r12], 2 ; jb exit ; mov rax, [r12+16] ; cmp byte [rax], 'p' ; jne exit   argv[1] == "p..."?
# pause: mov eax, 34 ; syscall ; jmp pause                          pause() forever
# exit: xor edi, edi ; mov eax, 231 ; syscall                        exit_group(0)
# put_ts: (rbx -> timespec) lea rcx, [r12-1] ; mov byte [rcx], 10 ; mov rax, [rbx+8] ; mov r8d, 10 ; mov r9d, 9
# 1: xor edx, edx ; div r8 ; add dl, '0' ; dec rcx ; mov [rcx], dl ; dec r9d ; jnz 1b   9 nsec digits
#   dec rcx ; mov byte [rcx], '.' ; mov rax, [rbx]
# 2: xor edx, edx ; div r8 ; add dl, '0' ; dec rcx ; mov [rcx], dl ; test rax, rax ; jnz 2b   sec digits
#   mov rdx, r12 ; sub rdx, rcx ; mov rsi, rcx ; mov edi, 1 ; mov eax, 1 ; syscall ; ret   write(1, ...)
# path: .asciz "/proc/sys/kernel/random/boot_id"
_X86_64_CODE = bytes.fromhex(
    "4989e44881ec80000000b8e4000000bf010000004889e60f05b8e400000031ff488d7424100f054889e3"
    "e891000000b802000000488d3de000000031f60f054885c078324989c589c731c0488d742420ba240000"
    "000f054989c6b8030000004c89ef0f054983fe24750cc64424440aba25000000eb0c66c74424202d0aba"
    "02000000488d742420bf01000000b8010000000f05488d5c2410e82300000049833c24027213498b4424"
    "108038707509b8220000000f05ebf731ffb8e70000000f05498d4c24ffc6010a488b430841b80a000000"
    "41b90900000031d249f7f080c23048ffc9881141ffc975ee48ffc9c6012e488b0331d249f7f080c23048"
    "ffc988114885c075ee4c89e24829ca4889cebf01000000b8010000000f05c32f70726f632f7379732f6b"
    "65726e656c2f72616e646f6d2f626f6f745f696400"
)

# aarch64: the same program. x19 keeps the entry sp, x20 points at the timespec
# put_ts prints (bl clobbers only x30, and _start never returns). aarch64 has no
# open() or pause(): openat(AT_FDCWD, ...) (nr 56) and ppoll(NULL, 0, NULL, NULL)
# (nr 73) do the same.
#   mov x19, sp ; sub sp, sp, #128
#   mov x0, #1 ; mov x1, sp ; mov x8, #113 ; svc #0                  clock_gettime(MONOTONIC)
#   mov x0, #0 ; add x1, sp, #16 ; mov x8, #113 ; svc #0             clock_gettime(REALTIME)
#   mov x20, sp ; bl put_ts
#   mov x0, #-100 ; adr x1, path ; mov x2, #0 ; mov x8, #56 ; svc #0 openat
#   tbnz x0, #63, absent ; mov x21, x0
#   add x1, sp, #32 ; mov x2, #36 ; mov x8, #63 ; svc #0             read(fd, buf, 36)
#   mov x22, x0 ; mov x0, x21 ; mov x8, #57 ; svc #0                 close(fd)
#   cmp x22, #36 ; b.ne absent ; mov w4, #10 ; strb w4, [sp, #68] ; mov x2, #37 ; b emit
# absent: mov w4, #0x0a2d ; strh w4, [sp, #32] ; mov x2, #2         "-\n"
# emit: mov x0, #1 ; add x1, sp, #32 ; mov x8, #64 ; svc #0          write
#   add x20, sp, #16 ; bl put_ts
#   ldr x0, [x19] ; cmp x0, #2 ; b.lo exit ; ldr x1, [x19, #16] ; ldrb w1, [x1] ; cmp w1, #112 ; b.ne exit
# pause: mov x0..x3, #0 ; mov x8, #73 ; svc #0 ; b pause            ppoll forever
# exit: mov x0, #0 ; mov x8, #94 ; svc #0                            exit_group(0)
# put_ts: sub x3, x19, #1 ; mov w4, #10 ; strb w4, [x3] ; ldr x2, [x20, #8] ; mov x5, #10 ; mov x6, #9
# 1: udiv x7, x2, x5 ; msub x9, x7, x5, x2 ; add x9, x9, #48 ; sub x3, x3, #1 ; strb w9, [x3]
#    mov x2, x7 ; subs x6, x6, #1 ; b.ne 1b
#   sub x3, x3, #1 ; mov w4, #46 ; strb w4, [x3] ; ldr x2, [x20]
# 2: udiv/msub/add/sub/strb as above ; mov x2, x7 ; cbnz x2, 2b
#   mov x0, #1 ; mov x1, x3 ; sub x2, x19, x3 ; mov x8, #64 ; svc #0 ; ret   write
# path: .asciz "/proc/sys/kernel/random/boot_id"   (32 bytes, so the code stays word-aligned)
_AARCH64_CODE = bytes.fromhex(
    "f3030091ff0302d1200080d2e1030091280e80d2010000d4000080d2e1430091280e80d2010000d4f403"
    "009130000094600c8092a1090010020080d2080780d2010000d40002f8b7f50300aae1830091820480d2"
    "e80780d2010000d4f60300aae00315aa280780d2010000d4df9200f1a100005444018052e4130139a204"
    "80d204000014a4458152e4430079420080d2200080d2e1830091080880d2010000d4f443009112000094"
    "600240f91f0800f183010054610a40f9210040393fc0017101010054000080d2010080d2020080d20300"
    "80d2280980d2010000d4faffff17000080d2c80b80d2010000d4630600d14401805264000039820640f9"
    "450180d2260180d24708c59ae988059b29c10091630400d169000039e20307aac60400f121ffff546304"
    "00d1c405805264000039820240f94708c59ae988059b29c10091630400d169000039e20307aa42ffffb5"
    "200080d2e10303aa620203cb080880d2010000d4c0035fd62f70726f632f7379732f6b65726e656c2f72"
    "616e646f6d2f626f6f745f696400"
)

# The path the probe opens, NUL-terminated, at the end of both programs.
BOOT_ID_PATH = b"/proc/sys/kernel/random/boot_id\0"

ARCHES: dict[str, tuple[int, bytes]] = {
    "x86_64": (EM_X86_64, _X86_64_CODE),
    "aarch64": (EM_AARCH64, _AARCH64_CODE),
}

# Names engines and Python use for the same two architectures.
_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "arm64/v8": "aarch64",
}

LOAD_VADDR = 0x400000

PROBE_LABEL = "io.virtprobe.image"
PROBE_REPO = "virtprobe/probe"

DOCKERFILE = 'FROM scratch\nCOPY probe /probe\nCOPY spin /spin\nENTRYPOINT ["/probe"]\n'

# The argument that puts the probe in pause mode (only its first byte counts).
PAUSE_ARG = "pause"


def normalize_arch(name: str) -> str | None:
    """The probe's name for an engine/kernel architecture string, or None if unsupported."""
    return _ARCH_ALIASES.get(name.strip().lower())


def build_elf(arch: str) -> bytes:
    """A complete static ELF64 executable: header, one PT_LOAD segment, code.

    The whole file is mapped read+execute at LOAD_VADDR, so the entry point is
    LOAD_VADDR plus the code's offset in the file (right after the headers).
    """
    key = normalize_arch(arch)
    if key is None:
        raise ValueError(f"no probe for architecture {arch!r}")
    machine, code = ARCHES[key]
    return static_elf(code, machine, LOAD_VADDR)


def _parse_timespec(line: str) -> int | None:
    """A "sec.nsec" line (exactly 9 nsec digits) as nanoseconds, or None."""
    sec, dot, nsec = line.strip().partition(".")
    if not dot or not sec.isdigit() or not nsec.isdigit() or len(nsec) != 9 or not sec.isascii():
        return None
    return int(sec) * 1_000_000_000 + int(nsec)


def parse_probe_output(data: bytes) -> int | None:
    """The probe's first line ("sec.nsec", CLOCK_MONOTONIC) as nanoseconds, or None when it is not one.

    Kept for callers that want only the monotonic reading; parse_probe_report gives everything.
    """
    text = data.decode("ascii", errors="replace").strip()
    if not text:
        return None
    return _parse_timespec(text.splitlines()[0])


# What the probe said about its kernel's boot id.
BOOT_ID_READ = "read"  # a well-formed boot id
BOOT_ID_UNREADABLE = "unreadable"  # the probe printed "-" (open or read failed) or a malformed line
BOOT_ID_NOT_REPORTED = "not reported"  # an older probe that prints only the clock

_HEX = frozenset("0123456789abcdef")


def parse_boot_id(text: str) -> str | None:
    """A boot id as the kernel prints it (lowercase 8-4-4-4-12 hex), normalized, or None."""
    value = text.strip().lower()
    parts = value.split("-")
    if [len(p) for p in parts] != [8, 4, 4, 4, 12] or not all(set(p) <= _HEX for p in parts):
        return None
    return value


@dataclass(frozen=True)
class ProbeReport:
    """Everything one probe run printed: its clocks and the kernel it ran under."""

    monotonic_ns: int
    boot_id: str | None  # None unless boot_id_status is BOOT_ID_READ
    boot_id_status: str  # BOOT_ID_READ, BOOT_ID_UNREADABLE or BOOT_ID_NOT_REPORTED
    realtime_ns: int | None  # None from an older probe


def parse_probe_report(data: bytes) -> ProbeReport | None:
    """Pure: the probe's output (current three-line form, or the older one-line form), or None.

    None when the first line is not a CLOCK_MONOTONIC reading: without it the
    output is not the probe's.
    """
    lines = data.decode("ascii", errors="replace").strip().splitlines()
    mono = _parse_timespec(lines[0]) if lines else None
    if mono is None:
        return None
    if len(lines) < 2:
        return ProbeReport(mono, None, BOOT_ID_NOT_REPORTED, None)
    boot_id = parse_boot_id(lines[1])
    realtime = _parse_timespec(lines[2]) if len(lines) > 2 else None
    return ProbeReport(mono, boot_id, BOOT_ID_READ if boot_id else BOOT_ID_UNREADABLE, realtime)


# --- the function probe (`bench --function MS`) -----------------------------------------
# A second executable, /spin, in the same image: it reads CLOCK_MONOTONIC, spins until
# its own CPU time (CLOCK_PROCESS_CPUTIME_ID) has grown by argv[1] milliseconds (decimal;
# 100 without an argument), reads CLOCK_MONOTONIC again and prints both readings as
# two "sec.nsec" lines. The difference of the two is the function's own work on the
# clock of whatever kernel it ran under, so it means the same under any kernel.
# Assembled like the probe (llvm-mc 14, .text extracted with llvm-objcopy).
# x86_64, Intel syntax (put_ts is the probe's):
#   mov r12, rsp ; sub rsp, 128 ; mov r13, 100
#   cmp qword [r12], 2 ; jb go ; mov rsi, [r12+16] ; xor r13d, r13d
# digit: movzx eax, byte [rsi] ; sub eax, '0' ; cmp eax, 9 ; ja go
#   imul r13, r13, 10 ; add r13, rax ; inc rsi ; jmp digit
# go: clock_gettime(MONOTONIC, [rsp]) ; imul r13, r13, 1000000
#   clock_gettime(PROCESS_CPUTIME_ID, [rsp+16]) ; r13 += sec * 1e9 + nsec   (CPU spent before
#   the start, e.g. by QEMU user mode's loader, does not count)
# spin: clock_gettime(PROCESS_CPUTIME_ID, [rsp+16])
#   rax = sec * 1e9 + nsec ; cmp rax, r13 ; jb spin
#   clock_gettime(MONOTONIC, [rsp+32]) ; put_ts([rsp]) ; put_ts([rsp+32]) ; exit_group(0)
_X86_64_SPIN = bytes.fromhex(
    "4989e44881ec8000000049c7c56400000049833c2402721f498b7424104531ed0fb60683e83083f80977"
    "0c4d6bed0a4901c548ffc6ebe9b8e4000000bf010000004889e60f054d69ed40420f00b8e4000000bf02"
    "000000488d7424100f05488b4424104869c000ca9a3b48034424184901c5b8e4000000bf02000000488d"
    "7424100f05488b4424104869c000ca9a3b48034424184c39e872d9b8e4000000bf01000000488d742420"
    "0f054889e3e813000000488d5c2420e80900000031ffb8e70000000f05498d4c24ffc6010a488b430841"
    "b80a00000041b90900000031d249f7f080c23048ffc9881141ffc975ee48ffc9c6012e488b0331d249f7"
    "f080c23048ffc988114885c075ee4c89e24829ca4889cebf01000000b8010000000f05c3"
)

# aarch64: the same program (x21 the target in ns, x5 the constants 10, 1e6, 1e9).
_AARCH64_SPIN = bytes.fromhex(
    "f3030091ff0302d1950c80d2600240f91f0800f183010054610a40f9150080d2450180d22200403942c0"
    "00515f240071a8000054b57e059bb502028b21040091f9ffff17200080d2e1030091280e80d2010000d4"
    "054888d2e501a0f2b57e059b054099d24573a7f2400080d2e1430091280e80d2010000d4e20b40f9e30f"
    "40f9420c059bb502028b400080d2e1430091280e80d2010000d4e20b40f9e30f40f9420c059b5f0015eb"
    "03ffff54200080d2e1830091280e80d2010000d4f403009106000094f483009104000094000080d2c80b"
    "80d2010000d4630600d14401805264000039820640f9450180d2260180d24708c59ae988059b29c10091"
    "630400d169000039e20307aac60400f121ffff54630400d1c405805264000039820240f94708c59ae988"
    "059b29c10091630400d169000039e20307aa42ffffb5200080d2e10303aa620203cb080880d2010000d4"
    "c0035fd6"
)

SPIN_ARCHES: dict[str, bytes] = {"x86_64": _X86_64_SPIN, "aarch64": _AARCH64_SPIN}
SPIN_PATH = "/spin"


def build_spin_elf(arch: str) -> bytes:
    """The function probe as a static ELF64 executable (same layout as build_elf)."""
    key = normalize_arch(arch)
    if key is None:
        raise ValueError(f"no function probe for architecture {arch!r}")
    machine, _ = ARCHES[key]
    return static_elf(SPIN_ARCHES[key], machine, LOAD_VADDR)


def parse_spin_output(data: bytes) -> tuple[int, int] | None:
    """Pure: the function probe's (start, end) CLOCK_MONOTONIC readings in ns, or None when malformed."""
    lines = data.decode("ascii", errors="replace").strip().splitlines()
    if len(lines) != 2:
        return None
    start, end = _parse_timespec(lines[0]), _parse_timespec(lines[1])
    if start is None or end is None or end < start:
        return None
    return start, end


@dataclass(frozen=True)
class ProbeImage:
    """The build context and tag of the probe image for one architecture."""

    arch: str
    elf: bytes
    tag: str
    spin: bytes = b""  # the function probe, /spin

    def context_tar(self) -> bytes:
        """An in-memory tar build context: the Dockerfile and the probe (mode 0755)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            files = (("Dockerfile", DOCKERFILE.encode(), 0o644), ("probe", self.elf, 0o755), ("spin", self.spin, 0o755))
            for name, data, mode in files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = mode
                info.mtime = 0  # reproducible context
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def probe_image(arch: str) -> ProbeImage:
    """The probe image for an architecture, tagged by the hash of its content."""
    key = normalize_arch(arch)
    if key is None:
        raise ValueError(f"no probe for architecture {arch!r}")
    elf = build_elf(key)
    spin = build_spin_elf(key)
    digest = hashlib.sha256(DOCKERFILE.encode() + elf + spin).hexdigest()[:12]
    return ProbeImage(arch=key, elf=elf, tag=f"{PROBE_REPO}:{key}-{digest}", spin=spin)


# --image-cache cold: an image of one run, every layer of it unique to that run, so
# that removing it really empties the store of its layers (a layer shared with the
# probe image above would stay behind). One COPY of a folder: one layer, holding the
# run id beside the probe.
RUN_IMAGE_REPO = "virtprobe/probe-cold"
RUN_IMAGE_DOCKERFILE = 'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/probe"]\n'


def run_image_context(image: ProbeImage, run_id: str) -> tuple[str, bytes]:
    """(tag, build context) of the probe image of one run: the same probe, a layer of its own."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        files = (
            ("Dockerfile", RUN_IMAGE_DOCKERFILE.encode(), 0o644),
            ("rootfs/probe", image.elf, 0o755),
            ("rootfs/spin", image.spin, 0o755),
            ("rootfs/.virtprobe-run", run_id.encode() + b"\n", 0o644),
        )
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return f"{RUN_IMAGE_REPO}:{run_id}", buf.getvalue()
