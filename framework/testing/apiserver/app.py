"""The aiohttp application: routing of Kubernetes API paths, query/body decoding, and the
middleware that applies injected faults and records every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import discovery, errors, tables
from .errors import ApiError
from .faults import FaultInjector, RequestInfo, RequestLog
from .listing import ListRequest, list_objects, list_page, parse_resource_version
from .registry import ObjectRegistry, Target, decode_body
from .selectors import FieldSelector, LabelSelector
from .store import Entry
from .watch import WatchEncoding, WatchHub, WatchRequest

JSON = "application/json"
_BODY_TYPES = [JSON, "application/yaml"]
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_FIELD_VALIDATION = {"", "Ignore", "Warn", "Strict"}


@dataclass
class ServerState:
    registry: ObjectRegistry
    hub: WatchHub
    faults: FaultInjector
    requests: RequestLog
    server_address: str = ""
    _openapi_cache: tuple[int, dict[str, Any]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ResourceRequest:
    info: RequestInfo
    target: Target


def json_response(body: Any, status: int = 200) -> web.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return web.Response(body=payload, status=status, content_type=JSON)


def json_response_as(body: Any, content_type: str) -> web.Response:
    response = web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=200)
    response.headers["Content-Type"] = content_type
    return response


class PageNotFound(Exception):
    """A path no kube-apiserver handler owns; answered with Go's plain-text 404, not a Status."""


def page_not_found_response() -> web.Response:
    return web.Response(status=404, text="404 page not found\n", content_type="text/plain")


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    response = json_response(error.status(), error.code)
    if headers:
        response.headers.update(headers)
    return response


def parse_bool(name: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise errors.bad_request(
        f'{name}: Invalid value: "{value}": strconv.ParseBool: parsing "{value}": invalid syntax'
    )


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(
            f'{name}: Invalid value: "{value}": strconv.ParseInt: parsing "{value}": invalid syntax'
        ) from None


def classify(request: web.Request) -> RequestInfo:
    """Kubernetes' request info for a path: verb, group/version, resource, namespace, name."""
    segments = [s for s in request.path.split("/") if s]
    method = request.method
    query = request.query_string
    base = RequestInfo(method, request.path, query, method.lower())
    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return base
    if not rest:
        return base
    namespace = ""
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (group == "" and len(rest) == 3 and rest[2] == "status")
    ):
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and name and not namespace:
        namespace = name
    watching = request.query.get("watch", "") in _TRUE
    if method == "GET":
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    if len(rest) > 3:
        resource = ""  # not a resource path; answered 404 below
    return RequestInfo(
        method, request.path, query, verb, group, version, resource, subresource, namespace, name
    )


def _field_manager(request: web.Request) -> str:
    manager = request.query.get("fieldManager", "")
    if manager:
        return manager
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0] or "unknown"


def _content_type(request: web.Request, accepted: list[str]) -> str:
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type not in accepted:
        raise errors.unsupported_media_type(content_type, accepted)
    return content_type


class Handlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.registry = state.registry

    # ---------------------------------------------------------------------------------- dispatch

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as error:
            return error_response(error)
        except PageNotFound:
            return page_not_found_response()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # Which paths answer which methods, and whether a miss is a JSON Status or Go's plain
        # "404 page not found", follows kube-apiserver's handler chain: discovery documents for
        # /, /apis and /apis/<group> and the health checks answer any method; /api, /api/<v>,
        # /apis/<group>/<v> and /version are GET-only (405 otherwise); a path no handler owns
        # (an unknown group, a custom resource group's unknown version or resource, /foo) falls
        # through to the plain-text 404.
        segments = [s for s in request.path.split("/") if s]
        get = request.method == "GET"
        if not segments:
            return json_response(
                {"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]}
            )
        head = segments[0]
        if head in ("healthz", "livez", "readyz"):
            if len(segments) == 1:
                return web.Response(text="ok", content_type="text/plain")
            raise PageNotFound()
        if head == "version":
            if len(segments) > 1:
                raise errors.unknown_resource()
            if not get:
                raise errors.method_not_allowed()
            return json_response(discovery.VERSION_INFO)
        if head == "openapi":
            return self._openapi(segments[1:])
        if head == "api":
            if len(segments) == 1:
                if not get:
                    raise errors.method_not_allowed()
                return json_response(discovery.api_versions(self.state.server_address))
            if len(segments) == 2:
                return self._resource_list("", segments[1], get=get)
            return await self._resource(request)
        if head == "apis":
            if len(segments) == 1:
                return json_response(discovery.api_group_list(self.registry.resources))
            group_name = segments[1]
            if len(segments) == 2:
                group = discovery.api_group(self.registry.resources, group_name)
                if group is None:
                    raise PageNotFound()
                return json_response(group)
            if len(segments) == 3:
                if not self._is_builtin_group(group_name):
                    # The apiextensions handler serves custom groups' version discovery for any method.
                    return self._resource_list(group_name, segments[2], get=True)
                return self._resource_list(group_name, segments[2], get=get)
            return await self._resource(request)
        raise PageNotFound()

    def _is_builtin_group(self, group: str) -> bool:
        return any(r.builtin and r.group == group for r in self.registry.resources.all())

    def _not_served(self, group: str) -> Exception:
        """The miss for a path under /api or /apis: built-in groups answer a JSON Status; anything
        else (unknown groups, custom resource groups) falls through to the plain-text 404."""
        return errors.unknown_resource() if self._is_builtin_group(group) else PageNotFound()

    def _resource_list(self, group: str, version: str, *, get: bool) -> web.Response:
        body = discovery.api_resource_list(self.registry.resources, group, version)
        if body is None:
            raise self._not_served(group)
        if not get:
            raise errors.method_not_allowed()
        return json_response(body)

    def _openapi(self, rest: list[str]) -> web.Response:
        if not rest or rest[0] != "v3":
            raise PageNotFound()
        documents = discovery.openapi_v3_documents(self.registry.resources)
        if len(rest) == 1:
            # The real handler writes the index without a Content-Type, so Go sniffs text/plain.
            return json_response_as(discovery.openapi_v3_root(documents), "text/plain; charset=utf-8")
        document = documents.get("/".join(rest[1:]))
        if document is None:
            # The real handler answers an unknown document with a bare 404: no body, no type.
            return web.Response(status=404)
        return json_response(document)

    # ---------------------------------------------------------------------------------- resources

    def _resolve(self, request: web.Request) -> ResourceRequest:
        info = classify(request)
        resource = (
            self.registry.resources.lookup(info.group, info.version, info.resource) if info.resource else None
        )
        if resource is None:
            raise self._not_served(info.group)
        # `namespaces/<name>` names the namespace itself, not a namespace scope.
        namespace = "" if resource.key == ("", "namespaces") else info.namespace
        if namespace and not resource.namespaced:
            raise self._not_served(info.group)
        if resource.namespaced and not namespace and info.name:
            # Across namespaces a namespaced type only has its collection (list and watch).
            raise self._not_served(info.group)
        if info.subresource and (info.subresource != "status" or not resource.has_status):
            raise self._not_served(info.group)
        target = Target(resource, info.version, namespace, info.name, info.subresource)
        return ResourceRequest(info, target)

    async def _resource(self, request: web.Request) -> web.StreamResponse:
        resolved = self._resolve(request)
        verb = resolved.info.verb
        target = resolved.target
        query = request.query
        if query.get("dryRun"):
            raise errors.bad_request("dryRun is not supported by the stand-in API server")
        if query.get("fieldValidation", "") not in _FIELD_VALIDATION:
            raise errors.bad_request(
                f'fieldValidation: Invalid value: "{query["fieldValidation"]}": must be one of '
                '"Ignore", "Warn", or "Strict"'
            )
        parse_bool("watch", query.get("watch", ""))  # an unparseable value is a 400, as on a real server
        if verb in ("list", "watch"):
            return await self._list_or_watch(request, target, watching=verb == "watch")
        if verb == "get":
            entry = self.registry.get(target)
            table = self._table_options(request)
            if table is not None:
                metadata = {"resourceVersion": entry.obj["metadata"].get("resourceVersion", "")}
                return json_response(self._table(target, [entry], metadata, table))
            return json_response(self.registry.render(entry, target))
        # A collection takes POST and DELETE; an object PUT, PATCH and DELETE; anything else is
        # a method the route does not have.
        if (verb == "create") == bool(target.name) and verb in ("create", "update", "patch"):
            raise errors.method_not_allowed()
        manager = _field_manager(request)
        if verb == "create":
            if target.subresource:
                raise errors.method_not_allowed()
            if target.resource.namespaced and not target.namespace:
                raise errors.method_not_allowed()
            content_type = _content_type(request, _BODY_TYPES)
            body = decode_body(await request.read(), content_type)
            entry = self.registry.create(target, body, manager)
            return json_response(self.registry.render(entry, target), 201)
        if verb == "update":
            content_type = _content_type(request, _BODY_TYPES)
            body = decode_body(await request.read(), content_type)
            existed = (
                self.registry.store.get(target.resource.storage_key, target.namespace, target.name)
                is not None
            )
            entry = self.registry.update(target, body, manager)
            return json_response(self.registry.render(entry, target), 200 if existed else 201)
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            entry = self.registry.patch(target, content_type, await request.read(), manager)
            return json_response(self.registry.render(entry, target))
        if verb == "delete":
            if target.subresource:
                raise errors.method_not_allowed()
            options = await self._delete_options(request)
            entry, gone = self.registry.delete(target, options)
            if gone and not self.registry.returns_deleted_object(target.resource):
                return json_response(self._success(target, entry.obj["metadata"].get("uid", "")))
            return json_response(self.registry.render(entry, target))
        if verb == "deletecollection":
            if target.subresource or (target.resource.namespaced and not target.namespace):
                raise errors.method_not_allowed()
            return await self._delete_collection(request, target)
        raise errors.method_not_allowed()

    @staticmethod
    def _table_options(request: web.Request) -> tables.TableOptions | None:
        """The Table the client asked for in its Accept header (what kubectl get does), if any."""
        api_version = tables.negotiate_table(request.headers.get("Accept", ""))
        return None if api_version is None else tables.table_options(api_version, request.query)

    def _table(
        self, target: Target, entries: list[Entry], metadata: dict[str, Any], options: tables.TableOptions
    ) -> dict[str, Any]:
        printer = tables.printer_for(target.resource, target.version)
        sources = [tables.TableRowSource(entry.obj, self.registry.view(entry, target)) for entry in entries]
        return tables.build_table(printer, sources, metadata, options, self.registry.current_time())

    @staticmethod
    def _success(target: Target, uid: str) -> dict[str, Any]:
        details: dict[str, Any] = {"name": target.name}
        if target.resource.group:
            details["group"] = target.resource.group
        details["kind"] = target.resource.plural
        details["uid"] = uid
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        options: dict[str, Any] = {}
        if raw.strip():
            content_type = _content_type(request, _BODY_TYPES)
            decoded = decode_body(raw, content_type)
            if not isinstance(decoded, dict):
                raise errors.bad_request("json: cannot unmarshal into Go value of type v1.DeleteOptions")
            options = decoded
        for name in ("propagationPolicy", "gracePeriodSeconds"):
            if name in request.query:
                options[name] = request.query[name]
        return options

    def _selectors(self, request: web.Request, target: Target) -> tuple[LabelSelector, FieldSelector]:
        labels = LabelSelector.parse(request.query.get("labelSelector", ""))
        fields = FieldSelector.parse(
            request.query.get("fieldSelector", ""),
            target.resource.field_selector_paths(),
            default_conversion=target.resource.default_field_labels,
        )
        return labels, fields

    async def _list_or_watch(
        self, request: web.Request, target: Target, *, watching: bool
    ) -> web.StreamResponse:
        query = request.query
        labels, fields = self._selectors(request, target)
        if target.name:
            # A watch on a single object is a watch with a metadata.name field selector.
            fields = FieldSelector.parse(
                ",".join(filter(None, [query.get("fieldSelector", ""), f"metadata.name={target.name}"])),
                target.resource.field_selector_paths(),
                default_conversion=target.resource.default_field_labels,
            )
            target = Target(target.resource, target.version, target.namespace)
        resource_version = query.get("resourceVersion", "")
        match = query.get("resourceVersionMatch", "")
        send_initial = parse_bool("sendInitialEvents", query.get("sendInitialEvents", ""))
        if match and not resource_version and not (watching and send_initial):
            raise errors.invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                [
                    errors.FieldError.forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden unless resourceVersion is provided",
                    )
                ],
            )
        if not watching:
            limit = _parse_int("limit", query.get("limit", "0"))
            request_ = ListRequest(
                target, labels, fields, resource_version, match, max(0, limit), query.get("continue", "")
            )
            table = self._table_options(request)
            if table is not None:
                page = list_page(self.registry, request_)
                return json_response(self._table(target, page.entries, page.metadata, table))
            return json_response(list_objects(self.registry, request_))
        if resource_version not in ("", "0"):
            parse_resource_version(resource_version)
        timeout_text = query.get("timeoutSeconds", "")
        timeout = float(_parse_int("timeoutSeconds", timeout_text)) if timeout_text else None
        allow_bookmarks = parse_bool("allowWatchBookmarks", query.get("allowWatchBookmarks", ""))
        if send_initial and (match != "NotOlderThan" or not allow_bookmarks):
            raise errors.invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                [
                    errors.FieldError.forbidden(
                        "sendInitialEvents",
                        "sendInitialEvents is allowed with resourceVersionMatch NotOlderThan and "
                        "allowWatchBookmarks=true only",
                    )
                ],
            )
        watch_request = WatchRequest(
            target, labels, fields, resource_version, allow_bookmarks, send_initial, timeout
        )
        table = self._table_options(request)
        encoding = None
        if table is not None:
            stream = tables.TableStream(
                tables.printer_for(target.resource, target.version),
                table,
                self.registry.view,
                self.registry.current_time,
            )
            encoding = WatchEncoding(stream.object, stream.bookmark)
        return await self.state.hub.serve(request, watch_request, encoding)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        labels, fields = self._selectors(request, target)
        options = await self._delete_options(request)
        deleted = []
        for entry in list(self.registry.store.iterate(target.resource.storage_key, target.namespace or None)):
            if not labels.matches(entry.obj["metadata"].get("labels")) or not fields.matches(entry.obj):
                continue
            item_target = Target(target.resource, target.version, entry.namespace, entry.name)
            result, _ = self.registry.delete(item_target, options)
            deleted.append(result)
        items = b",".join(self.registry.render(entry, target) for entry in deleted)
        head = json.dumps(
            {
                "kind": target.resource.list_kind,
                "apiVersion": target.api_version,
                "metadata": {"resourceVersion": str(self.registry.store.current_rv)},
            },
            separators=(",", ":"),
        ).encode()
        return json_response(head[:-1] + b',"items":[' + items + b"]}")


def _fault_middleware(state: ServerState) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        info = classify(request)
        slot = state.requests.start(
            info, request.headers.get("Content-Type", ""), request.headers.get("User-Agent", "")
        )
        status = 0
        try:
            rule = state.faults.take(info)
            if rule is not None:
                if rule.delay_seconds:
                    await asyncio.sleep(rule.delay_seconds)
                if rule.drop_connection:
                    if request.transport is not None:
                        request.transport.abort()
                    # Nothing reaches the client; the response only completes aiohttp's bookkeeping.
                    return web.Response(status=500)
                if rule.status is not None:
                    error = ApiError(rule.status, rule.status_reason, rule.message, {})
                    headers = {}
                    if rule.retry_after_seconds is not None:
                        headers["Retry-After"] = str(rule.retry_after_seconds)
                        error.details = {"retryAfterSeconds": rule.retry_after_seconds}
                    response: web.StreamResponse = error_response(error, headers)
                    status = response.status
                    return response
            response = await handler(request)
            status = response.status
            return response
        finally:
            state.requests.finish(slot, status)

    return middleware


def build_app(state: ServerState) -> web.Application:
    app = web.Application(middlewares=[_fault_middleware(state)], client_max_size=64 * 1024 * 1024)
    handlers = Handlers(state)
    app.router.add_route("*", "/{tail:.*}", handlers.handle)
    return app
