"""``python -m controller.sandbox.prepare``: the compose sandbox's one-shot steps, against the
proxy (as the ``seed`` service reaches moto) and the stand-in through its kubeconfig file."""

from __future__ import annotations

import aiohttp

from controller.aws.client import AwsClient
from controller.sandbox.cluster import CRDS, crd_documents
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.prepare import parse_args, samples, seed
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.samples import sample_documents
from controller.sandbox.seed import SANDBOX_CLUSTER
from framework.kube import NODES, KubeClient
from framework.testing.apiserver import StandInApiServer


async def test_seed_through_the_proxy_then_again_leaves_one_cluster(
    aws_proxy: AwsProxy, aws_api: AwsClient, standin_server: StandInApiServer
) -> None:
    kubeconfig = str(standin_server.kubeconfig_path)
    args = parse_args(
        ["seed", f"--aws-endpoint-url={aws_proxy.url}", f"--kubeconfig={kubeconfig}", "--nodes=3"]
    )

    seeded = await seed(args)

    assert seeded["cluster_name"] == SANDBOX_CLUSTER and seeded["nodes"] == ["node-0", "node-1", "node-2"]
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        nodes = (await kube.list(NODES))["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == seeded["nodes"]
        for crd in crd_documents():
            assert (await kube.get(CRDS, crd["metadata"]["name"]))["metadata"]["name"]
    # moto's id generator was seeded through the proxy (it relays /moto-api/): the target group
    # and client SG have the ids config/samples/ names.
    [binding] = [d for d in sample_documents() if d["kind"] == "TargetGroupBinding"]
    groups = await aws_api.call("elbv2", "DescribeTargetGroups", Names=["echo"])
    assert [g["TargetGroupArn"] for g in groups["TargetGroups"]] == [binding["spec"]["targetGroupARN"]]

    again = await seed(args)

    assert again == {"already_seeded": True, "vpc_id": seeded["vpc_id"], "cluster_name": SANDBOX_CLUSTER}
    vpcs = await aws_api.call(
        "ec2", "DescribeVpcs", Filters=[{"Name": "tag:Name", "Values": [SANDBOX_CLUSTER]}]
    )
    assert [v["VpcId"] for v in vpcs["Vpcs"]] == [seeded["vpc_id"]]


async def test_samples_applies_config_samples_through_the_kubeconfig(
    aws_proxy: AwsProxy, standin_server: StandInApiServer
) -> None:
    kubeconfig = str(standin_server.kubeconfig_path)
    await seed(parse_args(["seed", f"--aws-endpoint-url={aws_proxy.url}", f"--kubeconfig={kubeconfig}"]))

    applied = await samples(parse_args(["samples", f"--kubeconfig={kubeconfig}"]))

    assert applied["applied"] == len(sample_documents())


async def test_the_proxy_listens_where_it_is_told(fresh_moto: MotoServer) -> None:
    """The compose ``aws`` service listens on 0.0.0.0 so other containers reach it."""
    async with AwsProxy(fresh_moto.url, host="0.0.0.0") as everywhere:
        assert everywhere.url.startswith("http://0.0.0.0:")
        port = everywhere.url.rsplit(":", 1)[1]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200
