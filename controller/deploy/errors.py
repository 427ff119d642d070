"""Typed outcomes of a deploy that did not (yet) converge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from controller.deploy.result import DeployResult

DEFAULT_REQUEUE_AFTER_SECONDS: Final = 10.0
"""Upstream polls a stuck SG deletion every 2 s for 10 s inside the worker; we hand the wait back
to the work queue instead (design.md Difference 6) and suggest looking again after this long."""


class DeployError(Exception):
    """A deploy failed for a reason that is not an AWS API error (those stay ``AwsApiError``)."""


class UnexpectedResourceError(DeployError):
    """A resource carries the stack's tracking tags but no ``<prefix>/resource`` tag, so we cannot
    tell what it is for (upstream: "unexpected ... with no resourceID"); nothing is changed."""


class SubnetResolutionError(DeployError):
    """The load balancer's subnets could not be resolved (unknown id/name, or none discovered)."""


class DeploymentPending(DeployError):
    """Everything that could be done was done, but a deletion is blocked for now (an SG still in
    use, a target group still referenced). The caller requeues the key after ``requeue_after``
    seconds (or with its rate limiter's backoff) and never sleeps in the worker.

    ``result`` is the deploy's result when the stack itself converged and only the clean-up of
    resources it no longer needs is pending: the caller may apply ``result.tgb_specs`` before
    requeueing. It is None for ``delete_stack``.
    """

    def __init__(self, reason: str, *, requeue_after: float, result: DeployResult | None = None) -> None:
        super().__init__(f"{reason}; retrying in {requeue_after:g}s")
        self.reason = reason
        self.requeue_after = requeue_after
        self.result = result
