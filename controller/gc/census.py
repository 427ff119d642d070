"""The leak counts as metrics of the running controller, computed once per sync period.

``LeakCensus`` is a ``ResyncRefresher`` registered after the ELBv2 index: the periodic resync
first rescans the index (it already lists every LB and target group of the VPC with its tags), then
calls ``refresh`` here, which adds one paged DescribeSecurityGroups of the VPC (plus a look-up of
rule sources outside it, only when there are any) and compares with the live objects in the
informer caches. Nothing per reconcile; nothing when the index scan failed (the gauges keep the
last period's values rather than report everything as leaked from an empty index).

* ``awslbc_leaked_security_groups``: managed SGs of stacks no live object owns, and the backend
  SG when no load balancer uses it;
* ``awslbc_leaked_load_balancers``, ``awslbc_leaked_target_groups``: tagged for this cluster,
  stack owned by no live object;
* ``awslbc_leaked_rules``: labelled rules whose source SG is gone or that no binding names.

``aws-lb-sg-controller gc`` reports the same resources one by one (and removes them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.deploy.elbv2_index import Elbv2Index
from controller.gc.finder import LeakReport, find_leaks
from controller.gc.inventory import read_inventory
from controller.gc.owners import LiveOwners
from controller.networking.sg_reader import SecurityGroupReader

_log = logging.getLogger(__name__)


class LeakMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, text: str) -> Gauge:
            return Gauge(name, text, registry=registry)

        self.security_groups = gauge(
            "awslbc_leaked_security_groups",
            "Security groups tagged for this cluster that no live object owns, as of the last sync period.",
        )
        self.load_balancers = gauge(
            "awslbc_leaked_load_balancers",
            "Load balancers tagged for this cluster that no live object owns, as of the last sync period.",
        )
        self.target_groups = gauge(
            "awslbc_leaked_target_groups",
            "Target groups tagged for this cluster that no live object owns, as of the last sync period.",
        )
        self.rules = gauge(
            "awslbc_leaked_rules",
            "Labelled endpoint security group rules that no live TargetGroupBinding needs, "
            "as of the last sync period.",
        )

    def record(self, report: LeakReport) -> None:
        self.security_groups.set(len(report.security_groups))
        self.load_balancers.set(len(report.load_balancers))
        self.target_groups.set(len(report.target_groups))
        self.rules.set(len(report.rules))


class LeakCensus:
    """See the module docstring. ``owners`` reads the informer caches when called."""

    def __init__(
        self,
        *,
        api: AwsApi,
        reader: SecurityGroupReader,
        index: Elbv2Index,
        owners: Callable[[], LiveOwners],
        cluster_name: str,
        vpc_id: str,
        registry: CollectorRegistry,
        custom_backend_sg: str = "",
    ) -> None:
        self._ec2 = Ec2(api)
        self._reader = reader
        self._index = index
        self._owners = owners
        self._cluster_name = cluster_name
        self._vpc_id = vpc_id
        self._custom_backend_sg = custom_backend_sg
        self.metrics = LeakMetrics(registry)
        self.last_report: LeakReport | None = None

    async def refresh(self) -> None:
        if not self._index.loaded:
            _log.info("Leak census skipped: the ELBv2 index has not been scanned")
            return
        inventory = await read_inventory(
            self._ec2,
            self._reader,
            vpc_id=self._vpc_id,
            load_balancers=self._index.all_load_balancers(),
            target_groups=self._index.all_target_groups(),
        )
        # Owners are read after AWS: what a new object's reconcile created during the read has
        # its owner in the cache by now, so it is not counted as leaked.
        report = find_leaks(
            inventory,
            self._owners(),
            cluster_name=self._cluster_name,
            custom_backend_sg=self._custom_backend_sg,
        )
        self.metrics.record(report)
        self.last_report = report
        if not report.is_empty:
            _log.info("Leaked resources (see `aws-lb-sg-controller gc`): %s", report.counts())
