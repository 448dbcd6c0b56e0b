"""One export's items to a project's core, and the sender's retry of an export whose delivery failed.

The core remembers every call it settles, sent or not, so that a twin recorded by a second
instrumentation is sent once (`_delivery.memory.TwinMemory`). A sender that retries an export the
gateway answered 503 sends the very same calls again, and the core would drop them as twins of
themselves: the retry would be answered 200 and lose them. So the gateway remembers what failed
(`FailedExports`: the span ids of a failed trace export, the digest of a failed logs export, a bounded
number of each), and sends a retry of them through a core of its own, with a fresh memory, over the same
client; once it is delivered they are forgotten.

What a retry cannot rebuild: a call completed by content records from an earlier export has its text
back only if those records come again; otherwise it is sent with the placeholder, counted incomplete.
Delivery is at least once: records of a failed export that reached Trubrics before the failure are sent
again by the retry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Final

from trubrics_otel._delivery import ContentJoin, DeliveryCore, core_for
from trubrics_otel.mapping import LogData, SpanData

__all__ = ["MAX_FAILED_BODIES", "MAX_FAILED_SPANS", "FailedExports", "deliver_logs", "deliver_spans"]

MAX_FAILED_SPANS: Final = 100_000
"""Span ids of failed trace exports remembered per project."""
MAX_FAILED_BODIES: Final = 1024
"""Digests of failed logs exports remembered per project."""


class _Bounded:
    """A thread-safe set that forgets its oldest members past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._members: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def add(self, members: Iterable[Hashable]) -> None:
        with self._lock:
            for member in members:
                self._members[member] = None
                self._members.move_to_end(member)
            while len(self._members) > self.limit:
                self._members.popitem(last=False)

    def discard(self, members: Iterable[Hashable]) -> None:
        with self._lock:
            for member in members:
                self._members.pop(member, None)


class FailedExports:
    """What the failed exports of one project carried, so that their retries are sent, not dropped."""

    def __init__(self, max_spans: int = MAX_FAILED_SPANS, max_bodies: int = MAX_FAILED_BODIES) -> None:
        self.spans = _Bounded(max_spans)
        self.bodies = _Bounded(max_bodies)


def deliver_spans(core: DeliveryCore, failed: FailedExports, spans: Sequence[SpanData]) -> bool:
    """Send an export's spans; those of a failed export again through a fresh core. True when delivered."""
    keys = [(span.trace_id, span.span_id) for span in spans]
    if not len(failed.spans):
        again: list[SpanData] = []
        first = list(spans)
    else:
        again = [span for span, key in zip(spans, keys, strict=True) if key in failed.spans]
        first = [span for span, key in zip(spans, keys, strict=True) if key not in failed.spans]
    delivered = not first or core.send_spans(first, overlap=False)
    if again:
        delivered = (
            _through_fresh_core(core, lambda fresh: fresh.send_spans(again, overlap=False)) and delivered
        )
    if delivered:
        if again:
            failed.spans.discard(keys)
    else:
        failed.spans.add(keys)
    return delivered


def deliver_logs(core: DeliveryCore, failed: FailedExports, logs: Sequence[LogData], digest: bytes) -> bool:
    """Send an export's log records; a failed export's again through a fresh core. True when delivered."""
    if digest in failed.bodies:
        delivered = _through_fresh_core(core, lambda fresh: fresh.send_logs(logs, overlap=False))
    else:
        delivered = core.send_logs(logs, overlap=False)
    if delivered:
        failed.bodies.discard([digest])
    else:
        failed.bodies.add([digest])
    return delivered


def _through_fresh_core(core: DeliveryCore, send: Callable[[DeliveryCore], bool]) -> bool:
    """Send through a core with the same settings and client but an empty memory; release it after."""
    fresh = core_for(core.settings, core.client, ContentJoin(core.settings.content_wait))
    try:
        delivered = send(fresh)
    finally:
        released = fresh.flush()  # what waits for content is sent now: its content came before
        fresh.release()
    return delivered and released
