"""ELBv2 listener behaviour moto 5.2.5 gets wrong, checked by the proxy before it forwards a request.

* Gap 1: moto creates an HTTPS or TLS listener without a certificate. AWS refuses it with
  ``ValidationError`` "A certificate must be specified for HTTPS listeners" (HTTP 400; the message
  Terraform and Pulumi users quote from CreateListener); a TLS listener gets the same message with
  ``TLS``. ModifyListener turning a listener that has no certificate (HTTP, TCP) into HTTPS/TLS
  without naming one is refused the same way.
* Gap 2: moto's CreateListener takes any ``SslPolicy`` name, and its ModifyListener knows only 18
  of AWS's predefined policies. AWS answers a name that is none of its predefined policies with
  ``SSLPolicyNotFound`` (HTTP 400; the API reference: "The specified SSL policy does not exist.").
  A name AWS has but moto lacks still fails in moto's ModifyListener (moto's own message).
* Gap 3: moto accepts an ``SslPolicy`` on a listener that is neither HTTPS nor TLS. AWS refuses it:
  ``ValidationError`` "An SSL policy cannot be specifed for TCP listeners" (AWS's spelling).
* Gap 4: moto deletes a load balancer whatever its ``deletion_protection.enabled`` says; AWS refuses
  with ``OperationNotPermitted`` (HTTP 400) and "Load balancer '<arn>' cannot be deleted because
  deletion protection is enabled", and the controller's deletion path depends on that answer.

Not covered (moto limits the sandbox keeps): moto's ModifyListener ignores ``AlpnPolicy`` and
refuses the ``TLS`` protocol, so an ALPN change, or a TCP listener becoming TLS, does not show in
moto's answers afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from botocore.exceptions import ClientError

from controller.sandbox.ec2_semantics import MotoBackend, RuleViolation

OUTCOME_INVALID_LISTENER: Final = "invalid-listener"
_TLS_PROTOCOLS: Final = frozenset({"HTTPS", "TLS"})
_FIRST_CERTIFICATE: Final = "Certificates.member.1.CertificateArn"
LISTENER_OPERATIONS: Final = frozenset({"CreateListener", "ModifyListener"})

PREDEFINED_SSL_POLICIES: Final = frozenset(
    {
        # AWS's predefined security policies, as the ALB and NLB "Security policies" tables of the
        # Elastic Load Balancing user guides list them (DescribeSSLPolicies returns the same names);
        # ELBSecurityPolicy-2015-05 and ELBSecurityPolicy-TLS-1-0-2015-04 are still accepted too.
        "ELBSecurityPolicy-2015-05",
        "ELBSecurityPolicy-2016-08",
        "ELBSecurityPolicy-FS-2018-06",
        "ELBSecurityPolicy-FS-1-1-2019-08",
        "ELBSecurityPolicy-FS-1-2-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
        "ELBSecurityPolicy-TLS-1-0-2015-04",
        "ELBSecurityPolicy-TLS-1-1-2017-01",
        "ELBSecurityPolicy-TLS-1-2-2017-01",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        "ELBSecurityPolicy-TLS13-1-0-2021-06",
        "ELBSecurityPolicy-TLS13-1-1-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07",
        "ELBSecurityPolicy-TLS13-1-2-Ext0-RFC9151-FIPS-2023-07",
        "ELBSecurityPolicy-TLS13-1-3-RFC9151-FIPS-2023-07",
        "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    }
)


def _invalid(code: str, message: str) -> RuleViolation:
    return RuleViolation(code, message, 400, OUTCOME_INVALID_LISTENER)


def missing_certificate(protocol: str) -> RuleViolation:
    return _invalid("ValidationError", f"A certificate must be specified for {protocol} listeners")


def ssl_policy_not_found(name: str) -> RuleViolation:
    return _invalid("SSLPolicyNotFound", f"The specified SSL policy does not exist: '{name}'")


def ssl_policy_not_allowed(protocol: str) -> RuleViolation:
    return _invalid("ValidationError", f"An SSL policy cannot be specifed for {protocol} listeners")


def check_listener_request(operation: str, params: Mapping[str, str]) -> RuleViolation | None:
    """What AWS refuses from the request alone, without looking at the listener it modifies."""
    policy = params.get("SslPolicy")
    if policy is not None and policy not in PREDEFINED_SSL_POLICIES:
        return ssl_policy_not_found(policy)
    protocol = params.get("Protocol")
    if protocol is None:
        return None
    if policy is not None and protocol not in _TLS_PROTOCOLS:
        return ssl_policy_not_allowed(protocol)
    if operation == "CreateListener" and protocol in _TLS_PROTOCOLS and _FIRST_CERTIFICATE not in params:
        return missing_certificate(protocol)
    return None


async def check_listener(
    backend: MotoBackend, region: str, access_key: str, operation: str, params: Mapping[str, str]
) -> RuleViolation | None:
    """AWS's answer to a CreateListener/ModifyListener moto would wrongly accept, else None.

    A ModifyListener that makes a listener HTTPS/TLS without naming a certificate is refused only
    if the listener has none yet (it was HTTP or TCP): that needs the listener as moto has it.
    """
    violation = check_listener_request(operation, params)
    if violation is not None or operation != "ModifyListener":
        return violation
    protocol = params.get("Protocol")
    if protocol not in _TLS_PROTOCOLS or _FIRST_CERTIFICATE in params:
        return None
    elbv2 = await backend.client("elbv2", region, access_key)
    try:
        found = (await elbv2.describe_listeners(ListenerArns=[params.get("ListenerArn", "")]))["Listeners"]
    except ClientError:
        return None  # no such listener: moto answers the request with AWS's error itself
    if found and found[0].get("Protocol") not in _TLS_PROTOCOLS:
        return missing_certificate(protocol)
    return None


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
