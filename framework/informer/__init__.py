"""Informers: list+watch reflectors, an indexed cache and event fan-out to handlers.

Public surface::

    factory = InformerFactory(client, clock=clock)
    pods = factory.informer(PODS, namespace="default")
    pods.add_handler(FunctionHandler(add=..., update=..., delete=...), resync_period=600)
    factory.start(); await factory.wait_for_sync(timeout=120)
    pods.store.by_index("namespace", "default")
"""

from framework.informer.backoff import Backoff, BackoffPolicy
from framework.informer.factory import InformerFactory
from framework.informer.handlers import EventHandler, FunctionHandler
from framework.informer.informer import HandlerRegistration, SharedInformer
from framework.informer.keys import (
    DeletedFinalStateUnknown,
    deletion_key,
    final_state,
    object_key,
    resource_version,
    split_key,
)
from framework.informer.reflector import Reflector, ReflectorSettings, ReflectorSink, ReflectorStats
from framework.informer.store import NAMESPACE_INDEX, IndexFunc, Store
from framework.informer.transform import Transform, chain, strip_managed_fields
from framework.informer.watchdog import InactivityWatchdog, WatchStalled

__all__ = [
    "NAMESPACE_INDEX",
    "Backoff",
    "BackoffPolicy",
    "DeletedFinalStateUnknown",
    "EventHandler",
    "FunctionHandler",
    "HandlerRegistration",
    "InactivityWatchdog",
    "IndexFunc",
    "InformerFactory",
    "Reflector",
    "ReflectorSettings",
    "ReflectorSink",
    "ReflectorStats",
    "SharedInformer",
    "Store",
    "Transform",
    "WatchStalled",
    "chain",
    "deletion_key",
    "final_state",
    "object_key",
    "resource_version",
    "split_key",
    "strip_managed_fields",
]
