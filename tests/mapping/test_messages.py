"""Chat messages: the shortcuts for the prompt and the answer give what parsing every message gives."""

from __future__ import annotations

import json

import pytest

from trubrics_otel.mapping._messages import (
    assistant_answer,
    assistant_text,
    last_user_message_text,
    last_user_text,
    parse_parts_messages,
)

MESSAGES = [
    [],
    {},
    "not json",
    "[1, 2]",
    {"role": "assistant", "content": "One message, not a list"},
    [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
    [
        {"role": "user", "parts": [{"type": "text", "content": "First"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Answer"}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "response": "42"}]},
    ],
    [
        {"role": "human", "content": [{"type": "text", "text": "Old"}, "shape"]},
        {"role": "user", "parts": [{"content": "no type"}, {"type": "text", "content": 7}, "junk"]},
        {"role": "user", "parts": [{"type": "text", "content": None}]},
        {"role": "user", "content": ""},
    ],
    [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "get_weather", "arguments": {"city": "P"}}],
        },
        {"role": "model", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}, "odd"]},
        {"role": None, "content": ""},
    ],
    [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "lookup"}, {"type": "text", "content": "A"}],
        },
        {"role": "ai", "parts": ({"type": "text", "content": "B"},)},
        {"role": "tool", "content": "not the answer"},
        {"content": "no role: the assistant's"},
        {"role": 5, "content": "a number is no role"},
        "not a message",
    ],
    ({"role": "assistant", "content": ["a", {"type": "output_text", "text": "b"}, {"type": "image"}]},),
    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "From JSON"}]}]),
]


@pytest.mark.parametrize("value", MESSAGES)
def test_last_user_message_text_is_the_prompt_of_all_messages_parsed(value: object) -> None:
    """Reading only the last user message gives the prompt that parsing every message gives."""
    expected = last_user_text(message for message in parse_parts_messages(value) if message.text)

    assert last_user_message_text(value) == expected


@pytest.mark.parametrize("value", MESSAGES)
def test_assistant_answer_is_the_text_of_all_messages_parsed(value: object) -> None:
    """Every output message is the model's, whatever its role: as if each were parsed as the assistant's."""
    answers = [message._replace(role="assistant") for message in parse_parts_messages(value)]

    assert assistant_answer(value) == assistant_text(answers)
