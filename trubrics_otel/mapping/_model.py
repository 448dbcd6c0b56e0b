"""The plain data the mapping works on: a span as attributes, ids and times, and what a convention finds.

Nothing here imports the OpenTelemetry SDK or performs I/O: recognisers are pure functions from a
`SpanData` to `Findings`, so they are fast and can be tested with tables of attribute dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple, TypeGuard

__all__ = [
    "MAX_PROPERTY_TEXT",
    "Findings",
    "Message",
    "SpanData",
    "SpanEventData",
    "ToolCall",
    "assistant_answer",
    "assistant_text",
    "first_int",
    "first_text",
    "indexed",
    "is_mapping",
    "last_user_message_text",
    "last_user_text",
    "load_json",
    "message_text",
    "metadata_properties",
    "parse_parts_messages",
    "to_int",
    "to_text",
]

Kind = Literal["llm", "event", "other"]
"""What a span is: a model call (one LLM event), a product event, or something that sends nothing
(a wrapper around a model call, an embedding, a retrieval, a tool run)."""


@dataclass(slots=True)
class SpanEventData:
    """An event recorded on a span (OpenTelemetry's `Span.add_event`)."""

    name: str
    timestamp: int
    attributes: Mapping[str, object]


@dataclass(slots=True)
class SpanData:
    """A finished span as plain data. Ids are lower-case hex; times are epoch nanoseconds.

    Treat it as read-only. It is not frozen only because a frozen dataclass's constructor costs several
    times more, and one is built for every span exported.
    """

    name: str
    trace_id: str
    span_id: str
    start_time: int
    end_time: int
    attributes: Mapping[str, object]
    parent_span_id: str | None = None
    events: Sequence[SpanEventData] = ()
    resource: Mapping[str, object] = field(default_factory=dict)
    status_code: Literal["UNSET", "OK", "ERROR"] = "UNSET"
    status_message: str | None = None
    scope: str | None = None
    parent_is_remote: bool = False
    _key_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def has_key_prefix(self, *prefixes: str) -> bool:
        """Whether any attribute key starts with one of `prefixes`.

        The keys are joined once per span and searched in C: several recognisers ask, and a Python
        loop over every key for each of them would cost more than the rest of their work.
        """
        keys = self._key_text
        if keys is None:
            keys = self._key_text = "\n" + "\n".join(self.attributes)
        return any("\n" + prefix in keys for prefix in prefixes)


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


@dataclass
class Findings:
    """What one convention reads off a span. `None` means "this convention says nothing about it".

    Recognisers fill what they know; `combine` in `trubrics_otel.mapping` merges them field by field in
    a documented precedence.
    """

    kind: Kind | None = None
    event_name: str | None = None
    prompt: str | None = None
    generation: str | None = None
    assistant_id: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    operation: str | None = None
    user_id: str | None = None
    thread_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reasons: tuple[str, ...] | None = None
    response_id: str | None = None
    latency: float | None = None
    """Seconds the call took, when the span's own times do not say (a zero-length log record)."""
    properties: dict[str, object] = field(default_factory=dict)


# --- helpers the recognisers share --------------------------------------------------------------

MAX_PROPERTY_TEXT: Final = 256
"""The longest metadata text copied into properties; longer values are the app's data, not a label."""

_FRAMEWORK_METADATA: Final = ("ls_", "lc_")
"""LangChain's own bookkeeping (`ls_provider`, `ls_model_name`, `lc_versions`, ...): noise in analytics."""


def metadata_properties(values: Mapping[str, object], taken: Collection[str] = ()) -> dict[str, object]:
    """Return the metadata worth a property: small scalars, less `taken` and LangChain's `ls_*`, `lc_*`."""
    return {
        str(name): value
        for name, value in values.items()
        if name not in taken and _is_small(value) and not str(name).startswith(_FRAMEWORK_METADATA)
    }


def _is_small(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_PROPERTY_TEXT
    return isinstance(value, (bool, int, float))


def first_text(values: Mapping[str, object], *keys: str) -> str | None:
    """Return the first of `keys` whose value is non-empty text, or None."""
    for key in keys:
        text = to_text(values.get(key))
        if text is not None:
            return text
    return None


def first_int(values: Mapping[str, object], *keys: str) -> int | None:
    """Return the first of `keys` whose value is a number, as an int, or None."""
    for key in keys:
        value = values.get(key)
        if value is not None:  # most keys are absent: skip them without a call
            number = to_int(value)
            if number is not None:
                return number
    return None


def to_text(value: object) -> str | None:
    """Return a non-empty string form of an attribute value, or None."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def to_int(value: object) -> int | None:
    """Return an attribute value as an int (token counts arrive as ints, floats or strings), or None."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def load_json(value: object) -> object:
    """Return a JSON string decoded, a structure as it is, and None for anything undecodable."""
    if not isinstance(value, str):
        return value
    try:
        # the scanner `json.loads` ends in, called directly: for a span's few short JSON texts the layers
        # on the way to it cost as much as the decoding
        decoded, end = _scan_json(value, 0)
        if end == len(value):
            return decoded
    except (StopIteration, ValueError):
        pass  # whitespace around the text, or not JSON: `json.loads` decides
    try:
        return json.loads(value)
    except ValueError:
        return None


_scan_json: Final[Callable[[str, int], tuple[object, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def indexed(attributes: Mapping[str, object], prefix: str) -> list[dict[str, object]]:
    """Gather flattened attributes `{prefix}{i}.{rest}` into a list of dicts ordered by `i`.

    `indexed(a, "gen_ai.prompt.")` turns `gen_ai.prompt.0.role` and `gen_ai.prompt.0.content` into
    `[{"role": ..., "content": ...}]`. Gaps (the SDK drops the earliest attributes past its limit) are
    skipped.
    """
    found: dict[int, dict[str, object]] = {}
    size = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        number, _, rest = key[size:].partition(".")
        if number.isdigit() and rest:
            found.setdefault(int(number), {})[rest] = value
    return [found[index] for index in sorted(found)]


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


def is_mapping(value: object) -> TypeGuard[Mapping[str, object]]:
    """Whether `value` is a mapping; decoded JSON gives plain dicts, which are checked first (fast)."""
    return type(value) is dict or isinstance(value, Mapping)


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
        if message.role in ("user", "human") and message.text:
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
