#!/usr/bin/env bash
# Set up everything virtprobe's tests need on a fresh Debian machine, idempotently:
# system packages, the Python environment, a guest kernel, and a Docker engine.
# Source it (". scripts/setup.sh [--minimal]") so VIRTPROBE_KERNEL and
# VIRTPROBE_STARTED_DOCKERD reach the caller. --minimal sets up Python only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
minimal=0
[ "${1:-}" = "--minimal" ] && minimal=1

log() { printf 'setup: %s\n' "$*" >&2; }

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    sudo_ apt-get update -qq
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Python environment -----------------------------------------------------
if [ ! -x "$here/.venv/bin/python" ]; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    python3 -m venv "$here/.venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$here/.venv"; }
fi
if [ "$minimal" -eq 1 ]; then
    "$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here" >&2
    return 0 2>/dev/null || exit 0
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here[test]" >&2

# --- System packages --------------------------------------------------------
# docker.io: the real engine for bench tests; qemu-system-x86: the real microVM;
# hyperfine, virt-what, cpu-checker, systemd: reference tools in benchmarks; crun: a
# second runtime for the --floor ladder;
# chromium: screenshots of the HTML report; qemu-user: runs the aarch64 probe
# executable on an x86_64 machine, so its bytes are tested by execution.
apt_install docker.io qemu-system-x86 qemu-user hyperfine virt-what cpu-checker chromium crun ca-certificates

# --- A guest kernel for the QEMU microVM tests ------------------------------
# Debian's cloud kernel, downloaded and unpacked without installing it (about 3 s).
if [ -z "${VIRTPROBE_KERNEL:-}" ]; then
    kdir="$here/.cache/kernel"
    if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
        mkdir -p "$kdir"
        ( cd "$kdir" && rm -f ./*.deb && apt-get download -q linux-image-cloud-amd64 >&2 )
        # The metapackage depends on the versioned image package: fetch that too.
        dep=$(dpkg-deb -f "$kdir"/linux-image-cloud-amd64_*.deb Depends | tr ',' '\n' | grep -o 'linux-image-[^ ]*-cloud-amd64' | head -n1)
        ( cd "$kdir" && apt-get download -q "$dep" >&2 )
        for deb in "$kdir"/linux-image-*.deb; do dpkg-deb -x "$deb" "$kdir"; done
        rm -f "$kdir"/*.deb
    fi
    VIRTPROBE_KERNEL=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
    export VIRTPROBE_KERNEL
fi
log "guest kernel: $VIRTPROBE_KERNEL"

# --- The Docker engine ------------------------------------------------------
# No bridge and no iptables: containers run with networking disabled, and this
# machine must never route to private ranges.
export VIRTPROBE_STARTED_DOCKERD=${VIRTPROBE_STARTED_DOCKERD:-0}
if ! docker version >/dev/null 2>&1; then
    log "starting dockerd"
    mkdir -p "$here/.cache"
    nohup dockerd --bridge=none --iptables=false --ip6tables=false \
        >"$here/.cache/dockerd.log" 2>&1 &
    echo $! >"$here/.cache/dockerd.pid"
    VIRTPROBE_STARTED_DOCKERD=1
    for _ in $(seq 1 120); do
        [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker version >/dev/null 2>&1 || { log "dockerd did not start; see .cache/dockerd.log"; tail -n 20 "$here/.cache/dockerd.log" >&2; exit 1; }
fi
log "docker engine: $(docker version --format '{{.Server.Version}}')"
