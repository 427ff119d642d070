from __future__ import annotations

import copy
import json

from controller.endpointsg.contributions import pod_named_ports
from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.targetgroupbinding.informers import slim_pod

FULL_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u-1",
        "resourceVersion": "42",
        "labels": {"app": "web"},
        "annotations": {
            POD_ENI_ANNOTATION: '[{"eniId": "eni-1", "privateIp": "10.0.0.5"}]',
            "kubectl.kubernetes.io/last-applied-configuration": "x" * 4000,
        },
        "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
    },
    "spec": {
        "nodeName": "node-0",
        "containers": [
            {
                "name": "app",
                "image": "web:1",
                "env": [{"name": "A", "value": "1"}] * 50,
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    },
    "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "hostIP": "10.0.0.2"},
}


def test_slim_pod_keeps_what_the_tgb_controller_reads_and_drops_the_rest() -> None:
    slim = slim_pod(copy.deepcopy(FULL_POD))
    assert slim["metadata"]["uid"] == "u-1"
    assert slim["metadata"]["annotations"] == {
        POD_ENI_ANNOTATION: FULL_POD["metadata"]["annotations"][POD_ENI_ANNOTATION]
    }
    assert "managedFields" not in slim["metadata"]
    assert slim["spec"] == {
        "nodeName": "node-0",
        "containers": [
            {"name": "app", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}
        ],
    }
    assert slim["status"] == {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}
    assert pod_named_ports(slim) == pod_named_ports(FULL_POD) == {"http": 8080}
    assert len(json.dumps(slim)) * 10 < len(json.dumps(FULL_POD))


def test_slim_pod_is_idempotent() -> None:
    once = slim_pod(copy.deepcopy(FULL_POD))
    assert slim_pod(copy.deepcopy(once)) == once
