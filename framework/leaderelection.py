"""Lease-based leader election (coordination.k8s.io/v1), following client-go's leaderelection.

Why our own instead of ``kubernetes_asyncio.leaderelection``: every wait here runs on the
injected :class:`~framework.clock.Clock` (so tests run in virtual time) and every request has a
hard timeout of ``max(renew_deadline / 2, 1 s)`` (controller-runtime's cap), so one hung request
cannot eat the whole renew deadline and lose the lease.

Protocol (client-go ``tryAcquireOrRenew``):

* read the Lease (create it when missing);
* remember *when we observed* its current record, on our own clock: expiry is judged by
  ``observed_time + leaseDurationSeconds`` locally, never by comparing the holder's wall-clock
  ``renewTime`` with ours (that would depend on clock skew between machines);
* a lease held by someone else and not expired cannot be taken;
* otherwise write our record with PUT carrying the read ``resourceVersion``: the API server's
  optimistic concurrency (409 Conflict) makes sure only one candidate wins a race.

While leading, a renewal is attempted every ``retry_period``; if none succeeds within
``renew_deadline`` the lease is considered lost *before* it can expire for others
(``lease_duration > renew_deadline``), ``on_stopped_leading`` fires at once and :meth:`run`
returns. :meth:`release` gives the lease up early on clean shutdown (empty holder,
``leaseDurationSeconds=1``), so a successor does not wait for the full lease duration.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.kube import LEASES, KubeApiError, KubeClient, KubeError, KubeObject
from framework.objects import meta_of

logger = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
"""client-go's ``JitterFactor``: retries wait ``retry_period * (1 + U[0, 1.2))`` while not leading."""


def default_identity() -> str:
    """``hostname_uuid``, as controller-runtime: unique even for two processes on one host."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True, slots=True)
class LeaderElectionSettings:
    lease_name: str
    lease_namespace: str
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    """How long a non-leader waits after the last observed change before taking over."""
    renew_deadline: float = 10.0
    """How long the leader keeps retrying a renewal before giving up leadership."""
    retry_period: float = 2.0
    """Pause between attempts (acquire or renew)."""
    release_on_cancel: bool = False
    """Give the lease up on clean shutdown so a successor takes over at once."""

    def __post_init__(self) -> None:
        if not self.lease_name or not self.lease_namespace or not self.identity:
            raise ValueError("lease name, lease namespace and identity are required")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")
        if self.lease_duration < 1:
            raise ValueError("lease_duration must be at least 1 s (leaseDurationSeconds is an integer)")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than {JITTER_FACTOR} * retry_period")

    @property
    def request_timeout(self) -> float:
        """Bound for one Lease request: max(renew_deadline / 2, 1 s)."""
        return max(self.renew_deadline / 2, 1.0)

    @property
    def lease_duration_seconds(self) -> int:
        return math.ceil(self.lease_duration)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    holder_identity: str
    lease_duration_seconds: int
    acquire_time: str | None
    renew_time: str | None
    lease_transitions: int

    @classmethod
    def from_lease(cls, lease: KubeObject) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.lease_transitions,
        }


def micro_time(moment: datetime) -> str:
    """Kubernetes ``MicroTime``: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now() -> datetime:
    return datetime.now(UTC)


Callback = Callable[[], Awaitable[None] | None]
StatusReporter = Callable[[str, bool], None]
"""Called with (lease name, is_leader) on every change; feeds ``leader_election_master_status``."""


class LeaderElector:
    """Runs one candidate. :meth:`run` returns when leadership is lost; cancel it to stop."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionSettings,
        *,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        report_status: StatusReporter | None = None,
        clock: Clock = REAL_CLOCK,
        wall_clock: Callable[[], datetime] = _utc_now,
        rng: random.Random | None = None,
    ):
        self._client = client
        self.config = config
        self._on_started_leading = on_started_leading
        self._on_stopped_leading = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._report_status = report_status
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._observed_lease: KubeObject | None = None
        self._observed_record: LeaseRecord | None = None
        self._observed_time = 0.0
        self._is_leader = False
        self._last_reported_leader = ""
        if report_status is not None:
            report_status(config.lease_name, False)

    # --- state -----------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @property
    def observed_leader(self) -> str:
        """The holder of the last lease record we read or wrote ("" if none)."""
        return self._observed_record.holder_identity if self._observed_record else ""

    def check_health(self, tolerance: float = 20.0) -> str | None:
        """client-go's HealthzAdaptor: unhealthy only when we think we lead but have not renewed for
        ``lease_duration + tolerance`` (a stuck renew loop). Returns an error message or None."""
        if not self._is_leader:
            return None
        overdue = self._clock.now() - self._observed_time - self.config.lease_duration
        if overdue > tolerance:
            return f"failed to renew lease {self.config.lease_namespace}/{self.config.lease_name}: {overdue:.0f}s overdue"
        return None

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Acquire, lead (calling ``on_started_leading``), renew; return once leadership is lost.

        ``on_started_leading`` must return promptly (start work as tasks): renewals wait for it.
        """
        await self._acquire()
        try:
            await self._invoke(self._on_started_leading)
            await self._renew_until_lost()
        finally:
            # Also on cancellation (client-go calls OnStoppedLeading whenever Run ends).
            self._set_leader(False)
            await self._invoke(self._on_stopped_leading)

    async def release(self) -> bool:
        """Give up a lease we hold (empty holder, 1 s duration). True if it was released.

        A renewal cancelled mid-flight may still have been applied by the server, leaving us one
        resourceVersion behind: on a conflict the lease is read again and, if we still hold it,
        released at the fresh version, so a successor does not wait for the full lease duration.
        """
        lease, record = self._observed_lease, self._observed_record
        if lease is None or record is None or record.holder_identity != self.identity:
            return False
        try:
            async with timeout_after(self._clock, self.config.request_timeout):
                try:
                    await self._write(lease, self._released(record))
                except KubeApiError as error:
                    if not error.is_conflict:
                        raise
                    fresh = await self._client.get(
                        LEASES,
                        self.config.lease_name,
                        self.config.lease_namespace,
                        request_timeout=self.config.request_timeout,
                    )
                    record = LeaseRecord.from_lease(fresh)
                    if record.holder_identity != self.identity:
                        self._set_leader(False)
                        return False
                    await self._write(fresh, self._released(record))
        except (KubeError, TimeoutError) as error:
            logger.warning("failed to release lease %s: %s", self.config.lease_name, error)
            return False
        self._set_leader(False)
        logger.info("released lease %s/%s", self.config.lease_namespace, self.config.lease_name)
        return True

    def _released(self, record: LeaseRecord) -> LeaseRecord:
        now = micro_time(self._wall_clock())
        return LeaseRecord("", 1, now, now, record.lease_transitions)

    async def _acquire(self) -> None:
        config = self.config
        logger.info("attempting to acquire leader lease %s/%s", config.lease_namespace, config.lease_name)
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(config.retry_period * (1.0 + JITTER_FACTOR * self._rng.random()))
        logger.info(
            "successfully acquired lease %s/%s as %s",
            config.lease_namespace,
            config.lease_name,
            self.identity,
        )

    async def _renew_until_lost(self) -> None:
        config = self.config
        clock = self._clock
        while True:
            await clock.sleep(config.retry_period)
            deadline = clock.now() + config.renew_deadline
            while not await self._try_acquire_or_renew(deadline):
                remaining = deadline - clock.now()
                if remaining <= 0:
                    logger.error(
                        "failed to renew lease %s/%s within %.1fs: leadership lost",
                        config.lease_namespace,
                        config.lease_name,
                        config.renew_deadline,
                    )
                    return
                await clock.sleep(min(config.retry_period, remaining))
            if not self._is_leader:
                return  # someone else holds it now (we were too slow): lost

    # --- one attempt -----------------------------------------------------------------------------

    async def _try_acquire_or_renew(self, deadline: float | None = None) -> bool:
        timeout = self.config.request_timeout
        if deadline is not None:
            timeout = min(timeout, deadline - self._clock.now())
            if timeout <= 0:
                return False
        try:
            async with timeout_after(self._clock, timeout):
                return await self._attempt(timeout)
        except TimeoutError:
            logger.warning("lease %s request timed out after %.1fs", self.config.lease_name, timeout)
            return False
        except KubeError as error:
            logger.warning("lease %s request failed: %s", self.config.lease_name, error)
            return False
        except Exception:
            # A malformed Lease or a bug: a failed attempt, not a dead elector (the renew deadline
            # still bounds how long a leader can go on without a successful renewal).
            logger.exception("lease %s attempt failed unexpectedly", self.config.lease_name)
            return False

    async def _attempt(self, request_timeout: float) -> bool:
        config = self.config
        now = micro_time(self._wall_clock())
        # Fast path: we lead and know the current version; renew without reading first.
        if self._is_leader and self._observed_lease is not None and self._observed_record is not None:
            renewed = LeaseRecord(
                self.identity,
                config.lease_duration_seconds,
                self._observed_record.acquire_time,
                now,
                self._observed_record.lease_transitions,
            )
            try:
                await self._write(self._observed_lease, renewed, request_timeout)
                return True
            except KubeApiError as error:
                if not error.is_conflict:
                    raise
                # Someone wrote the lease behind our back: re-read and decide on the slow path.

        try:
            lease = await self._client.get(
                LEASES, config.lease_name, config.lease_namespace, request_timeout=request_timeout
            )
        except KubeApiError as error:
            if not error.is_not_found:
                raise
            record = LeaseRecord(self.identity, config.lease_duration_seconds, now, now, 0)
            body = {
                "apiVersion": LEASES.api_version,
                "kind": LEASES.kind,
                "metadata": {"name": config.lease_name, "namespace": config.lease_namespace},
                "spec": record.to_spec(),
            }
            try:
                created = await self._client.create(
                    LEASES, body, config.lease_namespace, request_timeout=request_timeout
                )
            except KubeApiError as create_error:
                if create_error.is_conflict:
                    return False  # another candidate created it first
                raise
            self._observe(created)
            self._set_leader(True)
            return True

        record = self._observe(lease)
        if (
            record.holder_identity
            and record.holder_identity != self.identity
            and self._observed_time + record.lease_duration_seconds > self._clock.now()
        ):
            self._set_leader(False)
            return False

        if record.holder_identity == self.identity:
            acquire_time, transitions = record.acquire_time, record.lease_transitions
        else:
            acquire_time, transitions = now, record.lease_transitions + 1
        ours = LeaseRecord(self.identity, config.lease_duration_seconds, acquire_time, now, transitions)
        try:
            await self._write(lease, ours, request_timeout)
        except KubeApiError as error:
            if error.is_conflict:
                return False  # lost the race for this version
            raise
        return True

    async def _write(
        self, lease: KubeObject, record: LeaseRecord, request_timeout: float | None = None
    ) -> None:
        metadata = meta_of(lease)
        body = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {
                "name": metadata.get("name", self.config.lease_name),
                "namespace": metadata.get("namespace", self.config.lease_namespace),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "spec": record.to_spec(),
        }
        written = await self._client.replace(
            LEASES,
            self.config.lease_name,
            body,
            self.config.lease_namespace,
            request_timeout=request_timeout or self.config.request_timeout,
        )
        self._observe(written)
        self._set_leader(record.holder_identity == self.identity)

    def _observe(self, lease: KubeObject) -> LeaseRecord:
        record = LeaseRecord.from_lease(lease)
        if record != self._observed_record:
            self._observed_record = record
            self._observed_time = self._clock.now()
            if record.holder_identity != self._last_reported_leader:
                self._last_reported_leader = record.holder_identity
                if record.holder_identity:
                    logger.info("new leader for %s: %s", self.config.lease_name, record.holder_identity)
                if self._on_new_leader is not None and record.holder_identity:
                    self._on_new_leader(record.holder_identity)
        self._observed_lease = lease
        return record

    def _set_leader(self, is_leader: bool) -> None:
        if is_leader != self._is_leader:
            self._is_leader = is_leader
            if self._report_status is not None:
                self._report_status(self.config.lease_name, is_leader)

    async def _invoke(self, callback: Callback | None) -> None:
        if callback is None:
            return
        result = callback()
        if inspect.isawaitable(result):
            await result
