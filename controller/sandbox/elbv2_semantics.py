"""ELBv2 behaviour moto lacks, checked by the proxy before it forwards a request.

moto deletes a load balancer whatever its ``deletion_protection.enabled`` says; AWS refuses with
``OperationNotPermitted`` (HTTP 400) and "Load balancer '<arn>' cannot be deleted because deletion
protection is enabled", and the controller's deletion path depends on that answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.sandbox.ec2_semantics import MotoBackend, RuleViolation

DELETION_PROTECTION = "deletion_protection.enabled"


async def check_delete_load_balancer(
    backend: MotoBackend, region: str, access_key: str, params: Mapping[str, str]
) -> RuleViolation | None:
    arn = params.get("LoadBalancerArn")
    if not arn:
        return None
    elbv2 = await backend.client("elbv2", region, access_key)
    try:
        response = await elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)
    except elbv2.exceptions.LoadBalancerNotFoundException:
        return None  # let moto answer
    attributes = {a["Key"]: a.get("Value") for a in response.get("Attributes") or ()}
    if attributes.get(DELETION_PROTECTION) == "true":
        return RuleViolation(
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            outcome="protected",
        )
    return None
