"""``ssl-redirect``: the group's HTTP listeners redirect to one HTTPS listener (upstream
``buildSSLRedirectConfig``).

Each member's port comes from its IngressClassParams ``spec.sslRedirectPort`` if set, else from its
annotation; members that set one must agree; the port must be one of the group's listeners and that
listener must be HTTPS. Upstream silently ignores an IngressClassParams port that is not a number;
here it is reported like any other bad value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from controller.annotations import (
    ING_SSL_REDIRECT,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    ObjectRef,
    parse_int,
)
from controller.ingress.class_matcher import ClassifiedIngress
from controller.ingress.settings import ListenPortSpec
from controller.model.load_balancer import RedirectAction

HTTPS: Final = "HTTPS"
SSL_REDIRECT_STATUS_CODE: Final = "HTTP_301"
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def merge_ssl_redirect(
    members: Sequence[ClassifiedIngress], ports: Mapping[int, ListenPortSpec]
) -> RedirectAction | None:
    """The redirect every HTTP listener of the group gets as its default action (and then no rules)."""
    found: list[tuple[ObjectRef, str, str, int]] = []
    for member in members:
        from_params = member.params_spec.get("sslRedirectPort")
        if from_params:
            ref, key, raw = member.params_ref, "spec.sslRedirectPort", str(from_params)
        elif ING_SSL_REDIRECT in member.annotations:
            ref, key, raw = member.ref, ING_SSL_REDIRECT, member.annotations[ING_SSL_REDIRECT]
        else:
            continue
        found.append((ref, key, raw, parse_int(ref, key, raw, _INT32_MIN, _INT32_MAX)))
    if not found:
        return None
    distinct = sorted({port for *_, port in found})
    if len(distinct) > 1:
        firsts = [next(f for f in found if f[3] == port) for port in distinct]
        raise ConflictingGroupSettingError(
            "sslRedirect port", ING_SSL_REDIRECT, [(ref, raw) for ref, _, raw, _ in firsts]
        )
    ref, key, raw, port = found[0]
    listener = ports.get(port)
    if listener is None:
        raise InvalidAnnotationError(ref, key, raw, f"listener does not exist for SSLRedirect port: {port}")
    if listener.protocol != HTTPS:
        raise InvalidAnnotationError(ref, key, raw, f"listener protocol non-SSL for SSLRedirect port: {port}")
    return RedirectAction(status_code=SSL_REDIRECT_STATUS_CODE, protocol=HTTPS, port=str(port))
