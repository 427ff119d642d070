"""Validation the real API server applies before storing, limited to what our clients can trip over:
object names, labels/annotations/finalizers/ownerReferences, per-kind required fields, and custom
resources' CRD schemas (`crd_validation`)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from .crd_validation import validate_custom_resource
from .errors import FieldError, bad_request
from .resources import ResourceType
from .selectors import label_value_errors, qualified_name_errors

JsonObject = dict[str, Any]

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _subdomain(name: str) -> list[str]:
    errors = []
    if len(name) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(name):
        errors.append(SUBDOMAIN_MESSAGE)
    return errors


def _label(name: str) -> list[str]:
    errors = []
    if len(name) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.match(name):
        errors.append(LABEL_MESSAGE)
    return errors


def _dns1035(name: str) -> list[str]:
    errors = []
    if len(name) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(name):
        errors.append(DNS1035_MESSAGE)
    return errors


def _path_segment(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    for bad in ("/", "%"):
        if bad in name:
            return [f"may not contain '{bad}'"]
    return []


def _mask_trailing_dash(name: str) -> str:
    """apimachinery's maskTrailingDash, quirk included: a generateName ending in '-' is checked
    with its last TWO characters replaced by 'a' (the dash will be followed by random characters)."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def _as_prefix(check: Callable[[str], list[str]]) -> Callable[[str, bool], list[str]]:
    def validate(name: str, prefix: bool) -> list[str]:
        return check(_mask_trailing_dash(name) if prefix else name)

    return validate


def _path_segment_name(name: str, prefix: bool) -> list[str]:
    if prefix:
        # A prefix may be "." or ".."; only the characters that would break the path are checked.
        return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name][:1]
    return _path_segment(name)


def name_validator(resource: ResourceType) -> Callable[[str, bool], list[str]]:
    """The name check for a resource, called with `prefix=True` for metadata.generateName. Custom
    resources' names are DNS subdomains (apiextensions validates them with NameIsDNSSubdomain)."""
    if resource.key == ("", "events"):
        # core/v1 Events keep their legacy validation for compatibility: only the generic check
        # that the name is a usable path segment. events.k8s.io/v1 validates them as subdomains.
        return _path_segment_name
    if resource.plural == "namespaces":
        return _as_prefix(_label)
    if resource.plural == "services" and resource.group == "":
        return _as_prefix(_dns1035)
    return _as_prefix(_subdomain)


def validate_metadata(resource: ResourceType, obj: Mapping[str, Any]) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    validate_name = name_validator(resource)
    generate_name = meta.get("generateName") or ""
    if generate_name:
        # Checked as a prefix, before the name (which may have been generated from it).
        for reason in validate_name(str(generate_name), True):
            errors.append(FieldError.invalid("metadata.generateName", generate_name, reason))
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    else:
        for reason in validate_name(name, False):
            errors.append(FieldError.invalid("metadata.name", name, reason))
    for key, value in (meta.get("labels") or {}).items():
        for reason in qualified_name_errors(key):
            errors.append(FieldError.invalid("metadata.labels", key, reason))
        if not isinstance(value, str):
            errors.append(FieldError.invalid(f"metadata.labels[{key}]", value, "must be a string"))
            continue
        for reason in label_value_errors(value):
            errors.append(FieldError.invalid("metadata.labels", value, reason))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        for reason in qualified_name_errors(key):
            errors.append(FieldError.invalid("metadata.annotations", key, reason))
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        errors.append(
            FieldError("FieldValueTooLong", "metadata.annotations", "must have at most 262144 bytes")
        )
    for index, owner in enumerate(meta.get("ownerReferences") or ()):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not (isinstance(owner, dict) and owner.get(required)):
                label = "uid" if required == "uid" else required
                errors.append(
                    FieldError.invalid(
                        f"metadata.ownerReferences[{index}].{label}",
                        owner.get(label, ""),
                        f"{label} must not be empty",
                    )
                    if label in ("apiVersion", "kind", "uid")
                    else FieldError.invalid(
                        f"metadata.ownerReferences[{index}].name", "", "name must not be empty"
                    )
                )
    finalizers = [str(f) for f in meta.get("finalizers") or ()]
    for finalizer in finalizers:
        # apimachinery reports these against the list, without an index.
        for reason in qualified_name_errors(finalizer):
            errors.append(FieldError.invalid("metadata.finalizers", finalizer, reason))
    if resource.builtin:
        # Built-in types also require a domain-qualified name unless it is a standard finalizer;
        # custom resources only get a warning for that.
        for index, finalizer in enumerate(finalizers):
            if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
                errors.append(
                    FieldError.invalid(
                        f"metadata.finalizers[{index}]",
                        finalizer,
                        "name is neither a standard finalizer name nor is it fully qualified",
                    )
                )
    return errors


# ------------------------------------------------------------------------------------- per kind


def _validate_pod(obj: JsonObject) -> list[FieldError]:
    spec = obj.get("spec") or {}
    containers = spec.get("containers") or []
    errors: list[FieldError] = []
    if not containers:
        errors.append(FieldError.required("spec.containers", ""))
    for index, container in enumerate(containers):
        name = container.get("name") or ""
        if not name:
            errors.append(FieldError.required(f"spec.containers[{index}].name", ""))
        else:
            errors.extend(FieldError.invalid(f"spec.containers[{index}].name", name, r) for r in _label(name))
        if not container.get("image"):
            errors.append(FieldError.required(f"spec.containers[{index}].image", ""))
    return errors


_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def _validate_service(obj: JsonObject) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    service_type = spec.get("type", "ClusterIP")
    if service_type not in _SERVICE_TYPES:
        errors.append(FieldError.not_supported("spec.type", service_type, _SERVICE_TYPES))
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and service_type != "ExternalName" and not headless:
        errors.append(FieldError.required("spec.ports", ""))
    if service_type == "ExternalName" and not spec.get("externalName"):
        errors.append(FieldError.required("spec.externalName", ""))
    seen_names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errors.append(FieldError.required(f"{path}.name", ""))
        elif name:
            if name in seen_names:
                errors.append(FieldError.duplicate(f"{path}.name", name))
            seen_names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                FieldError.invalid(f"{path}.port", number, "must be between 1 and 65535, inclusive")
            )
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            errors.append(FieldError.not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
        if port.get("nodePort") and service_type not in ("NodePort", "LoadBalancer"):
            errors.append(
                FieldError.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'")
            )
    policy = spec.get("externalTrafficPolicy")
    if policy is not None and service_type not in ("NodePort", "LoadBalancer"):
        errors.append(
            FieldError.invalid(
                "spec.externalTrafficPolicy", policy, "may only be set for externally-accessible services"
            )
        )
    elif policy not in (None, "Cluster", "Local"):
        errors.append(FieldError.not_supported("spec.externalTrafficPolicy", policy, ["Cluster", "Local"]))
    return errors


def _validate_ingress(obj: JsonObject) -> list[FieldError]:
    errors: list[FieldError] = []
    for r_index, rule in enumerate((obj.get("spec") or {}).get("rules") or ()):
        for p_index, path in enumerate(((rule or {}).get("http") or {}).get("paths") or ()):
            field = f"spec.rules[{r_index}].http.paths[{p_index}]"
            path_type = path.get("pathType")
            if path_type is None:
                errors.append(FieldError.required(f"{field}.pathType", "pathType must be specified"))
            elif path_type not in ("Exact", "Prefix", "ImplementationSpecific"):
                errors.append(
                    FieldError.not_supported(
                        f"{field}.pathType", path_type, ["Exact", "ImplementationSpecific", "Prefix"]
                    )
                )
            if "backend" not in path:
                errors.append(FieldError.required(f"{field}.backend", ""))
    return errors


def _validate_endpoint_slice(obj: JsonObject) -> list[FieldError]:
    errors: list[FieldError] = []
    address_type = obj.get("addressType")
    if address_type is None:
        errors.append(FieldError.required("addressType", ""))
    elif address_type not in ("IPv4", "IPv6", "FQDN"):
        errors.append(FieldError.not_supported("addressType", address_type, ["FQDN", "IPv4", "IPv6"]))
    for index, endpoint in enumerate(obj.get("endpoints") or ()):
        if not endpoint.get("addresses"):
            errors.append(
                FieldError.required(f"endpoints[{index}].addresses", "must contain at least 1 address")
            )
    return errors


def _validate_core_event(obj: JsonObject) -> list[FieldError]:
    involved = obj.get("involvedObject") or {}
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    involved_namespace = involved.get("namespace", "")
    if involved_namespace and involved_namespace != namespace:
        return [
            FieldError.invalid(
                "involvedObject.namespace", involved_namespace, "does not match event.namespace"
            )
        ]
    return []


def _validate_new_event(obj: JsonObject) -> list[FieldError]:
    errors = [
        FieldError.required(field, "")
        for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason")
        if not obj.get(field)
    ]
    event_type = obj.get("type")
    if event_type not in ("Normal", "Warning"):
        errors.append(
            FieldError.invalid(
                "type", event_type or "", "has invalid value, valid values are: Normal, Warning"
            )
        )
    return errors


def _validate_crd(obj: JsonObject) -> list[FieldError]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errors: list[FieldError] = []
    group = spec.get("group") or ""
    if not group:
        errors.append(FieldError.required("spec.group", ""))
    elif "." not in group:
        errors.append(FieldError.invalid("spec.group", group, "should be a domain with at least one dot"))
    for field in ("plural", "kind"):
        if not names.get(field):
            errors.append(FieldError.required(f"spec.names.{field}", ""))
    name = (obj.get("metadata") or {}).get("name", "")
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        errors.append(FieldError.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        errors.append(FieldError.not_supported("spec.scope", scope or "", ["Cluster", "Namespaced"]))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(
            FieldError.required("spec.versions", "must have exactly one version marked as storage version")
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append(
            FieldError.invalid(
                "spec.versions", versions, "must have exactly one version marked as storage version"
            )
        )
    for index, version in enumerate(versions):
        if not version.get("name"):
            errors.append(FieldError.required(f"spec.versions[{index}].name", ""))
    return errors


_KIND_VALIDATORS: dict[tuple[str, str], Callable[[JsonObject], list[FieldError]]] = {
    ("", "pods"): _validate_pod,
    ("", "services"): _validate_service,
    ("", "events"): _validate_core_event,
    ("events.k8s.io", "events"): _validate_new_event,
    ("networking.k8s.io", "ingresses"): _validate_ingress,
    ("discovery.k8s.io", "endpointslices"): _validate_endpoint_slice,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _validate_crd,
}


def validate_object(
    resource: ResourceType, obj: JsonObject, old: JsonObject | None = None, subresource: str = ""
) -> list[FieldError]:
    """Everything the real server checks on a write of `obj` (`old` on an update): metadata, the
    built-in kinds' own rules, and a custom resource's CRD schema (only its status on a status
    write)."""
    errors = validate_metadata(resource, obj)
    validator = _KIND_VALIDATORS.get(resource.key)
    if validator is not None:
        errors.extend(validator(obj))
    schema = resource.storage_schema
    if schema is not None:
        # Objects are validated in the storage version (the real server's internal version for
        # custom resources), whichever version the request used.
        errors.extend(
            validate_custom_resource(schema, obj, old, status_only=subresource == "status", prior=errors)
        )
    return errors


def validate_update(resource: ResourceType, old: JsonObject, new: JsonObject) -> list[FieldError]:
    """Immutability rules the real server enforces on update."""
    errors: list[FieldError] = []
    if resource.key == ("", "services"):
        old_ip = (old.get("spec") or {}).get("clusterIP")
        new_ip = (new.get("spec") or {}).get("clusterIP")
        if old_ip and new_ip != old_ip:
            errors.append(FieldError.invalid("spec.clusterIPs[0]", new_ip, "may not change once set"))
        errors.extend(_validate_load_balancer_status(new))
    elif resource.key == ("", "pods"):
        if _pod_spec_without_images(old) != _pod_spec_without_images(new):
            errors.append(
                FieldError.forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                    "(allow it to be set to 1 if it was previously negative)",
                )
            )
    elif resource.key == ("discovery.k8s.io", "endpointslices") and old.get("addressType") != new.get(
        "addressType"
    ):
        errors.append(FieldError.invalid("addressType", new.get("addressType"), "field is immutable"))
    elif resource.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        for field in ("group", "scope"):
            if old_spec.get(field) != new_spec.get(field):
                errors.append(FieldError.invalid(f"spec.{field}", new_spec.get(field), "field is immutable"))
    return errors


def _validate_load_balancer_status(service: Mapping[str, Any]) -> list[FieldError]:
    """Only a LoadBalancer service has a load balancer whose addresses its status may list. A write
    to the main resource cannot trip this (switching the type away clears the status first); a
    status write can."""
    service_type = (service.get("spec") or {}).get("type", "ClusterIP")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if service_type != "LoadBalancer" and ingress:
        return [
            FieldError.forbidden(
                "status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'"
            )
        ]
    return []


def _pod_spec_without_images(pod: Mapping[str, Any]) -> Any:
    spec = dict(pod.get("spec") or {})
    for field in ("containers", "initContainers"):
        spec[field] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(field) or ()]
    spec.pop("activeDeadlineSeconds", None)
    spec.pop("tolerations", None)
    return spec


def check_secret_data(obj: Mapping[str, Any]) -> None:
    """Secret `data` values are base64; the real decoder rejects anything else with 400."""
    for value in (obj.get("data") or {}).values():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("illegal base64 data at input byte 0") from None
