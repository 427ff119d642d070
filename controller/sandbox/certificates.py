"""ACM certificates in the sandbox, for HTTPS and TLS listeners.

The controller never calls ACM (certificates are named by ARN in annotations), so ``AwsApi`` has
no ACM facade; tests and the sandbox ask moto for certificates directly, as a user's own tooling
would ask AWS.
"""

from __future__ import annotations

from controller.aws.session import new_session
from controller.sandbox.client_settings import SANDBOX_CREDENTIALS
from controller.sandbox.seed import SANDBOX_REGION


async def request_certificates(moto_url: str, *domains: str, region: str = SANDBOX_REGION) -> list[str]:
    """One new ACM certificate per domain; their ARNs, in order."""
    async with new_session().create_client(
        "acm",
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id=SANDBOX_CREDENTIALS.access_key_id,
        aws_secret_access_key=SANDBOX_CREDENTIALS.secret_access_key,
    ) as acm:
        return [str((await acm.request_certificate(DomainName=d))["CertificateArn"]) for d in domains]
