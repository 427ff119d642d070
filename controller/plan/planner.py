"""``Planner``: one pass of every controller the way a converged controller would run it, over a
``DryRunAwsApi`` (so the writes are recorded, not sent).

The pieces are the controller's own: the Ingress and Service model builders, ``StackDeployer``
(managed SG, target groups, load balancer, listeners, rules), ``BackendSGManager``, the
TargetGroupBinding contributions (endpoint resolution, ENI SG discovery) published to a
``RuleOwnership`` (packing), and ``EndpointSGReconciler`` on every endpoint SG the controller would
look after. What differs from the running controller is only what stands in for Kubernetes: the
``ClusterView`` instead of informer caches, and the TargetGroupBindings each deploy renders are
taken as they are instead of being written and read back.

Order, as a controller that has converged and then sees the change: every stack (Services, then
Ingress groups) is deployed or deleted, the backend SG is created or deleted for its users, then
every endpoint SG is reconciled once against the bindings as they will be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.annotations import ModelBuildError
from controller.aws.api import AwsApi
from controller.aws.ec2_types import SecurityGroup
from controller.backendsg import BackendSGDisabledError
from controller.backendsg.manager import BackendSGManager
from controller.backendsg.settings import BackendSGSettings
from controller.config import ControllerSettings
from controller.deploy import DeploymentPending, StackDeployer
from controller.deploy.bindings import stack_labels
from controller.endpointsg.discovery import EndpointSGDiscovery
from controller.endpointsg.eni_sg import EniSGSelector
from controller.endpointsg.maintenance import CLUSTER_TAG_VALUES
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.finalizers import SERVICE_FINALIZER, TGB_FINALIZER
from controller.ingress.builder import IngressModelBuilder
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS, IngressClassMatcher
from controller.ingress.group import IngressGroupId, build_group, group_ids_for_ingress
from controller.ingress.reconciler import backend_sg_user as ingress_backend_sg_user
from controller.ingress.reconciler import ingress_group_stack_tags
from controller.model.stack import StackModel
from controller.naming import StackTags, cluster_tag_key
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.plan.call_order import in_deploy_order
from controller.plan.cluster_view import ClusterView
from controller.plan.dry_run import DryRunAwsApi, PlannedCall
from controller.service.builder import ServiceModelBuilder
from controller.service.matcher import is_managed_service
from controller.service.reconciler import AwsExistingLoadBalancerFinder, service_stack_tags
from controller.service.reconciler import backend_sg_user as service_backend_sg_user
from controller.targetgroupbinding.contributions import (
    ContributionError,
    ContributionPublisher,
    UnappliedRulesError,
)
from controller.targetgroupbinding.endpoints import (
    BackendNotFoundError,
    EndpointResolutionError,
    NodeEndpoint,
    PodEndpoint,
    resolve_node_endpoints,
    resolve_pod_endpoints,
)
from controller.targetgroupbinding.informers import slice_service_key
from controller.targetgroupbinding.model import (
    TARGET_GROUP_BINDINGS,
    TARGET_TYPE_IP,
    Binding,
    InvalidBindingError,
    has_networking,
)
from controller.targetgroupbinding.targets import TargetRegistrar
from framework.informer import Store
from framework.kube import (
    ENDPOINT_SLICES,
    INGRESS_CLASSES,
    INGRESSES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    KubeObject,
)
from framework.objects import finalizers_of, has_finalizer, is_deleting, labels_of, object_key, uid_of


@dataclass(frozen=True)
class PlanWarning:
    """Something the controller would report as a Warning event instead of changing AWS."""

    subject: str
    message: str


@dataclass(frozen=True)
class PlanOutcome:
    """The writes the controller would send, and what is needed to describe them."""

    calls: tuple[PlannedCall, ...]
    security_groups: Mapping[str, SecurityGroupInfo] = field(hash=False)
    """Every SG a call names, as it is now (planned SGs as they would be created)."""
    load_balancers: Mapping[str, Mapping[str, Any]] = field(hash=False)
    """ARN → description of every load balancer of ours seen."""
    target_groups: Mapping[str, Mapping[str, Any]] = field(hash=False)
    listeners: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    listener_rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    warnings: tuple[PlanWarning, ...] = ()
    notes: tuple[PlanWarning, ...] = ()
    """What the plan cannot know yet (names hashing the UID of a Service that is not created yet)."""
    rendered_bindings: tuple[Mapping[str, Any], ...] = ()
    """The TargetGroupBindings the deployed stacks render (planned ARNs as such), as the controller
    would write them; their rules are in ``calls``."""


class _ViewIngressClasses:
    """The IngressClasses, IngressClassParams and Namespaces of the view, as the controller's caches."""

    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None:
        return self._view.get(INGRESS_CLASSES, name)

    def list_ingress_classes(self) -> list[KubeObject]:
        return self._view.list(INGRESS_CLASSES)

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None:
        return self._view.get(INGRESS_CLASS_PARAMS, name)

    def get_namespace(self, name: str) -> Mapping[str, Any] | None:
        return self._view.get(NAMESPACES, name)


@dataclass
class _StackPass:
    """What the stack pass leaves for the endpoint-SG pass."""

    replaced: list[dict[str, str]] = field(default_factory=list)
    """Labels of every stack deployed or deleted: its old TargetGroupBindings are replaced."""
    rendered: list[dict[str, Any]] = field(default_factory=list)
    backend_users: set[str] = field(default_factory=set)


class Planner:
    """Plans against ``api`` (read-only through ``DryRunAwsApi``) for the cluster in ``vpc_id``."""

    def __init__(self, config: ControllerSettings, api: AwsApi, *, vpc_id: str) -> None:
        self._config = config
        self._vpc_id = vpc_id
        self.dry_run = DryRunAwsApi(api)
        self._reader = SecurityGroupReader(self.dry_run)
        self._deployer = StackDeployer(
            self.dry_run,
            self._reader,
            cluster_name=config.cluster_name,
            vpc_id=vpc_id,
            external_managed_tags=config.external_managed_tags,
        )
        self._backend_sg = BackendSGManager(
            BackendSGSettings.from_config(config, vpc_id),
            self.dry_run,
            sg_manager=SecurityGroupManager(self.dry_run, self._reader),
            reader=self._reader,
        )
        self._sg_resolver = SecurityGroupResolver(self.dry_run, vpc_id)
        self._discovery = EndpointSGDiscovery(
            self.dry_run,
            vpc_id=vpc_id,
            selector=EniSGSelector(config.cluster_name, dict(config.service_target_eni_security_group_tags)),
            reader=self._reader,
        )
        self._warnings: list[PlanWarning] = []
        self._notes: list[PlanWarning] = []
        self._targets = _Targets(ClusterView())

    async def plan(self, view: ClusterView) -> PlanOutcome:
        """One plan of ``view`` (call once per ``Planner``: the recorded calls accumulate)."""
        self._targets = _Targets(view)
        for service in view.list(SERVICES):
            if not uid_of(service):
                # Only -f manifests lack a UID: the API server assigns it (and the NodePorts) on create.
                self._notes.append(
                    PlanWarning(
                        f"service {object_key(service)}",
                        "not in the cluster yet: names that hash its UID (its load balancer, target "
                        "groups and managed security group) are known after apply",
                    )
                )
        try:
            stacks = _StackPass()
            await self._plan_services(view, stacks)
            await self._plan_ingresses(view, stacks)
            stack_calls = len(self.dry_run.calls)
            await self._backend_sg.resync_users(stacks.backend_users)
            current, future = self._bindings(view, stacks)
            await self._plan_endpoint_rules(view, current, future, self.dry_run.calls[:stack_calls])
            await self._plan_targets(view, future)
            return await self._outcome(stacks)
        finally:
            await self._reader.aclose()

    # ----------------------------------------------------------------------------- stacks

    async def _plan_services(self, view: ClusterView, stacks: _StackPass) -> None:
        enabled = self._config.feature_enabled("EnableServiceController")
        builder = ServiceModelBuilder(self._config, self._sg_resolver)
        existing_lbs = AwsExistingLoadBalancerFinder(self._deployer.elbv2_index)
        for service in view.list(SERVICES):
            if not enabled:
                if has_finalizer(service, SERVICE_FINALIZER):
                    stacks.backend_users.add(service_backend_sg_user(service))
                continue
            key = object_key(service)
            stack = service_stack_tags(self._config.cluster_name, key)
            user = service_backend_sg_user(service)
            model: StackModel | None = None
            if not is_deleting(service) and is_managed_service(service, self._config.load_balancer_class):
                try:
                    existing = await existing_lbs.find(stack)
                    model = await builder.build(service, stack, existing=existing)
                except ModelBuildError as error:
                    self._warn(f"service {key}", f"Failed build model due to {error}")
                    if has_finalizer(service, SERVICE_FINALIZER):
                        stacks.backend_users.add(user)  # the controller releases nothing then
                    continue
            if model is not None:
                await self._deploy(f"service {key}", model, [user], stacks)
            elif has_finalizer(service, SERVICE_FINALIZER):
                await self._delete(stack, stacks)

    async def _plan_ingresses(self, view: ClusterView, stacks: _StackPass) -> None:
        ingresses = view.list(INGRESSES)
        matcher = IngressClassMatcher(_ViewIngressClasses(view), ingress_class=self._config.ingress_class)
        builder = IngressModelBuilder(
            self._config,
            self._sg_resolver,
            lambda namespace, name: view.get(SERVICES, f"{namespace}/{name}"),
        )
        group_ids: set[IngressGroupId] = set()
        for ingress in ingresses:
            try:
                group_ids |= group_ids_for_ingress(ingress, matcher)
            except ModelBuildError as error:
                self._warn(f"ingress {object_key(ingress)}", f"Failed build model due to {error}")
        for group_id in sorted(group_ids):
            stack = ingress_group_stack_tags(self._config.cluster_name, group_id)
            subject = f"ingress group {group_id}"
            try:
                group = build_group(group_id, ingresses, matcher)
                model = await builder.build(group, stack) if group.members else None
            except ModelBuildError as error:
                self._warn(subject, f"Failed build model due to {error}")
                stacks.backend_users |= {
                    ingress_backend_sg_user(i) for i in ingresses if group_id.finalizer in finalizers_of(i)
                }
                continue
            if model is not None:
                users = [ingress_backend_sg_user(m.ingress) for m in group.members]
                await self._deploy(subject, model, users, stacks)
            elif any(group_id.finalizer in finalizers_of(i) for i in group.inactive_members):
                await self._delete(stack, stacks)

    async def _deploy(
        self, subject: str, model: StackModel, users: Sequence[str], stacks: _StackPass
    ) -> None:
        for warning in model.warnings:
            self._warn(subject, warning)
        backend_sg_id: str | None = None
        if model.needs_backend_sg:
            try:
                backend_sg_id = await self._backend_sg.get(users)
            except BackendSGDisabledError as error:
                self._warn(subject, f"Failed build model due to {error}")
                return
            stacks.backend_users.update(users)
        start = len(self.dry_run.calls)
        try:
            result = await self._deployer.deploy(model, backend_sg_id=backend_sg_id)
        except DeploymentPending as pending:  # only AWS refusing a deletion raises it; never in a dry run
            if pending.result is None:
                raise
            result = pending.result
        finally:
            self.dry_run.calls[start:] = in_deploy_order(self.dry_run.calls[start:])
        stacks.replaced.append(stack_labels(model.stack_tags))
        stacks.rendered.extend(dict(tgb) for tgb in result.tgb_specs)

    async def _delete(self, stack: StackTags, stacks: _StackPass) -> None:
        await self._deployer.delete_stack(stack)
        stacks.replaced.append(stack_labels(stack))

    # ----------------------------------------------------------------------------- endpoint SGs

    @staticmethod
    def _bindings(view: ClusterView, stacks: _StackPass) -> tuple[list[KubeObject], list[KubeObject]]:
        """The live TargetGroupBindings now, and as they will be once every stack was applied."""
        current = [b for b in view.list(TARGET_GROUP_BINDINGS) if not is_deleting(b)]

        def replaced(tgb: KubeObject) -> bool:
            labels = labels_of(tgb)
            return any(all(labels.get(k) == v for k, v in stack.items()) for stack in stacks.replaced)

        return current, [b for b in current if not replaced(b)] + stacks.rendered

    async def _plan_endpoint_rules(
        self,
        view: ClusterView,
        current: list[KubeObject],
        future: list[KubeObject],
        stack_calls: Sequence[PlannedCall],
    ) -> None:
        """Publish every binding as it is now (to know which SGs the controller looks after) and as
        it will be, then reconcile each of those SGs once against the bindings as they will be.

        A managed SG the deployer deletes while rules still name it makes AWS answer
        DependencyViolation, and the controller's hook (``EndpointReferenceStripper``) then looks
        after the SGs holding those rules too: so does the plan."""
        before = self._ownership()
        await self._publish_all(view, before, current, report=False)
        after = self._ownership()
        await self._publish_all(
            view, after, future, report=True, fallback={object_key(b): b for b in current}
        )
        tagged = await self._reader.find_tagged(
            self._vpc_id, cluster_tag_key(self._config.cluster_name), CLUSTER_TAG_VALUES
        )
        after.track([*before.tracked_sgs, *tagged])
        for call in stack_calls:
            if call.operation == "DeleteSecurityGroup":
                deleted = str(call.params["GroupId"])
                referencing = await self._reader.find_referencing(self._vpc_id, deleted)
                after.track(referencing.keys() - {deleted})
        reconciler = EndpointSGReconciler(after, SecurityGroupRuleReconciler(self.dry_run, self._reader))
        for sg_id in sorted(after.tracked_sgs):
            outcome = await reconciler.reconcile_sg(sg_id)
            if outcome.missing_sources:
                self._warn(
                    f"security group {sg_id}",
                    f"rules from source security groups that do not exist are not added: "
                    f"{' '.join(sorted(outcome.missing_sources))}",
                )

    async def _plan_targets(self, view: ClusterView, future: list[KubeObject]) -> None:
        """Each binding's targets synced as its reconciler syncs them; a binding that goes away
        deregisters its targets, unless its target group is deleted with them (design.md
        Difference 16, or a group the deploy replaced: nothing is left to deregister)."""
        registrar = TargetRegistrar(self.dry_run)
        resolver = self._targets
        deleted = {
            str(c.params.get("TargetGroupArn"))
            for c in self.dry_run.calls
            if c.operation == "DeleteTargetGroup"
        }
        for obj in future:
            try:
                binding = Binding.parse(obj)
                targets = [endpoint.target for endpoint in resolver.endpoints(binding)]
            except BackendNotFoundError:
                arn = str((obj.get("spec") or {}).get("targetGroupARN") or "")
                if arn and arn not in deleted:
                    await registrar.deregister_all(arn)  # its reconciler releases the targets
                continue
            except (InvalidBindingError, EndpointResolutionError):
                continue  # warned about by the rules pass; the controller changes nothing for it
            await registrar.sync(binding.target_group_arn, targets)
        staying = {object_key(b) for b in future}
        for obj in view.list(TARGET_GROUP_BINDINGS):
            # Deleted, or dropped by its stack's applier: the clean-up runs where our finalizer is.
            arn = str((obj.get("spec") or {}).get("targetGroupARN") or "")
            gone = object_key(obj) not in staying or is_deleting(obj)
            if gone and has_finalizer(obj, TGB_FINALIZER) and arn and arn not in deleted:
                await registrar.deregister_all(arn)

    def _ownership(self) -> RuleOwnership:
        return RuleOwnership(
            lambda _sg: None,
            max_port_ranges_per_source=self._config.max_port_ranges_per_source,
            merge_port_ranges=not self._config.disable_restricted_sg_rules,
        )

    async def _publish_all(
        self,
        view: ClusterView,
        ownership: RuleOwnership,
        bindings: Sequence[KubeObject],
        *,
        report: bool,
        fallback: Mapping[str, KubeObject] | None = None,
    ) -> None:
        warn: Callable[[str, str], None] = self._warn if report else (lambda _s, _m: None)
        with_networking = [b for b in bindings if has_networking(b)]
        for obj in with_networking:
            subject = f"targetgroupbinding {object_key(obj)}"
            published = await self._publish(view, ownership, obj, subject, warn)
            old = (fallback or {}).get(object_key(obj))
            if not published and old is not None and old is not obj:
                # The controller keeps a binding's last contributions when new ones cannot be computed.
                await self._publish(view, ownership, old, subject, lambda _s, _m: None)
        ownership.set_expected_tgbs(object_key(b) for b in with_networking)

    async def _publish(
        self,
        view: ClusterView,
        ownership: RuleOwnership,
        obj: KubeObject,
        subject: str,
        warn: Callable[[str, str], None],
    ) -> bool:
        """The binding's contributions, as its reconciler publishes them; False if none could be."""
        try:
            binding = Binding.parse(obj)
        except InvalidBindingError as error:
            warn(subject, str(error))
            return False
        publisher = ContributionPublisher(self._discovery, ownership)
        try:
            endpoints = self._targets.endpoints(binding)
            if binding.target_type == TARGET_TYPE_IP:
                pod_endpoints = [e for e in endpoints if isinstance(e, PodEndpoint)]
                await publisher.publish_pod_targets(
                    binding, pod_endpoints, self._targets.pod_store, self._targets.node_store
                )
            else:
                node_endpoints = [e for e in endpoints if isinstance(e, NodeEndpoint)]
                await publisher.publish_node_targets(binding, node_endpoints)
        except BackendNotFoundError as error:
            warn(subject, str(error))
            ownership.withdraw(binding.key)  # its rules are released, as the reconciler does
            return True
        except UnappliedRulesError as error:
            warn(subject, str(error))  # published all the same
        except (EndpointResolutionError, ContributionError) as error:
            warn(subject, f"{error}; its rules are left as they are")
            return False
        return True

    # ----------------------------------------------------------------------------- outcome

    def _warn(self, subject: str, message: str) -> None:
        self._warnings.append(PlanWarning(subject, message))

    async def _outcome(self, stacks: _StackPass) -> PlanOutcome:
        calls = tuple(self.dry_run.calls)
        named_set = {gid for call in calls for gid in _group_ids_of(call)}
        for call in calls:
            if call.operation == "SetSecurityGroups":  # the SGs it replaces are named too
                seen = self.dry_run.load_balancers_seen.get(str(call.params.get("LoadBalancerArn")), {})
                named_set.update(str(g) for g in seen.get("SecurityGroups") or ())
        named = sorted(named_set)
        real = [gid for gid in named if self.dry_run.planned_security_group(gid) is None]
        found = await self._reader.get_many(real, fresh=True) if real else {}
        groups: dict[str, SecurityGroupInfo] = dict(found)
        for gid in named:
            planned = self.dry_run.planned_security_group(gid)
            if planned is not None:
                groups[gid] = SecurityGroupInfo.from_aws(SecurityGroup.from_aws(planned))
        return PlanOutcome(
            calls=calls,
            security_groups=groups,
            load_balancers=dict(self.dry_run.load_balancers_seen),
            target_groups=dict(self.dry_run.target_groups_seen),
            listeners=dict(self.dry_run.listeners_seen),
            listener_rules=dict(self.dry_run.rules_seen),
            warnings=tuple(self._warnings),
            notes=tuple(self._notes),
            rendered_bindings=tuple(stacks.rendered),
        )


class _Targets:
    """What endpoint resolution reads, indexed once per plan (as the informers' indexes are)."""

    def __init__(self, view: ClusterView) -> None:
        self._view = view
        self.nodes = view.list(NODES)
        self.node_store = _store(self.nodes)
        self.pod_store = _store(view.list(PODS))
        self._slices: dict[str, list[KubeObject]] = {}
        for endpoint_slice in view.list(ENDPOINT_SLICES):
            key = slice_service_key(endpoint_slice)
            if key:
                self._slices.setdefault(key, []).append(endpoint_slice)

    def endpoints(self, binding: Binding) -> list[PodEndpoint] | list[NodeEndpoint]:
        """The binding's targets, resolved as its reconciler resolves them (raises as it does)."""
        service = self._view.get(SERVICES, binding.service_key)
        if service is None:
            raise BackendNotFoundError(f'backend not found: services "{binding.service_name}" not found')
        if binding.target_type == TARGET_TYPE_IP:
            slices = self._slices.get(binding.service_key, [])
            return resolve_pod_endpoints(service, slices, binding.service_port, binding.ip_address_type)
        return resolve_node_endpoints(service, self.nodes, binding.service_port, binding.node_selector)


def _store(objects: Sequence[KubeObject]) -> Store:
    store = Store()
    store.replace(objects)
    return store


def _group_ids_of(call: PlannedCall) -> list[str]:
    """The SGs a call changes or attaches (ids, planned ones included)."""
    params = call.params
    if call.result_id is not None and call.operation == "CreateSecurityGroup":
        return [call.result_id]
    ids: list[str] = []
    if "GroupId" in params:
        ids.append(str(params["GroupId"]))
    if call.service == "ec2" and call.operation in ("CreateTags", "DeleteTags"):
        ids += [str(r) for r in params.get("Resources") or () if str(r).startswith(("sg-", "planned-sg-"))]
    ids += [str(g) for g in params.get("SecurityGroups") or ()]
    for permission in params.get("IpPermissions") or ():
        ids += [str(p["GroupId"]) for p in permission.get("UserIdGroupPairs") or () if p.get("GroupId")]
    return ids
