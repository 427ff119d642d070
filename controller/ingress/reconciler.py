"""The Ingress-group reconciler (keys: the group id, ``namespace/name`` or the explicit group name).

One pass, in upstream's order (upstream-behaviour §3.4, §7):

1. collect the group's active and inactive members from the Ingress cache (its group index, see
   ``controller.ingress.index``: the cost follows the group's size, not the cluster's);
2. add the group finalizer (``ingress.k8s.aws/resources`` or ``group.ingress.k8s.aws/<group>``)
   to every active member, before anything exists in AWS;
3. build the model. Bad user input is a Warning ``FailedBuildModel`` on every member (and on
   every Ingress the error names), the metric ``build_model_error``, and no retry: a fix arrives
   as an Ingress/Service change (or the periodic resync) and re-queues the group. Custom SGs that
   do not resolve are the exception: they may be created later (or AWS failed the lookup), so that
   error is retried with backoff;
4. get the shared backend SG if the model needs it;
5. deploy (SG → TGs → LB → listeners → rules); failures are Warning ``FailedDeployModel``,
   ``deploy_model_error`` and a retry with backoff. A deletion AWS refuses for now
   (``DeploymentPending``) finishes the pass and requeues after the suggested delay;
6. apply the rendered TargetGroupBindings (create/update, delete the stack's extras);
7. release the backend SG for inactive members, and for active ones when no longer needed;
8. write ``status.loadBalancer.ingress[0].hostname``; remove the finalizer from inactive members;
   Normal ``SuccessfullyReconciled`` on every member.

A group without active members deletes its stack (the ALB, then the TGBs, then the rest),
releases the backend SG and drops the finalizer from its inactive members. While an Ingress being
deleted still asks for deletion protection in ``load-balancer-attributes``, the whole group waits
(Warning ``FailedBuildModel``, retried with backoff), as upstream. A group with nothing of ours (no member, no finalizer)
costs no AWS call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from controller.annotations import ING_LOAD_BALANCER_ATTRIBUTES, ModelBuildError, ObjectRef
from controller.config import ControllerSettings
from controller.ingress.class_matcher import (
    PARAMS_API_GROUP,
    PARAMS_KIND,
    IngressClassMatcher,
    InvalidIngressClassError,
)
from controller.ingress.group import IngressGroup, IngressGroupId, group_ids_for_ingress
from controller.ingress.index import (
    add_ingress_indexers,
    backend_service_names,
    indexed_group,
    ingresses_forwarding_to,
)
from controller.metrics import LbcControllerMetrics
from controller.model.attributes import deletion_protection_enabled
from controller.model.stack import StackModel
from controller.naming import INGRESS_TAG_PREFIX, StackTags
from controller.stack import (
    REASON_FAILED_BUILD_MODEL,
    BackendSGUsers,
    StackDeployerLike,
    StackReconcileSteps,
    TargetGroupBindingCache,
    model_inputs_changed,
    raise_if_terminal,
)
from controller.targetgroupbinding import StackTargetGroups
from framework.controller import Result
from framework.events import EventRecorder
from framework.informer import NAMESPACE_INDEX, DeletedFinalStateUnknown, FunctionHandler, Store, final_state
from framework.kube import INGRESSES, KubeClient, KubeObject
from framework.objects import (
    annotations_of,
    finalizers_of,
    is_deleting,
    labels_of,
    meta_of,
    name_of,
    namespace_of,
    object_key,
)

_log = logging.getLogger(__name__)

CONTROLLER_NAME: Final = "ingress"
# Upstream's event reason when an Ingress's group cannot be determined (its class configuration is
# invalid), and our metric category for it in the style of the others.
REASON_FAILED_LOAD_GROUP_ID: Final = "FailedLoadGroupID"
LOAD_GROUP_ID_ERROR: Final = "load_group_id_error"
BACKEND_SG_USER_TYPE: Final = "ingress"


class IngressModelBuilderLike(Protocol):
    """``controller.ingress.IngressModelBuilder``."""

    async def build(self, group: IngressGroup, stack_tags: StackTags) -> StackModel | None: ...


# --------------------------------------------------------------------------------------------------
# Keys and event mapping
# --------------------------------------------------------------------------------------------------


def group_id_from_key(key: str) -> IngressGroupId:
    """Inverse of ``str(IngressGroupId)``: explicit group names cannot contain ``/``."""
    namespace, slash, name = key.partition("/")
    return IngressGroupId.implicit(namespace, name) if slash else IngressGroupId.explicit(key)


def ingress_group_stack_tags(cluster_name: str, group_id: IngressGroupId) -> StackTags:
    """The group's stack identity. The reconciler builds it once per pass; the builder puts it on
    the model, where the deployer and the TGB applier read it."""
    return StackTags(cluster_name, INGRESS_TAG_PREFIX, str(group_id))


def backend_sg_user(ingress: Mapping[str, Any]) -> str:
    return f"{BACKEND_SG_USER_TYPE}/{object_key(ingress)}"


def ingress_event_keys(ingress: Mapping[str, Any], matcher: IngressClassMatcher) -> set[str]:
    """Group keys an Ingress add/update/delete must queue: its group and every group its finalizers name."""
    return {str(group_id) for group_id in group_ids_for_ingress(ingress, matcher)}


def service_event_keys(
    service: Mapping[str, Any], namespace_ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> set[str]:
    """Group keys to queue when ``service`` changes: the groups of the Ingresses (of its namespace)
    that forward to it. ``namespace_ingresses``: Ingresses of the Service's namespace, at least
    those that forward to it (the handler passes ``ingresses_forwarding_to``)."""
    namespace, name = namespace_of(service), name_of(service)
    keys: set[str] = set()
    for ingress in namespace_ingresses:
        if namespace_of(ingress) == namespace and name in backend_service_names(ingress):
            keys |= ingress_event_keys(ingress, matcher)
    return keys


def ingress_class_event_keys(
    ingress_class: Mapping[str, Any], ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> set[str]:
    """Group keys to queue when an IngressClass changes: Ingresses naming it, and Ingresses without
    a class (the default class may have changed)."""
    class_name = name_of(ingress_class)
    keys: set[str] = set()
    for ingress in ingresses:
        named = (ingress.get("spec") or {}).get("ingressClassName")
        if named == class_name or not named:
            keys |= ingress_event_keys(ingress, matcher)
    return keys


def ingress_class_params_event_keys(
    params: Mapping[str, Any],
    ingress_classes: Iterable[Mapping[str, Any]],
    ingresses: Iterable[Mapping[str, Any]],
    matcher: IngressClassMatcher,
) -> set[str]:
    """Group keys to queue when an IngressClassParams changes: those of every IngressClass whose
    ``spec.parameters`` names it (upstream re-queues those classes, which re-queue their Ingresses)."""
    name = name_of(params)
    ingresses = list(ingresses)
    keys: set[str] = set()
    for ingress_class in ingress_classes:
        parameters = (ingress_class.get("spec") or {}).get("parameters") or {}
        if (
            parameters.get("apiGroup") == PARAMS_API_GROUP
            and parameters.get("kind") == PARAMS_KIND
            and parameters.get("name") == name
        ):
            keys |= ingress_class_event_keys(ingress_class, ingresses, matcher)
    return keys


def namespace_event_keys(
    namespace_ingresses: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> set[str]:
    """Group keys to queue when a Namespace's labels change: its Ingresses' (an IngressClassParams
    namespaceSelector may now accept or reject them)."""
    keys: set[str] = set()
    for ingress in namespace_ingresses:
        keys |= ingress_event_keys(ingress, matcher)
    return keys


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
    ingress_class_params: FunctionHandler
    namespace: FunctionHandler


def ingress_group_handlers(
    enqueue: Callable[[str], None], matcher: IngressClassMatcher, ingresses: Store, ingress_classes: Store
) -> IngressGroupHandlers:
    """``ingresses``: the Ingress informer's store (its ``namespace`` index serves Namespace events,
    ``INGRESS_BACKEND_SERVICE_INDEX``, added here if missing, Service events); ``ingress_classes``:
    the IngressClass informer's (IngressClassParams events)."""
    add_ingress_indexers(ingresses)

    def add_keys(keys: Iterable[str]) -> None:
        for key in sorted(keys):
            enqueue(key)

    def on_ingress(obj: KubeObject) -> None:
        add_keys(ingress_event_keys(obj, matcher))

    def on_ingress_update(old: KubeObject, new: KubeObject) -> None:
        if model_inputs_changed(old, new):
            add_keys(ingress_event_keys(old, matcher) | ingress_event_keys(new, matcher))

    def on_service(obj: KubeObject) -> None:
        add_keys(service_event_keys(obj, ingresses_forwarding_to(obj, ingresses), matcher))

    def on_service_update(old: KubeObject, new: KubeObject) -> None:
        if _service_changed(old, new):
            on_service(new)

    def on_class(obj: KubeObject) -> None:
        add_keys(ingress_class_event_keys(obj, ingresses.list(), matcher))

    def on_params(obj: KubeObject) -> None:
        add_keys(ingress_class_params_event_keys(obj, ingress_classes.list(), ingresses.list(), matcher))

    def on_params_update(old: KubeObject, new: KubeObject) -> None:
        # As upstream: only a spec change or the start of a deletion matters.
        if old.get("spec") != new.get("spec") or is_deleting(old) != is_deleting(new):
            on_params(new)

    def on_namespace(obj: KubeObject) -> None:
        add_keys(namespace_event_keys(ingresses.by_index(NAMESPACE_INDEX, name_of(obj)), matcher))

    def on_namespace_update(old: KubeObject, new: KubeObject) -> None:
        if labels_of(old) != labels_of(new):
            on_namespace(new)

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
        ingress_class_params=FunctionHandler(
            add=lambda obj, _initial: on_params(obj), update=on_params_update, delete=on_deleted(on_params)
        ),
        # Initial adds too: an Ingress seen before its Namespace was cached was queued under its
        # implicit group only (its class check could not finish); this queues its real group.
        namespace=FunctionHandler(
            add=lambda obj, _initial: on_namespace(obj),
            update=on_namespace_update,
            delete=on_deleted(on_namespace),
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
        config: ControllerSettings,
        client: KubeClient,
        ingresses: Store,
        matcher: IngressClassMatcher,
        builder: IngressModelBuilderLike,
        deployer: StackDeployerLike,
        backend_sg: BackendSGUsers,
        events: EventRecorder,
        metrics: LbcControllerMetrics,
        stack_target_groups: StackTargetGroups,
        tgb_cache: TargetGroupBindingCache,
        on_backend_sg_unused: Callable[[], None] | None = None,
    ) -> None:
        self._cluster_name = config.cluster_name
        add_ingress_indexers(ingresses)  # the group builds read INGRESS_GROUP_INDEX
        self._ingresses = ingresses
        self._matcher = matcher
        self._builder = builder
        self._steps = StackReconcileSteps(
            controller_name=CONTROLLER_NAME,
            resource=INGRESSES,
            client=client,
            deployer=deployer,
            watch_namespace=config.watch_namespace or None,
            tgb_cache=tgb_cache,
            backend_sg=backend_sg,
            events=events,
            metrics=metrics,
            on_backend_sg_unused=on_backend_sg_unused,
            stack_target_groups=stack_target_groups,
            log=_log,
        )

    async def reconcile(self, key: str) -> Result:
        group_id = group_id_from_key(key)
        try:
            group = indexed_group(group_id, self._ingresses, self._matcher)
        except ModelBuildError as error:
            self._build_failed(error, ())
            raise_if_terminal(f"ingress group {key}", error)
            raise
        await self._refuse_protected_deletion(group)
        if group.members:
            return await self._reconcile_active(group)
        return await self._reconcile_deleted(group)

    async def _refuse_protected_deletion(self, group: IngressGroup) -> None:
        """Upstream's first step: an Ingress being deleted whose ``load-balancer-attributes`` still
        say ``deletion_protection.enabled=true`` stops the whole group's reconcile (retried with
        backoff) before anything is built, deployed or deleted."""
        deleting = [dict(i) for i in group.inactive_members if is_deleting(i)]
        objs = [*(dict(m.ingress) for m in group.members), *deleting]
        protected: list[tuple[ObjectRef, str]] = []
        try:
            for ingress in deleting:
                ref = ObjectRef.of("Ingress", ingress)
                raw = annotations_of(ingress).get(ING_LOAD_BALANCER_ATTRIBUTES)
                if deletion_protection_enabled(ref, ING_LOAD_BALANCER_ATTRIBUTES, raw):
                    protected.append((ref, ING_LOAD_BALANCER_ATTRIBUTES))
        except ModelBuildError as error:
            self._build_failed(error, objs)
            raise_if_terminal(f"ingress group {group.id}", error)
            raise
        await self._steps.refuse_protected_deletion(
            f"ingress group {group.id}", self._stack(group.id), protected, objs
        )

    # ----------------------------------------------------------------------------- active groups

    async def _reconcile_active(self, group: IngressGroup) -> Result:
        steps = self._steps
        members = await steps.add_finalizer(
            [dict(m.ingress) for m in group.members], group.id.finalizer, "add_group_finalizer_error"
        )
        model = await self._build(group, self._stack(group.id), members)
        if model is None:  # the builder saw no active member after all
            return await self._reconcile_deleted(group)
        steps.model_warnings(model, members)
        backend_sg_id = await steps.backend_sg_id(model, [backend_sg_user(m) for m in members], members)

        deployed = await steps.deploy(f"ingress group {group.id}", model, backend_sg_id, members)
        if isinstance(deployed, Result):
            return deployed

        released_users = [backend_sg_user(i) for i in group.inactive_members]
        if not model.needs_backend_sg:
            released_users += [backend_sg_user(m) for m in members]
        steps.release_backend_sg(released_users)

        await steps.write_status(members, deployed.result.lb_dns_name)
        await self._remove_finalizers(group, members)
        if deployed.requeue_after is None:
            steps.reconciled(members)
        return Result(requeue_after=deployed.requeue_after)

    async def _build(
        self, group: IngressGroup, stack: StackTags, members: Sequence[KubeObject]
    ) -> StackModel | None:
        try:
            with self._steps.stage("build_model"):
                return await self._builder.build(group, stack)
        except ModelBuildError as error:
            self._build_failed(error, members)
            raise_if_terminal(f"ingress group {group.id}", error)
            raise

    async def _remove_finalizers(self, group: IngressGroup, members: Sequence[KubeObject]) -> None:
        """Drop the group finalizer from the inactive members; failures are reported on every member."""
        if not group.inactive_members:
            return
        inactive = [dict(i) for i in group.inactive_members]
        await self._steps.remove_finalizer(
            inactive, group.id.finalizer, "remove_group_finalizer_error", report_to=[*members, *inactive]
        )

    # ----------------------------------------------------------------------------- deleted groups

    async def _reconcile_deleted(self, group: IngressGroup) -> Result:
        holders = [dict(i) for i in group.inactive_members if group.id.finalizer in finalizers_of(i)]
        if not holders:
            return Result()  # we add the finalizer before creating anything: nothing of ours exists
        pending = await self._steps.delete(f"ingress group {group.id}", self._stack(group.id), holders)
        if pending is not None:
            return pending
        self._steps.release_backend_sg([backend_sg_user(i) for i in group.inactive_members])
        await self._remove_finalizers(group, ())
        return Result()

    # ----------------------------------------------------------------------------- helpers

    def _stack(self, group_id: IngressGroupId) -> StackTags:
        return ingress_group_stack_tags(self._cluster_name, group_id)

    def _build_failed(self, error: ModelBuildError, members: Sequence[Mapping[str, Any]]) -> None:
        """Warning on every member and on every Ingress the error names (once each). An invalid
        class configuration reads as upstream's ``FailedLoadGroupID`` ("failed load groupID due to
        invalid ingress class: ...")."""
        targets: dict[str, Mapping[str, Any]] = {object_key(m): m for m in members}
        for ref in error.objects:
            if ref.kind == "Ingress" and ref.key not in targets:
                named = self._ingresses.get(ref.key)
                if named is not None:
                    targets[ref.key] = named
        if isinstance(error, InvalidIngressClassError):
            reason, category, prefix = REASON_FAILED_LOAD_GROUP_ID, LOAD_GROUP_ID_ERROR, "failed load groupID"
        else:
            reason, category, prefix = REASON_FAILED_BUILD_MODEL, "build_model_error", "Failed build model"
        self._steps.fail(list(targets.values()), reason, category, error, prefix)


__all__ = [
    "BACKEND_SG_USER_TYPE",
    "CONTROLLER_NAME",
    "LOAD_GROUP_ID_ERROR",
    "REASON_FAILED_LOAD_GROUP_ID",
    "IngressGroupHandlers",
    "IngressGroupReconciler",
    "IngressModelBuilderLike",
    "backend_service_names",
    "backend_sg_user",
    "group_id_from_key",
    "ingress_class_event_keys",
    "ingress_class_params_event_keys",
    "ingress_event_keys",
    "ingress_group_handlers",
    "ingress_group_stack_tags",
    "namespace_event_keys",
    "service_event_keys",
]
