"""``InformerBindingCache``: a stack's TargetGroupBindings as the shared TGB informer holds them.

The applier (``binding_applier``) reads a stack's TGBs here instead of LISTing them on every
reconcile. They are found by upstream's tracking labels, as the label-selected LIST found them:
``<prefix>/stack-namespace`` + ``<prefix>/stack-name``, or ``<prefix>/stack`` for an explicit
Ingress group (``controller.deploy.bindings.stack_labels``). An index on those labels makes a
lookup cost the size of the stack, not the number of TGBs in the cluster.
"""

from __future__ import annotations

from typing import Final

from controller.deploy.bindings import stack_labels
from controller.naming import StackTags
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.informer import InformerFactory, SharedInformer
from framework.kube import KubeObject
from framework.objects import labels_of, object_key

BINDINGS_BY_STACK_INDEX: Final = "stack/trackingLabels"
"""TGB index: ``<prefix> <stack id>`` of each stack whose tracking labels the TGB carries."""


def stack_index_value(prefix: str, stack_id: str) -> str:
    # A space is in neither a label key nor a label value, so two stacks never share a value.
    return f"{prefix} {stack_id}"


def binding_stacks(tgb: KubeObject) -> list[str]:
    """The index values of ``tgb``: one per stack (of any tag prefix) it is labelled with."""
    labels = labels_of(tgb)
    values = []
    for key, value in labels.items():
        prefix, slash, suffix = key.rpartition("/")
        if not slash:
            continue
        if suffix == "stack":
            values.append(stack_index_value(prefix, value))
        elif suffix == "stack-namespace" and (name := labels.get(f"{prefix}/stack-name")):
            values.append(stack_index_value(prefix, f"{value}/{name}"))
    return values


class InformerBindingCache:
    """``TargetGroupBindingCache`` (``controller.stack.seams``) on the shared TGB informer, which the
    manager syncs before any reconciler runs."""

    def __init__(self, informer: SharedInformer) -> None:
        if BINDINGS_BY_STACK_INDEX not in informer.store.indexer_names:
            informer.add_indexer(BINDINGS_BY_STACK_INDEX, binding_stacks)
        self._informer = informer

    @classmethod
    def from_factory(cls, factory: InformerFactory) -> InformerBindingCache:
        """On the factory's TGB informer: the one the TGB controller reads (cluster-wide, or the
        watched namespace)."""
        return cls(factory.informer(TARGET_GROUP_BINDINGS))

    @property
    def has_synced(self) -> bool:
        return self._informer.has_synced

    @property
    def resource_version(self) -> str:
        return self._informer.last_sync_resource_version

    def of_stack(self, stack: StackTags) -> list[KubeObject]:
        wanted = stack_labels(stack)
        found = self._informer.store.by_index(
            BINDINGS_BY_STACK_INDEX, stack_index_value(stack.prefix, stack.stack_id)
        )
        # The label selector's exact test, and the name order a LIST answers in.
        return sorted(
            (tgb for tgb in found if all(labels_of(tgb).get(k) == v for k, v in wanted.items())),
            key=object_key,
        )
