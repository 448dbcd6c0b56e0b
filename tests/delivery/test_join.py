"""The content join: a call and its content meet by span id, within a window, within a memory bound."""

from __future__ import annotations

from trubrics_otel._delivery.join import Content, ContentJoin
from trubrics_otel.mapping import Findings, LLMCall, SpanData
from trubrics_otel.mapping.ancestry import SpanIdentity


def call(span_id: str, prompt: str | None = None, generation: str | None = None) -> LLMCall:
    span = SpanData("chat", "t" * 32, span_id, 0, 10, {})
    return LLMCall(span, Findings(kind="llm", prompt=prompt, generation=generation))


def key(span_id: str) -> tuple[str, str]:
    return ("t" * 32, span_id)


def test_a_complete_call_passes_straight_through() -> None:
    """A call that carries its text is ready at once and nothing is held."""
    join = ContentJoin(window=5)

    assert join.add_call(call("a", "p", "g"), now=0) == [call("a", "p", "g")]
    assert len(join) == 0


def test_content_first_then_call() -> None:
    """Content that arrives before its span completes the call when it comes."""
    join = ContentJoin(window=5)

    assert join.add_content(key("a"), Content(prompt="hi"), now=0) == []
    assert join.add_content(key("a"), Content(generation="hello"), now=1) == []
    (ready,) = join.add_call(call("a"), now=2)

    assert (ready.findings.prompt, ready.findings.generation) == ("hi", "hello")
    assert len(join) == 0


def test_call_first_then_content() -> None:
    """A call held for its text is released as soon as both halves are there."""
    join = ContentJoin(window=5)

    assert join.add_call(call("a"), now=0) == []
    assert join.add_content(key("a"), Content(prompt="hi"), now=1) == []
    (ready,) = join.add_content(key("a"), Content(generation="hello"), now=2)

    assert (ready.findings.prompt, ready.findings.generation) == ("hi", "hello")


def test_the_spans_own_text_wins() -> None:
    """Text on the span is never replaced by text from logs."""
    join = ContentJoin(window=5)
    join.add_call(call("a", prompt="span prompt"), now=0)

    (ready,) = join.add_content(key("a"), Content("log prompt", "log answer"), now=1)

    assert (ready.findings.prompt, ready.findings.generation) == ("span prompt", "log answer")


def test_later_prompt_wins_and_first_generation_stays() -> None:
    """Merging in arrival order keeps the last prompt seen and the first generation."""
    merged = Content("first", "answer").merge(Content("second", "other")).merge(Content(None, None))

    assert merged == Content("second", "answer")


def test_per_message_content_before_the_call_makes_the_last_user_message_the_prompt() -> None:
    """Records of one call that arrive in several batches before the span give the last user message."""
    join = ContentJoin(window=5)
    for piece in (Content("Hello"), Content(None), Content("Say hello"), Content(generation="Echo")):
        assert join.add_content(key("a"), piece, now=0) == []

    (ready,) = join.add_call(call("a"), now=1)

    assert (ready.findings.prompt, ready.findings.generation) == ("Say hello", "Echo")


def test_per_message_content_after_the_call_makes_the_last_user_message_the_prompt() -> None:
    """A held call takes the last prompt that came before its generation, not the first."""
    join = ContentJoin(window=5)
    join.add_call(call("a"), now=0)

    assert join.add_content(key("a"), Content("Hello"), now=1) == []
    assert join.add_content(key("a"), Content("Say hello"), now=2) == []
    (ready,) = join.add_content(key("a"), Content(generation="Echo"), now=3)

    assert (ready.findings.prompt, ready.findings.generation) == ("Say hello", "Echo")


def test_the_spans_own_text_wins_over_every_piece() -> None:
    """Text on the span stays however many pieces of content arrive."""
    join = ContentJoin(window=5)
    join.add_call(call("a", prompt="span prompt"), now=0)
    join.add_content(key("a"), Content(generation="log answer"), now=1)
    join.add_content(key("b"), Content("log prompt"), now=1)

    (ready,) = join.add_call(call("b", generation="span answer"), now=2)

    assert (ready.findings.prompt, ready.findings.generation) == ("log prompt", "span answer")
    assert len(join) == 0


def test_window_closes_on_an_incomplete_call() -> None:
    """A call whose content never comes is released when its window closes, not before."""
    join = ContentJoin(window=5)
    join.add_call(call("a"), now=0)
    join.add_call(call("b"), now=3)

    assert join.next_deadline() == 5
    assert join.expired(now=4.9) == []
    assert [c.span.span_id for c in join.expired(now=5)] == ["a"]
    assert [c.span.span_id for c in join.expired(now=8)] == ["b"]
    assert join.next_deadline() is None


def test_a_call_released_by_its_window_keeps_the_content_it_got() -> None:
    """A call whose generation never comes is released with the prompt its logs gave."""
    join = ContentJoin(window=5)
    join.add_call(call("a"), now=0)
    join.add_content(key("a"), Content("hi"), now=1)

    (released,) = join.expired(now=5)

    assert (released.findings.prompt, released.findings.generation) == ("hi", None)


def test_orphan_content_is_forgotten_when_its_window_closes() -> None:
    """Content whose span never comes is let go after the window."""
    join = ContentJoin(window=5)
    join.add_content(key("x"), Content("p", "g"), now=0)
    join.add_content(key("x"), Content(generation="more"), now=1)  # a second record of that content

    assert join.take_unjoined() == 0
    assert join.expired(now=6) == []
    assert len(join) == 0
    assert join.take_unjoined() == 2  # counted in records, and taken once
    assert join.take_unjoined() == 0


def test_content_evicted_or_left_when_the_last_core_detaches_is_counted() -> None:
    """Content let go past max_pending, or held when no core is left to bring its span, is counted."""
    join = ContentJoin(window=60, max_pending=2)
    join.attach()
    join.attach()
    for index in range(3):
        join.add_content(key(str(index)), Content("p"), now=index)
    assert join.take_unjoined() == 1

    join.detach()
    assert join.take_unjoined() == 0  # another core may still bring the spans
    join.detach()
    assert join.take_unjoined() == 2
    assert len(join) == 0


def test_content_that_meets_its_span_is_not_counted() -> None:
    """Content joined to its call, before or after it, is no loss."""
    join = ContentJoin(window=5)
    join.add_content(key("a"), Content("p"), now=0)
    join.add_call(call("a"), now=1)
    join.add_call(call("b"), now=1)
    join.add_content(key("b"), Content("p", "g"), now=2)

    join.expired(now=60)
    assert join.take_unjoined() == 0


def test_memory_is_bounded() -> None:
    """Past max_pending the oldest held call is released early."""
    join = ContentJoin(window=60, max_pending=3)
    released = []
    for index in range(5):
        released += join.add_call(call(str(index)), now=index)

    assert [c.span.span_id for c in released] == ["0", "1"]
    assert len(join) == 3


def test_drain_releases_every_call() -> None:
    """Flush releases every held call, complete or not, with the content it got."""
    join = ContentJoin(window=60)
    join.add_call(call("a"), now=0)
    join.add_content(key("a"), Content("p"), now=0)
    join.add_call(call("b"), now=0)

    assert [(c.span.span_id, c.findings.prompt) for c in join.drain()] == [("a", "p"), ("b", None)]
    assert len(join) == 0


def test_drain_keeps_content_for_a_span_still_to_come() -> None:
    """Content outlives a flush, so a span exporter that shuts down after the log exporter still joins it."""
    join = ContentJoin(window=60)
    join.add_content(key("z"), Content("p", "g"), now=0)

    assert join.drain() == []
    (ready,) = join.add_call(call("z"), now=1)

    assert (ready.findings.prompt, ready.findings.generation) == ("p", "g")
    assert join.expired(now=61) == []


def test_finish_reasons_from_content_fill_a_span_without_them() -> None:
    """A stream's span has no finish reason; its choice record's reason completes the call."""
    join = ContentJoin(window=5)
    join.add_call(call("a"), now=0)

    (ready,) = join.add_content(key("a"), Content("p", "g", ("stop",)), now=1)

    assert ready.findings.finish_reasons == ("stop",)


def test_content_in_parts_keeps_its_first_deadline_and_order() -> None:
    """More content for a waiting entry neither extends its window nor lets it outlive later entries."""
    join = ContentJoin(window=5)
    join.add_content(key("a"), Content(prompt="p"), now=0)
    join.add_content(key("b"), Content(prompt="q"), now=2)
    join.add_content(key("a"), Content(generation="g"), now=4)

    assert join.next_deadline() == 5
    join.expired(now=5)
    assert len(join) == 1  # only b is left, until 7
    join.expired(now=7)
    assert len(join) == 0


# --- calls waiting for their ancestors' identity -----------------------------------------------------


def nested_call(span_id: str, parent: str, **found: object) -> LLMCall:
    span = SpanData("chat", "t" * 32, span_id, 0, 10, {}, parent_span_id=parent)
    return LLMCall(span, Findings(kind="llm", prompt="p", generation="g", **found))  # type: ignore[arg-type]


def identity(
    span_id: str, parent: str | None, user: str | None = None, thread: str | None = None
) -> SpanIdentity:
    return SpanIdentity("t" * 32, span_id, parent, user, thread, parent is None)


def test_a_call_without_identity_waits_for_its_traces_root() -> None:
    """A nested call naming no user is held until the root arrives, then takes the ancestors' identity."""
    join = ContentJoin(window=5)

    assert join.add_call(nested_call("a", "agent"), now=0) == []
    assert join.add_spans([identity("agent", "root", user="user-42")]) == []
    (ready,) = join.add_spans([identity("root", None, thread="thread-7")])

    assert (ready.findings.user_id, ready.findings.thread_id) == ("user-42", "thread-7")
    assert len(join) == 0


def test_a_call_whose_root_never_comes_leaves_with_what_arrived_when_its_window_closes() -> None:
    """The wait is bounded: at the window's end the call takes the ancestors seen so far."""
    join = ContentJoin(window=5)
    join.add_call(nested_call("a", "agent"), now=0)
    join.add_spans([identity("agent", "far-away", user="user-42")])

    assert join.expired(now=4.9) == []
    (ready,) = join.expired(now=5)

    assert (ready.findings.user_id, ready.findings.thread_id) == ("user-42", None)
    assert join.add_spans([identity("far-away", None, thread="late")]) == []


def test_a_call_with_its_identity_or_without_a_parent_never_waits() -> None:
    """Nothing is held for a call that names both, or that is its trace's root."""
    join = ContentJoin(window=5)
    complete = nested_call("a", "agent", user_id="u", thread_id="t")
    root = LLMCall(
        SpanData("chat", "t" * 32, "r", 0, 10, {}), Findings(kind="llm", prompt="p", generation="g")
    )

    assert join.add_call(complete, now=0) == [complete]
    assert join.add_call(root, now=0) == [root]
    assert len(join) == 0


def test_a_call_waiting_for_content_and_identity_needs_both() -> None:
    """The root settles the identity, the content record then releases the call."""
    join = ContentJoin(window=5)
    span = SpanData("chat", "t" * 32, "a", 0, 10, {}, parent_span_id="root")
    join.add_call(LLMCall(span, Findings(kind="llm")), now=0)

    assert join.add_spans([identity("root", None, user="user-42")]) == []
    (ready,) = join.add_content(key("a"), Content("p", "g"), now=1)

    assert (ready.findings.user_id, ready.findings.prompt) == ("user-42", "p")


def test_drain_settles_waiting_calls_with_what_is_known() -> None:
    """Shutdown releases calls waiting for their ancestors too."""
    join = ContentJoin(window=5)
    join.add_call(nested_call("a", "agent"), now=0)
    join.add_spans([identity("agent", "root", user="user-42")])

    (ready,) = join.drain()

    assert ready.findings.user_id == "user-42"
    assert join.add_spans([identity("root", None)]) == []


# --- a held twin -------------------------------------------------------------------------------------


def test_a_held_call_without_text_is_taken_by_its_twin_with_text() -> None:
    """The client library's own span waits for content; its twin with the same response id takes it out."""
    join = ContentJoin(window=5)
    span = SpanData("anthropic.messages.create", "a" * 32, "s", 0, 10, {}, scope="com.anthropic.sdk.python")
    held = LLMCall(span, Findings(kind="llm", response_id="msg_1", operation="chat"))
    assert join.add_call(held, now=0) == []
    other = LLMCall(SpanData("chat", "b" * 32, "o", 0, 10, {}), Findings(kind="llm", response_id="msg_2"))
    join.add_call(other, now=0)

    twin = LLMCall(
        SpanData("messages.stream", "c" * 32, "i", 0, 10, {}),
        Findings(kind="llm", prompt="p", generation="g", response_id="msg_1"),
    )

    assert join.take_twin(twin) == held
    assert len(join) == 1
    assert join.take_twin(twin) is None
    assert join.take_twin(call("x", "p", "g")) is None
