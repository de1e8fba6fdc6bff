"""The Kubernetes manifests (deploy/k8s/), checked offline.

Built-in kinds are validated by kubernetes-validate (strict: unknown fields
fail); custom resources against ``crd_schemas``. Then the wiring: topics
against the registry, the PrometheusRule against rules.yml, the worker
against the Kafka cluster, its user, ClickHouse and the image.
"""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from sla.model import JSON
from streams import topics
from tests.deploy import render
from tests.deploy.conftest import COMPOSE_DIR, K8S_DIR, ROOT, load_yaml, one
from tests.deploy.crd_schemas import CRD_SCHEMAS

#: The Kubernetes version the built-in kinds are validated for.
KUBERNETES = "1.33"
Docs = list[tuple[str, JSON]]

kubernetes_validate: Any = importlib.import_module("kubernetes_validate")


def _validate(doc: JSON) -> None:
    schema = CRD_SCHEMAS.get(doc["kind"])
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_every_manifest_is_valid(k8s: Docs) -> None:
    errors = []
    for name, doc in k8s:
        try:
            _validate(doc)
        except Exception as exc:
            errors.append(f"{name} {doc.get('kind')}: {getattr(exc, 'message', exc)}")
    assert errors == []
    kinds = {d["kind"] for _, d in k8s}
    assert kinds >= {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "StatefulSet",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "Secret",
    }


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("StatefulSet", ("spec", "template", "spec", "containers", 0, "readinesProbe"), {}),
        ("StatefulSet", ("spec", "replicas"), "two"),
        ("KafkaTopic", ("spec", "partitons"), 8),
        ("KafkaUser", ("spec", "authentication", "type"), "scram-sha-256"),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "exp"), "up"),
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "15 seconds"),
    ],
)
def test_validation_rejects_a_broken_manifest(
    k8s: Docs, kind: str, path: tuple[str | int, ...], value: Any
) -> None:
    doc = copy.deepcopy(next(d for _, d in k8s if d["kind"] == kind))
    node: Any = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc)


def test_every_resource_is_in_the_namespace_and_the_kustomization(k8s: Docs) -> None:
    for name, doc in k8s:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == render.NAMESPACE, (name, doc["kind"])
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {
        "kustomization.yaml",
        "secret.example.yaml",
    }
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == render.NAMESPACE


# -- generated files ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(render.GENERATED))
def test_generated_manifest_is_up_to_date(name: str) -> None:
    committed = (K8S_DIR / name).read_text(encoding="utf-8")
    assert committed == render.GENERATED[name](), (
        f"deploy/k8s/{name} is stale: run `python -m tests.deploy.render`"
    )


def test_prometheus_rule_holds_exactly_rules_yml(k8s: Docs) -> None:
    rule = one(k8s, "PrometheusRule", "availability")
    rules = load_yaml(ROOT / "deploy" / "prometheus" / "rules.yml")
    assert rule["spec"] == rules
    assert sum(len(g["rules"]) for g in rule["spec"]["groups"]) >= 20


def test_kafka_topics_match_the_registry(k8s: Docs) -> None:
    declared = {d["spec"]["topicName"]: d for _, d in k8s if d["kind"] == "KafkaTopic"}
    faust = {t.name: t for t in render.faust_topics()}
    assert set(declared) == {t.name for t in topics.ALL} | set(faust)
    for spec in topics.ALL:
        topic = declared[spec.name]["spec"]
        assert topic["partitions"] == spec.partitions, spec.name
        assert {k: str(v) for k, v in topic.get("config", {}).items()} == dict(spec.config)
        assert topic["replicas"] == render.REPLICAS
    # The probe stage's table lives in the partitions of availability.probes.
    ledgers = declared["availability-probe-ledgers-changelog"]["spec"]
    assert ledgers["partitions"] == topics.PROBES.partitions
    assert ledgers["config"]["cleanup.policy"] == "compact"
    names = [d["metadata"]["name"] for _, d in k8s if d["kind"] == "KafkaTopic"]
    assert len(set(names)) == len(names)


def test_the_kafka_cluster_replicates_what_the_topics_ask(k8s: Docs) -> None:
    kafka = one(k8s, "Kafka", render.KAFKA_CLUSTER)
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    pools = [d for _, d in k8s if d["kind"] == "KafkaNodePool"]
    assert {r for p in pools for r in p["spec"]["roles"]} == {"controller", "broker"}
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    config = kafka["spec"]["kafka"]["config"]
    assert brokers >= render.REPLICAS >= int(config["min.insync.replicas"]) + 1
    for _, doc in k8s:
        if doc["kind"] in ("KafkaTopic", "KafkaUser", "KafkaNodePool"):
            assert doc["metadata"]["labels"]["strimzi.io/cluster"] == render.KAFKA_CLUSTER


def _acl_allows(acls: list[JSON], kind: str, name: str, operation: str) -> bool:
    for acl in acls:
        res = acl["resource"]
        if res["type"] != kind or operation not in acl["operations"]:
            continue
        if kind == "cluster":
            return True
        if res.get("patternType") == "prefix" and name.startswith(res["name"]):
            return True
        if res.get("patternType", "literal") == "literal" and name == res["name"]:
            return True
    return False


def _worker(k8s: Docs) -> JSON:
    return one(k8s, "StatefulSet", "availability-worker")


def _container(k8s: Docs) -> JSON:
    container: JSON = _worker(k8s)["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(container: JSON) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _flag(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(name + "="))


def test_the_kafka_user_may_do_what_the_worker_does(k8s: Docs) -> None:
    acls = one(k8s, "KafkaUser", "availability-worker")["spec"]["authorization"]["acls"]
    for _, doc in k8s:
        if doc["kind"] == "KafkaTopic":
            name = doc["spec"]["topicName"]
            for op in ("Describe", "Read", "Write", "Create"):
                assert _acl_allows(acls, "topic", name, op), (name, op)
    args = _container(k8s)["args"]
    group = next((_flag(args, "--app-id") for a in args if a.startswith("--app-id=")), None)
    assert _acl_allows(acls, "group", group or "availability", "Read")
    assert not _acl_allows(acls, "topic", "billing.invoices", "Read")


def test_the_worker_connects_as_the_kafka_user_over_the_tls_listener(k8s: Docs) -> None:
    kafka = one(k8s, "Kafka", render.KAFKA_CLUSTER)
    user = one(k8s, "KafkaUser", "availability-worker")
    listener = kafka["spec"]["kafka"]["listeners"][0]
    container = _container(k8s)
    env = _env(container)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == (
        f"{render.KAFKA_CLUSTER}-kafka-bootstrap:{listener['port']}"
    )
    assert listener["tls"] is True
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert listener["authentication"]["type"] == user["spec"]["authentication"]["type"]
    assert env["KAFKA_SASL_MECHANISM"] == listener["authentication"]["type"].upper()
    assert env["KAFKA_SASL_USERNAME"] == user["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _worker(k8s)["spec"]["template"]["spec"]["volumes"]}

    def secret_file(path: str) -> tuple[str, str]:
        p = PurePosixPath(path)
        name = next(n for n, m in mounts.items() if PurePosixPath(m) == p.parent)
        secret = volumes[name]["secret"]
        key = next(i["key"] for i in secret["items"] if i["path"] == p.name)
        return secret["secretName"], key

    # Strimzi writes the user's password and the cluster CA to these Secrets.
    assert secret_file(env["KAFKA_SASL_PASSWORD_FILE"]) == (user["metadata"]["name"], "password")
    assert secret_file(env["KAFKA_SSL_CAFILE"]) == (
        f"{render.KAFKA_CLUSTER}-cluster-ca-cert",
        "ca.crt",
    )
    template = load_yaml(K8S_DIR / "secret.example.yaml")
    name, key = secret_file(env["CLICKHOUSE_PASSWORD_FILE"])
    assert name == template["metadata"]["name"]
    assert key in template["stringData"]


def test_the_worker_uses_only_the_agreed_settings_as_compose_does(k8s: Docs) -> None:
    from tests.deploy.test_compose import CLIENT_VARS

    env = _env(_container(k8s))
    assert set(env) == CLIENT_VARS
    migrate = one(k8s, "Job", "availability-migrate")["spec"]["template"]["spec"]
    assert {e["name"] for e in migrate["containers"][0]["env"]} <= CLIENT_VARS


def test_the_worker_statefulset_probes_health_and_keeps_its_table_store(k8s: Docs) -> None:
    worker = _worker(k8s)
    container = _container(k8s)
    args = container["args"]
    assert args[0] == "worker"
    port = int(_flag(args, "--web-port"))
    health_port = int(_flag(args, "--health-port"))
    assert _flag(args, "--web-host") == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # started and ready once the web server answers (after the tables' recovery);
    # alive while /health in its own process says so (it answers under any load)
    for probe, expected in (
        ("readinessProbe", port),
        ("livenessProbe", health_port),
        ("startupProbe", port),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health"
        assert ports[get["port"]] == expected
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    # The claim template is mounted at the image's working directory (Faust's data dir).
    claims = [c["metadata"]["name"] for c in worker["spec"]["volumeClaimTemplates"]]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    workdir = re.findall(r"^WORKDIR (\S+)$", dockerfile, flags=re.M)[-1]
    assert [mounts[c] for c in claims] == [workdir]
    uid = re.findall(r"^USER (\d+)$", dockerfile, flags=re.M)[-1]
    assert worker["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == int(uid)
    assert 1 <= worker["spec"]["replicas"] <= topics.PROBES.partitions


def _selects(selector: JSON, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_pdb_networkpolicy_and_monitor_select_the_workers(k8s: Docs) -> None:
    worker = _worker(k8s)
    pod_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert _selects(worker["spec"]["selector"]["matchLabels"], pod_labels)
    service = one(k8s, "Service", worker["spec"]["serviceName"])
    assert _selects(service["spec"]["selector"], pod_labels)
    pdb = one(k8s, "PodDisruptionBudget", "availability-worker")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] < worker["spec"]["replicas"]
    policy = one(k8s, "NetworkPolicy", "availability-worker")
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    port = int(_flag(_container(k8s)["args"], "--web-port"))
    assert [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]] == [port]
    egress = {p["port"] for r in policy["spec"]["egress"] for p in r["ports"]}
    kafka = one(k8s, "Kafka", render.KAFKA_CLUSTER)
    clickhouse = one(k8s, "Service", "clickhouse")
    assert kafka["spec"]["kafka"]["listeners"][0]["port"] in egress
    assert clickhouse["spec"]["ports"][0]["port"] in egress
    assert 53 in egress
    monitor = one(k8s, "ServiceMonitor", "availability")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    named = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= named
    assert [e["path"] for e in monitor["spec"]["endpoints"]] == ["/metrics"]
    # The Prometheus Operator names the job after the Service; the rules expect it.
    jobs = set(re.findall(r'job="([^"]+)"', (ROOT / "deploy/prometheus/rules.yml").read_text()))
    assert jobs == {service["metadata"]["name"]}


def test_clickhouse_users_are_those_of_compose_with_passwords_from_the_secret(k8s: Docs) -> None:
    users = one(k8s, "ConfigMap", "clickhouse-users")["data"]["users.xml"]
    assert users == (COMPOSE_DIR / "clickhouse" / "users.xml").read_text(encoding="utf-8")
    envs = re.findall(r'from_env="(\w+)"', users)
    container = one(k8s, "StatefulSet", "clickhouse")["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    template = load_yaml(K8S_DIR / "secret.example.yaml")
    for env in envs:
        assert refs[env]["name"] == template["metadata"]["name"]
        assert refs[env]["key"] in template["stringData"]
    dsn = _flag(_container(k8s)["args"], "--store")
    assert dsn == "http://availability@clickhouse:8123/availability"


def test_the_secret_template_holds_no_secret() -> None:
    docs = list(yaml.safe_load_all((K8S_DIR / "secret.example.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Secret"]
    assert set(docs[0]["stringData"].values()) == {"REPLACE-ME"}
    assert "data" not in docs[0]
