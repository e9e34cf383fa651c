"""deploy/kubernetes/ against the Kubernetes API schema, and the promises its comments make.

No cluster runs here. The schemas are the published ones that kubernetes-validate
ships (JSON schemas generated from each release's OpenAPI document), checked
strictly (unknown fields are errors) for the oldest and the newest Kubernetes
release it has.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")
yaml = pytest.importorskip("yaml")

REPO = Path(__file__).parent.parent
DEPLOY = REPO / "deploy" / "kubernetes"
FEATURES_D = "/etc/kubernetes/node-feature-discovery/features.d"
# The oldest release still in NFD's support window when this was written, and the newest schema shipped.
VERSIONS = ("1.27.0", kubernetes_validate.utils.latest_version() + ".0")


def _docs() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


DOCS = _docs()


def _pod(kind_name: str) -> dict[str, Any]:
    return DOCS[kind_name]["spec"]["template"]["spec"]


def test_the_manifests_are_there() -> None:
    assert set(DOCS) == {"Namespace/virtprobe", "DaemonSet/virtprobe", "Job/virtprobe-detect"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(DOCS))
def test_manifest_validates_strictly(name: str, version: str) -> None:
    kubernetes_validate.validate(DOCS[name], version, strict=True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update({"imagePullPolice": "Always"}),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update({"privileged": "no"}),
        lambda d: d["spec"]["template"]["spec"].update({"volumes": {"name": "x"}}),
    ],
    ids=["misspelled-field", "wrong-type", "not-a-list"],
)
def test_the_validator_catches_damage(damage: Any) -> None:
    """The check above can fail: a typo or a wrong type in the DaemonSet is refused."""
    doc = copy.deepcopy(DOCS["DaemonSet/virtprobe"])
    damage(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("name", ["DaemonSet/virtprobe", "Job/virtprobe-detect"])
def test_pods_ask_for_no_privilege(name: str) -> None:
    pod = _pod(name)
    for key in ("hostPID", "hostIPC", "hostNetwork"):
        assert not pod.get(key), key
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["privileged"] is False
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "add" not in sc["capabilities"]


@pytest.mark.parametrize("name", ["DaemonSet/virtprobe", "Job/virtprobe-detect"])
def test_host_paths_are_only_proc_sys_and_features_d_read_only(name: str) -> None:
    pod = _pod(name)
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert set(host.values()) <= {"/proc", "/sys", FEATURES_D}
    for c in pod["containers"]:
        for m in c["volumeMounts"]:
            if m["name"] in host and host[m["name"]] != FEATURES_D:
                assert m.get("readOnly") is True, m
                assert m["mountPath"] == "/host" + host[m["name"]]


def test_daemonset_writes_the_feature_file_into_nfds_features_d() -> None:
    pod = _pod("DaemonSet/virtprobe")
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert FEATURES_D in mounts
    script = pod["containers"][0]["args"][0]
    assert f"-o {FEATURES_D}/virtprobe" in script
    assert "--format nfd" in script and "--expiry-s" in script


def test_daemonsets_detect_command_runs_here(tmp_path: Path) -> None:
    """The exact options of the DaemonSet's command line, with this machine as /host and a temp features.d."""
    script = _pod("DaemonSet/virtprobe")["containers"][0]["args"][0]
    # The command is the shell words from "virtprobe detect" up to the "||" of its fallback.
    words = shlex.split(script[script.index("virtprobe detect") :].replace("\\\n", " "))
    argv = words[: words.index("||")]
    assert argv[:2] == ["virtprobe", "detect"]
    out = tmp_path / "virtprobe"
    argv = [("/" if a == "/host" else str(out) if a.startswith(FEATURES_D) else a) for a in argv[1:]]
    proc = subprocess.run([sys.executable, "-m", "virtprobe", *argv], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("# +expiry-time=")


def test_job_spreads_one_pod_per_node_like_nfds_one_shot_worker() -> None:
    job = DOCS["Job/virtprobe-detect"]
    assert job["spec"]["completions"] == job["spec"]["parallelism"]
    pod = job["spec"]["template"]
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["args"] == ["detect", "--host-root", "/host", "--json"]


def test_kustomization_lists_existing_files() -> None:
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (DEPLOY / res).is_file(), res


def test_dockerfile_builds_from_wheels() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "--no-index --find-links /wheels virtprobe" in text
    assert 'ENTRYPOINT ["virtprobe"]' in text


def _liveness() -> tuple[dict[str, Any], str, int]:
    """The DaemonSet's liveness probe, its shell command, and the file age (s) it allows."""
    probe = _pod("DaemonSet/virtprobe")["containers"][0]["livenessProbe"]
    argv = probe["exec"]["command"]
    assert argv[:2] == ["/bin/sh", "-c"]
    script = argv[2]
    (limit,) = re.findall(r"-lt (\d+)", script)
    return probe, script, int(limit)


def _loop_numbers() -> tuple[int, int]:
    """(seconds between refreshes, seconds until the labels expire) from the container's loop."""
    script = _pod("DaemonSet/virtprobe")["containers"][0]["args"][0]
    (sleep_s,) = re.findall(r"\bsleep (\d+)", script)
    (expiry_s,) = re.findall(r"--expiry-s (\d+)", script)
    return int(sleep_s), int(expiry_s)


def test_liveness_restarts_a_stale_loop_before_its_labels_expire() -> None:
    probe, script, limit = _liveness()
    sleep_s, expiry_s = _loop_numbers()
    assert f"{FEATURES_D}/virtprobe" in script
    # Never fails between two healthy refreshes, and always fires (with its period and
    # failures) while the labels are still valid, so the restart can renew them.
    assert sleep_s + 60 < limit
    worst = limit + probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"]
    assert worst < expiry_s
    assert probe["initialDelaySeconds"] < limit


def _probe_here(tmp_path: Path, age_s: float | None) -> int:
    """Run the probe's own command against a feature file of that age (None: no file)."""
    _, script, _ = _liveness()
    feature = tmp_path / "virtprobe"
    if age_s is not None:
        feature.write_text("# +expiry-time=2099-01-01T00:00:00Z\n")
        then = time.time() - age_s
        os.utime(feature, (then, then))
    local = script.replace(f"{FEATURES_D}/virtprobe", str(feature))
    return subprocess.run(["/bin/sh", "-c", local], check=False, timeout=30).returncode


def test_liveness_command_passes_on_a_fresh_file_and_fails_on_a_stale_or_missing_one(tmp_path: Path) -> None:
    _, _, limit = _liveness()
    assert _probe_here(tmp_path, 10) == 0
    assert _probe_here(tmp_path, limit - 120) == 0
    assert _probe_here(tmp_path, limit + 120) != 0
    (tmp_path / "virtprobe").unlink()
    assert _probe_here(tmp_path, None) != 0
