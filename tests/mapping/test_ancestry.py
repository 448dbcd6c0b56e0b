"""A call that names no user or thread takes them from its nearest ancestors in the same trace."""

from __future__ import annotations

from trubrics_otel.mapping import Findings, LLMCall, SpanData, spans_to_records
from trubrics_otel.mapping.ancestry import SpanIdentity, fill_identity

TRACE = "1" * 32


def identity(
    span_id: str, parent: str | None, user: str | None = None, thread: str | None = None
) -> SpanIdentity:
    return SpanIdentity(TRACE, span_id, parent, user, thread, parent is None)


def call(parent: str | None, **found: object) -> LLMCall:
    span = SpanData("chat", TRACE, "c" * 16, 0, 1, {}, parent_span_id=parent)
    return LLMCall(span, Findings(kind="llm", **found))  # type: ignore[arg-type]


def test_the_nearest_ancestor_that_names_each_wins() -> None:
    """The user comes from the agent span, the thread from the conversation root."""
    spans = {
        "agent": identity("agent", "root", user="user-42"),
        "root": identity("root", None, user="someone-else", thread="thread-7"),
    }

    found = fill_identity(call("agent"), spans).findings

    assert (found.user_id, found.thread_id) == ("user-42", "thread-7")


def test_the_calls_own_identity_wins() -> None:
    """An ancestor never replaces what the call's span says."""
    spans = {"root": identity("root", None, user="root-user", thread="root-thread")}

    found = fill_identity(call("root", user_id="own", thread_id=None), spans).findings

    assert (found.user_id, found.thread_id) == ("own", "root-thread")


def test_a_missing_ancestor_ends_the_walk_and_a_cycle_cannot_loop() -> None:
    """Unknown parents leave the call as it is; parent ids that loop are walked a bounded number of times."""
    assert fill_identity(call("gone"), {}).findings.user_id is None
    loop = {"a": identity("a", "b"), "b": identity("b", "a")}
    assert fill_identity(call("a"), loop).findings.user_id is None


def test_a_root_call_or_one_with_a_remote_parent_does_not_need_its_ancestors() -> None:
    """Only a call with a local parent can learn more from its ancestors."""
    assert call("parent").needs_identity
    assert not call(None).needs_identity
    remote = SpanData("chat", TRACE, "c" * 16, 0, 1, {}, parent_span_id="p" * 16, parent_is_remote=True)
    assert not LLMCall(remote, Findings(kind="llm")).needs_identity
    assert not call("parent", user_id="u", thread_id="t").needs_identity


def test_a_batch_fills_a_call_from_the_conversation_span_above_it() -> None:
    """openai-v2's `gen_ai.conversation.id` on the parent reaches the call, and the wrapper sends nothing."""
    parent = SpanData(
        "conversation", TRACE, "p" * 16, 0, 10, {"gen_ai.conversation.id": "thread-7", "user.id": "user-42"}
    )
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]',
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]',
    }
    child = SpanData("chat gpt-4o", TRACE, "c" * 16, 1, 5, attributes, parent_span_id="p" * 16)

    (event,) = spans_to_records([child, parent])

    assert (event.user_id, event.properties["$thread_id"]) == ("user-42", "thread-7")
