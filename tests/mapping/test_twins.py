"""The twin rule: one model call recorded in two traces is sent once, and two real calls never merge."""

from __future__ import annotations

from trubrics_otel.mapping import Findings, LLMCall, SpanData
from trubrics_otel.mapping.twins import Signature, are_twins, merge_twin_calls

SECOND = 1_000_000_000


def call(
    trace: str,
    *,
    prompt: str | None = "Hi",
    generation: str | None = "Hello!",
    user: str | None = "user-42",
    response_id: str | None = None,
    start: int = 0,
    end: int = 2 * SECOND,
    model: str = "gpt-4o",
    response_model: str | None = None,
    scope: str = "instrumentation",
    **found: object,
) -> LLMCall:
    span = SpanData("chat", trace * 32, trace * 16, start, end, {}, scope=scope)
    findings = Findings(
        kind="llm",
        prompt=prompt,
        generation=generation,
        user_id=user,
        response_id=response_id,
        request_model=model,
        response_model=response_model,
        **found,  # type: ignore[arg-type]
    )
    return LLMCall(span, findings)


def twins(first: LLMCall, second: LLMCall) -> bool:
    return are_twins(Signature.of(first), Signature.of(second))


def test_equal_response_ids_are_one_call_whatever_the_text() -> None:
    """The client library's own span without content and an instrumentation's span share the response id."""
    sdk = call("a", prompt=None, generation=None, response_id="msg_1", scope="com.anthropic.sdk.python")
    instrumented = call("b", response_id="msg_1", start=SECOND, end=3 * SECOND)

    assert twins(sdk, instrumented)


def test_a_reused_response_id_merges_nothing_made_apart() -> None:
    """A server that reuses ids (a fake restarted, a proxy) does not make two calls at different times one."""
    first = call("a", response_id="chatcmpl-1", prompt="Hi", generation="Hello!")
    later = call(
        "b", response_id="chatcmpl-1", prompt="Bye", generation="Bye!", start=5 * SECOND, end=6 * SECOND
    )

    assert not twins(first, later)


def test_different_response_ids_are_two_calls_whatever_the_text() -> None:
    """Two requests that asked and answered the same thing at the same time are two calls."""
    assert not twins(call("a", response_id="msg_1"), call("b", response_id="msg_2"))


def test_two_users_are_never_merged() -> None:
    """Two users asking the same thing at the same moment are two calls, with or without ids."""
    assert not twins(call("a", user="ada"), call("b", user="bob"))
    assert not twins(call("a", user="ada", response_id="x"), call("b", user="bob", response_id="x"))


def test_without_ids_the_same_exchange_at_the_same_time_is_one_call() -> None:
    """Equal prompt, generation and model, overlapping in time: one call seen twice."""
    outer = call("a", start=0, end=3 * SECOND)
    inner = call(
        "b", response_id="chatcmpl-1", response_model="gpt-4o-2024-08-06", start=SECOND, end=2 * SECOND
    )

    assert twins(outer, inner)


def test_the_same_question_asked_twice_is_two_calls() -> None:
    """Equal texts one after the other, without ids, do not overlap and stay two calls."""
    assert not twins(call("a", start=0, end=SECOND), call("b", start=2 * SECOND, end=3 * SECOND))


def test_other_models_or_other_texts_are_two_calls() -> None:
    """Overlapping calls with other answers, or to another model, are not the same call."""
    assert not twins(call("a"), call("b", generation="Hey"))
    assert not twins(call("a"), call("b", model="claude-sonnet-4"))
    assert not twins(call("a", prompt=None, generation=None), call("b", prompt=None, generation=None))


def test_a_model_and_its_dated_version_agree() -> None:
    """`gpt-4o` and `gpt-4o-2024-08-06` name one model."""
    assert twins(call("a", model="gpt-4o"), call("b", model="gpt-4o-2024-08-06"))


def test_the_richer_twin_is_kept_and_filled_from_the_other() -> None:
    """Real text beats a placeholder, and what only the poorer knew is kept."""
    sdk = call(
        "a",
        prompt=None,
        generation=None,
        response_id="msg_1",
        response_model="claude-sonnet-4-20250514",
        cache_read_tokens=5,
        scope="com.anthropic.sdk.python",
    )
    instrumented = call("b", response_id="msg_1")

    for batch in ([sdk, instrumented], [instrumented, sdk]):
        (kept,), (merged,) = merge_twin_calls(batch)
        assert kept.span is instrumented.span
        assert merged is sdk
        assert (kept.findings.prompt, kept.findings.generation) == ("Hi", "Hello!")
        assert kept.findings.response_model == "claude-sonnet-4-20250514"
        assert kept.findings.cache_read_tokens == 5


def test_an_instrumentations_span_beats_the_client_librarys_own_when_both_are_complete() -> None:
    """With text on both, the span of the library's own tracing is the one merged away."""
    sdk = call("a", response_id="msg_1", scope="com.anthropic.sdk.python")
    instrumented = call("b", response_id="msg_1")

    (kept,), _ = merge_twin_calls([sdk, instrumented])

    assert kept.span is instrumented.span


def test_a_batch_of_distinct_calls_is_left_alone() -> None:
    """Calls that are not twins all stay, in their order."""
    calls = [call(str(n), response_id=f"id-{n}") for n in range(5)]

    assert merge_twin_calls(calls) == (calls, [])


def test_a_twin_is_found_among_many_calls_by_its_id_or_its_texts() -> None:
    """In a full batch each twin meets the first call it pairs with, by response id or by texts alike."""
    calls = [call(f"{n % 10}", prompt=f"Q{n}", generation=f"A{n}", response_id=f"id-{n}") for n in range(98)]
    by_id = call("x", prompt=None, generation=None, response_id="id-40", scope="com.anthropic.sdk.python")
    by_texts = call("y", prompt="Q70", generation="A70")  # no id: the texts decide

    kept, merged = merge_twin_calls([*calls, by_id, by_texts])

    assert [found.span for found in kept] == [found.span for found in calls]
    assert merged == [by_id, by_texts]


def test_a_call_that_gained_its_texts_by_a_merge_pairs_by_them() -> None:
    """A call without text, filled from its twin, is then a twin of a third recording of the same texts."""
    sdk = call("a", prompt=None, generation=None, response_id="msg_1", scope="com.anthropic.sdk.python")
    instrumented = call("b", response_id="msg_1")
    third = call("c")  # no id: the same prompt and generation, overlapping

    kept, merged = merge_twin_calls([sdk, instrumented, third])

    assert len(kept) == 1
    assert merged == [sdk, third]
