"""The Ingress-group reconciler (keys: the group id, ``namespace/name`` or the explicit group name).

One pass, in upstream's order (reference §3.4, §7):

1. collect the group's active and inactive members from the Ingress cache;
2. add the group finalizer (``ingress.k8s.aws/resources`` or ``group.ingress.k8s.aws/<group>``)
   to every active member, before anything exists in AWS;
3. build the model. Bad user input is a Warning ``FailedBuildModel`` on every member (and on
   every Ingress the error names), the metric ``build_model_error``, and no retry: a fix arrives
   as an Ingress/Service change (or the periodic resync) and re-queues the group;
4. get the shared backend SG if the model needs it;
5. deploy (SG → TGs → LB → listeners → rules); failures are Warning ``FailedDeployModel``,
   ``deploy_model_error`` and a retry with backoff. A deletion AWS refuses for now
   (``DeploymentPending``) finishes the pass and requeues after the suggested delay;
6. apply the rendered TargetGroupBindings (create/update, delete the stack's extras);
7. release the backend SG for inactive members, and for active ones when no longer needed;
8. write ``status.loadBalancer.ingress[0].hostname``; remove the finalizer from inactive members;
   Normal ``SuccessfullyReconciled`` on every member.

A group without active members deletes its stack (TGBs first), releases the backend SG and drops
the finalizer from its inactive members. A group with nothing of ours (no member, no finalizer)
costs no AWS call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from controller.annotations import ModelBuildError
from controller.backendsg import BackendSGDisabledError
from controller.config import ControllerConfig
from controller.deploy import DeploymentPending, DeployResult
from controller.ingress.class_matcher import IngressClassMatcher
from controller.ingress.group import IngressGroup, IngressGroupId, build_group, group_ids_for_ingress
from controller.metrics import LbcControllerMetrics
from controller.model.stack import StackModel
from controller.naming import INGRESS_TAG_PREFIX, StackTags
from controller.stack_status import (
    TGB_REPLACE_REQUEUE_SECONDS,
    BackendSGUsers,
    ObjectCache,
    StackDeployerLike,
    TargetGroupBindingApplier,
    drop_finalizer,
    ensure_finalizer,
    key_of,
    load_balancer_ingress,
    meta_of,
    reference_of,
    write_load_balancer_status,
)
from framework.controller import Result, TerminalError
from framework.events import EventRecorder
from framework.informer import NAMESPACE_INDEX, DeletedFinalStateUnknown, FunctionHandler, Store, final_state
from framework.kube import INGRESSES, KubeClient, KubeError, KubeObject

_log = logging.getLogger(__name__)

CONTROLLER_NAME: Final = "ingress"
BACKEND_SG_USER_TYPE: Final = "ingress"

REASON_FAILED_ADD_FINALIZER: Final = "FailedAddFinalizer"
REASON_FAILED_REMOVE_FINALIZER: Final = "FailedRemoveFinalizer"
REASON_FAILED_BUILD_MODEL: Final = "FailedBuildModel"
REASON_FAILED_DEPLOY_MODEL: Final = "FailedDeployModel"
REASON_FAILED_UPDATE_STATUS: Final = "FailedUpdateStatus"
REASON_SUCCESSFULLY_RECONCILED: Final = "SuccessfullyReconciled"
REASON_MODEL_WARNING: Final = "ModelWarning"
"""Non-fatal problems the builder reports (e.g. IPv6 inbound CIDRs on an ipv4 ALB, DESIGN 8)."""


class IngressModelBuilderLike(Protocol):
    """``controller.ingress.IngressModelBuilder``."""

    async def build(self, group: IngressGroup) -> StackModel | None: ...


# --------------------------------------------------------------------------------------------------
# Keys and event mapping
# --------------------------------------------------------------------------------------------------


def group_id_from_key(key: str) -> IngressGroupId:
    """Inverse of ``str(IngressGroupId)``: explicit group names cannot contain ``/``."""
    namespace, slash, name = key.partition("/")
    return IngressGroupId.implicit(namespace, name) if slash else IngressGroupId.explicit(key)


def backend_sg_user(ingress: Mapping[str, Any]) -> str:
    return f"{BACKEND_SG_USER_TYPE}/{key_of(ingress)}"


def ingress_event_keys(ingress: Mapping[str, Any], matcher: IngressClassMatcher) -> set[str]:
    """Group keys an Ingress add/update/delete must queue: its group and every group its finalizers name."""
    return {str(group_id) for group_id in group_ids_for_ingress(ingress, matcher)}


def backend_service_names(ingress: Mapping[str, Any]) -> set[str]:
    """Names of the Services (in the Ingress's namespace) its default backend and paths forward to."""
    spec: Mapping[str, Any] = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend")]
    for rule in spec.get("rules") or ():
        backends.extend(path.get("backend") for path in ((rule.get("http") or {}).get("paths") or ()))
    names = set()
    for backend in backends:
        name = ((backend or {}).get("service") or {}).get("name")
        if name:
            names.add(str(name))
    return names


def service_event_keys(
    service: Mapping[str, Any], namespace_ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> set[str]:
    """Group keys to queue when ``service`` changes: the groups of the Ingresses (of its namespace)
    that forward to it. ``namespace_ingresses``: the Ingresses of the Service's namespace."""
    meta = meta_of(service)
    namespace, name = meta.get("namespace"), str(meta.get("name") or "")
    keys: set[str] = set()
    for ingress in namespace_ingresses:
        if meta_of(ingress).get("namespace") == namespace and name in backend_service_names(ingress):
            keys |= ingress_event_keys(ingress, matcher)
    return keys


def ingress_class_event_keys(
    ingress_class: Mapping[str, Any], ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> set[str]:
    """Group keys to queue when an IngressClass changes: Ingresses naming it, and Ingresses without
    a class (the default class may have changed)."""
    class_name = meta_of(ingress_class).get("name")
    keys: set[str] = set()
    for ingress in ingresses:
        named = (ingress.get("spec") or {}).get("ingressClassName")
        if named == class_name or not named:
            keys |= ingress_event_keys(ingress, matcher)
    return keys


def _ingress_changed(old: KubeObject, new: KubeObject) -> bool:
    """False for writes that cannot change the group's model: our own status and finalizer writes
    (a finalizer alone never changes membership; deletion and group moves change other fields)."""
    if old is new:  # periodic resync
        return True
    old_meta, new_meta = meta_of(old), meta_of(new)
    return (
        old.get("spec") != new.get("spec")
        or old_meta.get("annotations") != new_meta.get("annotations")
        or old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or old_meta.get("uid") != new_meta.get("uid")
    )


def _service_changed(old: KubeObject, new: KubeObject) -> bool:
    if old is new:
        return True
    old_meta, new_meta = meta_of(old), meta_of(new)
    return (
        old.get("spec") != new.get("spec")
        or old_meta.get("annotations") != new_meta.get("annotations")
        or old_meta.get("uid") != new_meta.get("uid")
    )


@dataclass(frozen=True)
class IngressGroupHandlers:
    """Informer handlers feeding the Ingress-group queue; register each on its informer."""

    ingress: FunctionHandler
    service: FunctionHandler
    ingress_class: FunctionHandler


def ingress_group_handlers(
    enqueue: Callable[[str], None], matcher: IngressClassMatcher, ingresses: Store
) -> IngressGroupHandlers:
    """``ingresses``: the Ingress informer's store (its ``namespace`` index serves Service events)."""

    def add_keys(keys: Iterable[str]) -> None:
        for key in sorted(keys):
            enqueue(key)

    def on_ingress(obj: KubeObject) -> None:
        add_keys(ingress_event_keys(obj, matcher))

    def on_ingress_update(old: KubeObject, new: KubeObject) -> None:
        if _ingress_changed(old, new):
            add_keys(ingress_event_keys(old, matcher) | ingress_event_keys(new, matcher))

    def on_service(obj: KubeObject) -> None:
        namespace = str(meta_of(obj).get("namespace") or "")
        add_keys(service_event_keys(obj, ingresses.by_index(NAMESPACE_INDEX, namespace), matcher))

    def on_service_update(old: KubeObject, new: KubeObject) -> None:
        if _service_changed(old, new):
            on_service(new)

    def on_class(obj: KubeObject) -> None:
        add_keys(ingress_class_event_keys(obj, ingresses.list(), matcher))

    def on_deleted(
        callback: Callable[[KubeObject], None],
    ) -> Callable[[KubeObject | DeletedFinalStateUnknown], None]:
        return lambda obj: callback(final_state(obj))

    return IngressGroupHandlers(
        ingress=FunctionHandler(
            add=lambda obj, _initial: on_ingress(obj), update=on_ingress_update, delete=on_deleted(on_ingress)
        ),
        service=FunctionHandler(
            add=lambda obj, _initial: on_service(obj), update=on_service_update, delete=on_deleted(on_service)
        ),
        ingress_class=FunctionHandler(
            add=lambda obj, _initial: on_class(obj),
            update=lambda _old, new: on_class(new),
            delete=on_deleted(on_class),
        ),
    )


# --------------------------------------------------------------------------------------------------
# Reconciler
# --------------------------------------------------------------------------------------------------


class IngressGroupReconciler:
    """``Reconciler[str]`` for Ingress-group keys; see the module docstring.

    ``on_backend_sg_unused`` is called when a release left the backend SG without users (enqueue
    ``controller.backendsg.BACKEND_SG_KEY`` on the backend-SG controller).
    """

    def __init__(
        self,
        *,
        config: ControllerConfig,
        client: KubeClient,
        ingresses: ObjectCache,
        matcher: IngressClassMatcher,
        builder: IngressModelBuilderLike,
        deployer: StackDeployerLike,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        on_backend_sg_unused: Callable[[], None] | None = None,
    ) -> None:
        self._cluster_name = config.cluster_name
        self._client = client
        self._ingresses = ingresses
        self._matcher = matcher
        self._builder = builder
        self._deployer = deployer
        self._backend_sg = backend_sg
        self._events = events
        self._metrics = metrics
        self._on_backend_sg_unused = on_backend_sg_unused
        self._tgbs = TargetGroupBindingApplier(client, namespace=config.watch_namespace or None)

    async def reconcile(self, key: str) -> Result:
        group_id = group_id_from_key(key)
        try:
            group = build_group(group_id, self._ingresses.list(), self._matcher)
        except ModelBuildError as error:
            self._build_failed(error, ())
            raise TerminalError(f"ingress group {key}: {error}") from error
        if group.members:
            return await self._reconcile_active(group)
        return await self._reconcile_deleted(group)

    # ----------------------------------------------------------------------------- active groups

    async def _reconcile_active(self, group: IngressGroup) -> Result:
        members = await self._add_finalizers(group)
        model = await self._build(group, members)
        if model is None:  # the builder saw no active member after all
            return await self._reconcile_deleted(group)
        for warning in model.warnings:
            for member in members:
                self._events.warning(reference_of(INGRESSES, member), REASON_MODEL_WARNING, warning)
        backend_sg_id = await self._backend_sg_id(model, members)

        stack = self._stack(group.id)
        requeue_after: float | None = None
        try:
            with self._stage("deploy_model"):
                try:
                    result = await self._deployer.deploy(model, backend_sg_id=backend_sg_id)
                except DeploymentPending as pending:
                    if pending.result is None:
                        raise
                    _log.info("ingress group %s: %s", group.id, pending)
                    result, requeue_after = pending.result, pending.requeue_after
                applied = await self._tgbs.apply(stack, result.tgb_specs)
        except DeploymentPending as pending:
            _log.info("ingress group %s: %s", group.id, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self._fail(
                members, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model"
            )
            raise
        if applied.pending:
            requeue_after = min(requeue_after or TGB_REPLACE_REQUEUE_SECONDS, TGB_REPLACE_REQUEUE_SECONDS)

        released_users = [backend_sg_user(i) for i in group.inactive_members]
        if not model.needs_backend_sg:
            released_users += [backend_sg_user(m) for m in members]
        self._release_backend_sg(released_users)

        await self._update_status(members, result)
        await self._remove_finalizers(group, members)
        if requeue_after is None:
            for member in members:
                self._events.normal(
                    reference_of(INGRESSES, member), REASON_SUCCESSFULLY_RECONCILED, "Successfully reconciled"
                )
        return Result(requeue_after=requeue_after)

    async def _add_finalizers(self, group: IngressGroup) -> list[KubeObject]:
        members: list[KubeObject] = [dict(m.ingress) for m in group.members]
        try:
            with self._stage("add_finalizers"):
                return [
                    await ensure_finalizer(self._client, INGRESSES, member, group.id.finalizer)
                    for member in members
                ]
        except KubeError as error:
            self._fail(
                members,
                REASON_FAILED_ADD_FINALIZER,
                "add_group_finalizer_error",
                error,
                "Failed add finalizer",
            )
            raise

    async def _build(self, group: IngressGroup, members: Sequence[KubeObject]) -> StackModel | None:
        try:
            with self._stage("build_model"):
                return await self._builder.build(group)
        except ModelBuildError as error:
            self._build_failed(error, members)
            raise TerminalError(f"ingress group {group.id}: {error}") from error

    async def _backend_sg_id(self, model: StackModel, members: Sequence[KubeObject]) -> str | None:
        if not model.needs_backend_sg:
            return None
        try:
            with self._stage("build_model"):
                return await self._backend_sg.get([backend_sg_user(m) for m in members])
        except BackendSGDisabledError as error:
            self._fail(members, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise TerminalError(str(error)) from error
        except Exception as error:
            # An AWS failure while finding/creating the SG: retried with backoff.
            self._fail(members, REASON_FAILED_BUILD_MODEL, "build_model_error", error, "Failed build model")
            raise

    async def _update_status(self, members: Sequence[KubeObject], result: DeployResult) -> None:
        wanted = load_balancer_ingress(result.lb_dns_name)
        try:
            with self._stage("update_status"):
                for member in members:
                    await write_load_balancer_status(self._client, INGRESSES, member, wanted)
        except KubeError as error:
            self._fail(
                members, REASON_FAILED_UPDATE_STATUS, "update_status_error", error, "Failed update status"
            )
            raise

    async def _remove_finalizers(self, group: IngressGroup, members: Sequence[KubeObject]) -> None:
        if not group.inactive_members:
            return
        try:
            with self._stage("remove_finalizers"):
                for inactive in group.inactive_members:
                    await drop_finalizer(self._client, INGRESSES, dict(inactive), group.id.finalizer)
        except KubeError as error:
            self._fail(
                [*members, *map(dict, group.inactive_members)],
                REASON_FAILED_REMOVE_FINALIZER,
                "remove_group_finalizer_error",
                error,
                "Failed remove finalizer",
            )
            raise

    # ----------------------------------------------------------------------------- deleted groups

    async def _reconcile_deleted(self, group: IngressGroup) -> Result:
        holders = [dict(i) for i in group.inactive_members if group.id.finalizer in _finalizers(i)]
        if not holders:
            return Result()  # we add the finalizer before creating anything: nothing of ours exists
        stack = self._stack(group.id)
        try:
            with self._stage("deploy_model"):
                await self._tgbs.delete_all(stack)
                deleted = await self._deployer.delete_stack(stack)
        except DeploymentPending as pending:
            _log.info("ingress group %s: deletion pending: %s", group.id, pending)
            return Result(requeue_after=pending.requeue_after)
        except Exception as error:
            self._fail(
                holders, REASON_FAILED_DEPLOY_MODEL, "deploy_model_error", error, "Failed deploy model"
            )
            raise
        if not deleted.is_empty:
            _log.info("ingress group %s: deleted %s", group.id, deleted)
        self._release_backend_sg([backend_sg_user(i) for i in group.inactive_members])
        await self._remove_finalizers(group, ())
        return Result()

    # ----------------------------------------------------------------------------- helpers

    def _stack(self, group_id: IngressGroupId) -> StackTags:
        return StackTags(self._cluster_name, INGRESS_TAG_PREFIX, str(group_id))

    def _release_backend_sg(self, users: Sequence[str]) -> None:
        if users and self._backend_sg.release(users) and self._on_backend_sg_unused is not None:
            self._on_backend_sg_unused()

    def _build_failed(self, error: ModelBuildError, members: Sequence[Mapping[str, Any]]) -> None:
        """Warning on every member and on every Ingress the error names (once each)."""
        targets: dict[str, Mapping[str, Any]] = {key_of(m): m for m in members}
        for ref in error.objects:
            if ref.kind == "Ingress" and ref.key not in targets:
                named = self._ingresses.get(ref.key)
                if named is not None:
                    targets[ref.key] = named
        self._fail(
            list(targets.values()),
            REASON_FAILED_BUILD_MODEL,
            "build_model_error",
            error,
            "Failed build model",
        )

    def _fail(
        self,
        objs: Sequence[Mapping[str, Any]],
        reason: str,
        category: str,
        error: BaseException,
        prefix: str,
    ) -> None:
        self._metrics.error(CONTROLLER_NAME, category)
        for obj in objs:
            self._events.warning(reference_of(INGRESSES, obj), reason, f"{prefix} due to {error}")

    def _stage(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return self._metrics.stage(CONTROLLER_NAME, stage)


def _finalizers(obj: Mapping[str, Any]) -> list[str]:
    return [str(f) for f in meta_of(obj).get("finalizers") or ()]


__all__ = [
    "BACKEND_SG_USER_TYPE",
    "CONTROLLER_NAME",
    "IngressGroupHandlers",
    "IngressGroupReconciler",
    "IngressModelBuilderLike",
    "backend_service_names",
    "backend_sg_user",
    "group_id_from_key",
    "ingress_class_event_keys",
    "ingress_event_keys",
    "ingress_group_handlers",
    "service_event_keys",
]
