"""Write semantics of the API server: create, update, patch and delete with the checks, defaults and
side effects a real kube-apiserver applies (optimistic concurrency, finalizers, status isolation,
generation, managedFields, namespaces, CRD registration, Service allocations)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from . import errors
from .conversion import is_converted, to_storage, to_view
from .crd_defaulting import apply_absent_root_defaults, decode_custom_resource
from .crd_pruning import prune_unknown_fields
from .defaults import ServiceAllocator, allocate_service, apply_defaults, crd_status, release_service
from .errors import ApiError, FieldError
from .patching import (
    PatchApplyError,
    copy_json,
    decode_json_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
    unprocessable_patch,
)
from .resources import ResourceRegistry, ResourceType, resource_from_crd
from .store import Entry, JsonObject, Store
from .validation import check_secret_data, validate_object, validate_update

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Real strategies that create an object on PUT when it does not exist yet.
_CREATE_ON_UPDATE = {("", "services"), ("", "endpoints"), ("", "events"), ("events.k8s.io", "events")}
# Resources whose DELETE answers with the deleted object rather than a Success Status.
_RETURN_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces")}
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Target:
    """What a request addresses. `namespace` is "" for cluster-scoped resources and all-namespace lists."""

    resource: ResourceType
    version: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""

    @property
    def api_version(self) -> str:
        return self.resource.api_version(self.version)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises (faster than strftime)."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a JSON or YAML request body, with the 400 messages of the real decoder."""
    try:
        if content_type == "application/yaml":
            return yaml.safe_load(raw.decode())
        return json.loads(raw.decode())
    except (json.JSONDecodeError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _fields_v1(value: Any, depth: int = 4) -> JsonObject:
    """A FieldsV1 set: maps down to `depth` levels; lists and deeper maps are owned as a whole."""
    if not isinstance(value, dict) or depth == 0:
        return {}
    fields: JsonObject = {}
    for key, child in value.items():
        owned = _fields_v1(child, depth - 1)
        if isinstance(child, dict) and child and owned:
            owned["."] = {}
        fields[f"f:{key}"] = owned
    return fields


_SERVER_OWNED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
)


def _managed_fields(obj: Mapping[str, Any], subresource: str) -> JsonObject:
    source: JsonObject = {}
    if subresource == "status":
        if "status" in obj:
            source["status"] = obj["status"]
        return _fields_v1(source)
    for key, value in obj.items():
        if key in ("kind", "apiVersion", "status"):
            continue
        if key == "metadata":
            meta = {k: v for k, v in value.items() if k not in _SERVER_OWNED_METADATA}
            if meta:
                source["metadata"] = meta
        else:
            source[key] = value
    return _fields_v1(source)


def _without_volatile(obj: Mapping[str, Any]) -> JsonObject:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": meta}


def _non_meta(obj: Mapping[str, Any]) -> JsonObject:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


class ObjectRegistry:
    def __init__(
        self,
        store: Store,
        resources: ResourceRegistry,
        allocator: ServiceAllocator,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self.store = store
        self.resources = resources
        self._allocator = allocator
        self._clock = clock
        self._rng = rng

    # ------------------------------------------------------------------------------------ helpers

    def now(self) -> str:
        return format_time(self._clock())

    def current_time(self) -> datetime:
        return self._clock()

    def render(self, entry: Entry, target: Target) -> bytes:
        """The object as JSON in the requested version (served versions share one storage)."""
        if entry.obj.get("apiVersion") == target.api_version and not is_converted(target.resource):
            return entry.full_json()
        return json.dumps(self.view(entry, target), separators=(",", ":")).encode()

    def render_list_item(self, entry: Entry, target: Target) -> bytes:
        """The object as a typed list of a built-in resource renders it: without kind/apiVersion."""
        if not is_converted(target.resource):
            return entry.item_json()
        item = self.view(entry, target)
        del item["kind"], item["apiVersion"]
        return json.dumps(item, separators=(",", ":")).encode()

    def view(self, entry: Entry, target: Target) -> JsonObject:
        """The stored object as the target's resource serves it (values shared, not copied)."""
        return to_view(target.resource, entry.obj, target.api_version)

    def _to_storage(self, resource: ResourceType, obj: JsonObject) -> JsonObject:
        if not is_converted(resource):
            return obj
        stored = self.resources.get(*resource.storage_key)
        assert stored is not None, f"{resource.key} is a view of the unregistered {resource.storage_key}"
        return to_storage(resource, obj, stored.api_version(stored.preferred_version))

    def get(self, target: Target) -> Entry:
        entry = self.store.get(target.resource.storage_key, target.namespace, target.name)
        if entry is None:
            raise errors.not_found(target.resource.group, target.resource.plural, target.name)
        return entry

    def _check_type(self, target: Target, body: Any) -> JsonObject:
        if not isinstance(body, dict):
            found = "array" if isinstance(body, list) else "string" if isinstance(body, str) else "value"
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: json: cannot unmarshal {found} into Go value of "
                'type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string '
                '"json:\\"kind,omitempty\\"" }'
            )
        resource = target.resource
        kind = body.get("kind")
        api_version = body.get("apiVersion")
        if not resource.builtin and not kind:
            raise errors.bad_request(
                f"Object 'Kind' is missing in '{json.dumps(body, separators=(',', ':'))}'"
            )
        if kind and kind != resource.kind:
            raise errors.bad_request(
                f"the kind in the request body ({kind}) does not match the resource of the URL ({resource.kind})"
            )
        if api_version and api_version not in [resource.api_version(v) for v in resource.versions]:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({target.api_version})"
            )
        metadata = body.get("metadata")
        if metadata is None:
            metadata = {}
        elif not isinstance(metadata, dict):
            raise errors.bad_request(
                "json: cannot unmarshal into Go struct field Object.metadata of type v1.ObjectMeta"
            )
        # The registry takes ownership of `body`'s values (freshly decoded, or built by `patch`), so
        # nothing is copied. kind/apiVersion/metadata lead, in the real server's order, which also
        # lets Entry derive the list-item JSON from the full JSON without a second encoding.
        obj: JsonObject = {"kind": resource.kind, "apiVersion": target.api_version, "metadata": metadata}
        for key, value in body.items():
            if key not in obj:
                obj[key] = value
        return obj

    def _invalid(self, resource: ResourceType, name: str, field_errors: list[FieldError]) -> ApiError:
        return errors.invalid(resource.error_group, resource.kind, name, field_errors)

    @staticmethod
    def _decode_custom_resource(target: Target, obj: JsonObject) -> None:
        """What decoding a custom resource's request body does: prune, coerce metadata and default
        with the schema of the version the request is written in; then, as converting it to the
        storage version does, prune with that version's schema too."""
        resource = target.resource
        schema = resource.schemas.get(target.version)
        if schema is not None:
            decode_custom_resource(obj, schema.root)
        stored = resource.storage_schema
        if stored is not None and target.version != resource.storage_version:
            prune_unknown_fields(obj, stored.root)

    @staticmethod
    def _as_read_back(target: Target, obj: JsonObject) -> None:
        """A custom resource as the real server returns it after writing it: decoded from storage
        with the storage version's schema, so defaults that the write removed again come back
        (e.g. a `status` default after a create dropped the status)."""
        resource = target.resource
        schema = resource.storage_schema
        if schema is None:
            return
        if target.version == resource.storage_version:
            apply_absent_root_defaults(obj, schema.root)
        else:
            decode_custom_resource(obj, schema.root)

    def _record_manager(self, obj: JsonObject, manager: str, subresource: str, api_version: str) -> None:
        meta = obj["metadata"]
        entries = [
            e
            for e in meta.get("managedFields") or ()
            if not (
                e.get("manager") == manager
                and e.get("operation") == "Update"
                and e.get("subresource", "") == subresource
            )
        ]
        record: JsonObject = {
            "manager": manager,
            "operation": "Update",
            "apiVersion": api_version,
            "time": self.now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": _managed_fields(obj, subresource),
        }
        if subresource:
            record["subresource"] = subresource
        entries.append(record)
        meta["managedFields"] = entries

    def _check_namespace(self, target: Target, name: str) -> None:
        if not target.resource.namespaced:
            return
        namespace = self.store.get(NAMESPACE_KEY, "", target.namespace)
        if namespace is None:
            raise errors.not_found("", "namespaces", target.namespace)
        if namespace.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                target.resource.group,
                target.resource.plural,
                name,
                f"unable to create new content in namespace {target.namespace} because it is being terminated",
            )

    # ------------------------------------------------------------------------------------- create

    def create(self, target: Target, body: Any, manager: str) -> Entry:
        resource = target.resource
        obj = self._check_type(target, body)
        if not resource.builtin:
            self._decode_custom_resource(target, obj)
            if resource.has_status:
                obj.pop("status", None)  # a create cannot set the status of a status subresource
        meta = obj["metadata"]
        if resource.namespaced:
            body_namespace = meta.get("namespace")
            if body_namespace and body_namespace != target.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = target.namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(
                500,
                "InternalError",
                "Internal error occurred: resourceVersion should not be set on objects to be created",
                {"causes": [{"message": "resourceVersion should not be set on objects to be created"}]},
            )
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        name = str(meta.get("name") or "")
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = self.now()
        if resource.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if resource.key == ("", "secrets"):
            check_secret_data(obj)
        apply_defaults(resource.group, resource.plural, obj, None)
        if resource.key == CRD_KEY and obj.get("spec", {}).get("names"):
            obj["status"] = crd_status(obj, meta["creationTimestamp"])
        field_errors = validate_object(resource, obj)
        if resource.key == CRD_KEY and not field_errors:
            field_errors = self._check_crd_conflicts(obj)
        if field_errors:
            raise self._invalid(resource, name, field_errors)
        if name:
            self._check_namespace(target, name)
        if self.store.get(resource.storage_key, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(resource.group, resource.plural, name)
        if resource.key == ("", "services"):
            allocation_errors = allocate_service(obj, None, self._allocator)
            if allocation_errors:
                raise self._invalid(resource, name, allocation_errors)
        self._record_manager(obj, manager, "", target.api_version)
        self._as_read_back(target, obj)
        entry = self.store.put(resource.storage_key, self._to_storage(resource, obj), None)
        if resource.key == CRD_KEY:
            self.resources.register(resource_from_crd(obj))
        return entry

    def _check_crd_conflicts(self, crd: JsonObject) -> list[FieldError]:
        spec = crd["spec"]
        existing = self.resources.get(spec["group"], spec["names"]["plural"])
        if existing is not None and existing.builtin:
            return [
                FieldError.invalid("spec.names.plural", spec["names"]["plural"], "is a built-in resource")
            ]
        return []

    # ------------------------------------------------------------------------------------- update

    def update(self, target: Target, body: Any, manager: str) -> Entry:
        resource = target.resource
        obj = self._check_type(target, body)
        meta = obj["metadata"]
        body_name = meta.get("name")
        if body_name is not None and body_name != target.name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({target.name})"
            )
        if resource.namespaced and meta.get("namespace") and meta["namespace"] != target.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        prev = self.store.get(resource.storage_key, target.namespace, target.name)
        if prev is None:
            if resource.key in _CREATE_ON_UPDATE and not target.subresource:
                meta["name"] = target.name
                meta.pop("resourceVersion", None)
                return self.create(target, obj, manager)
            raise errors.not_found(resource.group, resource.plural, target.name)
        if not meta.get("resourceVersion") and (not resource.builtin or resource.key == CRD_KEY):
            raise self._invalid(
                resource,
                target.name,
                [FieldError.invalid("metadata.resourceVersion", 0, "must be specified for an update")],
            )
        return self._commit_update(target, prev, obj, manager)

    def _commit_update(self, target: Target, prev: Entry, proposed: JsonObject, manager: str) -> Entry:
        resource = target.resource
        if not resource.builtin:
            self._decode_custom_resource(target, proposed)
        # Checks, defaults and the no-op test all see the object as the client's version shows it.
        old = prev.obj if not is_converted(resource) else self.view(prev, target)
        requested_rv = proposed["metadata"].get("resourceVersion")
        if requested_rv and requested_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.group, resource.plural, target.name, errors.STALE_OBJECT)
        if target.subresource == "status":
            # Everything but status comes from the stored object, shared rather than copied: the
            # status path below never mutates spec or metadata maps in place.
            new = {k: v for k, v in old.items() if k != "status"}
            new["metadata"] = dict(old["metadata"])
            if "status" in proposed:
                new["status"] = proposed["status"]
        else:
            new = proposed
            if resource.has_status:
                if "status" in old:
                    new["status"] = copy_json(old["status"])
                else:
                    new.pop("status", None)
        new["kind"] = resource.kind
        new["apiVersion"] = old["apiVersion"]
        meta = new["metadata"]
        old_meta = old["metadata"]
        for field in (
            "name",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if resource.namespaced:
            meta["namespace"] = old_meta["namespace"]
        # Shared: _record_manager builds a new list and never edits the entries.
        meta["managedFields"] = old_meta.get("managedFields") or []
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or () if f not in (old_meta.get("finalizers") or ())]
            if added:
                rendered = "[]string{" + ", ".join(json.dumps(f) for f in added) + "}"
                raise self._invalid(
                    resource,
                    target.name,
                    [
                        FieldError.forbidden(
                            "metadata.finalizers",
                            f"no new finalizers can be added if the object is being deleted, found new finalizers {rendered}",
                        )
                    ],
                )
        if target.subresource != "status":
            if resource.key == ("", "secrets"):
                check_secret_data(new)
            apply_defaults(resource.group, resource.plural, new, old)
        field_errors = validate_object(resource, new, old, target.subresource) + validate_update(
            resource, old, new
        )
        if field_errors:
            raise self._invalid(resource, target.name, field_errors)
        if _without_volatile(new) == _without_volatile(old):
            return prev  # a no-op write neither bumps the resourceVersion nor emits an event
        if resource.has_generation and _non_meta(new) != _non_meta(old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if resource.key == ("", "services") and target.subresource != "status":
            allocation_errors = allocate_service(new, old, self._allocator)
            if allocation_errors:
                raise self._invalid(resource, target.name, allocation_errors)
        self._record_manager(new, manager, target.subresource, target.api_version)
        self._as_read_back(target, new)
        new = self._to_storage(resource, new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._spec_finalizers(new):
            return self._finalize(resource, new, prev)
        entry = self.store.put(resource.storage_key, new, prev)
        if resource.key == CRD_KEY:
            self._register_crd(new)
        return entry

    def _register_crd(self, crd: JsonObject) -> None:
        """Serve the CRD's resource as it now is. When the storage version's schema changed, the
        stored objects are read as the real server reads them with the new schema (pruned and
        defaulted) without being written back: no new resourceVersion, no watch event."""
        served = resource_from_crd(crd)
        before = self.resources.get(*served.key)
        self.resources.register(served)
        schema = served.storage_schema
        if before is None or schema is None or before.storage_schema == schema:
            return
        for entry in list(self.store.iterate(served.storage_key, None)):
            as_read = copy_json(entry.obj)
            decode_custom_resource(as_read, schema.root)
            if as_read != entry.obj:
                self.store.refresh(served.storage_key, entry, as_read)

    @staticmethod
    def _spec_finalizers(obj: Mapping[str, Any]) -> list[str]:
        if obj.get("kind") == "Namespace":
            return list((obj.get("spec") or {}).get("finalizers") or ())
        return []

    # -------------------------------------------------------------------------------------- patch

    def patch(self, target: Target, content_type: str, raw: bytes, manager: str) -> Entry:
        resource = target.resource
        accepted = [JSON_PATCH, MERGE_PATCH] + ([STRATEGIC_MERGE_PATCH] if resource.builtin else [])
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        body = decode_body(raw, "application/json")
        prev = self.get(target)
        original: JsonObject = copy_json(self.view(prev, target))
        if content_type == JSON_PATCH:
            operations = decode_json_patch(body)
            try:
                patched = json_patch(original, operations)
            except PatchApplyError as exc:
                raise unprocessable_patch(str(exc)) from None
        else:
            if not isinstance(body, dict):
                kind = "array" if isinstance(body, list) else "value"
                raise errors.bad_request(
                    f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
                )
            if content_type == MERGE_PATCH:
                patched = merge_patch(original, body)
            else:
                patched = strategic_merge_patch(original, body, resource.kind)
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise errors.bad_request("the patched object is not a valid Kubernetes object")
        patched_name = patched["metadata"].get("name")
        if patched_name != target.name:
            raise errors.bad_request(
                f"the name of the object ({patched_name}) does not match the name on the URL ({target.name})"
            )
        patched["kind"] = patched.get("kind") or resource.kind
        patched["apiVersion"] = patched.get("apiVersion") or target.api_version
        proposed = self._check_type(target, patched)
        return self._commit_update(target, prev, proposed, manager)

    # ------------------------------------------------------------------------------------- delete

    def delete(self, target: Target, options: Mapping[str, Any]) -> tuple[Entry, bool]:
        """Delete or start deleting; returns the resulting entry and whether the object is gone."""
        resource = target.resource
        prev = self.get(target)
        preconditions = options.get("preconditions") or {}
        meta = prev.obj["metadata"]
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.precondition_failed(
                resource.error_group,
                resource.kind,
                target.name,
                f"the UID in the precondition ({preconditions['uid']}) does not match the UID in record "
                f"({meta['uid']}). The object might have been deleted and then recreated",
            )
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != meta["resourceVersion"]
        ):
            raise errors.precondition_failed(
                resource.error_group,
                resource.kind,
                target.name,
                f"the ResourceVersion in the precondition ({preconditions['resourceVersion']}) does not match "
                f"the ResourceVersion in record ({meta['resourceVersion']}). The object might have been modified",
            )
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
            raise errors.invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                [
                    FieldError.not_supported(
                        "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"]
                    )
                ],
            )
        return self._delete_entry(resource, prev)

    def _delete_entry(self, resource: ResourceType, prev: Entry) -> tuple[Entry, bool]:
        meta = prev.obj["metadata"]
        if meta.get("deletionTimestamp"):
            return prev, False
        if meta.get("finalizers") or resource.key == NAMESPACE_KEY:
            new = copy_json(prev.obj)
            new["metadata"]["deletionTimestamp"] = self.now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if resource.has_generation:
                new["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            if resource.key == NAMESPACE_KEY:
                new.setdefault("status", {})["phase"] = "Terminating"
            entry = self.store.put(resource.storage_key, new, prev)
            if resource.key == NAMESPACE_KEY:
                return self._terminate_namespace(entry)
            return entry, False
        return self._finalize(resource, copy_json(prev.obj), prev), True

    def _finalize(self, resource: ResourceType, final: JsonObject, prev: Entry) -> Entry:
        """Remove an object for good, with the side effects of its disappearance."""
        if resource.key == CRD_KEY:
            self._drop_custom_resources(final)
        entry = self.store.remove(resource.storage_key, final, prev)
        if resource.key == ("", "services"):
            release_service(prev.obj, self._allocator)
        if resource.key == CRD_KEY:
            spec = final["spec"]
            self.resources.unregister(spec["group"], spec["names"]["plural"])
            self.store.drop_resource((spec["group"], spec["names"]["plural"]))
        namespace = prev.namespace
        if namespace and self.store.count_in_namespace(namespace) == 0:
            owner = self.store.get(NAMESPACE_KEY, "", namespace)
            if owner is not None and owner.obj["metadata"].get("deletionTimestamp"):
                self._finalize_namespace(owner)
        return entry

    def _drop_custom_resources(self, crd: Mapping[str, Any]) -> None:
        key = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        for entry in list(self.store.iterate(key, None)):
            self.store.remove(key, copy_json(entry.obj), entry)

    def _terminate_namespace(self, namespace: Entry) -> tuple[Entry, bool]:
        """Stand in for the namespace controller: delete everything in it, then the namespace itself
        once nothing (no object held by a finalizer) is left."""
        name = namespace.name
        for resource in self.resources.all():
            if not resource.namespaced or resource.storage_key != resource.key:
                continue  # views of another resource's store are deleted with that resource
            for entry in list(self.store.iterate(resource.key, name)):
                self._delete_entry(resource, entry)
        current = self.store.get(NAMESPACE_KEY, "", name)
        if current is None:
            return namespace, True
        if self.store.count_in_namespace(name) == 0:
            return self._finalize_namespace(current), True
        return current, False

    def _finalize_namespace(self, namespace: Entry) -> Entry:
        final = copy_json(namespace.obj)
        final.setdefault("spec", {})["finalizers"] = []
        return self.store.remove(NAMESPACE_KEY, final, namespace)

    def returns_deleted_object(self, resource: ResourceType) -> bool:
        return resource.key in _RETURN_DELETED_OBJECT

    # ---------------------------------------------------------------------------------- bootstrap

    def ensure_namespace(self, name: str) -> None:
        if self.store.get(NAMESPACE_KEY, "", name) is None:
            namespaces = self.resources.get(*NAMESPACE_KEY)
            assert namespaces is not None
            self.create(Target(namespaces, "v1"), {"metadata": {"name": name}}, "kube-apiserver")
