"""How the recognisers read chat messages: the prompt is the last user text, the generation the answer.

Instrumentations write messages in two shapes, often side by side: the GenAI shape
(`{role, parts: [{type, content}]}`) and the older flat one (`{role, content, tool_calls}`), as JSON
text or as structures. `parse_parts_messages` reads both into `Message`s; `last_user_message_text` and
`assistant_answer` are its shortcuts for the one message or text the mapping wants, which read no more
than they must.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from trubrics_otel.mapping._reading import is_mapping, load_json, to_text

__all__ = [
    "Message",
    "ToolCall",
    "assistant_answer",
    "assistant_text",
    "content_text",
    "last_user_message_text",
    "last_user_text",
    "message_text",
    "parse_parts_messages",
]


class ToolCall(NamedTuple):
    """A tool (function) call the model asked for instead of, or besides, answering in text."""

    name: str
    arguments: str = ""

    def render(self) -> str:
        """Return the call as people read it: `get_weather({"city": "Paris"})`."""
        return f"{self.name}({self.arguments})"


class Message(NamedTuple):
    """One chat message reduced to what analytics needs: who spoke, their text, their tool calls."""

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def parse_parts_messages(value: object) -> list[Message]:
    """Parse GenAI messages (`[{role, parts: [{type, content | name, arguments}]}]`, JSON or structure).

    Also accepts the older flat shape `{role, content, tool_calls}`, which several instrumentations
    still emit inside the same attributes.
    """
    data = load_json(value)
    if isinstance(data, Mapping):
        data = [data]
    # log attributes hold sequences as tuples: the SDK freezes them
    if not isinstance(data, (list, tuple)):
        return []
    return [message for item in data if (message := _message(item)) is not None]


def last_user_message_text(value: object) -> str | None:
    """Return the text of the last user message with text in GenAI messages, or None.

    The prompt is only ever that message, so a long conversation is read from its end and the rest is
    never parsed.
    """
    data = load_json(value)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, (list, tuple)):
        return None
    for item in reversed(data):
        if is_mapping(item) and item.get("role") in _USER_ROLES:
            text = message_text(item)
            if text:
                return text
    return None


def assistant_answer(value: object) -> str | None:
    """Return the model's answer in GenAI output messages: its texts, then its tool calls rendered.

    Whatever the output messages hold is the model's output, whatever role they name (some
    instrumentations write `"unknown"`). The messages are not built unless one asks for a tool.
    """
    data = load_json(value)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, (list, tuple)):
        return None
    texts: list[str] = []
    calls: list[str] = []
    for item in data:
        if not is_mapping(item):
            continue
        text = message_text(item)
        if text:
            texts.append(text)
        if _asks_for_tools(item):
            message = _message(item)
            if message is not None:
                calls.extend(call.render() for call in message.tool_calls)
    return "\n".join([*texts, *calls]) or None


def _asks_for_tools(item: Mapping[str, object]) -> bool:
    parts = item.get("parts")
    if type(parts) is list or type(parts) is tuple:
        return any(is_mapping(part) and part.get("type") == "tool_call" for part in parts)
    return bool(item.get("tool_calls"))


_USER_ROLES: Final = frozenset({"user", "human"})
_ASSISTANT_ROLES: Final = ("assistant", "model", "ai", "")


def _message(item: object) -> Message | None:
    if not is_mapping(item):
        return None
    parts = item.get("parts")
    if type(parts) is list or type(parts) is tuple:
        calls = tuple(
            _tool_call(part) for part in parts if is_mapping(part) and part.get("type", "text") == "tool_call"
        )
        return Message(_role(item), _parts_text(parts), calls)
    raw_calls = item.get("tool_calls")
    found = tuple(_tool_call(call) for call in raw_calls) if isinstance(raw_calls, list) else ()
    return Message(_role(item), content_text(item.get("content")), found)


def _role(item: Mapping[str, object]) -> str:
    role = item.get("role")
    return role if type(role) is str else to_text(role) or ""


def message_text(item: Mapping[str, object]) -> str:
    """Return one message's text: its text parts (GenAI) or its `content` (older shape), joined."""
    parts = item.get("parts")
    if type(parts) is list or type(parts) is tuple:
        return _parts_text(parts)
    return content_text(item.get("content"))


def _parts_text(parts: Iterable[object]) -> str:
    texts: list[str] = []
    for part in parts:
        if is_mapping(part) and part.get("type", "text") == "text":
            content = part.get("content")
            if content is not None:
                texts.append(content if type(content) is str else str(content))
    return "\n".join(texts)


def content_text(content: object) -> str:
    """Return the text of a message's `content`: a string, or a list of text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") in (
                "text",
                "input_text",
                "output_text",
            ):
                text = part.get("text", part.get("content"))
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return "" if content is None else str(content)


def _tool_call(data: object) -> ToolCall:
    if not is_mapping(data):
        return ToolCall(str(data))
    function = data.get("function")
    source = function if is_mapping(function) else data
    name = to_text(source.get("name")) or "tool"
    arguments = source.get("arguments")
    if arguments is None:
        rendered = ""
    elif isinstance(arguments, str):
        rendered = arguments
    else:
        rendered = json.dumps(arguments, sort_keys=True, default=str)
    return ToolCall(name, rendered)


def last_user_text(messages: Iterable[Message]) -> str | None:
    """Return the text of the last user message that has text (a turn of tool results is no prompt)."""
    last = None
    for message in messages:
        if message.role in _USER_ROLES and message.text:
            last = message
    return last.text if last is not None else None


def assistant_text(messages: Iterable[Message]) -> str | None:
    """Return the assistant's answer: its text, then its tool calls rendered, one a line; else None."""
    texts: list[str] = []
    calls: list[str] = []
    for message in messages:
        if message.role not in _ASSISTANT_ROLES:
            continue
        if message.text:
            texts.append(message.text)
        calls.extend(call.render() for call in message.tool_calls)
    return "\n".join([*texts, *calls]) or None
