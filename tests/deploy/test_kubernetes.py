"""The Kubernetes manifests in deploy/k8s: every object valid against the Kubernetes API schemas
(kubernetes-validate, offline, strict: no unknown fields), every kustomization complete, and the
service's pods as the rest of the project expects them (probes on real routes, the image's user,
a volume claim for the outbox, a restricted security context, sized resources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.app import create_app
from service.settings import Settings
from tests.utils import ROOT

K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes the manifests are for (persistentVolumeClaimRetentionPolicy: beta and on
# by default since 1.27, GA in 1.32).
VERSION = "1.31.0"
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))


def _objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _all() -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for p in MANIFESTS for o in _objects(p)}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_object_is_valid_for_the_api(path: Path) -> None:
    objects = _objects(path)
    assert objects, f"{path} holds no object"
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {obj['kind']} {obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_validator_would_catch_a_mistake() -> None:
    service = _all()[("StatefulSet", "mnist-service")]
    broken = yaml.safe_load(yaml.safe_dump(service))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_every_manifest_belongs_to_a_kustomization_and_every_listed_one_exists() -> None:
    listed: set[Path] = set()
    for kustomization in KUSTOMIZATIONS:
        spec = yaml.safe_load(kustomization.read_text())
        assert spec["kind"] == "Kustomization"
        for entry in spec["resources"]:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            if target.is_dir():
                assert (target / "kustomization.yaml").is_file(), f"{kustomization}: {entry} is no kustomization"
            else:
                listed.add(target)
    assert sorted(set(MANIFESTS) - listed) == [], "manifests no kustomization applies"


def test_the_service_pods_match_the_service() -> None:
    objects = _all()
    sts = objects[("StatefulSet", "mnist-service")]["spec"]
    pod = sts["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["MNIST_PORT"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    # Probes ask routes the app really serves.
    paths = {route.path for route in create_app(Settings()).routes}  # type: ignore[attr-defined]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in paths, probe
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The outbox is on a claim of each replica's own, mounted where the service keeps it.
    claims = {c["metadata"]["name"] for c in sts["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[env["MNIST_DATA_DIR"]] in claims
    assert sts["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # Non-root as the image's user, read-only root, restricted profile.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}" in dockerfile
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # Requests and limits set; the memory limit above the decode budget a worker may fill.
    resources = container["resources"]
    assert set(resources) == {"requests", "limits"} and "memory" in resources["limits"]
    limit_mib = int(resources["limits"]["memory"].removesuffix("Mi"))
    assert limit_mib > Settings().decode_budget_mb + 100, "a full decode budget would be OOM-killed"
    # The other objects point at this set and its pods.
    labels = sts["selector"]["matchLabels"]
    assert objects[("Service", "mnist-service")]["spec"]["selector"] == labels
    assert objects[("PodDisruptionBudget", "mnist-service")]["spec"]["selector"]["matchLabels"] == labels
    target = objects[("HorizontalPodAutoscaler", "mnist-service")]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", "mnist-service")
    assert sts["serviceName"] in {name for kind, name in objects if kind == "Service"}


def test_the_example_cassandra_is_a_three_node_data_centre_matching_the_service() -> None:
    objects = _all()
    sts = objects[("StatefulSet", "cassandra")]["spec"]
    assert sts["replicas"] == 3
    env = {e["name"]: e.get("value") for e in sts["template"]["spec"]["containers"][0]["env"]}
    config = objects[("ConfigMap", "mnist-service")]["data"]
    assert config["CASSANDRA_LOCAL_DC"] == env["CASSANDRA_DC"] == "dc1"
    assert config["CASSANDRA_REPLICATION"] == f"NetworkTopologyStrategy:{env['CASSANDRA_DC']}=3"
    assert config["CASSANDRA_CONSISTENCY"] == "LOCAL_QUORUM"
    for point in config["CASSANDRA_CONTACT_POINTS"].split(","):
        pod, _, service = point.partition(".")
        assert service == sts["serviceName"] and int(pod.rsplit("-", 1)[1]) < sts["replicas"], point
