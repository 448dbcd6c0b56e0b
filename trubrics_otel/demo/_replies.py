"""What the fake model endpoints compute alike, whatever API they imitate.

The reply to a user message, word counts as token counts, stream pieces, and the arguments of a weather
tool call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "ReplyFunction",
    "default_reply",
    "mentions_weather",
    "pick_tool",
    "pieces",
    "tool_arguments",
    "words",
]

ReplyFunction = Callable[[str], str]
"""Maps the text of the last user message to the assistant's reply."""

_WEATHER = re.compile(r"\bweather\b", re.IGNORECASE)
_PLACE = re.compile(r"\b(?:in|at|for)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
_DEFAULT_PLACE = "Paris"


def default_reply(text: str) -> str:
    """Return the default assistant reply for a user message.

    Args:
        text: The text of the last user message.

    Returns:
        ``"Echo: "`` followed by the text.

    """
    return f"Echo: {text}"


def mentions_weather(text: str) -> bool:
    """Return whether a user message asks about the weather, which the fakes answer with a tool call.

    Args:
        text: The text of the last user message.

    Returns:
        True when the word "weather" appears in it.

    """
    return _WEATHER.search(text) is not None


def words(text: str) -> int:
    """Return the number of whitespace-separated words in a text: the fakes' token count.

    Args:
        text: Any text.

    Returns:
        The number of words.

    """
    return len(text.split())


def pieces(text: str) -> list[str]:
    """Split text into stream deltas of one word each, keeping the whitespace so that they join back.

    Args:
        text: The text to stream.

    Returns:
        The deltas, in order.

    """
    return re.findall(r"\S+\s*|\s+", text)


def pick_tool(names: Sequence[str]) -> int:
    """Return the index of the tool to call: the first whose name mentions the weather, else the first.

    Args:
        names: The names of the tools offered, at least one.

    Returns:
        An index into ``names``.

    """
    return next((index for index, name in enumerate(names) if "weather" in name.lower()), 0)


def tool_arguments(schema: Any, user_text: str) -> dict[str, Any]:
    """Fill the required parameters of a JSON schema for a call asked for by a user message.

    String parameters get the place the message names after "in", "at" or "for" (Paris when it names
    none); other types get a neutral value.

    Args:
        schema: The tool's parameters, a JSON schema object.
        user_text: The text of the last user message.

    Returns:
        The arguments of the call.

    """
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    match = _PLACE.search(user_text)
    place = match.group(1) if match else _DEFAULT_PLACE
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)[:1]
    neutral: dict[str, Any] = {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}
    arguments: dict[str, Any] = {}
    for name in names:
        spec = properties[name]
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(kind, str):
            kind = kind.lower()  # Gemini's schemas spell the types in capitals
        arguments[name] = place if kind in (None, "string") else neutral.get(str(kind))
    return arguments
