"""The Helm chart, rendered by the real helm CLI: lint, defaults, every value, and no drift from
the kustomize manifests in config/ (which stay; `make chart-sync` copies what the two share)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import yaml
from helm_chart import (
    CHART_DIR,
    CONFIG_DIR,
    Helm,
    Manifest,
    controller_container,
    kinds,
    kustomize_objects,
    only,
    parse_controller_args,
)

from controller.config import ControllerSettings

REQUIRED = {"clusterName": "prod"}

# Every value that becomes a flag, set to something other than its default.
FLAG_VALUES: dict[str, Any] = {
    "clusterName": "prod",
    "region": "eu-west-1",
    "vpcId": "vpc-0123456789abcdef0",
    "vpcTags": {"Name": "main", "env": "prod"},
    "awsApiEndpoints": "ec2=https://ec2.example,elasticloadbalancing=https://elb.example",
    "awsApiThrottle": ["Elastic Load Balancing v2:RegisterTargets=4:20", "EC2:Describe.*=10:40"],
    "awsMaxRetries": 5,
    "ingressClass": "internal-alb",
    "loadBalancerClass": "example.com/nlb",
    "defaultTargetType": "ip",
    "defaultLoadBalancerScheme": "internet-facing",
    "enableBackendSecurityGroup": True,
    "backendSecurityGroup": "sg-0abc",
    "enableManageBackendSecurityGroupRules": True,
    "disableRestrictedSecurityGroupRules": True,
    "serviceTargetENISGTags": {"team": "web"},
    "defaultTags": {"team": "platform", "cost-center": "42"},
    "externalManagedTags": ["owner", "backup"],
    "maxPortRangesPerSource": 1,
    "endpointSGCoalesceWindow": 0,  # 0 is a value, not "unset"
    "sgRulesQuota": 200,
    "ingressMaxConcurrentReconciles": 5,
    "serviceMaxConcurrentReconciles": 6,
    "targetgroupbindingMaxConcurrentReconciles": 7,
    "targetgroupbindingMaxExponentialBackoffDelay": "5m",
    "targetgroupbindingRequeueDuration": "30s",
    "syncPeriod": "1h",
    "watchNamespace": "team-a",
    "controllerConfig": {"featureGates": {"NLBSecurityGroup": False, "EnableIPTargetType": True}},
    "logLevel": "debug",
    "leaderElectionId": "lbsg-leader",
    "metricsBindAddr": ":9090",
    "healthProbeBindAddr": ":9440",
    "extraArgs": ["--enable-leader-election=true"],
}

EXPECTED_SETTINGS: dict[str, Any] = {
    "cluster_name": "prod",
    "aws_region": "eu-west-1",
    "aws_vpc_id": "vpc-0123456789abcdef0",
    "aws_vpc_tags": {"Name": "main", "env": "prod"},
    "aws_api_endpoints": {"ec2": "https://ec2.example", "elasticloadbalancing": "https://elb.example"},
    "aws_api_throttle": "Elastic Load Balancing v2:RegisterTargets=4:20,EC2:Describe.*=10:40",
    "aws_max_retries": 5,
    "ingress_class": "internal-alb",
    "load_balancer_class": "example.com/nlb",
    "default_target_type": "ip",
    "default_load_balancer_scheme": "internet-facing",
    "enable_backend_security_group": True,
    "backend_security_group": "sg-0abc",
    "enable_manage_backend_security_group_rules": True,
    "disable_restricted_sg_rules": True,
    "service_target_eni_security_group_tags": {"team": "web"},
    "default_tags": {"team": "platform", "cost-center": "42"},
    "external_managed_tags": ("owner", "backup"),
    "max_port_ranges_per_source": 1,
    "endpoint_sg_coalesce_window": 0.0,
    "sg_rules_quota": 200,
    "ingress_max_concurrent_reconciles": 5,
    "service_max_concurrent_reconciles": 6,
    "targetgroupbinding_max_concurrent_reconciles": 7,
    "targetgroupbinding_max_exponential_backoff_delay": 300.0,
    "targetgroupbinding_requeue_duration": 30.0,
    "sync_period": 3600.0,
    "watch_namespace": "team-a",
    "feature_gates": {"NLBSecurityGroup": False, "EnableIPTargetType": True},
    "log_level": "debug",
    "leader_election_id": "lbsg-leader",
    "metrics_bind_addr": ":9090",
    "health_probe_bind_addr": ":9440",
    "enable_leader_election": True,
}

POD_VALUES: dict[str, Any] = {
    "replicaCount": 3,
    "image": {"repository": "registry.example/lbsg", "tag": "v9", "pullPolicy": "Always"},
    "serviceAccount": {
        "name": "lbsg",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lbsg"},
    },
    "podDisruptionBudget": {"maxUnavailable": 1},
    "serviceMonitor": {"enabled": True, "interval": "15s", "additionalLabels": {"release": "prom"}},
    "resources": {"requests": {"cpu": "50m", "memory": "300Mi"}, "limits": {"memory": "1Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                ]
            }
        }
    },
    "priorityClassName": "lbsg-critical",
    "env": {"AWS_STS_REGIONAL_ENDPOINTS": "regional"},
    "ingressClassConfig": {"default": True},
}


def _args(objects: list[Manifest]) -> list[str]:
    args: list[str] = controller_container(only(objects, "Deployment"))["args"]
    return args


def _without_labels(obj: Manifest) -> Manifest:
    """The object as the two renderings must agree on: the chart adds Helm's labels."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in ("labels", "annotations")}
    return {**obj, "metadata": metadata}


def test_lint_passes_strict_with_the_default_and_with_every_value_set(helm: Helm) -> None:
    for values in (REQUIRED, {**FLAG_VALUES, **POD_VALUES}):
        result = helm.run("lint", "--strict", str(CHART_DIR), "--values", str(helm.values_file(values)))
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout, result.stdout


def test_without_a_cluster_name_rendering_fails_naming_the_value(helm: Helm) -> None:
    result = helm.run("template", "x", str(CHART_DIR), check=False)

    assert result.returncode != 0
    assert "clusterName is required" in result.stderr


def crds_by_name(objects: Sequence[Manifest]) -> dict[str, Manifest]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "CustomResourceDefinition"}


# The chart ships the CRDs of config/crd and of config/crd/gateway (as upstream's chart ships its
# gateway.k8s.aws ones); config/default installs both directories too.
CRD_DIRS = (CONFIG_DIR / "crd", CONFIG_DIR / "crd" / "gateway")
CONFIG_CRD_NAMES = {
    yaml.safe_load(path.read_text())["metadata"]["name"]
    for directory in CRD_DIRS
    for path in directory.glob("*.yaml")
    if path.name != "kustomization.yaml"
}


def test_defaults_render_the_controller_with_its_own_defaults(helm: Helm) -> None:
    objects = helm.template(REQUIRED, release="lbsg", namespace="lb")

    assert kinds(objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        *["CustomResourceDefinition"] * len(CONFIG_CRD_NAMES),
        "Deployment",
        "IngressClass",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    deployment = only(objects, "Deployment")
    assert deployment["metadata"]["name"] == "lbsg-aws-lb-sg-controller"
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == only(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = controller_container(deployment)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "aws-lb-sg-controller:0.1.0"
    # Nothing but the cluster name differs from the controller's defaults.
    settings = parse_controller_args(container["args"])
    assert settings == dataclasses.replace(ControllerSettings(), cluster_name="prod")
    assert only(objects, "IngressClass")["metadata"]["name"] == "alb"
    assert only(objects, "IngressClass")["spec"] == {"controller": "ingress.k8s.aws/alb"}
    # The Lease the controller elects with is the one the Role names, in the release namespace.
    role = only(objects, "Role")
    assert role["metadata"]["namespace"] == "lb"
    assert role["rules"][1]["resourceNames"] == [settings.leader_election_id]
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in (
        container["env"]
    )


def test_every_flag_value_renders_the_controller_flag_it_names(helm: Helm) -> None:
    objects = helm.template(FLAG_VALUES)

    settings = parse_controller_args(_args(objects))
    assert settings == dataclasses.replace(ControllerSettings(), **EXPECTED_SETTINGS)
    container = controller_container(only(objects, "Deployment"))
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics-server": 9090, "health": 9440}
    assert only(objects, "Service")["spec"]["ports"][0]["port"] == 9090
    assert only(objects, "Role")["rules"][1]["resourceNames"] == ["lbsg-leader"]
    assert only(objects, "IngressClass")["metadata"]["name"] == "internal-alb"


def test_a_value_of_the_wrong_kind_fails_naming_it_and_upstream_only_values_are_accepted(
    helm: Helm,
) -> None:
    """values.schema.json types our values; keys only upstream's chart has (its webhooks, WAF) are
    let through, so an upstream values file still installs."""
    for key, value in (("maxPortRangesPerSource", 0), ("defaultTargetType", "pod"), ("sgRulesQuota", "60")):
        values_file = helm.values_file({**REQUIRED, key: value})
        result = helm.run("template", "x", str(CHART_DIR), "--values", str(values_file), check=False)
        assert result.returncode != 0 and f"/{key}" in result.stderr, (key, result.stderr)

    objects = helm.template({**REQUIRED, "enableShield": True, "webhookBindPort": 9443})
    assert parse_controller_args(_args(objects)).cluster_name == "prod"


def test_false_is_rendered_and_reaches_the_controller(helm: Helm) -> None:
    settings = parse_controller_args(_args(helm.template({**REQUIRED, "enableBackendSecurityGroup": False})))

    assert settings.enable_backend_security_group is False


def test_pod_values_reach_the_deployment_and_the_optional_objects(helm: Helm) -> None:
    objects = helm.template({**REQUIRED, **POD_VALUES}, release="lbsg", namespace="lb")

    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    container = controller_container(deployment)
    assert container["image"] == "registry.example/lbsg:v9"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == POD_VALUES["resources"]
    assert {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"} in container["env"]
    assert pod["nodeSelector"] == POD_VALUES["nodeSelector"]
    assert pod["tolerations"] == POD_VALUES["tolerations"]
    assert pod["affinity"] == POD_VALUES["affinity"]
    assert pod["priorityClassName"] == "lbsg-critical"
    # IRSA: the role ARN annotation on the ServiceAccount the pod runs as.
    service_account = only(objects, "ServiceAccount")
    assert service_account["metadata"]["name"] == pod["serviceAccountName"] == "lbsg"
    assert service_account["metadata"]["annotations"] == POD_VALUES["serviceAccount"]["annotations"]
    for binding in (only(objects, "ClusterRoleBinding"), only(objects, "RoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "lbsg", "namespace": "lb"}]
    budget = only(objects, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    # The ServiceMonitor selects the metrics Service and scrapes its port.
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "metrics-server", "path": "/metrics", "interval": "15s"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    ingress_class = only(objects, "IngressClass")
    assert ingress_class["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"}


def test_optional_objects_can_be_left_out(helm: Helm) -> None:
    objects = helm.template(
        {
            **REQUIRED,
            "serviceAccount": {"create": False, "name": "existing"},
            "rbac": {"create": False},
            "createIngressClassResource": False,
            "replicaCount": 1,
            "podDisruptionBudget": {"maxUnavailable": 1},  # one replica: a budget would block drains
        }
    )

    assert kinds(objects) == [*["CustomResourceDefinition"] * len(CONFIG_CRD_NAMES), "Deployment", "Service"]
    assert crds_by_name(objects).keys() == CONFIG_CRD_NAMES
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


def test_the_chart_copies_of_config_files_are_byte_equal() -> None:
    """crds/ holds exactly the CRDs of config/crd and config/crd/gateway, and files/role.yaml is
    config/rbac/role.yaml: run `make chart-sync` after changing config/."""
    config_crds: dict[str, bytes] = {}
    for directory in CRD_DIRS:
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"]
        files = {path.name: path.read_bytes() for path in directory.glob("*.yaml")}
        files.pop("kustomization.yaml")
        assert sorted(listed) == sorted(files), directory
        assert not files.keys() & config_crds.keys()  # crds/ is one flat directory
        config_crds |= files
    chart_crds = {path.name: path.read_bytes() for path in (CHART_DIR / "crds").iterdir()}

    assert chart_crds == config_crds, "run `make chart-sync`"
    assert (CHART_DIR / "files" / "role.yaml").read_bytes() == (
        CONFIG_DIR / "rbac" / "role.yaml"
    ).read_bytes(), "run `make chart-sync`"


def test_the_chart_renders_what_config_default_applies(helm: Helm) -> None:
    """With the kustomize manifests' names (fullnameOverride) and cluster name, the chart grants the
    same RBAC, installs the same CRDs, and runs the controller with the same settings, probes,
    ports and security contexts as config/default (config/ stays for kustomize users)."""
    chart = helm.template(
        {
            "clusterName": "CLUSTER_NAME",
            "fullnameOverride": "aws-load-balancer-controller",
            "createIngressClassResource": False,
        },
        release="aws-load-balancer-controller",
        namespace="kube-system",
    )
    kustomize = kustomize_objects(CONFIG_DIR / "default")

    assert kinds(chart) == kinds(kustomize)
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert _without_labels(only(chart, kind)) == _without_labels(only(kustomize, kind)), kind
    chart_crds, kustomize_crds = crds_by_name(chart), crds_by_name(kustomize)
    assert chart_crds.keys() == kustomize_crds.keys() == CONFIG_CRD_NAMES
    for name, crd in chart_crds.items():
        assert _without_labels(crd) == _without_labels(kustomize_crds[name]), name
    for kind in ("ServiceAccount", "Service"):
        chart_object, kustomize_object = only(chart, kind), only(kustomize, kind)
        assert chart_object["metadata"]["name"] == kustomize_object["metadata"]["name"], kind
        assert chart_object["metadata"]["namespace"] == kustomize_object["metadata"]["namespace"], kind
    assert only(chart, "Service")["spec"]["ports"] == only(kustomize, "Service")["spec"]["ports"]

    chart_deployment, kustomize_deployment = only(chart, "Deployment"), only(kustomize, "Deployment")
    assert chart_deployment["metadata"]["name"] == kustomize_deployment["metadata"]["name"]
    assert chart_deployment["spec"]["replicas"] == kustomize_deployment["spec"]["replicas"]
    chart_pod = chart_deployment["spec"]["template"]["spec"]
    kustomize_pod = kustomize_deployment["spec"]["template"]["spec"]
    for key in (
        "serviceAccountName",
        "priorityClassName",
        "terminationGracePeriodSeconds",
        "securityContext",
    ):
        assert chart_pod[key] == kustomize_pod[key], key
    chart_container, kustomize_container = (
        controller_container(chart_deployment),
        controller_container(kustomize_deployment),
    )
    for key in ("name", "livenessProbe", "readinessProbe", "ports", "env", "resources", "securityContext"):
        assert chart_container[key] == kustomize_container[key], key
    assert parse_controller_args(chart_container["args"]) == parse_controller_args(
        kustomize_container["args"]
    )


def test_the_service_monitor_scrapes_as_config_prometheus_does(helm: Helm) -> None:
    chart = helm.template({**REQUIRED, "serviceMonitor": {"enabled": True}})
    kustomize = only(kustomize_objects(CONFIG_DIR / "prometheus"), "ServiceMonitor")

    assert only(chart, "ServiceMonitor")["spec"]["endpoints"] == kustomize["spec"]["endpoints"]
