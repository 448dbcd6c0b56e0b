"""What of a record may leave the process: the content switch, the redaction hook, and the size limits.

`Outgoing.prepare()` runs on every record's JSON dict in the transport, before it is sent or spooled, so
nothing it removes ever reaches the network or the disk. In this order:

1. the content switch (`TRUBRICS_SEND_CONTENT=false`): an LLM event's prompt and generation become
   `WITHHELD`;
2. the redaction hook (`TRUBRICS_REDACT`, or `redact=`): given the dict, it returns the dict to send or
   None to send nothing. It sees the whole text, so a pattern it looks for is never cut in two. A hook
   that raises, or returns anything but a dict, drops the record: it is never sent unredacted;
3. the size limit (`TRUBRICS_MAX_TEXT_LENGTH`): a prompt, a generation or a string in the properties
   that is longer is cut, and ends with a mark naming how many characters were cut
   (`... [cut 12,345 characters]`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["WITHHELD", "Outgoing", "RefusedError", "cut"]

WITHHELD: Final = "[content withheld]"
"""What an LLM event carries in place of its prompt and generation when content is not sent."""

_TEXT_KEYS: Final = ("prompt", "generation")

Hook = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class Outgoing:
    """Prepares records' JSON dicts to leave the process (module docstring).

    Args:
        send_content: False replaces LLM events' prompt and generation with `WITHHELD`.
        max_text_length: the most characters of a prompt, generation or text property.
        redact: the redaction hook, or None.
    """

    def __init__(self, *, send_content: bool, max_text_length: int, redact: Hook | None) -> None:
        self._send_content = send_content
        self._limit = max_text_length
        self._redact = redact

    def prepare(self, item: dict[str, Any]) -> dict[str, Any]:
        """Return the dict to send; raise `RefusedError` when the hook says not to send it.

        `item` is the record's own fresh dict (`to_json()`), changed in place where that is cheaper.
        """
        if not self._send_content:
            for key in _TEXT_KEYS:
                if key in item:
                    item[key] = WITHHELD
        if self._redact is not None:
            item = self._redacted(item)
        limit = self._limit
        for key in _TEXT_KEYS:
            text = item.get(key)
            if isinstance(text, str) and len(text) > limit:
                item[key] = cut(text, limit)
        properties = item.get("properties")
        if isinstance(properties, dict) and properties:
            item["properties"] = _cut_strings(properties, limit)
        return item

    def _redacted(self, item: dict[str, Any]) -> dict[str, Any]:
        assert self._redact is not None  # noqa: S101 - checked by the caller
        properties = item.get("properties")
        if isinstance(properties, dict):  # the record's own: a hook that edits it must not change the record
            item["properties"] = dict(properties)
        try:
            result = self._redact(item)
        except Exception as error:  # noqa: BLE001 - a failing hook drops the record, never sends it raw
            raise RefusedError(f"the redaction hook raised {type(error).__name__}: {error}") from None
        if result is None:
            raise RefusedError("the redaction hook returned None")
        if not isinstance(result, dict):
            raise RefusedError(f"the redaction hook returned a {type(result).__name__}, not a dict")
        return result


class RefusedError(Exception):
    """The redaction hook said not to send a record (or failed on it); the message says which."""


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the mark included, ending with how many were cut."""
    removed = len(text) - limit
    while True:
        mark = f" [cut {removed:,} characters]"
        keep = max(limit - len(mark), 0)
        if len(text) - keep == removed:
            return text[:keep] + mark
        removed = len(text) - keep


def _cut_strings(value: Any, limit: int) -> Any:
    """`value` with every string longer than `limit` cut; containers are copied only when one was."""
    if isinstance(value, str):
        return cut(value, limit) if len(value) > limit else value
    if isinstance(value, dict):
        changed = None
        for key, inner in value.items():
            new = _cut_strings(inner, limit)
            if new is not inner:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [_cut_strings(inner, limit) for inner in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value
