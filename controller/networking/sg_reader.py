"""Cached, batched, single-flight reads of security groups.

- Cache: each SG's info is kept ``ttl_seconds`` (10 min upstream) on an injectable clock; any write
  to an SG must call ``invalidate`` (the reconcilers do), and a read that was already on the wire
  when the write happened is not allowed to put its stale answer back into the cache.
- Batching: ids requested within the same few event-loop ticks are fetched together, one
  DescribeSecurityGroups per ``chunk_size`` ids. The ids go in a ``group-id`` *filter*, not in
  ``GroupIds``: with ``GroupIds`` one deleted SG fails the whole call with ``InvalidGroup.NotFound``,
  with the filter it is simply absent from the answer, so one deleted SG cannot poison a batch and
  we learn exactly which ids are gone without re-querying them one by one.
- Single-flight: a request joins an identical read that is queued or already on the wire, so 500
  reconciles reading 500 SGs cost ceil(500 / chunk_size) calls. A ``fresh`` request (cache bypass)
  never joins a read that was sent before it was made, only one still queued.
- Queries: ``find_tagged``, ``find_by_tags``, ``find_with_tag_keys`` and ``find_referencing`` ask AWS which SGs match (a cache of the SGs
  we happened to read cannot answer "which SGs carry this tag / name this source"), so they are
  always read fresh; every SG in their answer refreshes the cache, so reconciling the SGs found
  right afterwards costs no further read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.networking.errors import SecurityGroupNotFoundError
from controller.networking.sg_info import SecurityGroupInfo
from framework.clock import REAL_CLOCK, Clock

DEFAULT_TTL_SECONDS: Final = 600.0
DEFAULT_CHUNK_SIZE: Final = 200
"""AWS accepts at most 200 values in one filter."""

_ReadFuture = asyncio.Future[SecurityGroupInfo | None]


def _consume_exception(future: _ReadFuture) -> None:
    # A read nobody waits for any more (its callers were cancelled) must not log "exception never
    # retrieved"; the error is still raised to every caller that does wait.
    if not future.cancelled():
        future.exception()


class SecurityGroupReader:
    def __init__(
        self,
        api: AwsApi,
        *,
        clock: Clock | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        collect_ticks: int = 2,
    ) -> None:
        if not 1 <= chunk_size <= DEFAULT_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be within 1..{DEFAULT_CHUNK_SIZE}, got {chunk_size}")
        self._ec2 = Ec2(api)
        self._clock = clock or REAL_CLOCK
        self._ttl = ttl_seconds
        self._chunk_size = chunk_size
        self._collect_ticks = collect_ticks
        self._cache: dict[str, tuple[float, SecurityGroupInfo]] = {}
        self._queued: dict[str, _ReadFuture] = {}
        self._on_the_wire: dict[str, _ReadFuture] = {}
        self._dispatch_scheduled = False
        self._dispatchers: set[asyncio.Task[None]] = set()
        # Write sequence: a read sent at sequence S may fill the cache for an id only if that id was
        # not invalidated after S.
        self._sequence = 0
        self._invalidated_at: dict[str, int] = {}

    async def get(self, group_id: str, *, fresh: bool = False) -> SecurityGroupInfo:
        """One SG; raises ``SecurityGroupNotFoundError`` (code ``InvalidGroup.NotFound``) if it is gone."""
        found = await self.get_many([group_id], fresh=fresh)
        if group_id not in found:
            raise SecurityGroupNotFoundError(group_id)
        return found[group_id]

    async def get_many(
        self, group_ids: Iterable[str], *, fresh: bool = False
    ) -> dict[str, SecurityGroupInfo]:
        """The SGs that exist among ``group_ids`` (missing ids are simply absent from the result).

        Errors of the underlying describe call (throttling after retries, access denied) propagate.
        """
        found: dict[str, SecurityGroupInfo] = {}
        waiting: dict[str, _ReadFuture] = {}
        now = self._clock.now()
        for group_id in dict.fromkeys(group_ids):
            if not fresh:
                cached = self._cache.get(group_id)
                if cached is not None and cached[0] > now:
                    found[group_id] = cached[1]
                    continue
                on_the_wire = self._on_the_wire.get(group_id)
                if on_the_wire is not None and not on_the_wire.done():
                    waiting[group_id] = on_the_wire
                    continue
            waiting[group_id] = self._enqueue(group_id)
        if waiting:
            # asyncio.wait does not cancel the shared futures if this caller is cancelled.
            await asyncio.wait(waiting.values())
            for group_id, future in waiting.items():
                info = future.result()
                if info is not None:
                    found[group_id] = info
        return found

    async def find_tagged(
        self, vpc_id: str, tag_key: str, values: Iterable[str]
    ) -> dict[str, SecurityGroupInfo]:
        """The SGs in ``vpc_id`` whose tag ``tag_key`` has one of ``values`` (read from AWS)."""
        return await self._query({"vpc-id": [vpc_id], f"tag:{tag_key}": list(values)})

    async def find_by_tags(self, vpc_id: str, tags: Mapping[str, str]) -> dict[str, SecurityGroupInfo]:
        """The SGs in ``vpc_id`` carrying every ``key=value`` of ``tags`` (read from AWS), in
        AWS's answer order."""
        return await self._query(
            {"vpc-id": [vpc_id], **{f"tag:{key}": [value] for key, value in tags.items()}}
        )

    async def find_with_tag_keys(self, vpc_id: str, tag_keys: Iterable[str]) -> dict[str, SecurityGroupInfo]:
        """The SGs in ``vpc_id`` carrying any of ``tag_keys``, whatever the value (read from AWS)."""
        return await self._query({"vpc-id": [vpc_id], "tag-key": list(tag_keys)})

    async def find_referencing(self, vpc_id: str, source_group_id: str) -> dict[str, SecurityGroupInfo]:
        """The SGs in ``vpc_id`` with an inbound rule whose source is ``source_group_id`` (read from AWS)."""
        return await self._query({"vpc-id": [vpc_id], "ip-permission.group-id": [source_group_id]})

    def invalidate(self, group_id: str) -> None:
        """Forget the SG's cached info; call after every write to it."""
        self._cache.pop(group_id, None)
        self._sequence += 1
        self._invalidated_at[group_id] = self._sequence
        # Later readers must not join a read that started before the write.
        self._on_the_wire.pop(group_id, None)

    async def aclose(self) -> None:
        """Cancel reads still queued or on the wire (their callers get ``CancelledError``)."""
        for task in list(self._dispatchers):
            task.cancel()
        await asyncio.gather(*self._dispatchers, return_exceptions=True)
        # A dispatcher cancelled before its first step never ran its clean-up.
        for future in self._take_queued().values():
            future.cancel()

    def _enqueue(self, group_id: str) -> _ReadFuture:
        future = self._queued.get(group_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_consume_exception)
            self._queued[group_id] = future
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            task = asyncio.create_task(self._dispatch(), name="sg-reader-dispatch")
            self._dispatchers.add(task)
            task.add_done_callback(self._dispatchers.discard)
        return future

    async def _dispatch(self) -> None:
        batch: dict[str, _ReadFuture] | None = None
        try:
            # Let every task that is already runnable add its ids to this batch.
            for _ in range(self._collect_ticks):
                await asyncio.sleep(0)
            batch = self._take_queued()
            self._on_the_wire.update(batch)
            sent_at = self._sequence
            ids = list(batch)
            chunks = [ids[i : i + self._chunk_size] for i in range(0, len(ids), self._chunk_size)]
            await asyncio.gather(*(self._fetch_chunk(chunk, batch, sent_at) for chunk in chunks))
        finally:
            if batch is None:  # cancelled while collecting
                batch = self._take_queued()
            for group_id, future in batch.items():
                if not future.done():
                    future.cancel()
                if self._on_the_wire.get(group_id) is future:
                    del self._on_the_wire[group_id]

    def _take_queued(self) -> dict[str, _ReadFuture]:
        batch, self._queued = self._queued, {}
        self._dispatch_scheduled = False
        return batch

    async def _fetch_chunk(self, chunk: list[str], batch: dict[str, _ReadFuture], sent_at: int) -> None:
        try:
            groups = await self._ec2.describe_security_groups(filters={"group-id": chunk})
        except Exception as error:
            for group_id in chunk:
                self._settle(group_id, batch[group_id])
                with contextlib.suppress(asyncio.InvalidStateError):
                    batch[group_id].set_exception(error)
            return
        infos = {g.group_id: SecurityGroupInfo.from_aws(g) for g in groups}
        expires_at = self._clock.now() + self._ttl
        for group_id in chunk:
            info = infos.get(group_id)
            if info is not None and self._invalidated_at.get(group_id, -1) <= sent_at:
                self._cache[group_id] = (expires_at, info)
            future = batch[group_id]
            self._settle(group_id, future)
            if not future.done():
                future.set_result(info)
        self._sweep_expired()

    async def _query(self, filters: Mapping[str, Sequence[str]]) -> dict[str, SecurityGroupInfo]:
        sent_at = self._sequence
        groups = await self._ec2.describe_security_groups(
            filters={name: list(values) for name, values in filters.items()}
        )
        infos = {g.group_id: SecurityGroupInfo.from_aws(g) for g in groups}
        expires_at = self._clock.now() + self._ttl
        for group_id, info in infos.items():
            # The same rule as for reads by id: an SG written to while the query was on the wire
            # keeps no cached answer.
            if self._invalidated_at.get(group_id, -1) <= sent_at:
                self._cache[group_id] = (expires_at, info)
        self._sweep_expired()
        return infos

    def _settle(self, group_id: str, future: _ReadFuture) -> None:
        # Before waking the waiters: a caller that reads again right away must see the cache (or
        # start a new read), not join this finished one.
        if self._on_the_wire.get(group_id) is future:
            del self._on_the_wire[group_id]

    def _sweep_expired(self) -> None:
        now = self._clock.now()
        if len(self._cache) > 4 * DEFAULT_CHUNK_SIZE:
            for group_id in [gid for gid, (expiry, _) in self._cache.items() if expiry <= now]:
                del self._cache[group_id]
