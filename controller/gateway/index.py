"""Who depends on what, so that an event re-queues only the Gateways it concerns.

Routes are indexed by the Gateways their ``parentRefs`` name (kept current by the route handlers);
each build records the Services and LoadBalancerConfigurations it read. A Service, route or
configuration event then costs a dictionary look-up, not a scan of every Gateway or route.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from framework.kube import Resource


class GatewayIndex:
    """Not thread-safe: one event loop."""

    def __init__(self) -> None:
        self._routes_of: defaultdict[str, set[tuple[Resource, str]]] = defaultdict(set)
        self._gateways_of_route: dict[tuple[Resource, str], frozenset[str]] = {}
        self._uses: dict[str, frozenset[str]] = {}
        self._users: defaultdict[str, set[str]] = defaultdict(set)
        self._attached: dict[str, frozenset[tuple[Resource, str]]] = {}

    # ----------------------------------------------------------------------------- routes

    def set_route(self, resource: Resource, route_key: str, gateway_keys: Iterable[str]) -> frozenset[str]:
        """Record the Gateways route ``route_key`` names now; returns those it named before or now."""
        entry = (resource, route_key)
        before = self._gateways_of_route.get(entry, frozenset())
        after = frozenset(gateway_keys)
        for gateway in before - after:
            self._routes_of[gateway].discard(entry)
            if not self._routes_of[gateway]:
                del self._routes_of[gateway]
        for gateway in after:
            self._routes_of[gateway].add(entry)
        if after:
            self._gateways_of_route[entry] = after
        else:
            self._gateways_of_route.pop(entry, None)
        return before | after

    def routes_of(self, gateway_key: str) -> frozenset[tuple[Resource, str]]:
        return frozenset(self._routes_of.get(gateway_key, ()))

    # ----------------------------------------------------------------------------- build inputs

    def set_uses(self, gateway_key: str, keys: Iterable[str]) -> None:
        """The objects (``Service:ns/name``, ``LoadBalancerConfiguration:ns/name``...) the last build read."""
        for key in self._uses.get(gateway_key, frozenset()):
            self._users[key].discard(gateway_key)
            if not self._users[key]:
                del self._users[key]
        uses = frozenset(keys)
        for key in uses:
            self._users[key].add(gateway_key)
        if uses:
            self._uses[gateway_key] = uses
        else:
            self._uses.pop(gateway_key, None)

    def users_of(self, key: str) -> frozenset[str]:
        return frozenset(self._users.get(key, ()))

    # ----------------------------------------------------------------------------- status memory

    def set_attached(
        self, gateway_key: str, routes: Iterable[tuple[Resource, str]]
    ) -> frozenset[tuple[Resource, str]]:
        """Record the routes whose status names the Gateway; returns those that no longer should."""
        before = self._attached.get(gateway_key, frozenset())
        after = frozenset(routes)
        if after:
            self._attached[gateway_key] = after
        else:
            self._attached.pop(gateway_key, None)
        return before - after

    def forget(self, gateway_key: str) -> None:
        self.set_uses(gateway_key, ())
        self._attached.pop(gateway_key, None)
