"""Client-side token buckets per AWS operation, configured in upstream's ``--aws-api-throttle`` format.

The format is ``serviceID:operationRegex=rate:burst`` entries joined by commas, for example
``Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=4:20,ec2:^Describe=20:100``. As
upstream does, the regex is searched (not anchored) in the operation name, every matching rule
applies (a call waits for each matching bucket), and the rules given for a service replace that
service's defaults while other services keep theirs.

Two things differ from upstream, where a rule is one bucket shared by every operation it matches:
a rule's rate and burst apply to each matching operation separately (AWS keeps one bucket per
API, so sharing only slows us down), and a throttling error from AWS lowers that operation's rate
for a while (``AdaptiveRatePolicy``), as the AWS SDKs' adaptive retry mode does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from controller.aws.api import Service
from controller.aws.aws_limits import AWS_API_LIMITS, CLIENT_SHARE_OF_AWS_LIMITS
from framework.clock import Clock

# Service names accepted in the flag, lower-cased. Upstream uses the SDK's service IDs ("EC2",
# "Elastic Load Balancing v2"); we also accept the boto client names and signing names.
_SERVICE_ALIASES: Mapping[str, Service] = {
    "ec2": "ec2",
    "elbv2": "elbv2",
    "elastic load balancing v2": "elbv2",
    "elasticloadbalancing": "elbv2",
    "elasticloadbalancingv2": "elbv2",
}


def normalize_service(name: str) -> str:
    """Map any accepted spelling to ``ec2``/``elbv2``; other services (WAF, ...) keep their lower-cased id.

    Unknown services are accepted, not rejected, so users can migrate an upstream flag value that
    also throttles services this controller never calls.
    """
    key = name.strip().lower()
    return _SERVICE_ALIASES.get(key, key)


@dataclass(frozen=True)
class ThrottleRule:
    """One ``service:operationRegex=rate:burst`` entry."""

    service: str
    operation_pattern: str
    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"throttle rate must be > 0, got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"throttle burst must be >= 1, got {self.burst}")
        re.compile(self.operation_pattern)

    def matches(self, service: str, operation: str) -> bool:
        return service == self.service and re.search(self.operation_pattern, operation) is not None

    def render(self) -> str:
        return f"{self.service}:{self.operation_pattern}={self.rate:g}:{self.burst}"


def _default_rules() -> tuple[ThrottleRule, ...]:
    rules = []
    for limit in AWS_API_LIMITS:
        rate, burst = limit.share(CLIENT_SHARE_OF_AWS_LIMITS)
        rules.append(ThrottleRule(limit.service, limit.pattern, rate=rate, burst=burst))
    return tuple(rules)


# AWS's per-API buckets (controller/aws/aws_limits.py) at CLIENT_SHARE_OF_AWS_LIMITS: the rest of
# each bucket is left to the account's other clients. Each rule gives every operation it matches
# a bucket of its own, and no two default rules match the same operation.
DEFAULT_THROTTLE_RULES: tuple[ThrottleRule, ...] = _default_rules()


@dataclass(frozen=True)
class ThrottleSettings:
    """The full set of client-side throttle rules."""

    rules: tuple[ThrottleRule, ...] = field(default=DEFAULT_THROTTLE_RULES)

    @classmethod
    def parse(cls, text: str, defaults: Iterable[ThrottleRule] = DEFAULT_THROTTLE_RULES) -> ThrottleSettings:
        """Parse a flag value; services named in it replace their defaults, others keep them."""
        given = parse_throttle_rules(text)
        overridden = {rule.service for rule in given}
        kept = tuple(rule for rule in defaults if rule.service not in overridden)
        return cls(rules=kept + given)

    def rules_for(self, service: str, operation: str) -> tuple[ThrottleRule, ...]:
        return tuple(rule for rule in self.rules if rule.matches(service, operation))

    def render(self) -> str:
        return ",".join(rule.render() for rule in self.rules)


def parse_throttle_rules(text: str) -> tuple[ThrottleRule, ...]:
    """Parse ``service:opRegex=rate:burst,...``; raise ``ValueError`` naming the bad entry."""
    rules: list[ThrottleRule] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        left, eq, right = entry.rpartition("=")
        service, colon, pattern = left.partition(":")
        rate_text, colon2, burst_text = right.partition(":")
        if not (eq and colon and colon2 and service.strip() and pattern):
            raise ValueError(f"invalid throttle entry {entry!r}: want serviceID:operationRegex=rate:burst")
        try:
            rate = float(rate_text)
            burst = int(burst_text)
        except ValueError as err:
            raise ValueError(f"invalid throttle entry {entry!r}: rate and burst must be numbers") from err
        try:
            rules.append(ThrottleRule(normalize_service(service), pattern, rate=rate, burst=burst))
        except re.error as err:
            raise ValueError(f"invalid throttle entry {entry!r}: bad regex: {err}") from err
    return tuple(rules)


_EPSILON = 1e-9


class TokenBucket:
    """A token bucket with FIFO waiters.

    A waiter takes its token only when the bucket really holds one at the moment it wakes up.
    (Pre-reserving a schedule, as Go's ``rate.Limiter`` does, lets every caller whose slot passed
    during an event-loop stall fire at once; here a stall can release at most ``burst`` calls, so
    a server enforcing the same bucket never sees more than it allows.)

    ``scale``, when given, is read at every refill and multiplies ``rate``: the adaptive throttle
    lowers an operation's refill rate through it without touching the configured one.
    """

    def __init__(
        self, rate: float, burst: int, clock: Clock, scale: Callable[[], float] | None = None
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"bad bucket rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._scale = scale
        self._tokens = float(burst)
        self._updated = clock.now()
        self._queue = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order

    @property
    def current_rate(self) -> float:
        """The refill rate now: ``rate`` times the adaptive scale."""
        return self.rate if self._scale is None else self.rate * self._scale()

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.current_rate)
            self._updated = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def try_take(self) -> bool:
        """Take one token only if one is available now (what a server enforcing a limit does)."""
        self._refill()
        # The tolerance absorbs float rounding: after sleeping exactly the computed wait, the
        # refill can land a hair under 1.0, and a sleep of 1e-17 s would not move a clock at 1e3.
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens -= 1.0
            return True
        return False

    def drain(self) -> None:
        """Drop the saved tokens: the server just said its own bucket is empty."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)

    async def acquire(self) -> float:
        """Wait (in FIFO order) until a token is ours; return how long we waited."""
        started = self._clock.now()
        async with self._queue:
            while not self.try_take():
                await self._clock.sleep((1.0 - self._tokens) / self.current_rate)
        return self._clock.now() - started


@dataclass(frozen=True)
class AdaptiveRatePolicy:
    """How an operation's rate reacts to throttling errors, as the AWS SDKs' adaptive retry mode does.

    A throttling error multiplies the operation's rate by ``decrease`` (never below
    ``min_fraction`` of the configured rate), at most once per ``cooldown`` seconds: the requests
    already in flight when AWS said no were all sent at the old rate, and each of their errors must
    not halve the rate again. The rate then climbs back linearly, ``recovery_per_second`` of the
    configured rate each second (from half the rate: 20 s; from the floor: 38 s). AWS's bucket
    refills at its own constant rate, so a slow linear climb finds the rate other clients leave
    us without oscillating.
    """

    decrease: float = 0.5
    min_fraction: float = 0.05
    recovery_per_second: float = 0.025
    cooldown: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {self.decrease}")
        if not 0 < self.min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {self.min_fraction}")
        if self.recovery_per_second <= 0 or self.cooldown < 0:
            raise ValueError("recovery_per_second must be > 0 and cooldown >= 0")


class OperationLimiter:
    """The buckets of one operation (one per matching rule) and its adaptive rate fraction."""

    def __init__(self, rules: tuple[ThrottleRule, ...], clock: Clock, policy: AdaptiveRatePolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._dropped_to = 1.0
        self._dropped_at: float | None = None  # None: running at the configured rate
        self.buckets = tuple(TokenBucket(rule.rate, rule.burst, clock, scale=self.fraction) for rule in rules)

    def fraction(self) -> float:
        """The share of the configured rate allowed now (1.0 unless recently throttled)."""
        if self._dropped_at is None:
            return 1.0
        recovered = (
            self._dropped_to + (self._clock.now() - self._dropped_at) * self._policy.recovery_per_second
        )
        if recovered >= 1.0:
            self._dropped_at = None
            return 1.0
        return recovered

    @property
    def rate(self) -> float | None:
        """The tightest current refill rate among the buckets; ``None`` if no rule matches."""
        return min((bucket.current_rate for bucket in self.buckets), default=None)

    async def acquire(self) -> float:
        """Take a token from every bucket (in rule order); return the total wait."""
        waited = 0.0
        for bucket in self.buckets:
            waited += await bucket.acquire()
        return waited

    def throttled(self) -> None:
        """AWS answered with a throttling error: lower the rate and drop the saved burst."""
        now = self._clock.now()
        if self._dropped_at is not None and now - self._dropped_at < self._policy.cooldown:
            return
        current = self.fraction()
        self._dropped_to = max(self._policy.min_fraction, current * self._policy.decrease)
        self._dropped_at = now
        for bucket in self.buckets:
            bucket.drain()


class OperationThrottler:
    """One ``OperationLimiter`` per (service, operation), created on first use.

    A rule's rate and burst apply to each operation it matches separately, as AWS keeps one bucket
    per API: ``ec2:^Create=4:40`` lets CreateTags and CreateSecurityGroup each make 4 calls a
    second. An operation no rule matches is never paced, and so not adapted either.
    """

    def __init__(
        self, settings: ThrottleSettings, clock: Clock, policy: AdaptiveRatePolicy | None = None
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._policy = policy or AdaptiveRatePolicy()
        self._limiters: dict[tuple[str, str], OperationLimiter] = {}

    def limiter_for(self, service: str, operation: str) -> OperationLimiter:
        key = (service, operation)
        limiter = self._limiters.get(key)
        if limiter is None:
            rules = self._settings.rules_for(service, operation)
            limiter = self._limiters[key] = OperationLimiter(rules, self._clock, self._policy)
        return limiter

    def buckets_for(self, service: str, operation: str) -> tuple[TokenBucket, ...]:
        return self.limiter_for(service, operation).buckets

    async def wait(self, service: str, operation: str) -> float:
        """Take a token from every bucket of the operation (in rule order); return the total wait."""
        return await self.limiter_for(service, operation).acquire()

    def throttled(self, service: str, operation: str) -> None:
        """Record a throttling error for the operation (lowers its rate; see ``AdaptiveRatePolicy``)."""
        self.limiter_for(service, operation).throttled()

    def current_rate(self, service: str, operation: str) -> float | None:
        return self.limiter_for(service, operation).rate
