"""The probe: a tiny static ELF generated as bytes, and the FROM-scratch image that holds it.

No registry can be reached on many CI runners, so virtprobe builds its own image
offline. The executable is hand-assembled (the source is in the comments next to
the bytes; it was assembled once with `llvm-mc` and the bytes pasted here, so
no compiler is needed at run time). At its first instructions it reads
CLOCK_MONOTONIC through the raw syscall, prints "sec.nsec\\n" in decimal on
fd 1, and then exits 0, or waits forever when argv[1] starts with "p"
("pause"), so that memory can be measured on an idle container.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass

from virtprobe.bench.guest.elf import EM_AARCH64, EM_X86_64, static_elf

# --- machine code ----------------------------------------------------------------

# x86_64, Intel syntax. Scratch space lives in the red zone below rsp (the
# SysV ABI guarantees 128 bytes that signal handlers won't clobber; we have none).
#   mov eax, 228 ; mov edi, 1 ; lea rsi, [rsp-16] ; syscall   clock_gettime(CLOCK_MONOTONIC)
#   lea rcx, [rsp-24] ; mov byte [rcx], 10                      '\n' at the end of the text
#   mov rax, [rsp-8] ; mov r8d, 10 ; mov r9d, 9
# 1: xor edx, edx ; div r8 ; add dl, '0' ; dec rcx ; mov [rcx], dl ; dec r9d ; jnz 1b   9 nsec digits
#   dec rcx ; mov byte [rcx], '.' ; mov rax, [rsp-16]
# 2: xor edx, edx ; div r8 ; add dl, '0' ; dec rcx ; mov [rcx], dl ; test rax, rax ; jnz 2b   sec digits
#   lea rdx, [rsp-23] ; sub rdx, rcx ; mov rsi, rcx ; mov edi, 1 ; mov eax, 1 ; syscall   write(1, ...)
#   cmp qword [rsp], 2 ; jb 4f ; mov rax, [rsp+16] ; cmp byte [rax], 'p' ; jne 4f        argv[1] == "p..."?
# 3: mov eax, 34 ; syscall ; jmp 3b                                                       pause() forever
# 4: xor edi, edi ; mov eax, 231 ; syscall                                                 exit_group(0)
_X86_64_CODE = bytes.fromhex(
    "b8e4000000bf01000000488d7424f00f05488d4c24e8c6010a488b4424f841b80a00000041b909000000"
    "31d249f7f080c23048ffc9881141ffc975ee48ffc9c6012e488b4424f031d249f7f080c23048ffc98811"
    "4885c075ee488d5424e94829ca4889cebf01000000b8010000000f0548833c24027213488b4424108038"
    "707509b8220000000f05ebf731ffb8e70000000f05"
)

# aarch64. There is no red zone, so the program moves sp down by 64 first; x19
# keeps the entry sp to reach argc/argv. aarch64 has no pause(): ppoll(NULL, 0,
# NULL, NULL) (nr 73) blocks the same way.
#   mov x19, sp ; sub sp, sp, #64 ; mov x0, #1 ; mov x1, sp ; mov x8, #113 ; svc #0   clock_gettime
#   ldr x2, [sp, #8] ; add x3, sp, #63 ; mov w4, #10 ; strb w4, [x3] ; mov x5, #10 ; mov x6, #9
# 1: udiv x7, x2, x5 ; msub x9, x7, x5, x2 ; add x9, x9, #48 ; sub x3, x3, #1 ; strb w9, [x3]
#    mov x2, x7 ; subs x6, x6, #1 ; b.ne 1b
#   sub x3, x3, #1 ; mov w4, #46 ; strb w4, [x3] ; ldr x2, [sp]
# 2: udiv/msub/add/sub/strb as above ; mov x2, x7 ; cbnz x2, 2b
#   mov x0, #1 ; mov x1, x3 ; add x2, sp, #64 ; sub x2, x2, x3 ; mov x8, #64 ; svc #0   write
#   ldr x0, [x19] ; cmp x0, #2 ; b.lo 4f ; ldr x1, [x19, #16] ; ldrb w1, [x1] ; cmp w1, #112 ; b.ne 4f
# 3: mov x0..x3, #0 ; mov x8, #73 ; svc #0 ; b 3b                                   ppoll forever
# 4: mov x0, #0 ; mov x8, #94 ; svc #0                                              exit_group(0)
_AARCH64_CODE = bytes.fromhex(
    "f3030091ff0301d1200080d2e1030091280e80d2010000d4e20740f9e3ff009144018052640000394501"
    "80d2260180d24708c59ae988059b29c10091630400d169000039e20307aac60400f121ffff54630400d1"
    "c405805264000039e20340f94708c59ae988059b29c10091630400d169000039e20307aa42ffffb52000"
    "80d2e10303aae2030191420003cb080880d2010000d4600240f91f0800f183010054610a40f921004039"
    "3fc0017101010054000080d2010080d2020080d2030080d2280980d2010000d4faffff17000080d2c80b"
    "80d2010000d4"
)


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

DOCKERFILE = 'FROM scratch\nCOPY probe /probe\nENTRYPOINT ["/probe"]\n'

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


def parse_probe_output(data: bytes) -> int | None:
    """The probe's "sec.nsec" line as nanoseconds, or None when it is not one."""
    text = data.decode("ascii", errors="replace").strip()
    if not text:
        return None
    line = text.splitlines()[0]
    sec, dot, nsec = line.partition(".")
    if not dot or not sec.isdigit() or not nsec.isdigit() or len(nsec) != 9:
        return None
    return int(sec) * 1_000_000_000 + int(nsec)


@dataclass(frozen=True)
class ProbeImage:
    """The build context and tag of the probe image for one architecture."""

    arch: str
    elf: bytes
    tag: str

    def context_tar(self) -> bytes:
        """An in-memory tar build context: the Dockerfile and the probe (mode 0755)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data, mode in (("Dockerfile", DOCKERFILE.encode(), 0o644), ("probe", self.elf, 0o755)):
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
    digest = hashlib.sha256(DOCKERFILE.encode() + elf).hexdigest()[:12]
    return ProbeImage(arch=key, elf=elf, tag=f"{PROBE_REPO}:{key}-{digest}")
