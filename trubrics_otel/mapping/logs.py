"""Pure translation of a log record into a Trubrics record: a message and attributes in, one record out.

A log record (the `extra=` of Python logging, a structlog event dict, the attributes of an OpenTelemetry
log record) becomes a record when it carries one of these keys:

| key | meaning |
|---|---|
| `user_id` | who; the record becomes an event named `event`, else by its message |
| `event` | the event's name (the record is an event even without a user: the default user is used) |
| `prompt`, `generation` | the record is one model call: an LLM event |
| `assistant_id` | the assistant of the call; else the model the conventions name, else the default |
| `thread_id` | the conversation, sent as the `$thread_id` property |
| `properties` | a mapping merged into the properties |
| `latency` | seconds the call took (a number, numeric text or a `timedelta`) |
| `timestamp` | when: a datetime, ISO 8601 text, or epoch s, ms, µs or ns (default: the record's time) |
| `prompt_event_name`, `generation_event_name` | custom names of the two events an LLM event becomes |

…or one of the keys the span conventions know (`trubrics.*`, `user.id`, `session.id`,
`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.request.model`, `gen_ai.conversation.id`, ...):
the same recognisers that read spans (`trubrics_otel.mapping.recognise_all`) read the record's attributes,
so a log record is understood exactly as a span with those attributes would be.

None of the keys is the name of a `logging.LogRecord` attribute, so each can be passed as `extra=`
(`makeRecord` refuses `name`, `msg`, `args`, `message`, `filename`, ... with a `KeyError`).

The record's other keys without a dot become properties unless `extras_as_properties` is off; keys that
start with `_` are private and never sent, and dotted keys are left to the conventions (copy more with
`MappingOptions.copy_attributes`).

Nothing the user gave is lost without a word. A `latency` or `timestamp` that cannot be read (text that
is no time, a number out of range, a value of another type) is kept in the properties under its own key,
the record keeps its own time and no latency, and the outcome names the key (`LogOutcome.unusable`) for
the caller to warn about once (`unusable_warning`). The keys only an LLM event uses (`assistant_id`,
`latency`, the event names) are properties of a plain event.

`is_candidate` is the cheap test the logging handler and the structlog processor run in the caller's
thread; `interpret_log` does the real work later, on the delivery thread, and says whether a model call
lacked its text (sent with the placeholder, or dropped with `drop_without_content`), for the caller to
count. Nothing here performs I/O.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from trubrics_otel._events import Event, LLMEvent, parse_timestamp
from trubrics_otel.mapping import MappingOptions, combine, findings_properties, recognise_all
from trubrics_otel.mapping._model import Findings, SpanData
from trubrics_otel.mapping._reading import first_text_of, to_text

__all__ = [
    "ACCEPTED",
    "RECOGNISED_KEYS",
    "TRIGGER_KEYS",
    "LogOutcome",
    "interpret_log",
    "is_candidate",
    "log_to_record",
    "unusable_warning",
]

TRIGGER_KEYS: Final = frozenset({"user_id", "event", "prompt", "generation"})
"""Plain keys that make a log record a Trubrics record on their own."""

RECOGNISED_KEYS: Final = TRIGGER_KEYS | frozenset(
    {
        "assistant_id",
        "thread_id",
        "properties",
        "latency",
        "timestamp",
        "prompt_event_name",
        "generation_event_name",
    }
)
"""Every plain key the mapping reads; the rest of a record's keys are properties."""

_LLM_ONLY_KEYS: Final = ("assistant_id", "latency", "prompt_event_name", "generation_event_name")
"""Keys a plain event has no field for: it keeps them as properties."""

ACCEPTED: Final = {
    "latency": ("a number of seconds, numeric text or a timedelta", "no latency"),
    "timestamp": (
        "a datetime, ISO 8601 text, or a positive epoch time in seconds, milliseconds, microseconds or "
        "nanoseconds before the year 10000",
        "the log record's own time",
    ),
}
"""For each key whose value is read, not merely copied: what it accepts, and what stands in otherwise."""

_NOTHING: Final = Findings()
_MAX_EPOCH_NS: Final = 253_402_300_799 * 10**9
"""The end of the year 9999, the last moment a datetime (and so the API's timestamp) can hold."""


@dataclass(frozen=True)
class LogOutcome:
    """What one log record is for Trubrics.

    Attributes:
        record: the event or LLM event to send; None when the log record carries nothing recognised, or
            is a model call without its text that `drop_without_content` drops.
        missing_content: the record is a model call that lacks its prompt or its generation: sent with
            the placeholder (`record` set), or dropped (`record` None). The caller counts it.
        unusable: the keys among `ACCEPTED` whose value could not be read, each with the name of its
            type: the value went to the properties instead. The caller warns (see `unusable_warning`).
    """

    record: Event | LLMEvent | None
    missing_content: bool = False
    unusable: tuple[tuple[str, str], ...] = ()


_NOT_FOR_TRUBRICS: Final = LogOutcome(None)


def is_candidate(keys: Iterable[object]) -> bool:
    """Whether a record with these attribute keys may become a Trubrics record; cheap, and never wrong.

    True when a key is one of `TRIGGER_KEYS` or is dotted (the conventions' namespaced keys). A record
    that passes may still map to nothing (a dotted key no convention knows); one that fails never maps
    to anything the caller would want sent.
    """
    return any(key in TRIGGER_KEYS or (type(key) is str and "." in key) for key in keys)


def interpret_log(
    message: str,
    attributes: Mapping[str, object],
    timestamp_ns: int | None,
    options: MappingOptions,
    *,
    extras_as_properties: bool = True,
) -> LogOutcome:
    """Return what a log record is for Trubrics: the record to send, and whether a call lacked its text.

    Args:
        message: the record's rendered message (a structlog event's `event`); the event's name when the
            record names none.
        attributes: the record's own keys (`extra=`, the event dict without `event`, OTel attributes).
        timestamp_ns: when the record was made, in epoch nanoseconds; None for now.
        options: the defaults and placeholders the span mapping uses too.
        extras_as_properties: copy the record's other keys into properties; False keeps only what the
            mapping recognises.
    """
    found = _conventions(attributes, timestamp_ns)
    prompt = first_text_of(attributes.get("prompt"), found.prompt)
    generation = first_text_of(attributes.get("generation"), found.generation)
    user_id = first_text_of(attributes.get("user_id"), found.user_id)
    event_name = first_text_of(attributes.get("event"), found.event_name if found.kind == "event" else None)
    if prompt is None and generation is None and user_id is None and event_name is None:
        return _NOT_FOR_TRUBRICS
    moment: _dt.datetime | int | None = timestamp_ns
    unusable: list[str] = []
    given_time = attributes.get("timestamp")
    if given_time is not None:
        read = _moment(given_time)
        if read is None:
            unusable.append("timestamp")
        else:
            moment = read
    if prompt is not None or generation is not None:
        missing_content = prompt is None or generation is None
        if missing_content and options.drop_without_content:
            return LogOutcome(None, missing_content=True)
        latency = _seconds(attributes.get("latency"))
        if isinstance(latency, _Unusable):
            unusable.append("latency")
            latency = None
        llm_event = LLMEvent(
            user_id or options.default_user_id,
            first_text_of(
                attributes.get("assistant_id"),
                found.assistant_id,
                found.response_model,
                found.request_model,
            )
            or options.default_assistant_id,
            prompt if prompt is not None else options.missing_content,
            generation if generation is not None else options.missing_content,
            timestamp=moment,
            latency=latency,
            properties=_properties(attributes, found, options, extras_as_properties, unusable),
            thread_id=first_text_of(attributes.get("thread_id"), found.thread_id),
            prompt_event_name=to_text(attributes.get("prompt_event_name")),
            generation_event_name=to_text(attributes.get("generation_event_name")),
        )
        return LogOutcome(llm_event, missing_content, _with_types(unusable, attributes))
    unused = [key for key in _LLM_ONLY_KEYS if attributes.get(key) is not None]
    event = Event(
        user_id or options.default_user_id,
        event_name if event_name is not None else message,
        timestamp=moment,
        properties=_properties(attributes, found, options, extras_as_properties, unusable + unused),
        thread_id=first_text_of(attributes.get("thread_id"), found.thread_id),
    )
    return LogOutcome(event, unusable=_with_types(unusable, attributes))


def unusable_warning(key: str, type_name: str) -> str:
    """Return the warning for a `latency` or `timestamp` value that could not be read (see `ACCEPTED`)."""
    accepted, instead = ACCEPTED[key]
    return (
        f"Trubrics: a log record's `{key}` held a {type_name} that could not be read as one; it takes "
        f"{accepted}. Such records are sent with {instead}, and the value is kept in their properties "
        f"under `{key}`. (Reported once.)"
    )


def _with_types(keys: list[str], attributes: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple((key, type(attributes[key]).__qualname__) for key in keys)


def log_to_record(
    message: str,
    attributes: Mapping[str, object],
    timestamp_ns: int | None,
    options: MappingOptions,
    *,
    extras_as_properties: bool = True,
) -> Event | LLMEvent | None:
    """Return the record a log record is for Trubrics, or None; `interpret_log(...).record`.

    None means either "nothing recognised" or "a call without its text, dropped": a caller that counts
    its losses calls `interpret_log`, which tells them apart.
    """
    return interpret_log(
        message, attributes, timestamp_ns, options, extras_as_properties=extras_as_properties
    ).record


def _conventions(attributes: Mapping[str, object], timestamp_ns: int | None) -> Findings:
    """Read the record's attributes as the span recognisers would read a span's.

    A record with only the plain keys skips them: no convention reads those keys but `user_id`, and the
    plain key wins over any convention anyway.
    """
    if RECOGNISED_KEYS.issuperset(attributes):
        return _NOTHING
    moment = timestamp_ns or 0
    span = SpanData(
        name="",
        trace_id="",
        span_id="",
        start_time=moment,
        end_time=moment,
        attributes=attributes,
    )
    return combine(recognise_all(span))


def _properties(
    attributes: Mapping[str, object],
    found: Findings,
    options: MappingOptions,
    extras_as_properties: bool,
    kept: list[str],
) -> dict[str, object]:
    """Return a record's properties; `kept` names recognised keys whose value is kept as a property too."""
    properties = findings_properties(found)
    properties.update(found.properties)
    if options.copy_attributes:
        properties.update(options.copied(attributes))
    if extras_as_properties:
        properties.update(
            (key, value)
            for key, value in attributes.items()
            if type(key) is str and key not in RECOGNISED_KEYS and "." not in key and key[:1] != "_"
        )
    explicit = attributes.get("properties")
    if isinstance(explicit, Mapping):
        properties.update(explicit)
    elif explicit is not None and extras_as_properties:
        properties["properties"] = explicit  # not a mapping: kept as one value rather than lost
    for key in kept:  # a value the record could not use is kept, unless `properties` names the key itself
        properties.setdefault(key, attributes[key])
    return properties


def _moment(value: object) -> _dt.datetime | int | None:
    """Return a `timestamp` value as a datetime or epoch nanoseconds; None when it cannot be read."""
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value < math.inf:
            return None
        nanos = _epoch_ns(value)
        return nanos if nanos <= _MAX_EPOCH_NS else None
    if isinstance(value, str):
        return parse_timestamp(value)
    return None


def _epoch_ns(value: float) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size, as nanoseconds."""
    if value < 1e11:  # seconds until the year 5138
        return int(value * 1e9)
    if value < 1e14:
        return int(value * 1e6)
    if value < 1e17:
        return int(value * 1e3)
    return int(value)


class _Unusable:
    """What `_seconds` returns for a value that is there but cannot be read as seconds."""


_UNUSABLE: Final = _Unusable()


def _seconds(value: object) -> float | _Unusable | None:
    """Return a `latency` value in seconds; None when absent, `_UNUSABLE` when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        return _UNUSABLE
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return _UNUSABLE
    return seconds if math.isfinite(seconds) else _UNUSABLE
