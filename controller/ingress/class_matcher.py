"""Which Ingresses belong to this controller (upstream ``group_loader.classifyIngress``).

Order of checks, as upstream: the legacy ``kubernetes.io/ingress.class`` annotation, when present,
decides alone (equal to ``--ingress-class``); otherwise ``spec.ingressClassName`` names an
IngressClass whose controller must be ``ingress.k8s.aws/alb``; otherwise the cluster's default
IngressClass (annotation ``ingressclass.kubernetes.io/is-default-class: "true"``) decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Protocol

from controller.annotations import (
    DEFAULT_INGRESS_CLASS_ANNOTATION,
    INGRESS_CLASS_ANNOTATION,
    ModelBuildError,
    ObjectRef,
)
from framework.kube import Resource
from framework.label_selector import InvalidSelectorError, LabelSelector
from framework.objects import annotations_of, labels_of, meta_of, name_of

ALB_INGRESS_CONTROLLER: Final = "ingress.k8s.aws/alb"
PARAMS_API_GROUP: Final = "elbv2.k8s.aws"
PARAMS_KIND: Final = "IngressClassParams"
INGRESS_CLASS_PARAMS: Final = Resource(
    PARAMS_API_GROUP, "v1beta1", "ingressclassparams", PARAMS_KIND, namespaced=False
)


class InvalidIngressClassError(ModelBuildError):
    """Upstream's ``ErrInvalidIngressClass``: the Ingress's class configuration cannot be loaded
    (unknown parameters kind, IngressClassParams missing, its namespaceSelector rejects the
    Ingress's Namespace). The message starts as upstream's (``invalid ingress class: ...``)."""

    def __init__(self, ingress: ObjectRef, reason: str) -> None:
        super().__init__(f"invalid ingress class: {reason}", [ingress])
        self.ingress = ingress
        self.reason = reason


class IngressClassSource(Protocol):
    """Read access to IngressClasses and IngressClassParams (the controller passes its informer caches)."""

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None: ...

    def list_ingress_classes(self) -> Iterable[Mapping[str, Any]]: ...

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None: ...

    def get_namespace(self, name: str) -> Mapping[str, Any] | None:
        """The Namespace object (only its labels are read), for IngressClassParams' namespaceSelector."""
        ...


@dataclass(frozen=True)
class ClassifiedIngress:
    """An Ingress this controller owns, with the IngressClassParams object its class points at."""

    ingress: Mapping[str, Any]
    class_params: Mapping[str, Any] | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of("Ingress", self.ingress)

    @cached_property
    def annotations(self) -> Mapping[str, str]:
        # Read for every backend's target group and action: copy the Ingress's annotations once.
        return annotations_of(self.ingress)

    @property
    def params_spec(self) -> Mapping[str, Any]:
        return (self.class_params or {}).get("spec") or {}

    @property
    def params_ref(self) -> ObjectRef:
        return ObjectRef.of(PARAMS_KIND, self.class_params or {})


def _is_default_class(ingress_class: Mapping[str, Any]) -> bool:
    return annotations_of(ingress_class).get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true"


class IngressClassMatcher:
    def __init__(self, classes: IngressClassSource, ingress_class: str = "alb") -> None:
        self._classes = classes
        self._ingress_class = ingress_class

    def classify(self, ingress: Mapping[str, Any]) -> ClassifiedIngress | None:
        """The classified Ingress if it is ours, else None.

        Raises ``InvalidIngressClassError`` only for an Ingress of an ALB class whose parameters
        cannot be loaded or whose Namespace the IngressClassParams' namespaceSelector rejects.
        """
        legacy = annotations_of(ingress).get(INGRESS_CLASS_ANNOTATION)
        if legacy is not None:
            # An empty --ingress-class still owns the upstream default value "alb".
            ours = legacy == self._ingress_class or (not self._ingress_class and legacy == "alb")
            return ClassifiedIngress(ingress) if ours else None
        ingress_class = self._class_of(ingress)
        if ingress_class is None:
            return None
        if (ingress_class.get("spec") or {}).get("controller") != ALB_INGRESS_CONTROLLER:
            return None
        return ClassifiedIngress(ingress, self._params_of(ingress, ingress_class))

    def class_names_with_params_group(self, group_name: str) -> set[str]:
        """The ``spec.ingressClassName`` values through which an Ingress can get the group
        ``group_name`` from IngressClassParams ``spec.group.name``: the ALB IngressClasses whose
        parameters name an IngressClassParams setting it, and "" (no class name) when one of them is
        a default class. A superset of what ``classify`` then decides (it also checks the
        parameters' kind, the namespaceSelector and which default class is the newest). Costs one
        pass over the IngressClasses, of which a cluster has a few."""
        names: set[str] = set()
        for ingress_class in self._classes.list_ingress_classes():
            spec = ingress_class.get("spec") or {}
            parameters = spec.get("parameters") or {}
            if spec.get("controller") != ALB_INGRESS_CONTROLLER or not parameters:
                continue
            params = self._classes.get_ingress_class_params(str(parameters.get("name") or ""))
            params_group = ((params or {}).get("spec") or {}).get("group") or {}
            if params_group.get("name") and str(params_group["name"]) == group_name:
                names.add(name_of(ingress_class))
                if _is_default_class(ingress_class):
                    names.add("")
        return names

    def _class_of(self, ingress: Mapping[str, Any]) -> Mapping[str, Any] | None:
        name = (ingress.get("spec") or {}).get("ingressClassName")
        if name:
            # A class that does not exist (yet) cannot be ours; the Ingress is re-checked when it appears.
            return self._classes.get_ingress_class(str(name))
        defaults = [c for c in self._classes.list_ingress_classes() if _is_default_class(c)]
        if not defaults:
            return None
        # Several defaults: Kubernetes admission uses the most recently created one.
        return max(defaults, key=lambda c: str(meta_of(c).get("creationTimestamp") or ""))

    def _params_of(
        self, ingress: Mapping[str, Any], ingress_class: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Upstream ``defaultClassLoader.Load``: the referenced IngressClassParams, which must exist
        and whose namespaceSelector must select the Ingress's Namespace."""
        parameters = (ingress_class.get("spec") or {}).get("parameters")
        if not parameters:
            return None
        ref = ObjectRef.of("Ingress", ingress)
        if parameters.get("apiGroup") != PARAMS_API_GROUP or parameters.get("kind") != PARAMS_KIND:
            raise InvalidIngressClassError(
                ref, f"IngressClass {name_of(ingress_class)} references unknown parameters"
            )
        name = str(parameters.get("name") or "")
        params = self._classes.get_ingress_class_params(name)
        if params is None:
            # apimachinery's NotFound text, which upstream puts in its error.
            raise InvalidIngressClassError(
                ref, f'{INGRESS_CLASS_PARAMS.plural}.{PARAMS_API_GROUP} "{name}" not found'
            )
        self._check_namespace(ref, params)
        return params

    def _check_namespace(self, ref: ObjectRef, params: Mapping[str, Any]) -> None:
        raw = (params.get("spec") or {}).get("namespaceSelector")
        if raw is None:
            return
        params_name = name_of(params)
        try:
            selector = LabelSelector.parse(raw)
        except InvalidSelectorError as error:
            raise InvalidIngressClassError(ref, str(error)) from None
        namespace = self._classes.get_namespace(ref.namespace)
        if namespace is None:
            raise InvalidIngressClassError(ref, f'namespaces "{ref.namespace}" not found')
        labels = labels_of(namespace)
        if not selector.matches(labels):
            shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"
            raise InvalidIngressClassError(
                ref,
                f"namespaceSelector of IngressClassParams {params_name} mismatch "
                f"({ref}: Namespace {ref.namespace} labels {shown} do not match namespaceSelector {selector})",
            )
