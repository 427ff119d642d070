"""Errors raised by the SG engine."""

from __future__ import annotations

from typing import Final

from controller.aws.ec2 import DESCRIBE_SECURITY_GROUPS
from controller.aws.errors import AwsApiError

INVALID_GROUP_NOT_FOUND: Final = "InvalidGroup.NotFound"
INVALID_PERMISSION_DUPLICATE: Final = "InvalidPermission.Duplicate"
INVALID_PERMISSION_NOT_FOUND: Final = "InvalidPermission.NotFound"
RULES_PER_SG_LIMIT_EXCEEDED: Final = "RulesPerSecurityGroupLimitExceeded"
DEPENDENCY_VIOLATION: Final = "DependencyViolation"


class SecurityGroupNotFoundError(AwsApiError):
    """The SG does not exist (any more). Carries AWS's code so callers can treat it like AWS's own
    ``InvalidGroup.NotFound`` (e.g. GC untracks the SG)."""

    def __init__(self, group_id: str) -> None:
        super().__init__(
            service="ec2",
            operation=DESCRIBE_SECURITY_GROUPS,
            code=INVALID_GROUP_NOT_FOUND,
            message=f"The security group '{group_id}' does not exist",
        )
        self.group_id = group_id


class SecurityGroupLookupError(Exception):
    """Custom SGs named in an annotation could not all be resolved (upstream's message format)."""
