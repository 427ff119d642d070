"""One shared informer per (resource, namespace, selectors), so handlers share caches and watches."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.informer.informer import SharedInformer
from framework.informer.reflector import DEFAULT_REFLECTOR_SETTINGS, ReflectorSettings
from framework.informer.transform import Transform, strip_managed_fields
from framework.kube import KubeClient, Resource


@dataclass(frozen=True, slots=True)
class InformerKey:
    resource: Resource
    namespace: str | None
    label_selector: str | None
    field_selector: str | None


class InformerFactory:
    """Creates and owns shared informers. Informers requested after :meth:`start` start at once."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str | None = None,
        settings: ReflectorSettings = DEFAULT_REFLECTOR_SETTINGS,
        transform: Transform | None = strip_managed_fields,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ):
        self._client = client
        self._default_namespace = namespace or None
        self._settings = settings
        self._transform = transform
        self._clock = clock
        self._rng = rng
        self._informers: dict[InformerKey, SharedInformer] = {}
        self._transforms: dict[InformerKey, Transform | None] = {}
        self._started = False

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = None,
    ) -> SharedInformer:
        """The shared informer for this collection; ``namespace`` defaults to the factory's.

        ``transform`` replaces the factory's transform for this informer (say, to keep only the
        fields of a Pod a controller reads). Every caller sharing the informer must ask for the
        same one: a cache cannot be slim for one handler and complete for another.
        """
        namespace = (namespace or self._default_namespace) if resource.namespaced else None
        key = InformerKey(resource, namespace, label_selector or None, field_selector or None)
        informer = self._informers.get(key)
        wanted = transform if transform is not None else self._transform
        if informer is not None and self._transforms.get(key) is not wanted:
            raise ValueError(f"the shared informer for {key} already exists with another transform")
        if informer is None:
            informer = SharedInformer(
                self._client,
                resource,
                namespace=namespace,
                label_selector=key.label_selector,
                field_selector=key.field_selector,
                transform=wanted,
                settings=self._settings,
                clock=self._clock,
                rng=self._rng,
            )
            self._informers[key] = informer
            self._transforms[key] = wanted
            if self._started:
                informer.start()
        return informer

    @property
    def informers(self) -> list[SharedInformer]:
        return list(self._informers.values())

    @property
    def has_synced(self) -> bool:
        return all(informer.has_synced for informer in self._informers.values())

    def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self, timeout: float | None) -> bool:  # noqa: ASYNC109 - clock-driven
        """Wait for every informer to sync (on the factory's clock); False on timeout."""
        try:
            async with timeout_after(self._clock, timeout):
                for informer in list(self._informers.values()):
                    await informer.wait_for_sync(None)
        except TimeoutError:
            return False
        return True

    def unsynced(self) -> list[str]:
        return [informer.name for informer in self._informers.values() if not informer.has_synced]

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
