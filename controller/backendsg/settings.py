"""Settings of the shared backend SG (``--enable-backend-security-group``, ``--backend-security-group``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from controller.config import ConfigError, ControllerSettings


@dataclass(frozen=True)
class BackendSGSettings:
    cluster_name: str
    vpc_id: str
    enabled: bool = True
    custom_group_id: str = ""
    """``--backend-security-group``: used as given, never created, tagged or deleted."""
    default_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    delete_retry_base_seconds: float = 2.0
    """First wait after a DependencyViolation (upstream retries every 2 s); doubles per failure."""
    delete_retry_max_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.custom_group_id and not self.custom_group_id.startswith("sg-"):
            raise ConfigError(
                f"invalid value {self.custom_group_id!r} for --backend-security-group: must start with sg-"
            )
        if not self.cluster_name:
            raise ConfigError("the backend security group needs a cluster name")

    @property
    def is_custom(self) -> bool:
        return bool(self.custom_group_id)

    @classmethod
    def from_config(cls, config: ControllerSettings, vpc_id: str) -> BackendSGSettings:
        return cls(
            cluster_name=config.cluster_name,
            vpc_id=vpc_id,
            enabled=config.enable_backend_security_group,
            custom_group_id=config.backend_security_group,
            default_tags=MappingProxyType(dict(config.default_tags)),
        )
