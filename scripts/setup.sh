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
# An editable install has no bytecode, and PYTHONDONTWRITEBYTECODE=1 (set on some machines,
# this one included) means Python never writes any: every `virtprobe detect` would compile
# virtprobe from source (about 25 ms here). pip compiles a wheel's bytecode at install time;
# compileall does the same for the checkout. Changed sources are still picked up: Python
# checks each .pyc against its source's mtime.
compile_bytecode() { "$here/.venv/bin/python" -m compileall -q "$here/virtprobe" >/dev/null; }
# editable_mode=compat: a .pth path entry instead of setuptools' import-hook finder, which
# imports pathlib, re and importlib.util at every Python start (10 ms here).
editable=(--config-settings editable_mode=compat -e)
if [ "$minimal" -eq 1 ]; then
    "$here/.venv/bin/pip" install -q --disable-pip-version-check "${editable[@]}" "$here" >&2
    compile_bytecode
    return 0 2>/dev/null || exit 0
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check "${editable[@]}" "$here[test]" >&2
compile_bytecode

# --- System packages --------------------------------------------------------
# docker.io: the real engine for bench tests; qemu-system-x86: the real microVM;
# hyperfine, virt-what, cpu-checker, systemd: reference tools in benchmarks (systemd-detect-virt is what
# detect's drop-in modes are tested against, here and copied into every live environment); crun: a
# second runtime for the --floor ladder;
# chromium: screenshots of the HTML report; qemu-user: runs the aarch64 probe
# executable on an x86_64 machine, so its bytes are tested by execution.
# podman, runsc (gVisor): the other engine and runtime that bench and detect are tested on;
# debootstrap, systemd-container (nspawn), lxc, busybox-static: the live environments detect
# is tested inside; openssh-server: a remote engine reached through ssh:// on loopback.
# criu: bench --snapshot's CRIU row (it refuses on some kernels, in its own words);
# docker-registry: a registry the tests start on 127.0.0.1 for bench --image-cache --registry;
# nodejs and npm: Chrome DevTools' trace engine, which validates bench --trace files.
apt_install docker.io qemu-system-x86 qemu-user hyperfine virt-what cpu-checker systemd chromium crun ca-certificates \
    podman runsc uidmap fuse-overlayfs slirp4netns debootstrap systemd-container lxc busybox-static openssh-server \
    openssl curl criu docker-registry
# A machine may already have Node.js and npm from elsewhere (NodeSource): Debian's would clash.
command -v npm >/dev/null || apt_install nodejs npm

# --- The trace-event validator (tests/test_bench_trace.py) -------------------------------
# @paulirish/trace_engine is the trace model of the Chrome DevTools Performance panel,
# published on npm; pinned, installed once under .cache/trace_engine/.
if [ ! -f "$here/.cache/trace_engine/node_modules/@paulirish/trace_engine/analyze-trace.mjs" ]; then
    log "installing the DevTools trace engine (npm @paulirish/trace_engine)"
    mkdir -p "$here/.cache/trace_engine"
    npm install --prefix "$here/.cache/trace_engine" --no-audit --no-fund --silent @paulirish/trace_engine@0.0.65 >&2
fi

# --- cloud-init's ds-identify, for the differential tests ----------------------
# tests/test_detect_differential.py runs Debian's ds-identify on every fixture root (PATH_ROOT).
# The package is downloaded and unpacked into .cache/cloud-init, never installed: nothing on
# this machine is configured by cloud-init. virt-what (above) is the other reference tool.
cidir="$here/.cache/cloud-init"
if [ ! -f "$cidir/usr/lib/cloud-init/ds-identify" ]; then
    mkdir -p "$cidir"
    # apt-get download needs the package lists: update them once if it cannot find the package.
    ( cd "$cidir" && rm -f ./*.deb && { apt-get download -q cloud-init >&2 || { sudo_ apt-get update -qq && apt-get download -q cloud-init >&2; }; } \
        && dpkg-deb -x cloud-init_*.deb . && rm -f ./*.deb )
fi
log "ds-identify: $cidir/usr/lib/cloud-init/ds-identify"

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

# --- node_exporter, the consumer of `--format prometheus` (tests/test_prometheus.py) -------
# Unpacked, not installed: the package would start a node_exporter listening on :9100.
# The test runs it on 127.0.0.1 with only the textfile collector.
if [ -z "${VIRTPROBE_NODE_EXPORTER:-}" ]; then
    nedir="$here/.cache/node-exporter"
    if [ ! -x "$nedir/usr/bin/prometheus-node-exporter" ]; then
        mkdir -p "$nedir"
        ( cd "$nedir" && rm -f ./*.deb && apt-get download -q prometheus-node-exporter >&2 )
        dpkg-deb -x "$nedir"/prometheus-node-exporter_*.deb "$nedir"
        rm -f "$nedir"/*.deb
    fi
    VIRTPROBE_NODE_EXPORTER="$nedir/usr/bin/prometheus-node-exporter"
    export VIRTPROBE_NODE_EXPORTER
fi
log "node_exporter: $("$VIRTPROBE_NODE_EXPORTER" --version 2>&1 | head -n1)"

# --- The Docker engine ------------------------------------------------------
# No bridge and no iptables: containers run with networking disabled, and this
# machine must never route to private ranges.
export VIRTPROBE_STARTED_DOCKERD=${VIRTPROBE_STARTED_DOCKERD:-0}
if ! docker version >/dev/null 2>&1; then
    log "starting dockerd"
    mkdir -p "$here/.cache"
    # runsc needs --network=none here ("cannot run with network enabled in root network
    # namespace"); crun is offered so that bench --runtime can show its refusal on hybrid cgroups.
    mkdir -p "$here/.cache/docker"
    cat >"$here/.cache/docker/daemon.json" <<JSON
{"runtimes": {"runsc": {"path": "$(command -v runsc)", "runtimeArgs": ["--network=none"]},
              "crun": {"path": "$(command -v crun)"}}}
JSON
    nohup dockerd --bridge=none --iptables=false --ip6tables=false --config-file "$here/.cache/docker/daemon.json" \
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

# --- Podman's Docker-compatible API ---------------------------------------------
# Podman 4.3 here needs runc (crun refuses hybrid cgroups) and explicit ulimits (no
# CAP_SYS_RESOURCE): a containers.conf of our own, never the machine's /etc.
export CONTAINERS_CONF="$here/.cache/podman/containers.conf"
mkdir -p "$here/.cache/podman"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
runtime = "runc"
CONF
export VIRTPROBE_PODMAN_SOCK="$here/.cache/podman/podman.sock"
export VIRTPROBE_STARTED_PODMAN=${VIRTPROBE_STARTED_PODMAN:-0}
if ! curl -s --unix-socket "$VIRTPROBE_PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; then
    rm -f "$VIRTPROBE_PODMAN_SOCK"
    nohup podman system service --time=0 "unix://$VIRTPROBE_PODMAN_SOCK" >"$here/.cache/podman/service.log" 2>&1 &
    echo $! >"$here/.cache/podman/service.pid"
    VIRTPROBE_STARTED_PODMAN=1
    for _ in $(seq 1 60); do
        curl -s --unix-socket "$VIRTPROBE_PODMAN_SOCK" http://d/_ping >/dev/null 2>&1 && break
        sleep 0.5
    done
fi
log "podman service: $(curl -s --unix-socket "$VIRTPROBE_PODMAN_SOCK" http://d/version | head -c 80 || echo 'not answering')"

# --- The live environments detect is tested inside (tests/devvm/test_detect_matrix.py) ---
# A debootstrap rootfs with virtprobe installed offline from wheels, as Docker, Podman,
# gVisor, nspawn, lxc, unshare, chroot and QEMU environments; cached under .cache/envs/
# (about 1 minute the first time, seconds after a code change).
if [ "$(id -u)" -eq 0 ]; then
    "$here/scripts/envs.sh" build >&2
else
    log "not root: the live detect environments are not built (their tests run only as root)"
fi
