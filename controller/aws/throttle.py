"""Client-side token buckets per AWS operation, configured in upstream's ``--aws-api-throttle`` format.

The format is ``serviceID:operationRegex=rate:burst`` entries joined by commas, for example
``Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=4:20,ec2:^Describe=20:100``. As
upstream does, the regex is searched (not anchored) in the operation name, every matching rule
applies (a call waits for each matching bucket), and the rules given for a service replace that
service's defaults while other services keep theirs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controller.aws.api import Service
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


# EC2 ("Request throttling for the Amazon EC2 API", EC2 developer guide): each API has its own
# bucket per account and Region. Non-mutating actions (Describe*): bucket 100, refill 20/s (the
# page's own worked example). Mutating actions: bucket 50, refill 5/s (the page's default table;
# not re-checked when this was written). The buckets are shared with every other client of the
# account, so our defaults take 80% of each. Buckets here are per rule, not per API, which only
# makes us more conservative.
# ELBv2: upstream LBC's documented defaults: Register/Deregister 4/s burst 20, Describe* 50/s
# burst 200, Modify* 3/s burst 20.
DEFAULT_THROTTLE_RULES: tuple[ThrottleRule, ...] = (
    ThrottleRule("ec2", "^Describe", rate=16, burst=80),
    ThrottleRule(
        "ec2",
        "^(Authorize|Revoke|CreateSecurityGroup$|DeleteSecurityGroup$|CreateTags$|DeleteTags$|Modify)",
        rate=4,
        burst=40,
    ),
    ThrottleRule("elbv2", "^(RegisterTargets|DeregisterTargets)$", rate=4, burst=20),
    ThrottleRule("elbv2", "^Describe", rate=50, burst=200),
    ThrottleRule("elbv2", "^Modify", rate=3, burst=20),
)


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
    """

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"bad bucket rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock.now()
        self._queue = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
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

    async def acquire(self) -> float:
        """Wait (in FIFO order) until a token is ours; return how long we waited."""
        started = self._clock.now()
        async with self._queue:
            while not self.try_take():
                await self._clock.sleep((1.0 - self._tokens) / self.rate)
        return self._clock.now() - started


class OperationThrottler:
    """Holds one bucket per rule and makes each call wait for every bucket its operation matches."""

    def __init__(self, config: ThrottleSettings, clock: Clock) -> None:
        self._config = config
        self._buckets = {rule: TokenBucket(rule.rate, rule.burst, clock) for rule in config.rules}
        self._clock = clock
        self._matches: dict[tuple[str, str], tuple[TokenBucket, ...]] = {}

    def buckets_for(self, service: str, operation: str) -> tuple[TokenBucket, ...]:
        key = (service, operation)
        found = self._matches.get(key)
        if found is None:
            found = tuple(self._buckets[rule] for rule in self._config.rules_for(service, operation))
            self._matches[key] = found
        return found

    async def wait(self, service: str, operation: str) -> float:
        """Take a token from every matching bucket (in rule order); return the total wait."""
        waited = 0.0
        for bucket in self.buckets_for(service, operation):
            waited += await bucket.acquire()
        return waited
