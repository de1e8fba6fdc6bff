"""Structural JSON Schemas of the custom resources deploy/k8s/ uses.

The CRDs of Strimzi (kafka.strimzi.io/v1beta2) and the Prometheus Operator
(monitoring.coreos.com/v1) are not part of kubernetes-validate. These
schemas cover the fields the manifests use, with the types and enumerations
of the operators' API references; unknown fields are rejected at every level
the manifests write, so a misspelt field fails here instead of being dropped
by the API server.
"""

from __future__ import annotations

from sla.model import JSON

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_QUANTITY = {"type": ["string", "integer"]}
_DURATION = {"type": "string", "pattern": r"^(([0-9]+)(ms|s|m|h|d|w|y))+$"}


def _metadata(cluster_label: bool) -> JSON:
    meta: JSON = {
        "type": "object",
        "required": ["name", "namespace"] + (["labels"] if cluster_label else []),
        "additionalProperties": False,
        "properties": {
            "name": _NAME,
            "namespace": _NAME,
            "labels": _STRING_MAP,
            "annotations": _STRING_MAP,
        },
    }
    if cluster_label:
        meta["properties"]["labels"] = {
            **_STRING_MAP,
            "required": ["strimzi.io/cluster"],
        }
    return meta


def _resource(api_version: str, kind: str, spec: JSON, cluster_label: bool = False) -> JSON:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _metadata(cluster_label),
            "spec": spec,
        },
    }


def _closed(properties: JSON, required: list[str] | None = None) -> JSON:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required or [],
        "properties": properties,
    }


_RESOURCES = _closed(
    {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
    }
)

KAFKA = _resource(
    "kafka.strimzi.io/v1beta2",
    "Kafka",
    _closed(
        {
            "kafka": _closed(
                {
                    "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                    "listeners": {
                        "type": "array",
                        "minItems": 1,
                        "items": _closed(
                            {
                                "name": {"type": "string", "pattern": r"^[a-z0-9]{1,11}$"},
                                "port": {"type": "integer", "minimum": 9092},
                                "type": {
                                    "enum": [
                                        "internal",
                                        "route",
                                        "loadbalancer",
                                        "nodeport",
                                        "ingress",
                                        "cluster-ip",
                                    ]
                                },
                                "tls": {"type": "boolean"},
                                "authentication": _closed(
                                    {"type": {"enum": ["tls", "scram-sha-512", "oauth", "custom"]}},
                                    ["type"],
                                ),
                            },
                            ["name", "port", "type", "tls"],
                        ),
                    },
                    "authorization": _closed(
                        {"type": {"enum": ["simple", "keycloak", "opa", "custom"]}}, ["type"]
                    ),
                    "config": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "integer", "boolean"]},
                    },
                },
                ["listeners"],
            ),
            "entityOperator": _closed(
                {"topicOperator": {"type": "object"}, "userOperator": {"type": "object"}}
            ),
        },
        ["kafka"],
    ),
)

KAFKA_NODE_POOL = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaNodePool",
    _closed(
        {
            "replicas": {"type": "integer", "minimum": 0},
            "roles": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": ["controller", "broker"]},
            },
            "storage": _closed(
                {
                    "type": {"enum": ["jbod", "ephemeral", "persistent-claim"]},
                    "volumes": {
                        "type": "array",
                        "items": _closed(
                            {
                                "id": {"type": "integer", "minimum": 0},
                                "type": {"enum": ["ephemeral", "persistent-claim"]},
                                "size": {"type": "string", "pattern": r"^\d+(Mi|Gi|Ti)$"},
                                "deleteClaim": {"type": "boolean"},
                                "kraftMetadata": {"enum": ["shared"]},
                            },
                            ["id", "type"],
                        ),
                    },
                },
                ["type"],
            ),
            "resources": _RESOURCES,
        },
        ["replicas", "roles", "storage"],
    ),
    cluster_label=True,
)

KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaTopic",
    _closed(
        {
            "topicName": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,249}$"},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": {
                "type": "object",
                "additionalProperties": {"type": ["string", "integer", "boolean"]},
            },
        },
        ["partitions", "replicas"],
    ),
    cluster_label=True,
)

_ACL_OPERATIONS = [
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
]

KAFKA_USER = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaUser",
    _closed(
        {
            "authentication": _closed(
                {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}}, ["type"]
            ),
            "authorization": _closed(
                {
                    "type": {"enum": ["simple"]},
                    "acls": {
                        "type": "array",
                        "items": _closed(
                            {
                                "resource": _closed(
                                    {
                                        "type": {
                                            "enum": ["topic", "group", "cluster", "transactionalId"]
                                        },
                                        "name": {"type": "string"},
                                        "patternType": {"enum": ["literal", "prefix"]},
                                    },
                                    ["type"],
                                ),
                                "operations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"enum": _ACL_OPERATIONS},
                                },
                                "host": {"type": "string"},
                            },
                            ["resource", "operations"],
                        ),
                    },
                },
                ["type", "acls"],
            ),
        },
        ["authentication"],
    ),
    cluster_label=True,
)

SERVICE_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    _closed(
        {
            "jobLabel": {"type": "string"},
            "selector": _closed({"matchLabels": _STRING_MAP}, ["matchLabels"]),
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": _closed(
                    {
                        "port": {"type": "string"},
                        "path": {"type": "string", "pattern": "^/"},
                        "interval": _DURATION,
                        "scrapeTimeout": _DURATION,
                    },
                    ["port"],
                ),
            },
        },
        ["selector", "endpoints"],
    ),
)

_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"type": ["string", "integer"]},
        "for": _DURATION,
        "keep_firing_for": _DURATION,
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}

PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    _closed(
        {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": _closed(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "interval": _DURATION,
                        "limit": {"type": "integer"},
                        "rules": {"type": "array", "items": _RULE},
                    },
                    ["name", "rules"],
                ),
            }
        },
        ["groups"],
    ),
)

#: kind -> schema, for every custom resource kind deploy/k8s/ may hold.
CRD_SCHEMAS: dict[str, JSON] = {
    s["properties"]["kind"]["const"]: s
    for s in (KAFKA, KAFKA_NODE_POOL, KAFKA_TOPIC, KAFKA_USER, SERVICE_MONITOR, PROMETHEUS_RULE)
}
