"""The one Namespace cache every feature shares: Namespaces slimmed to what selectors read.

IngressClassParams' ``namespaceSelector`` and a Gateway listener's ``allowedRoutes`` selector read
a Namespace's labels inside event handlers, where no API read is possible. A cluster has few
Namespaces, but each carries annotations and managed fields nobody here reads; the shared informer
keeps only identity and labels. Every feature must pass this very transform: an informer is
shared, and its cache cannot be slim for one reader and complete for another.
"""

from __future__ import annotations

from typing import Final

from framework.kube import KubeObject
from framework.objects import meta_of

_NAMESPACE_METADATA_KEYS: Final = ("name", "uid", "resourceVersion", "labels", "deletionTimestamp")


def slim_namespace(namespace: KubeObject) -> KubeObject:
    """Keep a Namespace's identity and labels (all the namespace selectors read); idempotent."""
    metadata = meta_of(namespace)
    return {
        "apiVersion": namespace.get("apiVersion", "v1"),
        "kind": namespace.get("kind", "Namespace"),
        "metadata": {key: metadata[key] for key in _NAMESPACE_METADATA_KEYS if key in metadata},
    }
