"""The live detect matrix: build real environments on this machine and run `virtprobe detect --json` inside each.

Usage (as root, with the checkout's venv python; scripts/envs.sh wraps this):
  envs.py build                 build or refresh everything, cached under .cache/envs/
  envs.py list                  the environment names, one a line
  envs.py run ENV               print detect's JSON from inside ENV on stdout
  envs.py capture ENV... [--out DIR]
                                also run `virtprobe snapshot` inside ENV and store the root as
                                DIR/ENV (default tests/fixtures/roots/ENV) with a SOURCE.md
  envs.py matrix                run every environment, print "env container hypervisor vmm seconds"

What is cached, and when it is rebuilt:
  base-<RECIPE>.tar       debootstrap --variant=minbase bookworm with python3 and python3-venv, trimmed.
                          Bump RECIPE when the recipe changes.
  wheels-<deps hash>/     wheels of virtprobe's dependencies (from PyPI), keyed by pyproject's list.
  rootfs-<key>.tar        the base plus a venv at /opt/virtprobe holding those dependencies, installed
                          offline; docker-imported as virtprobe-env:deps-<key> (and into Podman).
  rootfs-<key>/           the same tree unpacked, for nspawn, lxc, unshare, chroot and QEMU.
Rebuilt on every `build`, since the code changes: the virtprobe wheel, installed (--no-deps) into
rootfs-<key>/ and into the image virtprobe-env:run (Docker and Podman), and the QEMU disk image.

No environment gets networking and no container is privileged. Every image is labelled
io.virtprobe.env=1 and every container is started with --rm.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
CACHE = HERE / ".cache" / "envs"
RECIPE = "bookworm-minbase-py3-1"  # bump when the debootstrap recipe or the trimming changes
MIRROR = "http://deb.debian.org/debian"
LABEL = "io.virtprobe.env=1"
# One run image per checkout (worktrees build in parallel on one engine): never another checkout's tag.
RUN_IMAGE = f"virtprobe-env:run-{hashlib.sha256(str(HERE).encode()).hexdigest()[:8]}"
PODMAN_CONF = HERE / ".cache" / "podman" / "containers.conf"
# Podman 4.3 here needs runc (crun refuses hybrid cgroups) and explicit ulimits (no CAP_SYS_RESOURCE).
PODMAN_BASE = ["podman", "run", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
GUEST_VP = "/opt/virtprobe/bin/virtprobe"
PROBE = "/opt/virtprobe/probe.sh"
BEGIN, END = "===VIRTPROBE-DETECT-BEGIN===", "===VIRTPROBE-DETECT-END==="
SNAP_BEGIN, SNAP_END = "===VIRTPROBE-SNAPSHOT-BEGIN===", "===VIRTPROBE-SNAPSHOT-END==="
DROPIN_BEGIN, DROPIN_END = "===VIRTPROBE-DROPIN-BEGIN===", "===VIRTPROBE-DROPIN-END==="
# systemd-detect-virt as the host has it (Debian 12: systemd 252), copied with its libraries into every
# environment, so `virtprobe detect --vm` and friends are compared with it inside each one.
SDV_DIR = "/opt/virtprobe/sdv"
DROPIN_MODES = ("virt", "vm", "container", "chroot", "private-users")
# Modules the Debian cloud kernel needs to see a virtio disk (CONFIG_VIRTIO_BLK=m, VIRTIO_PCI=m,
# VIRTIO_MMIO=m; ext4 is built in), in dependency order (their modinfo "depends=").
GUEST_MODULES = (
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/block/virtio_blk.ko",
)

# Runs inside every environment: detect's JSON between markers, then (with "snapshot") a
# base64 .tar.gz of `virtprobe snapshot`, so one protocol works over a pipe and over a serial port.
PROBE_SH = r"""#!/bin/sh
# virtprobe's live-matrix probe (written by scripts/envs.py): detect --json, then optionally a snapshot.
VP=${VIRTPROBE_BIN:-/opt/virtprobe/bin/virtprobe}
echo "===VIRTPROBE-DETECT-BEGIN==="
"$VP" detect --json
echo "===VIRTPROBE-DETECT-END==="
# The drop-in modes beside systemd-detect-virt: "MODE SDV_EXIT SDV_OUT VP_EXIT VP_OUT" per line ("-": no output).
SDV=${VIRTPROBE_SDV:-/opt/virtprobe/sdv/systemd-detect-virt}
echo "===VIRTPROBE-DROPIN-BEGIN==="
for mode in virt vm container chroot private-users; do
    if [ "$mode" = virt ]; then flag=""; else flag="--$mode"; fi
    s=$("$SDV" $flag 2>/dev/null); src=$?
    v=$("$VP" detect "--$mode" 2>/dev/null); vrc=$?
    echo "$mode $src ${s:--} $vrc ${v:--}"
done
echo "===VIRTPROBE-DROPIN-END==="
if [ "${1:-}" = snapshot ]; then
    # A writable place: a read-only root still has /dev/shm (tmpfs) and often /tmp or /run.
    for d in "${TMPDIR:-/nonexistent}" /tmp /dev/shm /run /var/tmp; do
        [ -d "$d" ] && [ -w "$d" ] && break
    done
    out="$d/virtprobe-snapshot-$$"
    # snapshot's own temporary files go there too (tempfile reads TMPDIR).
    if TMPDIR="$d" "$VP" snapshot "$out.tar.gz" >&2; then
        echo "===VIRTPROBE-SNAPSHOT-BEGIN==="
        base64 "$out.tar.gz"
        echo "===VIRTPROBE-SNAPSHOT-END==="
    fi
    rm -f "$out.tar.gz"
fi
"""

# PID 1 of the QEMU guests, from the initramfs: load the virtio modules, mount the disk, switch to it.
INITRAMFS_INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /dev /proc /sys /newroot
/bin/busybox mount -t devtmpfs dev /dev
for m in /modules/*.ko; do /bin/busybox insmod "$m"; done
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    [ -b /dev/vda ] && break
    /bin/busybox sleep 0.1
done
/bin/busybox mount -t ext4 /dev/vda /newroot || { echo "virtprobe-initramfs: no /dev/vda"; /bin/busybox poweroff -f; }
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /opt/virtprobe/guest-init
"""

# The guest's init after switch_root (in the rootfs): mount what a booted system has, probe, power off.
GUEST_INIT = r"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
[ -d /sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /sys/fs/cgroup
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
if grep -q virtprobe.nosnap /proc/cmdline; then /opt/virtprobe/probe.sh; else /opt/virtprobe/probe.sh snapshot; fi
sync
# sysrq 'o' powers off through ACPI (QEMU pc and microvm both have it); -no-reboot catches a panic.
echo o > /proc/sysrq-trigger
sleep 10
"""


def log(msg: str) -> None:
    print(f"envs: {msg}", file=sys.stderr, flush=True)


def sh(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kw)


def podman_env() -> dict[str, str]:
    # CONTAINERS_CONF as the tests export it (a worktree uses the main checkout's), else this checkout's.
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF") or str(PODMAN_CONF)}


# --------------------------------------------------------------------------- build


def deps_list() -> list[str]:
    meta = tomllib.loads((HERE / "pyproject.toml").read_text())
    return list(meta["project"]["dependencies"])


def deps_hash() -> str:
    return hashlib.sha256("\n".join(deps_list()).encode()).hexdigest()[:12]


def cache_key() -> str:
    return f"{RECIPE}-{deps_hash()}"


def build_base() -> Path:
    tar = CACHE / f"base-{RECIPE}.tar"
    if tar.exists():
        return tar
    tmp = CACHE / f"base-{RECIPE}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"debootstrap bookworm into {tmp} (about a minute)")
    sh(["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm", str(tmp), MIRROR],
       stdout=subprocess.DEVNULL)
    # Trim what no probe needs, so images and disks stay small.
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                "usr/share/locale", "usr/share/info"):
        p = tmp / rel
        if p.is_dir():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    sh(["tar", "-C", str(tmp), "--numeric-owner", "-cf", f"{tar}.part", "."])
    os.replace(f"{tar}.part", tar)
    shutil.rmtree(tmp)
    return tar


def build_wheels() -> Path:
    wheels = CACHE / f"wheels-{deps_hash()}"
    if (wheels / ".done").exists():
        return wheels
    log(f"downloading wheels of {len(deps_list())} dependencies into {wheels}")
    shutil.rmtree(wheels, ignore_errors=True)
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(wheels),
        *deps_list()])
    # The build backend, so that the checkout's wheel builds offline on every later run.
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(wheels / "build"),
        "setuptools>=68", "wheel"])
    (wheels / ".done").write_text("")
    return wheels


def chroot_run(root: Path, *cmd: str) -> None:
    sh(["chroot", str(root), *cmd], stdout=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def build_deps_rootfs(base: Path, wheels: Path) -> tuple[Path, Path]:
    key = cache_key()
    tar, tree = CACHE / f"rootfs-{key}.tar", CACHE / f"rootfs-{key}"
    if not tar.exists():
        tmp = CACHE / f"rootfs-{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        sh(["tar", "-C", str(tmp), "--numeric-owner", "-xf", str(base)])
        log("installing virtprobe's dependencies offline into /opt/virtprobe")
        shutil.copytree(wheels, tmp / "tmp/wheels")
        chroot_run(tmp, "python3", "-m", "venv", "/opt/virtprobe")
        chroot_run(tmp, "/opt/virtprobe/bin/pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                   "--find-links", "/tmp/wheels", *deps_list())
        shutil.rmtree(tmp / "tmp/wheels")
        shutil.rmtree(tmp / "root/.cache", ignore_errors=True)
        sh(["tar", "-C", str(tmp), "--numeric-owner", "-cf", f"{tar}.part", "."])
        os.replace(f"{tar}.part", tar)
        shutil.rmtree(tmp)
    if not (tree / ".virtprobe-env").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        sh(["tar", "-C", str(tree), "--numeric-owner", "-xf", str(tar)])
        (tree / ".virtprobe-env").write_text(key + "\n")
    # Old keys' trees and tarballs are dead weight.
    for old in CACHE.glob("rootfs-*"):
        if key not in old.name:
            log(f"removing stale {old.name}")
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return tar, tree


def build_virtprobe_wheel(wheels: Path) -> Path:
    out = CACHE / "run"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="virtprobe-src-") as src:
        # A copy, so that the build leaves no build/ or egg-info in the shared checkout.
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (HERE / name).exists():
                shutil.copy2(HERE / name, src)
        shutil.copytree(HERE / "virtprobe", Path(src) / "virtprobe",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        sh([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps", "--no-index",
            "--find-links", str(wheels / "build"), "-w", str(out), src], stdout=subprocess.DEVNULL)
    (whl,) = out.glob("virtprobe-*.whl")
    (out / "probe.sh").write_text(PROBE_SH)
    (out / "probe.sh").chmod(0o755)
    return whl


SDV_WRAPPER = f"""#!/bin/sh
# systemd-detect-virt from the host (scripts/envs.py), with the libraries it was built against.
LD_LIBRARY_PATH={SDV_DIR}/lib exec {SDV_DIR}/bin/systemd-detect-virt "$@"
"""


def copy_sdv(dest: Path) -> None:
    """The host's systemd-detect-virt and the libraries ldd resolves for it (glibc itself excepted:
    every environment is Debian 12 too) into dest (bin/, lib/, and the wrapper that runs them)."""
    binary = shutil.which("systemd-detect-virt")
    if binary is None:
        raise SystemExit("envs: systemd-detect-virt is not installed on the host")
    (dest / "bin").mkdir(parents=True, exist_ok=True)
    (dest / "lib").mkdir(exist_ok=True)
    shutil.copy2(binary, dest / "bin" / "systemd-detect-virt")
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for match in re.finditer(r"^\s*(\S+) => (/\S+)", libs, flags=re.M):
        name, path = match.groups()
        if not name.startswith(("libc.so", "libm.so", "ld-linux")):
            shutil.copy2(path, dest / "lib" / name)
    (dest / "systemd-detect-virt").write_text(SDV_WRAPPER)
    (dest / "systemd-detect-virt").chmod(0o755)


def install_into_tree(tree: Path, whl: Path) -> None:
    shutil.copy2(whl, tree / "tmp" / whl.name)
    chroot_run(tree, "/opt/virtprobe/bin/pip", "install", "-q", "--disable-pip-version-check", "--no-index",
               "--no-deps", "--force-reinstall", f"/tmp/{whl.name}")
    (tree / "tmp" / whl.name).unlink()
    for name, text in (("probe.sh", PROBE_SH), ("guest-init", GUEST_INIT)):
        (tree / "opt/virtprobe" / name).write_text(text)
        (tree / "opt/virtprobe" / name).chmod(0o755)
    shutil.rmtree(tree / SDV_DIR.lstrip("/"), ignore_errors=True)
    copy_sdv(tree / SDV_DIR.lstrip("/"))


def image_exists(tool: list[str], ref: str, env: dict[str, str] | None = None) -> bool:
    r = subprocess.run([*tool, "image", "inspect", ref], capture_output=True, env=env)
    return r.returncode == 0


def build_images(tar: Path, whl: Path) -> None:
    key = cache_key()
    deps_image = f"virtprobe-env:deps-{key}"
    dockerfile = (
        f"FROM {deps_image}\n"
        f"COPY {whl.name} probe.sh /tmp/\n"
        f"COPY sdv {SDV_DIR}\n"
        f"RUN /opt/virtprobe/bin/pip install -q --disable-pip-version-check --no-index --no-deps"
        f" --force-reinstall /tmp/{whl.name} && mv /tmp/probe.sh {PROBE} && rm /tmp/{whl.name}\n"
        f"LABEL io.virtprobe.env=1\n"
    )
    (whl.parent / "Dockerfile").write_text(dockerfile)
    copy_sdv(whl.parent / "sdv")
    penv = podman_env()
    for tool, env in ((["docker"], None), (["podman"], penv)):
        if not image_exists(tool, deps_image, env):
            log(f"{tool[0]} import {tar.name} as {deps_image}")
            sh([*tool, "import", "--change", f"LABEL {LABEL}", "--change", 'CMD ["/bin/sh"]', str(tar), deps_image],
               stdout=subprocess.DEVNULL, env=env)
        sh([*tool, "build", "-q", "--network", "none", "-t", RUN_IMAGE, str(whl.parent)],
           stdout=subprocess.DEVNULL, env=env)
        # The previous run image, now untagged.
        subprocess.run([*tool, "image", "prune", "-f", "--filter", "label=io.virtprobe.env=1"],
                       capture_output=True, env=env)
        # Other keys' deps images are left alone: another checkout (a worktree) may be using them.


def kernel() -> Path:
    env = os.environ.get("VIRTPROBE_KERNEL")
    if env:
        return Path(env)
    found = sorted((HERE / ".cache/kernel/boot").glob("vmlinuz-*"))
    if not found:
        raise SystemExit("envs: no guest kernel in .cache/kernel/boot; run scripts/setup.sh first")
    return found[-1]


def build_initramfs() -> Path:
    kver = kernel().name.removeprefix("vmlinuz-")
    out = CACHE / f"initramfs-{kver}.cpio"
    if out.exists():
        return out
    sys.path.insert(0, str(HERE))
    from virtprobe.benchmark.guest.initramfs import S_IFCHR, S_IFDIR, S_IFREG, CpioEntry, write_newc

    mods = HERE / ".cache/kernel/lib/modules" / kver / "kernel"
    entries = [CpioEntry(d, S_IFDIR | 0o755) for d in ("bin", "dev", "modules", "newroot", "proc", "sys")]
    entries.append(CpioEntry("dev/console", S_IFCHR | 0o600, rdev_major=5, rdev_minor=1))
    entries.append(CpioEntry("bin/busybox", S_IFREG | 0o755, Path("/bin/busybox").read_bytes()))
    entries.append(CpioEntry("init", S_IFREG | 0o755, INITRAMFS_INIT.encode()))
    for i, rel in enumerate(GUEST_MODULES):
        entries.append(CpioEntry(f"modules/{i:02d}-{Path(rel).name}", S_IFREG | 0o644, (mods / rel).read_bytes()))
    out.write_bytes(write_newc(entries))
    return out


def build_disk(tree: Path) -> Path:
    img = CACHE / "run" / "rootfs.ext4"
    used = int(subprocess.run(["du", "-sm", str(tree)], capture_output=True, text=True, check=True).stdout.split()[0])
    sh(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "virtprobe-env", "-d", str(tree), str(img), f"{used + 64}M"],
       stdout=subprocess.DEVNULL)
    return img


def source_hash() -> str:
    """What the per-run part depends on: the package's files, pyproject, and this script (probe, init)."""
    h = hashlib.sha256()
    files = [HERE / "pyproject.toml", Path(__file__).resolve()]
    files += sorted(p for p in (HERE / "virtprobe").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for f in files:
        h.update(str(f.relative_to(HERE)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(exclusive: bool, name: str = ".lock") -> Iterator[None]:
    """Builds take the lock alone; runs share it, so no build swaps the tree under a running environment
    (several engineers and test sessions use one checkout). One environment runs once at a time: two
    systemd-nspawn on one directory refuse ("Directory tree ... is currently busy")."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / name, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build() -> None:
    t0 = time.monotonic()
    with locked(exclusive=True):
        src = source_hash()
        stamp = CACHE / "run" / "built"
        if (stamp.exists() and json.loads(stamp.read_text()).get("source") == src
                and (CACHE / f"rootfs-{cache_key()}" / ".virtprobe-env").exists()
                and (CACHE / "run" / "rootfs.ext4").exists()
                and image_exists(["docker"], RUN_IMAGE) and image_exists(["podman"], RUN_IMAGE, podman_env())):
            log(f"up to date (source {src}), {time.monotonic() - t0:.1f} s")
            return
        base = build_base()
        wheels = build_wheels()
        tar, tree = build_deps_rootfs(base, wheels)
        whl = build_virtprobe_wheel(wheels)
        install_into_tree(tree, whl)
        build_images(tar, whl)
        build_initramfs()
        build_disk(tree)
        stamp.write_text(json.dumps({"key": cache_key(), "source": src, "wheel": whl.name,
                                     "utc": dt.datetime.now(dt.UTC).isoformat()}) + "\n")
    log(f"built in {time.monotonic() - t0:.1f} s")


def tree_path() -> Path:
    tree = CACHE / f"rootfs-{cache_key()}"
    if not (CACHE / "run" / "built").exists() or not (tree / ".virtprobe-env").exists():
        raise SystemExit("envs: not built; run scripts/envs.sh build")
    return tree


# --------------------------------------------------------------------------- environments


@dataclass(frozen=True)
class Env:
    name: str
    describe: str
    command: Callable[[bool], list[str]]  # snapshot? -> the host's command line
    timeout_s: float = 120
    env: Callable[[], dict[str, str]] | None = None


def _probe_args(snapshot: bool) -> list[str]:
    return [PROBE, "snapshot"] if snapshot else [PROBE]


DOCKER_VARIANTS: dict[str, list[str]] = {
    "default": [],
    "readonly_capdrop": ["--read-only", "--cap-drop", "ALL"],
    "user1000": ["--user", "1000:1000"],
    "pid_host": ["--pid", "host", "--ipc", "host"],
    "cgroupns_host": ["--cgroupns", "host"],
    "userns_host": ["--userns", "host"],
    "all": ["--read-only", "--cap-drop", "ALL", "--user", "1000:1000", "--pid", "host", "--ipc", "host",
            "--cgroupns", "host", "--userns", "host"],
}


def _engine(base: list[str], flags: list[str]) -> Callable[[bool], list[str]]:
    def cmd(snapshot: bool) -> list[str]:
        return [*base, "--rm", "--network", "none", "--label", LABEL, *flags, RUN_IMAGE, *_probe_args(snapshot)]

    return cmd


def _host_probe(snapshot: bool) -> list[str]:
    # The host's own root: the checkout's venv (an editable install of the code under test).
    probe = CACHE / "run" / "probe.sh"
    vp = HERE / ".venv/bin/virtprobe"
    return ["env", f"VIRTPROBE_BIN={vp}", "VIRTPROBE_SDV=systemd-detect-virt", "sh", str(probe),
            *(["snapshot"] if snapshot else [])]


def _unshare_hostroot(flags: list[str]) -> Callable[[bool], list[str]]:
    return lambda snapshot: ["unshare", *flags, "--fork", "--mount-proc", *_host_probe(snapshot)]


def _unshare_rootfs(flags: list[str]) -> Callable[[bool], list[str]]:
    # New namespaces on the separate rootfs, with /proc of the new PID namespace and the host's /sys
    # and /dev bound in, as a runtime-less "container" would have them; the mounts stay private.
    def cmd(snapshot: bool) -> list[str]:
        r = shlex.quote(str(tree_path()))
        inner = (f"mount -t proc proc {r}/proc && mount --rbind /sys {r}/sys && mount --rbind /dev {r}/dev && "
                 f"exec chroot {r} {' '.join(_probe_args(snapshot))}")
        return ["unshare", *flags, "--mount", "--pid", "--fork", "sh", "-c", inner]

    return cmd


def _chroot_noproc(snapshot: bool) -> list[str]:
    return ["chroot", str(tree_path()), *_probe_args(snapshot)]


def _chroot_proc(snapshot: bool) -> list[str]:
    # The Arch wiki's chroot recipe (wiki.archlinux.org/title/Chroot, "Using chroot"): proc mounted,
    # /sys and /dev bound recursively, in a private mount namespace so nothing leaks onto the host.
    r = shlex.quote(str(tree_path()))
    inner = (f"mount -t proc proc {r}/proc && mount --rbind /sys {r}/sys && mount --rbind /dev {r}/dev && "
             f"exec chroot {r} {' '.join(_probe_args(snapshot))}")
    return ["unshare", "--mount", "sh", "-c", inner]


def _nspawn(snapshot: bool) -> list[str]:
    # PID 1 here is not systemd: --register=no --keep-unit, or nspawn asks machined and fails.
    return ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--private-network", "--resolv-conf=off",
            "--timezone=off", "--link-journal=no", "-D", str(tree_path()), *_probe_args(snapshot)]


def _lxc(snapshot: bool) -> list[str]:
    run = CACHE / "run"
    conf = run / "lxc.conf"
    conf.write_text(
        "# written by scripts/envs.py\n"
        f"lxc.rootfs.path = dir:{tree_path()}\n"
        "lxc.uts.name = virtprobe-env\n"
        "lxc.net.0.type = empty\n"
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n"
        "lxc.autodev = 1\n"
        "lxc.apparmor.profile = unconfined\n"
    )
    (run / "lxc").mkdir(exist_ok=True)
    return ["lxc-execute", "-P", str(run / "lxc"), "-n", f"virtprobe-env-{os.getpid()}", "-f", str(conf), "--",
            *_probe_args(snapshot)]


def _qemu(machine: str) -> Callable[[bool], list[str]]:
    def cmd(snapshot: bool) -> list[str]:
        disk = str(CACHE / "run" / "rootfs.ext4")
        append = "console=ttyS0 panic=-1 quiet loglevel=3" + ("" if snapshot else " virtprobe.nosnap")
        if machine == "pc":
            dev = ["-machine", "pc", "-drive", f"file={disk},format=raw,if=virtio,snapshot=on"]
        else:
            # microvm has no PCI: the disk is virtio-mmio. Under TCG it hangs after "tsc: Marking TSC
            # unstable" unless the PIT, PIC and RTC are on; and with no HPET or PM timer to calibrate the
            # TSC against, it sometimes hangs at "tsc: Unable to calibrate against PIT" (seen here, and
            # in MEASURED.md for PVH) unless the TSC frequency is given (Documentation/admin-guide/
            # kernel-parameters.txt, tsc_early_khz; the value only has to be plausible).
            append += " tsc_early_khz=2600000"
            dev = ["-machine", "microvm,pit=on,pic=on,rtc=on",
                   "-drive", f"id=root,file={disk},format=raw,if=none,snapshot=on",
                   "-device", "virtio-blk-device,drive=root"]
        return ["qemu-system-x86_64", "-accel", "tcg", *dev, "-m", "512", "-smp", "1", "-nic", "none",
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-kernel", str(kernel()), "-initrd", str(build_initramfs()),
                "-append", append]

    return cmd


def environments() -> dict[str, Env]:
    envs: list[Env] = []
    for variant, flags in DOCKER_VARIANTS.items():
        envs.append(Env(f"docker_{variant}", f"docker run {' '.join(flags)}".strip(),
                        _engine(["docker", "run"], flags)))
    for variant, flags in DOCKER_VARIANTS.items():
        envs.append(Env(f"podman_{variant}", f"podman run {' '.join(flags)}".strip(), _engine(PODMAN_BASE, flags),
                        env=podman_env))
    envs += [
        Env("gvisor_runsc", "docker run --runtime runsc", _engine(["docker", "run"], ["--runtime", "runsc"])),
        Env("nspawn", "systemd-nspawn --register=no --keep-unit --private-network", _nspawn),
        Env("lxc_execute", "lxc-execute, lxc.net.0.type = empty", _lxc),
        Env("unshare_pid_hostroot", "unshare --pid --fork --mount-proc on the host's root",
            _unshare_hostroot(["--pid"])),
        Env("unshare_user_pid_hostroot", "unshare --user --map-root-user --pid --fork --mount-proc on the host's root",
            _unshare_hostroot(["--user", "--map-root-user", "--pid"])),
        Env("unshare_pid_rootfs", "unshare --mount --pid --fork, chroot into the rootfs", _unshare_rootfs([])),
        Env("unshare_user_pid_rootfs", "unshare --user --map-root-user --mount --pid --fork, chroot into the rootfs",
            _unshare_rootfs(["--user", "--map-root-user"])),
        Env("chroot_noproc", "chroot into the rootfs, nothing mounted", _chroot_noproc),
        Env("chroot_proc", "unshare -m; proc, /sys and /dev mounted; chroot into the rootfs", _chroot_proc),
        Env("qemu_tcg_pc_guest", "qemu-system-x86_64 -accel tcg -machine pc", _qemu("pc"), timeout_s=240),
        Env("qemu_tcg_microvm_guest", "qemu-system-x86_64 -accel tcg -machine microvm,pit=on,pic=on,rtc=on",
            _qemu("microvm"), timeout_s=240),
    ]
    return {e.name: e for e in envs}


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Result:
    name: str
    command: list[str]
    document: dict[str, Any] | None
    snapshot_tgz: bytes | None
    seconds: float
    output: str
    # mode -> ((systemd-detect-virt exit, output), (virtprobe exit, output)); output "" when none
    dropin: dict[str, tuple[tuple[int, str], tuple[int, str]]] | None = None

    @property
    def sdv(self) -> dict[str, str] | None:
        """systemd-detect-virt's own answers to --vm and --container ("error" when it printed nothing)."""
        if self.dropin is None:
            return None
        return {f"--{m}": self.dropin[m][0][1] or "error" for m in ("vm", "container") if m in self.dropin}


def _between(text: str, begin: str, end: str) -> str | None:
    start = text.find(begin)
    if start < 0:
        return None
    stop = text.find(end, start)
    return None if stop < 0 else text[start + len(begin):stop]


def run_env(name: str, snapshot: bool = False) -> Result:
    env = environments()[name]
    tree_path()
    cmd = env.command(snapshot)
    with locked(exclusive=False), locked(exclusive=True, name=f".lock-{name}"):
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, timeout=env.timeout_s, env=env.env() if env.env else None,
                              stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - t0
    # A serial console turns \n into \r\n.
    out = proc.stdout.decode(errors="replace").replace("\r\n", "\n")
    body = _between(out, BEGIN, END)
    doc: dict[str, Any] | None = None
    if body is not None:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            doc = None
    snap = _between(out, SNAP_BEGIN, SNAP_END)
    tgz = base64.b64decode("".join(snap.split())) if snap else None
    return Result(name, cmd, doc, tgz, seconds, out + proc.stderr.decode(errors="replace"), _dropin(out))


def _dropin(out: str) -> dict[str, tuple[tuple[int, str], tuple[int, str]]] | None:
    body = _between(out, DROPIN_BEGIN, DROPIN_END)
    if body is None:
        return None
    rows: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {}
    for line in body.strip().splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0] in DROPIN_MODES:
            mode, src, sout, vrc, vout = fields
            rows[mode] = ((int(src), "" if sout == "-" else sout), (int(vrc), "" if vout == "-" else vout))
    return rows


def versions() -> dict[str, str]:
    def first(cmd: list[str], env: dict[str, str] | None = None) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "unavailable"

    rev = first(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"])
    built = json.loads((CACHE / "run/built").read_text())
    return {
        "host kernel": os.uname().release,
        "virtprobe": f"checkout {rev} plus uncommitted work, wheel {built['wheel']}",
        "rootfs": f"debootstrap --variant=minbase --include=python3,python3-venv bookworm {MIRROR} (recipe {RECIPE})",
        "docker": first(["docker", "version", "--format", "{{.Server.Version}}"]),
        "podman": first(["podman", "--version"], podman_env()),
        "runsc": first(["runsc", "--version"]),
        "systemd-nspawn": first(["systemd-nspawn", "--version"]),
        "lxc": first(["lxc-execute", "--version"]),
        "util-linux unshare": first(["unshare", "--version"]),
        "qemu": first(["qemu-system-x86_64", "--version"]),
        "guest kernel": kernel().name,
    }


def _relevant(env: str, tool: str) -> bool:
    """Which versions a capture's SOURCE.md names: the host's, the rootfs's, and the environment's own tool."""
    own = {"docker": ("docker",), "podman": ("podman",), "gvisor": ("docker", "runsc"), "nspawn": ("systemd-nspawn",),
           "lxc": ("lxc",), "unshare": ("util-linux unshare",), "chroot": ("util-linux unshare",),
           "qemu": ("qemu", "guest kernel")}
    return tool in ("host kernel", "virtprobe", "rootfs") or tool in own.get(env.split("_")[0], ())


SECRET_PATTERNS = {
    "MAC address": r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b",
    "IPv4 address": r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
    "UUID": r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    "credential": r"\b\w*(?:token|secret|passwd|password|api_?key)\w*\s*[=:]\s*\S+",
}
HARMLESS = {"0.0.0.0", "127.0.0.1", "00000000-0000-0000-0000-000000000000"}


def _secret_scan(root: Path) -> list[str]:
    """What in a capture looks like an address, an identifier or a credential (command outputs decoded)."""
    texts = [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    meta = root / "virtprobe-snapshot.json"
    if meta.exists():
        for out in json.loads(meta.read_text()).get("commands", {}).values():
            raw = out if isinstance(out, str) else json.dumps(out)
            try:
                texts.append(base64.b64decode(raw, validate=True).decode(errors="replace"))
            except ValueError:
                texts.append(raw)
    blob = "\n".join(texts)
    found = []
    for what, pattern in SECRET_PATTERNS.items():
        hits = sorted(set(re.findall(pattern, blob, re.IGNORECASE)) - HARMLESS)
        if hits:
            found.append(f"{what}: {', '.join(hits[:3])}")
    return found


def _keep_empty_dirs(root: Path) -> None:
    # git keeps no empty directory, and detect lists some (cgroup controllers, /sys/module/kvm*).
    for d, subdirs, files in os.walk(root):
        if not subdirs and not files:
            (Path(d) / ".keep").write_text("")


def capture(name: str, out_dir: Path) -> Result:
    res = run_env(name, snapshot=True)
    if res.snapshot_tgz is None:
        raise SystemExit(f"envs: {name}: no snapshot in the output:\n{res.output[-3000:]}")
    dest = out_dir / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(res.snapshot_tgz), mode="r:gz") as tf:
        members = tf.getmembers()
        top = members[0].name.split("/")[0]
        for m in members:
            rel = m.name.split("/", 1)[1] if "/" in m.name else ""
            if not rel:
                continue
            m.name = rel
            tf.extract(m, dest, filter="data")
    _keep_empty_dirs(dest)
    found = _secret_scan(dest)
    findings = "none found" if not found else "FOUND " + "; ".join(found)
    if found:
        log(f"{name}: check the capture by hand: {findings}")
    env = environments()[name]
    doc = res.document or {}
    v = versions()
    lines = [
        f"# {name}: captured live on the virtprobe development VM ({env.describe})",
        "",
        f"Captured {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by `scripts/envs.py capture {name}`,",
        "which ran `virtprobe snapshot` inside the environment (after `virtprobe detect --json`) and",
        f"unpacked the archive here (its top folder `{top}` dropped). Host command line:",
        "",
        "```",
        shlex.join(res.command),
        "```",
        "",
        "The host: a Firecracker microVM (2 vCPUs, Intel Xeon, KVM via kvm_pvm, cgroup v1 hybrid) running",
        "Debian 12 with a stale zero-byte /.dockerenv in its root. Versions:",
        "",
        *[f"- {k}: {val}" for k, val in v.items() if _relevant(name, k)],
        "",
        "Nothing was edited by hand; empty directories hold a `.keep` file so that git keeps them.",
        "The capture keeps only the files detect reads (see virtprobe/detection/capture.py: no DMI serials,",
        "ACPI headers only, only detect's environment variables). virtprobe-snapshot.json also holds the",
        "CPUID registers, the KVM probe's result and the output of the commands detect ran (`dmesg`, where",
        "the environment lets it read the kernel log). envs.py scanned the capture, command outputs",
        f"included, for MAC and IP addresses, UUIDs and token/secret/password assignments: {findings}.",
        "PID 1's command line is the host's Firecracker init where the PID namespace is the host's.",
        "",
        "What detect said live at capture time (not an expectation; the verdict tests decide that):",
        f"container {(doc.get('container') or {}).get('id')!r}, "
        f"hypervisor {(doc.get('hypervisor') or {}).get('id')!r}, "
        f"vmm {(doc.get('hypervisor') or {}).get('vmm')!r}.",
        "",
    ]
    (dest / "SOURCE.md").write_text("\n".join(lines))
    return res


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="envs.py", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    sub.add_parser("list")
    p_run = sub.add_parser("run")
    p_run.add_argument("env")
    p_cap = sub.add_parser("capture")
    p_cap.add_argument("envs", nargs="+")
    p_cap.add_argument("--out", type=Path, default=HERE / "tests/fixtures/roots")
    sub.add_parser("matrix")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        build()
        return 0
    if args.cmd == "list":
        print("\n".join(environments()))
        return 0
    names = getattr(args, "envs", None) or ([args.env] if args.cmd == "run" else list(environments()))
    unknown = [n for n in names if n not in environments()]
    if unknown:
        print(f"envs: unknown environment {unknown[0]!r}; `envs.py list` names them", file=sys.stderr)
        return 2
    if args.cmd == "run":
        res = run_env(args.env)
        if res.document is None:
            print(f"envs: {args.env}: no detect JSON in the output ({res.seconds:.1f} s):\n{res.output[-4000:]}",
                  file=sys.stderr)
            return 1
        print(json.dumps(res.document, indent=2, sort_keys=True))
        return 0
    if args.cmd == "capture":
        failed = []
        for n in names:
            try:
                res = capture(n, args.out)
            except (SystemExit, subprocess.SubprocessError) as err:
                log(f"{n}: capture failed: {str(err)[-2000:]}")
                failed.append(n)
                continue
            log(f"{n}: captured in {res.seconds:.1f} s")
        if failed:
            log(f"capture failed for {' '.join(failed)}")
        return 1 if failed else 0
    t_all = time.monotonic()
    for n in names:
        res = run_env(n)
        d = res.document or {}
        c, h = d.get("container") or {}, d.get("hypervisor") or {}
        print(f"{n:28} container={c.get('id')!s:16} hypervisor={h.get('id')!s:8} vmm={h.get('vmm')!s:12} "
              f"{res.seconds:6.1f} s" + ("" if res.document else "  NO JSON"), flush=True)
    print(f"total {time.monotonic() - t_all:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
