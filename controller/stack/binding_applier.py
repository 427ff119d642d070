"""``TargetGroupBindingApplier``: make a stack's TargetGroupBinding objects equal to the rendered ones.

A stack's TGBs are found by upstream's tracking labels (``<prefix>/stack-namespace`` +
``<prefix>/stack-name``, or ``<prefix>/stack`` for an explicit group) in the shared TGB informer's
cache (``binding_cache``), indexed by those labels: no request to the API server on a reconcile
that changes nothing. The cache may not show yet a write this applier just made; until it does, the
stack's TGBs are read live with the label-selected LIST (``unseen_writes`` says when and why), so a
reconcile right after another never re-creates, re-updates with a stale resourceVersion, or keeps
what the previous one changed. A missed extra would keep registering targets into a deleted group.

Writes by others (the TGB controller's finalizer and status, a user's edit) may also be newer than
the cache: an update refused with 409 Conflict is retried once on the object read again.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from controller.deploy.bindings import stack_labels
from controller.naming import StackTags
from controller.stack.seams import TargetGroupBindingCache
from controller.stack.unseen_writes import UnseenWrites
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework import objects
from framework.kube import KubeApiError, KubeClient, KubeObject
from framework.objects import meta_of, namespace_of, object_key

_log = logging.getLogger(__name__)
T = TypeVar("T")
Outcome = Literal["created", "updated", "pending"]

TGB_REPLACE_REQUEUE_SECONDS: Final = 2.0
"""A TGB whose target group ARN changed is deleted and re-created; while the old object is still
held by its finalizer the create is retried after this long."""


@dataclass(frozen=True)
class TgbApplyResult:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    """TGBs that could not be (re-)created yet because an old object of that name is still being
    deleted (its finalizer runs in the TGB controller); the caller requeues."""


def target_group_arns(bindings: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The ``spec.targetGroupARN`` of each binding that has one."""
    return tuple(arn for tgb in bindings if (arn := str((tgb.get("spec") or {}).get("targetGroupARN") or "")))


def _label_selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _needs_update(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    labels = meta_of(existing).get("labels") or {}
    if any(labels.get(key) != value for key, value in (meta_of(desired).get("labels") or {}).items()):
        return True
    spec: Mapping[str, Any] = existing.get("spec") or {}
    wanted: Mapping[str, Any] = desired.get("spec") or {}
    # Only the fields we render are compared: the server may default others (CRD defaults).
    if any(spec.get(key) != value for key, value in wanted.items()):
        return True
    return "networking" not in wanted and spec.get("networking") is not None


def _merged(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> KubeObject:
    body = copy.deepcopy(dict(existing))
    meta = body.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **(meta_of(desired).get("labels") or {})}
    spec = {**(body.get("spec") or {}), **desired["spec"]}
    if "networking" not in desired["spec"]:
        spec.pop("networking", None)
    body["spec"] = spec
    body["apiVersion"], body["kind"] = TARGET_GROUP_BINDINGS.api_version, TARGET_GROUP_BINDINGS.kind
    return body


class TargetGroupBindingApplier:
    """Applies the TargetGroupBindings of one stack: creates, updates and deletes them.

    ``cache``: the TGB informer's, by stack. ``namespace``: where TGBs may live
    (``--watch-namespace``); None searches all namespaces for an explicit Ingress group and the
    stack's own namespace otherwise.
    """

    def __init__(
        self, client: KubeClient, cache: TargetGroupBindingCache, *, namespace: str | None = None
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._unseen = UnseenWrites(cache)

    async def apply(self, stack: StackTags, desired: Sequence[Mapping[str, Any]]) -> TgbApplyResult:
        existing = {object_key(tgb): tgb for tgb in await self.find(stack)}
        created: list[str] = []
        updated: list[str] = []
        deleted: list[str] = []
        pending: list[str] = []
        for tgb in desired:
            key = object_key(tgb)
            current = existing.pop(key, None)
            if current is not None and meta_of(current).get("deletionTimestamp"):
                pending.append(key)
                continue
            if current is not None and (current.get("spec") or {}).get("targetGroupARN") != tgb["spec"].get(
                "targetGroupARN"
            ):
                # The target group was replaced; upstream re-creates the binding rather than
                # retargeting it, so the TGB controller deregisters from the old group cleanly.
                await self._delete(stack, current)
                deleted.append(key)
                current = None
            if current is None:
                outcome: Outcome | None = await self._create(stack, tgb)
            elif _needs_update(current, tgb):
                outcome = await self._update(stack, current, tgb)
            else:
                outcome = None
            if outcome == "created":
                created.append(key)
            elif outcome == "updated":
                updated.append(key)
            elif outcome == "pending":
                pending.append(key)
        for key, extra in sorted(existing.items()):
            if not meta_of(extra).get("deletionTimestamp"):
                await self._delete(stack, extra)
                deleted.append(key)
        if created or updated or deleted:
            _log.info(
                "stack %s TargetGroupBindings: created %s, updated %s, deleted %s",
                stack.stack_id,
                created,
                updated,
                deleted,
            )
        return TgbApplyResult(tuple(created), tuple(updated), tuple(deleted), tuple(pending))

    async def delete_all(self, stack: StackTags, bindings: Sequence[KubeObject]) -> tuple[str, ...]:
        """Delete ``bindings`` (the stack's, as ``find`` returned them) unless already being deleted."""
        deleted = []
        for tgb in bindings:
            if not meta_of(tgb).get("deletionTimestamp"):
                await self._delete(stack, tgb)
                deleted.append(object_key(tgb))
        return tuple(deleted)

    async def find(self, stack: StackTags) -> list[KubeObject]:
        """The stack's TGBs, by its tracking labels: from the cache unless it may miss our own
        writes (see the module docstring)."""
        namespace = self._namespace
        if namespace is None:
            stack_namespace, slash, _ = stack.stack_id.partition("/")
            namespace = stack_namespace if slash else None
        cached = self._unseen.cached(stack)
        if cached is not None:
            return [tgb for tgb in cached if namespace is None or namespace_of(tgb) == namespace]
        listed = await self._client.list(
            TARGET_GROUP_BINDINGS,
            namespace,
            query=[("labelSelector", _label_selector(stack_labels(stack)))],
        )
        self._unseen.listed(stack, meta_of(listed).get("resourceVersion"))
        return list(listed.get("items") or ())

    async def _create(self, stack: StackTags, tgb: Mapping[str, Any]) -> Outcome | None:
        """``created``; ``updated`` when an object of that name existed without our labels (it is
        adopted, as upstream matches TGBs by name); ``pending`` while such an object is being deleted;
        None when it existed as wanted."""
        namespace = meta_of(tgb).get("namespace")
        try:
            self._unseen.written(
                stack,
                await self._write(stack, self._client.create(TARGET_GROUP_BINDINGS, dict(tgb), namespace)),
            )
            return "created"
        except KubeApiError as error:
            if not error.is_conflict:
                raise
        return await self._update_live(stack, tgb)

    async def _update(
        self, stack: StackTags, current: Mapping[str, Any], tgb: Mapping[str, Any]
    ) -> Outcome | None:
        """``updated``; on a 409 Conflict (``current`` was older than the server's object: a write of
        the TGB controller or a user the cache did not show yet) once more on the object read again."""
        try:
            await self._replace(stack, current, tgb)
            return "updated"
        except KubeApiError as error:
            if not error.is_conflict:
                raise
        return await self._update_live(stack, tgb)

    async def _update_live(self, stack: StackTags, tgb: Mapping[str, Any]) -> Outcome | None:
        """Update the object of ``tgb``'s name as the server has it now (None: it already is as wanted)."""
        current = await self._client.get(
            TARGET_GROUP_BINDINGS, str(meta_of(tgb).get("name")), meta_of(tgb).get("namespace")
        )
        if meta_of(current).get("deletionTimestamp"):
            return "pending"
        if not _needs_update(current, tgb):
            return None
        await self._replace(stack, current, tgb)
        return "updated"

    async def _replace(self, stack: StackTags, current: Mapping[str, Any], tgb: Mapping[str, Any]) -> None:
        replaced = self._client.replace(
            TARGET_GROUP_BINDINGS,
            str(meta_of(current).get("name")),
            _merged(current, tgb),
            meta_of(current).get("namespace"),
        )
        self._unseen.written(stack, await self._write(stack, replaced))

    async def _delete(self, stack: StackTags, tgb: Mapping[str, Any]) -> None:
        meta = meta_of(tgb)
        answer = await self._write(
            stack,
            objects.delete(
                self._client,
                TARGET_GROUP_BINDINGS,
                str(meta.get("name")),
                meta.get("namespace"),
                uid=str(meta.get("uid") or "") or None,
            ),
        )
        self._unseen.deleted(stack, tgb, answer)

    async def _write(self, stack: StackTags, request: Awaitable[T]) -> T:
        """``request``'s answer; a failure without an answer (a timeout, a broken connection) may have
        written anyway, so the stack's next read is live."""
        try:
            return await request
        except KubeApiError:
            raise  # the server answered: nothing was written
        except BaseException:
            self._unseen.failed(stack)
            raise
