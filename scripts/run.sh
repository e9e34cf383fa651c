#!/usr/bin/env bash
# Set up virtprobe's Python environment and run `virtprobe detect` on this machine.
# Extra arguments go to detect, e.g. `scripts/run.sh --json`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
. "$here/scripts/setup.sh" --minimal
exec "$here/.venv/bin/virtprobe" detect "$@"
