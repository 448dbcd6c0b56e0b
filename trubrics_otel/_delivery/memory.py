"""What outlives one batch of spans, besides the content join: the calls sent, the parents of recent calls.

`TwinMemory` remembers the calls sent for `window` seconds (at most `max_calls` calls, as the small
signatures of the twin rule, `mapping.twins`), so a twin that comes in a later batch, or leaves the content
join later, is recognised and not sent again. `RecentParents` remembers the parent span ids of recent
calls, so an outer span of a nested call that comes in a later batch is merged away too.

Both are given to the `Translator` by the delivery core; both hold a lock, and start empty in a forked
child (the parent sends what it remembers).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Final

from trubrics_otel._fork import renew_in_child
from trubrics_otel.mapping._calls import LLMCall
from trubrics_otel.mapping.twins import Signature, are_twins, merge_twin_calls

__all__ = ["SAME_TEXTS", "RecentParents", "TwinMemory"]

SAME_TEXTS: Final = 32
"""Calls remembered per prompt-and-generation and user: the twin of a call is sent within seconds of it,
so only the latest are compared, and a greeting every user sends costs no more than a rare question."""


class TwinMemory:
    """The signatures of calls sent recently, to recognise a twin that comes later.

    Args:
        window: seconds a sent call is remembered.
        max_calls: the most calls remembered; past it the oldest is forgotten.
    """

    def __init__(self, window: float = 60.0, max_calls: int = 10_000) -> None:
        self.window = window
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, Signature]] = deque()
        # response id -> the signature with it; the rest by their texts' hash and their user, the latest
        # SAME_TEXTS of each: twins are sent close together, and never across users
        self._by_id: dict[str, Signature] = {}
        self._by_texts: dict[int, dict[str | None, deque[Signature]]] = {}
        renew_in_child(self._forget_after_fork)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sent)

    def settle(self, calls: Sequence[LLMCall], now: float) -> tuple[list[LLMCall], list[LLMCall]]:
        """Return (the calls to send, the twins merged or already sent), remembering what is sent."""
        kept, merged = merge_twin_calls(calls)
        if not kept:
            return kept, merged
        send: list[LLMCall] = []
        with self._lock:
            self._forget(now)
            for call in kept:
                signature = Signature.of(call)
                if self._seen(signature):
                    merged.append(call)
                    continue
                send.append(call)
                self._remember(signature, now)
        return send, merged

    def _seen(self, signature: Signature) -> bool:
        if signature.response_id is not None:
            earlier = self._by_id.get(signature.response_id)
            if earlier is not None and are_twins(earlier, signature):
                return True
        if signature.texts is None:
            return False
        users = self._by_texts.get(signature.texts)
        if not users:
            return False
        if signature.user_id is None:  # no user: a twin may have any
            candidates: Iterable[deque[Signature]] = users.values()
        else:
            candidates = (same for same in (users.get(signature.user_id), users.get(None)) if same)
        return any(are_twins(earlier, signature) for same in candidates for earlier in reversed(same))

    def _remember(self, signature: Signature, now: float) -> None:
        self._sent.append((now + self.window, signature))
        if signature.response_id is not None:
            self._by_id[signature.response_id] = signature
        if signature.texts is not None:
            users = self._by_texts.setdefault(signature.texts, {})
            same = users.get(signature.user_id)
            if same is None:
                same = users[signature.user_id] = deque(maxlen=SAME_TEXTS)
            same.append(signature)
        while len(self._sent) > self.max_calls:
            self._drop_oldest()

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, signature = self._sent.popleft()
        if signature.response_id is not None and self._by_id.get(signature.response_id) is signature:
            del self._by_id[signature.response_id]
        if signature.texts is not None:
            users = self._by_texts.get(signature.texts)
            same = None if users is None else users.get(signature.user_id)
            if same and same[0] is signature:  # the oldest of its texts and user, unless pushed out already
                same.popleft()
            if users is not None and same is not None and not same:
                del users[signature.user_id]
                if not users:
                    del self._by_texts[signature.texts]

    def _forget_after_fork(self) -> None:
        """Start empty in a forked child, with a lock no thread of the parent holds."""
        self._lock = threading.Lock()
        self._sent.clear()
        self._by_id.clear()
        self._by_texts.clear()


class RecentParents:
    """The parent span ids of recent model calls, a bounded number, oldest forgotten first.

    Args:
        max_parents: the most ids remembered.
    """

    def __init__(self, max_parents: int = 10_000) -> None:
        self.max_parents = max_parents
        self._lock = threading.Lock()
        self._ids: OrderedDict[str, None] = OrderedDict()
        renew_in_child(self._forget_after_fork)

    def __contains__(self, span_id: object) -> bool:
        return span_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, span_ids: Iterable[str]) -> None:
        """Remember these parents, forgetting the oldest past the bound."""
        with self._lock:
            ids = self._ids
            for span_id in span_ids:
                ids[span_id] = None
            while len(ids) > self.max_parents:
                ids.popitem(last=False)

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._ids.clear()
