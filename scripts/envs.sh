#!/usr/bin/env bash
# The live detect matrix (scripts/envs.py): `scripts/envs.sh build` builds and caches the environments,
# `scripts/envs.sh run ENV` prints detect's JSON from inside one. Needs root and scripts/setup.sh's packages.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$here/.venv/bin/python" "$here/scripts/envs.py" "$@"
