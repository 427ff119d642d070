"""A strict Kubernetes API stand-in server, over plain HTTP on 127.0.0.1.

Strict where a real kube-apiserver is strict, so client bugs fail here as they would in a
cluster: 201 on create, 409 AlreadyExists/Conflict, 410 Expired, 415 for strategic merge on custom
resources, 422 with field causes, status-subresource isolation, finalizer rules, `Status` bodies.

Use it as:

* an async context manager: ``async with StandInApiServer() as server: server.client_configuration()``;
* pytest fixtures ``standin_server`` / ``apiserver`` from ``framework.testing.pytest_plugin``;
* a background thread: ``with ThreadedStandIn() as server: ...`` (own event loop; hooks via ``call``);
* a process: ``python -m framework.testing.apiserver --port N --kubeconfig PATH``.

Deliberately not emulated (no controllers run behind the API): garbage collection by
ownerReferences (propagationPolicy is accepted and validated, but dependents are not deleted),
graceful pod termination (pods without finalizers go at once), server-side apply
(`application/apply-patch+yaml` answers 415), dry-run (400), `fieldValidation=Strict`
unknown-field checks (unknown fields are dropped silently, with no `Warning` header), CRD version
conversion (served versions share one storage; only `apiVersion` is rewritten), CRD validation
rules (`x-kubernetes-validations`, CEL: not evaluated, see `crd_validation` for what is reproduced),
aggregated discovery (kubectl falls back to legacy discovery) and the PartialObjectMetadata
conversions. Deleting a CRD removes its objects at once, finalizers or not; deleting a namespace
deletes its contents immediately and the namespace once it is empty.

Custom resources get what the real server does with their CRD version's structural schema:
unknown fields pruned (`crd_pruning`), `default`s applied on every write and to stored objects
when the schema changes (`crd_defaulting`), and the schema validated with the real 422 causes
(`crd_validation`).

`kubectl get` output is served as the real server serves it: `Table` responses (get, list and
watch) with the built-in printers' columns, and NAME + `additionalPrinterColumns` for custom
resources (see `tables`).
"""

from .faults import FaultInjector, FaultRule, RequestInfo, RequestLog, RequestRecord
from .server import StandInApiServer, StandInSettings, ThreadedStandIn

__all__ = [
    "FaultInjector",
    "FaultRule",
    "RequestInfo",
    "RequestLog",
    "RequestRecord",
    "StandInApiServer",
    "StandInSettings",
    "ThreadedStandIn",
]
