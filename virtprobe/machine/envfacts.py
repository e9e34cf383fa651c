"""The environment variables detect reads, and the one fact it keeps of each.

A value is reduced at the door, in LiveSource (and when a snapshot is read): a variable
whose value is one of a few known words keeps that word (`container=podman`,
`RUNNER_ENVIRONMENT=github-hosted`), any other value becomes "set". So no address, token,
path or name of the user's reaches a report or a snapshot, only the derived fact.
"""

from __future__ import annotations

SET = "set"

# name -> the values kept verbatim (anything else is "set").
KEEP: dict[str, frozenset[str]] = {
    "WSL_DISTRO_NAME": frozenset({"rancher-desktop", "docker-desktop", "podman-machine-default"}),
    "WSL_INTEROP": frozenset(),
    "WSLENV": frozenset(),
    "KUBERNETES_SERVICE_HOST": frozenset(),
    "KUBERNETES_SERVICE_PORT": frozenset(),
    # systemd's container interface: the engines' own words.
    "container": frozenset(
        {"docker", "podman", "lxc", "lxc-libvirt", "systemd-nspawn", "rkt", "crio", "wsl", "oci", "proot", "pouch"}
    ),
    "PROCESSOR_IDENTIFIER": frozenset(),  # Windows; kept whole below, it names only the CPU
    # CI providers (their documented variables): GitHub Actions, GitLab CI, CircleCI, Travis CI,
    # Azure Pipelines, Buildkite.
    "GITHUB_ACTIONS": frozenset({"true"}),
    "RUNNER_ENVIRONMENT": frozenset({"github-hosted", "self-hosted"}),
    "RUNNER_ARCH": frozenset({"X64", "ARM64", "X86", "ARM"}),
    "GITLAB_CI": frozenset({"true"}),
    "CI_SERVER_HOST": frozenset({"gitlab.com"}),
    "CIRCLECI": frozenset({"true"}),
    "TRAVIS": frozenset({"true"}),
    "TF_BUILD": frozenset({"True", "true"}),
    "BUILDKITE": frozenset({"true"}),
}
NAMES = tuple(KEEP)
# Kept whole: a CPU's description ("Intel64 Family 6 Model 167 Stepping 1, GenuineIntel") identifies nobody.
WHOLE = frozenset({"PROCESSOR_IDENTIFIER"})


def derive(name: str, value: str) -> str:
    """The fact kept of one variable: a known word, or "set"."""
    if name in WHOLE:
        return value[:200]
    return value if value in KEEP.get(name, frozenset()) else SET


def derive_all(env: dict[str, str] | object) -> dict[str, str]:
    """Only detect's variables, each reduced to its fact (`env` is any str -> str mapping)."""
    items = env.items() if hasattr(env, "items") else ()
    return {str(k): derive(str(k), str(v)) for k, v in items if k in KEEP}
