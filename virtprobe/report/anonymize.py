"""Replace what identifies a machine in a report with stable, salted hashes (`--anonymize`).

The same hostname always maps to the same "anon-…" string, so anonymized
reports from one machine still compare with each other, but the name cannot be
read back without guessing it. Reports never hold environment variables,
tokens or user names in the first place; this only covers the identifiers that
a report needs to carry (hostname, machine ID).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TypeVar

from virtprobe.report.document import BenchReport, DetectReport

# Fixed, public salt: it stops lookups in generic hostname hash tables; it is
# not a secret (a secret salt would break comparing reports across machines).
SALT = b"virtprobe-anonymize-v1:"
PREFIX = "anon-"
HASH_CHARS = 12


def stable_hash(value: str) -> str:
    digest = hashlib.sha256(SALT + value.encode("utf-8")).hexdigest()
    return PREFIX + digest[:HASH_CHARS]


def _hash_or_keep(value: str | None) -> str | None:
    if value and not value.startswith(PREFIX):
        return stable_hash(value)
    return value


R = TypeVar("R", DetectReport, BenchReport)


def anonymize(report: R) -> R:
    """The report with hostname and machine ID hashed. Idempotent. Detect reports hold neither."""
    if not isinstance(report, BenchReport):
        return report
    env = report.result.environment
    env = dataclasses.replace(env, hostname=_hash_or_keep(env.hostname), machine_id=_hash_or_keep(env.machine_id))
    return dataclasses.replace(report, result=dataclasses.replace(report.result, environment=env))
