"""Replace what identifies a machine in a report with stable, salted hashes (`--anonymize`).

The same hostname always maps to the same "anon-…" string, so anonymized
reports from one machine still compare with each other, but the name cannot be
read back without guessing it. Reports never hold environment variables,
tokens or user names in the first place; this only covers the identifiers that
a report needs to carry (hostname, machine ID).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

# Fixed, public salt: it stops lookups in generic hostname hash tables; it is
# not a secret (a secret salt would break comparing reports across machines).
SALT = b"virtprobe-anonymize-v1:"
PREFIX = "anon-"
HASH_CHARS = 12


def stable_hash(value: str) -> str:
    digest = hashlib.sha256(SALT + value.encode("utf-8")).hexdigest()
    return PREFIX + digest[:HASH_CHARS]


def _hash_or_keep(value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith(PREFIX):
        return stable_hash(value)
    return value


def anonymize(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` with hostname and machine IDs hashed. Idempotent."""
    out = copy.deepcopy(doc)
    env = out.get("environment")
    if isinstance(env, dict):
        for key in ("hostname", "machine_id", "boot_id", "product_uuid"):
            if key in env:
                env[key] = _hash_or_keep(env[key])
    host = out.get("host")  # detect documents
    if isinstance(host, dict):
        for key in ("hostname", "machine_id"):
            if key in host:
                host[key] = _hash_or_keep(host[key])
    return out
