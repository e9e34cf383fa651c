"""The parser of `wsl.exe -l -v`, for Windows hosts; kept out of wsl.py so Linux never loads it."""

from __future__ import annotations

from virtprobe.detection.model import WslDistribution


def decode_wsl_output(raw: bytes) -> str:
    """wsl.exe writes UTF-16LE (with or without a BOM); some builds honour WSL_UTF8=1 and write UTF-8."""
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    # Without a BOM, UTF-16LE text of ASCII letters has a NUL every other byte.
    sample = raw[:200]
    if len(sample) >= 2 and sample[1::2].count(0) >= len(sample[1::2]) // 2:
        return raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace")
    return raw.decode("utf-8", errors="replace")


def parse_wsl_list(raw: bytes) -> tuple[WslDistribution, ...]:
    """Parse `wsl.exe -l -v`: a header (localized), then "* NAME STATE VERSION" rows.

    The header words are translated ("NAME STATE VERSION", "NOM ÉTAT VERSION"), so
    rows are split by columns: the last two are state and version; the name is
    everything before them (names may not hold spaces in WSL, but be lenient).
    """
    text = decode_wsl_output(raw).replace("\x00", "")
    out: list[WslDistribution] = []
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    for line in lines:
        default = line.lstrip().startswith("*")
        body = line.lstrip().lstrip("*").strip()
        parts = body.split()
        if len(parts) < 3:
            continue
        ver_s = parts[-1]
        if not ver_s.isdigit():
            # The header row ("NAME STATE VERSION") or prose; skip it.
            continue
        name = " ".join(parts[:-2])
        out.append(WslDistribution(name=name, state=parts[-2], version=int(ver_s), default=default))
    return tuple(out)
