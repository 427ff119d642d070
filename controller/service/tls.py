"""Which NLB listeners of a Service terminate TLS, with which certificates and policies.

Upstream's rules: a listener is TLS when the Service names at least one certificate
(``ssl-cert``) and the port is listed in ``ssl-ports`` (by number or name; no annotation means
every port). UDP and TCP_UDP listeners never are. Without a certificate, ``ssl-ports`` changes
nothing (the listeners stay TCP; we add a model warning saying so, where upstream is silent), but a
listed port the Service does not have is an error even then, and ``*`` is no wildcard (it matches no port, so it is such an error too). The target group
speaks TLS only with ``backend-protocol: ssl``. The ALPN policy is read, and checked, only for a
TLS listener.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import (
    SVC_ALPN_POLICY,
    SVC_BACKEND_PROTOCOL,
    SVC_SSL_CERT,
    SVC_SSL_NEGOTIATION_POLICY,
    SVC_SSL_PORTS,
    InvalidAnnotationError,
    ObjectRef,
    parse_string_list,
)
from controller.model.service_ports import service_ports

ALPN_POLICIES: Final = ("None", "HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred")
"""In the order upstream's error message lists them."""
BACKEND_PROTOCOL_SSL: Final = "ssl"
_NEVER_TLS: Final = frozenset({"UDP", "TCP_UDP"})


@dataclass(frozen=True)
class ListenerTls:
    """One listener's protocols and, for a TLS listener, its TLS settings."""

    listener_protocol: str
    target_protocol: str
    certificate_arns: tuple[str, ...] = ()
    ssl_policy: str | None = None
    alpn_policy: str | None = None


@dataclass(frozen=True)
class TlsSettings:
    """The Service's TLS annotations, read (and ``ssl-ports`` checked) once per build."""

    ref: ObjectRef
    certificate_arns: tuple[str, ...]
    ports: frozenset[str]
    """Port numbers (as text) and names; empty: every port."""
    ssl_policy: str
    backend_protocol: str
    raw_alpn_policy: str | None
    raw_ports: str | None = None

    def warnings(self) -> tuple[str, ...]:
        """``ssl-ports`` without a certificate does nothing (upstream says nothing): say so once."""
        if self.raw_ports is None or self.certificate_arns:
            return ()
        return (
            f"{self.ref}: {SVC_SSL_PORTS}={self.raw_ports!r} has no effect without {SVC_SSL_CERT}: "
            "the listeners stay TCP",
        )

    def for_port(self, number: int, name: str, protocol: str) -> ListenerTls:
        """``protocol``: the listener's protocol without TLS (TCP, UDP or TCP_UDP)."""
        listed = not self.ports or name in self.ports or str(number) in self.ports
        if protocol in _NEVER_TLS or not self.certificate_arns or not listed:
            return ListenerTls(protocol, protocol)
        target = "TLS" if self.backend_protocol == BACKEND_PROTOCOL_SSL else protocol
        return ListenerTls(
            listener_protocol="TLS",
            target_protocol=target,
            certificate_arns=self.certificate_arns,
            ssl_policy=self.ssl_policy,
            alpn_policy=self._alpn_policy(),
        )

    def _alpn_policy(self) -> str | None:
        raw = self.raw_alpn_policy
        if raw is None:
            return None
        if raw not in ALPN_POLICIES:
            raise InvalidAnnotationError(
                self.ref,
                SVC_ALPN_POLICY,
                raw,
                f"invalid ALPN policy {raw}, policy must be one of [{', '.join(ALPN_POLICIES)}]",
            )
        return raw


def tls_settings(
    service: Mapping[str, Any], ref: ObjectRef, annotations: Mapping[str, str], default_ssl_policy: str
) -> TlsSettings:
    raw_ports = annotations.get(SVC_SSL_PORTS)
    ports = parse_string_list(raw_ports or "")
    known = {str(p.get("name") or "") for p in service_ports(service)} | {
        str(p.get("port")) for p in service_ports(service)
    }
    unused = [port for port in ports if port not in known]
    if unused:
        # Upstream prints the list the way Go prints a slice: "[85 arbitrary-name]".
        raise InvalidAnnotationError(
            ref, SVC_SSL_PORTS, raw_ports or "", f"Unused port in ssl-ports annotation [{' '.join(unused)}]"
        )
    return TlsSettings(
        ref=ref,
        certificate_arns=parse_string_list(annotations.get(SVC_SSL_CERT, "")),
        ports=frozenset(ports),
        ssl_policy=annotations.get(SVC_SSL_NEGOTIATION_POLICY, default_ssl_policy),
        backend_protocol=annotations.get(SVC_BACKEND_PROTOCOL, ""),
        raw_alpn_policy=annotations.get(SVC_ALPN_POLICY),
        raw_ports=raw_ports,
    )
