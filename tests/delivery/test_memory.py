"""Besides the join, what outlives a batch: the calls sent (later twins), the parents of recent calls."""

from __future__ import annotations

from trubrics_otel._delivery.memory import RecentParents, TwinMemory
from trubrics_otel.mapping import Findings, LLMCall, SpanData

SECOND = 1_000_000_000


def call(
    trace: str,
    *,
    prompt: str | None = "Hi",
    generation: str | None = "Hello!",
    response_id: str | None = None,
    start: int = 0,
    end: int = 2 * SECOND,
    scope: str = "instrumentation",
) -> LLMCall:
    """A call of user-42 to gpt-4o, in a trace of its own."""
    span = SpanData("chat", trace * 32, trace * 16, start, end, {}, scope=scope)
    findings = Findings(
        kind="llm",
        prompt=prompt,
        generation=generation,
        user_id="user-42",
        response_id=response_id,
        request_model="gpt-4o",
    )
    return LLMCall(span, findings)


def test_memory_recognises_a_twin_in_a_later_batch_in_either_order() -> None:
    """A twin sent in an earlier batch makes the later one a duplicate, whichever came first."""
    sdk = call("a", prompt=None, generation=None, response_id="msg_1", scope="com.anthropic.sdk.python")
    instrumented = call("b", response_id="msg_1")
    for first, second in ((sdk, instrumented), (instrumented, sdk)):
        memory = TwinMemory(window=60)

        assert memory.settle([first], now=0) == ([first], [])
        assert memory.settle([second], now=1) == ([], [second])


def test_memory_forgets_after_its_window_and_past_its_bound() -> None:
    """What was sent is remembered for the window only, and for at most `max_calls` calls."""
    memory = TwinMemory(window=10, max_calls=2)
    first = call("a", response_id="msg_1")
    memory.settle([first], now=0)

    assert memory.settle([call("b", response_id="msg_1")], now=11)[1] == []

    memory.settle([call("c", response_id="msg_2"), call("d", response_id="msg_3")], now=12)
    assert len(memory) == 2
    assert memory.settle([call("e", response_id="msg_1")], now=13)[1] == []


def test_memory_never_merges_look_alike_calls() -> None:
    """The same question asked again later, by the same user, is sent again."""
    memory = TwinMemory(window=60)
    memory.settle([call("a", start=0, end=SECOND)], now=0)

    assert memory.settle([call("b", start=5 * SECOND, end=6 * SECOND)], now=6) == (
        [call("b", start=5 * SECOND, end=6 * SECOND)],
        [],
    )


def test_recent_parents_are_remembered_up_to_their_bound() -> None:
    """The oldest parent is forgotten first once more than `max_parents` are remembered."""
    parents = RecentParents(max_parents=2)
    parents.add(["a", "b"])
    parents.add(["c"])

    assert "a" not in parents
    assert "b" in parents
    assert "c" in parents
    assert len(parents) == 2


def test_a_forked_child_starts_with_empty_memories() -> None:
    """The parent sends what it remembers; the child must not hold it back as already sent."""
    memory = TwinMemory(window=60)
    memory.settle([call("a", response_id="msg_1")], now=0)
    parents = RecentParents()
    parents.add(["p"])

    memory._forget_after_fork()
    parents._forget_after_fork()

    assert len(memory) == 0
    assert "p" not in parents


def test_a_greeting_every_user_sends_is_compared_with_the_latest_of_its_user_only() -> None:
    """3,000 users say the same at once: a twin is still recognised, and each call is compared with at
    most SAME_TEXTS others (twins never cross users, and come within seconds of each other)."""
    from dataclasses import replace

    from trubrics_otel._delivery.memory import SAME_TEXTS

    memory = TwinMemory(window=60, max_calls=20_000)
    greetings = []
    for index in range(3_000):
        greeting = call(f"{index % 16:x}")
        greetings.append(replace(greeting, findings=replace(greeting.findings, user_id=f"person-{index}")))
    memory.settle(greetings, now=0)
    for index in range(100):  # one user repeats it far more often than the window keeps apart
        memory.settle([call("e", start=index * 3 * SECOND, end=(index * 3 + 1) * SECOND)], now=1)

    twin = replace(greetings[1234], span=replace(greetings[1234].span, scope="com.anthropic.sdk.python"))
    assert memory.settle([twin], now=2) == ([], [twin])
    latest = call("f", start=99 * 3 * SECOND, end=(99 * 3 + 1) * SECOND)
    assert memory.settle([latest], now=2) == ([], [latest])
    buckets = next(iter(memory._by_texts.values()))
    assert max(len(same) for same in buckets.values()) == SAME_TEXTS
    assert len(buckets) == 3_001
