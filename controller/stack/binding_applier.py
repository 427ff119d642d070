"""``TargetGroupBindingApplier``: make a stack's TargetGroupBinding objects equal to the rendered ones.

A stack's TGBs are found by upstream's tracking labels (``<prefix>/stack-namespace`` +
``<prefix>/stack-name``, or ``<prefix>/stack`` for an explicit group) through a label-selected
LIST on the API server, not an informer cache: the cache may not yet hold a TGB our previous
reconcile created, and a missed extra would keep registering targets into a deleted group.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from controller.deploy.bindings import stack_labels
from controller.naming import StackTags
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework import objects
from framework.kube import KubeApiError, KubeClient, KubeObject
from framework.objects import meta_of, object_key

_log = logging.getLogger(__name__)

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

    ``namespace``: where TGBs may live (``--watch-namespace``); None searches all namespaces for an
    explicit Ingress group and the stack's own namespace otherwise.
    """

    def __init__(self, client: KubeClient, *, namespace: str | None = None) -> None:
        self._client = client
        self._namespace = namespace

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
                await self._delete(current)
                deleted.append(key)
                current = None
            if current is None:
                outcome = await self._create(tgb)
                if outcome == "created":
                    created.append(key)
                elif outcome == "updated":
                    updated.append(key)
                else:
                    pending.append(key)
            elif _needs_update(current, tgb):
                await self._replace(current, tgb)
                updated.append(key)
        for key, extra in sorted(existing.items()):
            if not meta_of(extra).get("deletionTimestamp"):
                await self._delete(extra)
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

    async def delete_all(self, bindings: Sequence[KubeObject]) -> tuple[str, ...]:
        """Delete ``bindings`` (the stack's, as ``find`` returned them) unless already being deleted."""
        deleted = []
        for tgb in bindings:
            if not meta_of(tgb).get("deletionTimestamp"):
                await self._delete(tgb)
                deleted.append(object_key(tgb))
        return tuple(deleted)

    async def find(self, stack: StackTags) -> list[KubeObject]:
        """The stack's TGBs, by its tracking labels."""
        namespace = self._namespace
        if namespace is None:
            stack_namespace, slash, _ = stack.stack_id.partition("/")
            namespace = stack_namespace if slash else None
        listed = await self._client.list(
            TARGET_GROUP_BINDINGS,
            namespace,
            query=[("labelSelector", _label_selector(stack_labels(stack)))],
        )
        return list(listed.get("items") or ())

    async def _create(self, tgb: Mapping[str, Any]) -> str:
        """``created``; ``updated`` when an object of that name existed without our labels (it is
        adopted, as upstream matches TGBs by name); ``pending`` while such an object is being deleted."""
        namespace = meta_of(tgb).get("namespace")
        try:
            await self._client.create(TARGET_GROUP_BINDINGS, dict(tgb), namespace)
            return "created"
        except KubeApiError as error:
            if not error.is_conflict:
                raise
        current = await self._client.get(TARGET_GROUP_BINDINGS, str(meta_of(tgb).get("name")), namespace)
        if meta_of(current).get("deletionTimestamp"):
            return "pending"
        await self._replace(current, tgb)
        return "updated"

    async def _replace(self, current: Mapping[str, Any], tgb: Mapping[str, Any]) -> None:
        await self._client.replace(
            TARGET_GROUP_BINDINGS,
            str(meta_of(current).get("name")),
            _merged(current, tgb),
            meta_of(current).get("namespace"),
        )

    async def _delete(self, tgb: Mapping[str, Any]) -> None:
        meta = meta_of(tgb)
        await objects.delete(
            self._client,
            TARGET_GROUP_BINDINGS,
            str(meta.get("name")),
            meta.get("namespace"),
            uid=str(meta.get("uid") or "") or None,
        )
