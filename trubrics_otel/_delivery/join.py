"""A model call's span and its content, matched by span id, bounded in time and in memory.

Some instrumentations keep the prompt and generation out of the span and emit them as log records that
share the span's trace and span ids. A call whose span lacks its text waits here for at most `window`
seconds; content that arrives before its span waits the same. Whichever half comes second completes the
call. When the window closes on a call without its content, the call is released as it is (the caller
sends it with a placeholder and counts it). At most `max_pending` calls and contents are kept; past that
the oldest is released early. Content whose span never comes (its window closed, it was evicted, or the
last core using the join let it go) is counted, in content records, for the core to report
(`take_unjoined`, `dropped["unjoinable_content"]`).

A call that names no user or thread waits the same way for its ancestors (`add_spans`), which end after
it: when its trace's local root arrives, it takes what they name (see `ancestry`); when the window closes
first, it takes what has arrived by then.

Content may come in pieces: older GenAI instrumentations emit one record per message, and the records of
one call can land in different export batches. Pieces are merged in arrival order (see `Content.merge`)
and kept apart from the call until it is released, so that the span's own text always wins.

The join also keeps the process's `TwinMemory`, so every exporter sharing it recognises a call another
one already sent.

Bookkeeping under a lock, and nothing else: the caller passes the time in, so it is tested without
sleeping; no thread (the core's releaser watches `next_deadline`), and a forked child starts empty.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TypeVar

from trubrics_otel._delivery.memory import TwinMemory
from trubrics_otel._fork import renew_in_child
from trubrics_otel.mapping._calls import LLMCall
from trubrics_otel.mapping._translate import Content, SpanKey
from trubrics_otel.mapping.ancestry import SpanIdentity, fill_identity
from trubrics_otel.mapping.twins import Signature, are_twins

__all__ = ["Content", "ContentJoin", "shared_join"]

_NO_CONTENT: Final = Content()


class _Waiting(NamedTuple):
    """A held call, the content found for it so far, and whether it still waits for its ancestors."""

    call: LLMCall
    content: Content
    identity_pending: bool = False

    @property
    def ready(self) -> bool:
        """Whether nothing more is awaited: the call has its text and its identity is settled."""
        return not self.identity_pending and self.completed().has_content

    def completed(self) -> LLMCall:
        """The call with its content; the span's own text wins."""
        content = self.content
        if content.prompt is None and content.generation is None:
            return self.call  # the common case of a span that carries its text: nothing to copy
        return self.call.with_content(content.prompt, content.generation, content.finish_reasons)

    def settled(self, spans: Mapping[str, SpanIdentity]) -> _Waiting:
        """The call with the user and thread it lacks taken from the ancestors in `spans`."""
        return _Waiting(fill_identity(self.call, spans), self.content, identity_pending=False)


@dataclass
class _Trace:
    """The spans seen of a trace while calls of it wait for their ancestors' identity."""

    waiting: int = 0
    spans: dict[str, SpanIdentity] = field(default_factory=dict)
    rooted: bool = False


class ContentJoin:
    """Holds calls waiting for their content and content waiting for its call.

    Args:
        window: seconds either half waits for the other.
        max_pending: the most calls plus contents kept at once.
    """

    def __init__(self, window: float, max_pending: int = 10_000) -> None:
        self.window = window
        self.max_pending = max_pending
        self.twins = TwinMemory()
        """The calls sent recently, for every exporter that shares this join."""
        self._lock = threading.Lock()
        # traces with calls waiting for their ancestors, and how many spans of them are kept in all
        self._traces: dict[str, _Trace] = {}
        self._trace_spans = 0
        # the response ids of held calls, to find a held twin; may hold stale ids, rebuilt when it grows
        self._held_ids: dict[str, SpanKey] = {}
        # insertion-ordered, so the oldest entry is first: (deadline, waiting call) and (deadline, content)
        self._calls: OrderedDict[SpanKey, tuple[float, _Waiting]] = OrderedDict()
        self._contents: OrderedDict[SpanKey, tuple[float, Content]] = OrderedDict()
        self._pieces: dict[SpanKey, int] = {}  # how many content records each held content merges
        self._unjoined = 0  # content records forgotten without their span, not yet taken by a core
        self._users = 0  # the cores sending through this join
        renew_in_child(self._forget_after_fork)

    def _forget_after_fork(self) -> None:
        """Start empty in a forked child: the parent sends what it held, so the child must not as well."""
        self._lock = threading.Lock()
        self._calls.clear()
        self._contents.clear()
        self._traces.clear()
        self._trace_spans = 0
        self._held_ids.clear()
        self._pieces.clear()
        self._unjoined = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls) + len(self._contents)

    def add_call(self, call: LLMCall, now: float) -> list[LLMCall]:
        """Offer a call; return the calls ready to send (this one if complete, and any evicted)."""
        needs_identity = call.needs_identity
        if not self._contents and call.has_content and not needs_identity:
            # nearly every call carries its text and nothing waits for it: no need for the lock. Content
            # for it racing in now is never used anyway (the span's own text wins), and expires.
            return [call]
        key = (call.span.trace_id, call.span.span_id)
        with self._lock:
            earlier = self._contents.pop(key, None)
            self._pieces.pop(key, None)
            waiting = _Waiting(call, _NO_CONTENT if earlier is None else earlier[1], needs_identity)
            trace = self._traces.get(key[0]) if needs_identity else None
            if trace is not None and trace.rooted:
                waiting = waiting.settled(trace.spans)
            if waiting.ready:
                return [waiting.completed()]
            self._calls[key] = (now + self.window, waiting)
            if waiting.identity_pending:
                self._traces.setdefault(key[0], _Trace()).waiting += 1
            if call.findings.response_id is not None:
                self._index_held(call.findings.response_id, key)
            return self._evict()

    def take_twin(self, call: LLMCall) -> LLMCall | None:
        """Remove and return a held call that is `call`'s twin (one response id), or None.

        A client library's own span without content waits here while the instrumentation's span of the
        same call, with its text, comes in: the two are merged before either is sent.
        """
        response_id = call.findings.response_id
        if response_id is None or not self._held_ids:
            return None
        with self._lock:
            key = self._held_ids.get(response_id)
            held = self._calls.get(key) if key is not None else None
            if held is None or not are_twins(Signature.of(held[1].call), Signature.of(call)):
                return None
            del self._calls[key]  # type: ignore[arg-type]
            del self._held_ids[response_id]
            return self._settle(held[1]).completed()

    def _index_held(self, response_id: str, key: SpanKey) -> None:
        self._held_ids[response_id] = key
        if len(self._held_ids) > 2 * len(self._calls) + 64:
            self._held_ids = {
                rid: held_key
                for held_key, (_, waiting) in self._calls.items()
                if (rid := waiting.call.findings.response_id) is not None
            }

    def add_spans(self, spans: Iterable[SpanIdentity]) -> list[LLMCall]:
        """Offer the identities of exported spans; return the calls that got their ancestors' identity.

        Only spans of traces with calls waiting for it are kept; a trace's local root settles its calls.
        """
        if not self._traces:  # nothing waits for its ancestors: the common case, without the lock
            return []
        with self._lock:
            rooted: list[str] = []
            for span in spans:
                trace = self._traces.get(span.trace_id)
                if trace is None:
                    continue
                if span.span_id not in trace.spans and self._trace_spans < _MAX_TRACE_SPANS:
                    trace.spans[span.span_id] = span
                    self._trace_spans += 1
                if span.local_root and not trace.rooted:
                    trace.rooted = True
                    rooted.append(span.trace_id)
            ready: list[LLMCall] = []
            for trace_id in rooted:
                for key in [key for key in self._calls if key[0] == trace_id]:
                    deadline, waiting = self._calls[key]
                    if not waiting.identity_pending:
                        continue
                    waiting = self._settle(waiting)
                    if waiting.ready:
                        del self._calls[key]
                        ready.append(waiting.completed())
                    else:
                        self._calls[key] = (deadline, waiting)
            return ready

    def _settle(self, waiting: _Waiting) -> _Waiting:
        """Give a call the identity its ancestors seen so far name, and stop watching its trace for it."""
        if not waiting.identity_pending:
            return waiting
        trace_id = waiting.call.span.trace_id
        trace = self._traces.get(trace_id)
        if trace is None:
            return waiting._replace(identity_pending=False)
        settled = waiting.settled(trace.spans)
        trace.waiting -= 1
        if trace.waiting <= 0:
            del self._traces[trace_id]
            self._trace_spans -= len(trace.spans)
        return settled

    def add_content(self, key: SpanKey, content: Content, now: float) -> list[LLMCall]:
        """Offer content for the call of span `key`; return the calls ready to send."""
        with self._lock:
            held = self._calls.get(key)
            if held is not None:
                deadline, waiting = held
                waiting = waiting._replace(content=waiting.content.merge(content))
                if waiting.ready:
                    del self._calls[key]
                    return [waiting.completed()]
                self._calls[key] = (deadline, waiting)
                return []
            earlier = self._contents.get(key)
            self._pieces[key] = self._pieces.get(key, 0) + 1
            if earlier is not None:
                # assigned in place, the entry keeps its position: deadlines stay in ascending order
                self._contents[key] = (earlier[0], earlier[1].merge(content))
                return []
            self._contents[key] = (now + self.window, content)
            return self._evict()

    def expired(self, now: float) -> list[LLMCall]:
        """Release the calls whose window has closed, and forget content whose call never came."""
        with self._lock:
            released = _pop_due(self._calls, now)
            contents = self._contents
            while contents:
                key = next(iter(contents))
                if contents[key][0] > now:
                    break
                self._forget_content(key)
            return [self._settle(waiting).completed() for waiting in released]

    def take_unjoined(self) -> int:
        """Return how many content records were forgotten without their span since the last call."""
        if not self._unjoined:  # the common case, without the lock
            return 0
        with self._lock:
            unjoined, self._unjoined = self._unjoined, 0
            return unjoined

    def attach(self) -> None:
        """Note one more core sending through this join."""
        with self._lock:
            self._users += 1

    def detach(self) -> None:
        """Note that a core is done; after the last, no span can come: held content is forgotten."""
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                for key in list(self._contents):
                    self._forget_content(key)

    def _forget_content(self, key: SpanKey) -> None:
        """Let go of content whose span never came, counting its records (under the lock)."""
        del self._contents[key]
        self._unjoined += self._pieces.pop(key, 1)

    def drain(self) -> list[LLMCall]:
        """Release every held call at once (flush and shutdown); content waiting for its span stays.

        Exporters that share the join shut down one after the other: at the exit of a zero-code app the
        log exporter goes first, and the spans its content belongs to come after. That content is still
        forgotten (and counted) when its window closes, or when the last core detaches.
        """
        with self._lock:
            calls = [self._settle(waiting).completed() for _, waiting in self._calls.values()]
            self._calls.clear()
            return calls

    def next_deadline(self) -> float | None:
        """When the earliest window closes, or None when nothing is held."""
        with self._lock:
            deadlines = [
                entries[next(iter(entries))][0] for entries in (self._calls, self._contents) if entries
            ]
            return min(deadlines) if deadlines else None

    def _evict(self) -> list[LLMCall]:
        released: list[LLMCall] = []
        while len(self._calls) + len(self._contents) > self.max_pending:
            if self._contents and (not self._calls or _older(self._contents, self._calls)):
                self._forget_content(next(iter(self._contents)))
            else:
                released.append(self._settle(self._calls.popitem(last=False)[1][1]).completed())
        return released


_MAX_TRACE_SPANS: Final = 100_000
"""The most span identities kept for calls waiting for their ancestors, in all traces together."""

_Held = TypeVar("_Held")


def _pop_due(entries: OrderedDict[SpanKey, tuple[float, _Held]], now: float) -> list[_Held]:
    due: list[_Held] = []
    # entries are in arrival order and every window is the same length, so deadlines ascend
    while entries:
        key = next(iter(entries))
        deadline, item = entries[key]
        if deadline > now:
            break
        del entries[key]
        due.append(item)
    return due


def _older(
    first: OrderedDict[SpanKey, tuple[float, Content]], second: OrderedDict[SpanKey, tuple[float, _Waiting]]
) -> bool:
    return first[next(iter(first))][0] <= second[next(iter(second))][0]


_shared_joins: dict[float, ContentJoin] = {}
_shared_lock = threading.Lock()


def shared_join(window: float) -> ContentJoin:
    """Return the process-wide content join of this window, so doors built apart (zero-code) still meet."""
    with _shared_lock:
        join = _shared_joins.get(window)
        if join is None:
            join = _shared_joins[window] = ContentJoin(window)
        return join


def _renew_shared_lock() -> None:
    global _shared_lock  # noqa: PLW0603 - a lock held at the fork would stay held in the child
    _shared_lock = threading.Lock()


renew_in_child(_renew_shared_lock)
