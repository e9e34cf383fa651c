#!/usr/bin/env bash
# Set up and run virtprobe's checks: ruff, mypy, and the whole pytest suite
# against the real Docker engine, QEMU and /dev/kvm where the machine has them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# shellcheck source=setup.sh
. scripts/setup.sh

stop_dockerd() {
    if [ "${VIRTPROBE_STARTED_DOCKERD:-0}" = "1" ] && [ -f .cache/dockerd.pid ]; then
        kill "$(cat .cache/dockerd.pid)" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$(cat .cache/dockerd.pid)" 2>/dev/null || break; sleep 0.25; done
        rm -f .cache/dockerd.pid
    fi
    if [ "${VIRTPROBE_STARTED_PODMAN:-0}" = "1" ] && [ -f .cache/podman/service.pid ]; then
        kill "$(cat .cache/podman/service.pid)" 2>/dev/null || true
        rm -f .cache/podman/service.pid
    fi
}
trap stop_dockerd EXIT

.venv/bin/ruff check virtprobe tests benchmarks
.venv/bin/mypy
# The layer and no-cycle contracts of pyproject.toml [tool.importlinter].
.venv/bin/lint-imports --no-cache
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
# A run that leaves a virtprobe container behind is a failed run.
left=$(docker ps -aq --filter label=io.virtprobe.run 2>/dev/null | wc -l)
if [ "$left" -ne 0 ]; then
    echo "test: $left container(s) labelled io.virtprobe.run left behind" >&2
    docker ps -a --filter label=io.virtprobe.run >&2
    rc=1
fi
exit $rc
