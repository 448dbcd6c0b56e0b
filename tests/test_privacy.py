"""What may leave the process: the content switch, the redaction hook and the size limit, before sending
and before spooling."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trubrics_otel import ConfigurationError, TrubricsClient
from trubrics_otel._events import Event, LLMEvent
from trubrics_otel._privacy import WITHHELD, cut
from trubrics_otel.server import LocalServer


def call(prompt: str = "My card is 4111 1111 1111 1111", generation: str = "Noted.") -> LLMEvent:
    return LLMEvent(
        user_id="u1",
        assistant_id="gpt-4o",
        prompt=prompt,
        generation=generation,
        properties={"$thread_id": "t1", "note": prompt},
    )


def mask_cards(item: dict[str, Any]) -> dict[str, Any] | None:
    """A redaction hook: masks card numbers everywhere, and sends nothing for user `secret`."""
    if item["user_id"] == "secret":
        return None
    for key in ("prompt", "generation"):
        if key in item:
            item[key] = item[key].replace("4111 1111 1111 1111", "[card]")
    item["properties"] = {
        k: str(v).replace("4111 1111 1111 1111", "[card]") for k, v in item["properties"].items()
    }
    return item


def test_the_content_switch_keeps_prompts_and_generations_in_the_process(
    server: LocalServer, api_key: str
) -> None:
    client = TrubricsClient(api_key, server.url, send_content=False)
    try:
        assert client.send([call()]).sent == 1
    finally:
        client.shutdown()
    (stored,) = server.llm_events()
    assert (stored["prompt"], stored["generation"]) == (WITHHELD, WITHHELD)
    assert stored["properties"]["$thread_id"] == "t1"


def test_the_redaction_hook_sees_each_record_before_it_is_sent(server: LocalServer, api_key: str) -> None:
    client = TrubricsClient(api_key, server.url, redact=mask_cards)
    try:
        result = client.send(
            [call(), Event(user_id="secret", event="Sign up"), Event(user_id="u2", event="x")]
        )
    finally:
        client.shutdown()
    assert (result.sent, result.dropped) == (2, 1)
    assert client.stats().dropped == {"redacted": 1}
    (stored,) = server.llm_events()
    assert stored["prompt"] == "My card is [card]"
    assert stored["properties"]["note"] == "My card is [card]"
    assert [event["user_id"] for event in server.events()] == ["u2"]


def test_a_hook_that_fails_drops_the_record_rather_than_send_it_raw(
    server: LocalServer, api_key: str
) -> None:
    def broken(item: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("oops")

    client = TrubricsClient(api_key, server.url, redact=broken)
    try:
        result = client.send([call()])
    finally:
        client.shutdown()
    assert result.dropped == 1
    assert server.llm_events() == []
    assert client.stats().dropped == {"redacted": 1}


def test_the_hook_runs_before_the_spool_so_the_disk_never_holds_the_raw_text(
    server: LocalServer, api_key: str, tmp_path: Path
) -> None:
    server.faults.fail_rate = 1.0
    client = TrubricsClient(api_key, server.url, retry_deadline=0.05, spool_dir=tmp_path, redact=mask_cards)
    assert client.send([call()]).spooled == 1
    client.shutdown()
    assert client.spool is not None
    while client.spool.busy:  # the spool's thread ends at once after a shutdown
        time.sleep(0.01)
    written = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert b"[card]" in written
    assert b"4111" not in written


def test_the_hook_can_be_named_in_the_environment(
    server: LocalServer, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_redaction.py").write_text(
        "def hook(item):\n    item['prompt'] = 'hidden'\n    return item\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TRUBRICS_REDACT", "my_redaction:hook")
    client = TrubricsClient(api_key, server.url)
    try:
        client.send([call()])
    finally:
        client.shutdown()
        sys.modules.pop("my_redaction", None)
    assert server.llm_events()[0]["prompt"] == "hidden"


@pytest.mark.parametrize("value", ["no_such_module:hook", "json", "json:no_such_function", "json:__doc__"])
def test_a_hook_that_cannot_be_imported_is_an_error_never_a_silent_fallback(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sending unredacted text because of a typo would leak it: the configuration fails instead."""
    monkeypatch.setenv("TRUBRICS_REDACT", value)
    with pytest.raises(ConfigurationError, match="TRUBRICS_REDACT"):
        TrubricsClient("k", "http://127.0.0.1:1")


def test_text_past_the_limit_is_cut_with_a_visible_mark(server: LocalServer, api_key: str) -> None:
    long = "x" * 5000
    client = TrubricsClient(api_key, server.url, max_text_length=1000)
    try:
        client.send([call(prompt=long, generation="short")])
    finally:
        client.shutdown()
    (stored,) = server.llm_events()
    assert len(stored["prompt"]) == 1000
    assert stored["prompt"].endswith(" [cut 4,023 characters]")
    assert stored["prompt"].startswith("x" * 970)
    assert stored["generation"] == "short"
    assert stored["properties"]["note"] == stored["prompt"]


@pytest.mark.parametrize(("length", "limit"), [(1001, 1000), (10**6, 100), (50, 10), (200, 1)])
def test_cut_keeps_within_the_limit_and_counts_what_it_removed(length: int, limit: int) -> None:
    text = "a" * length
    result = cut(text, limit)
    mark = result[result.rindex(" [cut ") :]
    kept = len(result) - len(mark)
    assert int(mark.removeprefix(" [cut ").removesuffix(" characters]").replace(",", "")) == length - kept
    assert len(result) <= max(limit, len(mark))


def test_a_hook_that_edits_the_properties_in_place_leaves_the_applications_record_alone(
    server: LocalServer, api_key: str
) -> None:
    def drop_note(item: dict[str, Any]) -> dict[str, Any]:
        del item["properties"]["note"]
        return item

    made = call()
    client = TrubricsClient(api_key, server.url, redact=drop_note)
    try:
        assert client.send([made]).sent == 1
    finally:
        client.shutdown()
    assert "note" not in server.llm_events()[0]["properties"]
    assert made.properties["note"] == "My card is 4111 1111 1111 1111"
