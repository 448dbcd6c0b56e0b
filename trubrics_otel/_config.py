"""Every environment variable the package reads, its default, and how a value is resolved.

A setting is resolved once, when the object that uses it is built, in one order: the explicit argument,
then the environment variable, then the default. A front door (exporter, logging handler, structlog
processor) resolves all of its settings in one call, `Settings.resolve(...)`, and passes the frozen
`Settings` down; `TrubricsClient` resolves its own part, `TransportSettings`.

A bad argument is a programmer's mistake and raises `ConfigurationError` with a full sentence naming the
argument; a bad environment value warns once and falls back to the default, because a typo in a
deployment must not take the application down. The host is the exception: a host that is set but
unusable raises too, naming the variable, because falling back to the default would send a developer's
test data to the production project.

No other module reads `os.environ`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from trubrics_otel import _parsers as parse
from trubrics_otel._reporting import report
from trubrics_otel._spool import default_spool_root

__all__ = [
    "ALLOW_INSECURE_HTTP",
    "API_KEY",
    "CONNECT_TIMEOUT",
    "DEFAULT_HOST",
    "GATEWAY_TOKEN",
    "HOST",
    "LOG_EXTRAS",
    "LOG_FLUSH_INTERVAL",
    "LOG_FLUSH_TIMEOUT",
    "LOG_QUEUE_BYTES",
    "LOG_QUEUE_SIZE",
    "MAX_TEXT_LENGTH",
    "READ_TIMEOUT",
    "REDACT",
    "RETRY_DEADLINE",
    "SEND_CONTENT",
    "SETTINGS",
    "SPOOL",
    "SPOOL_BYTES",
    "SPOOL_DIR",
    "ConfigurationError",
    "Setting",
    "Settings",
    "TransportSettings",
    "environment_table",
    "traces_exporter_is_trubrics",
    "warn_once",
]

_logger = logging.getLogger("trubrics_otel.config")

T = TypeVar("T")

DEFAULT_HOST: Final = "https://app.trubrics.com/api/ingestion"


class ConfigurationError(ValueError):
    """An argument or a required setting is missing or malformed; raised only while configuring."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: the environment variable that holds it, its default, and how text becomes a value.

    `parse` turns text (an environment value) or an argument into the value, raising `ValueError` with a
    sentence that completes "TRUBRICS_X ...".
    """

    env: str
    default: T
    parse: Callable[[object], T]
    doc: str
    secret: bool = False
    argument: str | None = None
    """The keyword argument that sets it in code (`host`), named in the errors about a bad argument."""
    falls_back: bool = True
    """Whether a malformed environment value warns and gives the default; if not, it raises."""

    def is_set(self) -> bool:
        """Whether the environment gives this setting a value (empty counts as unset)."""
        return bool(os.environ.get(self.env, "").strip())

    def resolve(self, argument: object = None, *, given_as: str | None = None) -> T:
        """Return the setting's value: the argument, else the environment's value, else the default.

        Args:
            argument: the value given in code or on the command line; None means not given.
            given_as: how the user gave `argument`, named in the error (`--host`); by default the
                keyword argument (`host=`).

        Raises:
            ConfigurationError: the argument is malformed, or the environment value is and the setting
                does not fall back to its default.
        """
        if argument is not None:
            try:
                return self.parse(argument)
            except ValueError as error:
                raise ConfigurationError(f"{self._argument_shown(argument, given_as)} {error}.") from None
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            return self.parse(raw.strip())
        except ValueError as error:
            shown = "(hidden)" if self.secret else repr(raw)
            if not self.falls_back:
                raise ConfigurationError(
                    f"{self.env}={shown} {error}. Nothing is sent until it is fixed; "
                    f"unset it (or leave it empty) for the default, {self.default}."
                ) from None
            warn_once(
                self.env,
                f"{self.env}={shown} {error}; using the default ({self.default!r}).",
            )
            return self.default

    def _argument_shown(self, argument: object, given_as: str | None) -> str:
        shown = "(hidden)" if self.secret else repr(argument)
        if given_as is not None:
            return f"{given_as} {shown}"
        if self.argument is not None:
            return f"The argument {self.argument}={shown} (for {self.env})"
        return f"The argument for {self.env}"


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str) -> None:
    """Report `message` as a warning the first time `key` is seen in this process.

    It is logged to `trubrics_otel.config`, and written to stderr too when no logging handler would show
    it (see `trubrics_otel._reporting`).
    """
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    report(_logger, logging.WARNING, message, key=f"config:{key}")


API_KEY: Final = Setting[str | None](
    "TRUBRICS_API_KEY",
    None,
    parse.api_key,
    "The project's API key, sent as `x-api-key`. Required by Trubrics; the local server accepts any key "
    "unless it is started with `--api-key`.",
    secret=True,
    argument="api_key",
)
HOST: Final = Setting[str](
    "TRUBRICS_HOST",
    DEFAULT_HOST,
    parse.url,
    "Base URL of the ingestion API; `/publish_events` and `/publish_llm_events` are appended. A value "
    "that is set but is not such a URL is an error, never the default.",
    argument="host",
    falls_back=False,
)
CONNECT_TIMEOUT: Final = Setting[float](
    "TRUBRICS_CONNECT_TIMEOUT",
    5.0,
    parse.positive_seconds,
    "Seconds to wait for a connection to the host.",
    argument="connect_timeout",
)
READ_TIMEOUT: Final = Setting[float](
    "TRUBRICS_TIMEOUT",
    10.0,
    parse.positive_seconds,
    "Seconds to wait for the host's answer to one request.",
    argument="timeout",
)
RETRY_DEADLINE: Final = Setting[float](
    "TRUBRICS_RETRY_DEADLINE",
    30.0,
    parse.positive_seconds,
    "Seconds one delivery may take, all retries and waits included; then the records go to the spool "
    "(or count as failed with the spool off).",
    argument="retry_deadline",
)
ALLOW_INSECURE_HTTP: Final = Setting[bool](
    "TRUBRICS_ALLOW_INSECURE_HTTP",
    False,
    parse.flag,
    "`true` allows a plain `http://` host that is not loopback, the API key then travelling in clear; by "
    "default such a host is an error (`127.0.0.0/8`, `::1` and `localhost` are always allowed).",
    argument="allow_insecure_http",
)
SPOOL: Final = Setting[bool](
    "TRUBRICS_SPOOL",
    True,
    parse.flag,
    "`false` turns the spool off: what the transport gives up on (host down past the deadline, the exit's "
    "budget spent) is then counted as failed instead of being kept on disk and sent again later.",
    argument="spool",
)
SPOOL_DIR: Final = Setting[Path | None](
    "TRUBRICS_SPOOL_DIR",
    None,
    parse.directory,
    "Where the spool keeps undelivered batches (a directory per host and key, owner-only); by default "
    "`trubrics-otel/spool` in the user's cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux).",
    argument="spool_dir",
)
SPOOL_BYTES: Final = Setting[int](
    "TRUBRICS_SPOOL_BYTES",
    256 * 1024 * 1024,
    parse.positive_int,
    "The most bytes the spool of one host and key may hold; past it the oldest batches are deleted and "
    'counted as `dropped["spool_full"]`.',
    argument="spool_bytes",
)
SEND_CONTENT: Final = Setting[bool](
    "TRUBRICS_SEND_CONTENT",
    True,
    parse.flag,
    "`false` keeps prompts and generations in the process: LLM events carry `[content withheld]` instead, "
    "before anything is sent or spooled.",
    argument="send_content",
)
MAX_TEXT_LENGTH: Final = Setting[int](
    "TRUBRICS_MAX_TEXT_LENGTH",
    100_000,
    parse.positive_int,
    "The most characters of a prompt, a generation or a text property sent; longer text is cut and ends "
    "with a mark saying how much was cut.",
    argument="max_text_length",
)
REDACT: Final = Setting[Any](
    "TRUBRICS_REDACT",
    None,
    parse.hook,
    "A function, as `package.module:function`, given each record as the JSON dict about to be sent "
    "(`prompt`, `generation`, `properties`, ...) before it is sent or spooled; it returns the dict to send "
    'or None to send nothing (counted as `dropped["redacted"]`). A name that cannot be imported is an error.',
    argument="redact",
    falls_back=False,
)

DEFAULT_USER_ID: Final = Setting[str](
    "TRUBRICS_DEFAULT_USER_ID",
    "anonymous",
    parse.nonempty_string,
    "The user of a call or event that names none. Name the real user with "
    "`trubrics_otel.context(user_id=...)`, baggage `user.id`, or the `user.id` span attribute.",
    argument="default_user_id",
)
DEFAULT_ASSISTANT_ID: Final = Setting[str](
    "TRUBRICS_DEFAULT_ASSISTANT_ID",
    "unknown-assistant",
    parse.nonempty_string,
    "The assistant of a call whose span names no model.",
    argument="default_assistant_id",
)
MISSING_CONTENT: Final = Setting[str](
    "TRUBRICS_MISSING_CONTENT",
    "[content not recorded]",
    parse.string,
    "The text sent in place of a prompt or generation that the telemetry does not carry.",
    argument="missing_content",
)
DROP_WITHOUT_CONTENT: Final = Setting[bool](
    "TRUBRICS_DROP_WITHOUT_CONTENT",
    False,
    parse.flag,
    "`true` drops model calls whose prompt and generation never arrive, instead of sending the placeholder.",
    argument="drop_without_content",
)
CONTENT_WAIT: Final = Setting[float](
    "TRUBRICS_CONTENT_WAIT",
    5.0,
    parse.non_negative_seconds,
    "Seconds a model call whose span lacks its text waits for the content log records (0: never wait).",
    argument="content_wait",
)
COPY_ATTRIBUTES: Final = Setting[tuple[str, ...]](
    "TRUBRICS_COPY_ATTRIBUTES",
    (),
    parse.names,
    "Comma-separated span attribute names to copy into properties; a name ending in `.` or `*` is a prefix.",
    argument="copy_attributes",
)


LOG_QUEUE_SIZE: Final = Setting[int](
    "TRUBRICS_LOG_QUEUE_SIZE",
    100_000,
    parse.positive_int,
    "The most log records the logging handler (or the structlog processor) holds for delivery; past it, "
    'records are dropped and counted as `dropped["queue_full"]`. Past 3/4 of it (or of '
    "`TRUBRICS_LOG_QUEUE_BYTES`), batches go through the spool, which takes them faster than a host does.",
    argument="queue_size",
)
LOG_QUEUE_BYTES: Final = Setting[int](
    "TRUBRICS_LOG_QUEUE_BYTES",
    64 * 1024 * 1024,
    parse.positive_int,
    "The most bytes the log records held for delivery may add up to, each counted as its text's size "
    "(messages, prompts, generations) and at least 1 KiB; past it, records are dropped and counted as "
    '`dropped["queue_full"]`.',
)
LOG_FLUSH_INTERVAL: Final = Setting[float](
    "TRUBRICS_LOG_FLUSH_INTERVAL",
    1.0,
    parse.positive_seconds,
    "Seconds a log record waits for a batch of 100 to fill before it is sent anyway.",
    argument="flush_interval",
)
LOG_FLUSH_TIMEOUT: Final = Setting[float](
    "TRUBRICS_LOG_FLUSH_TIMEOUT",
    5.0,
    parse.non_negative_seconds,
    "Seconds `flush()`, `close()` and the flush at interpreter exit wait for queued log records.",
    argument="flush_timeout",
)
LOG_EXTRAS: Final = Setting[bool](
    "TRUBRICS_LOG_EXTRAS",
    True,
    parse.flag,
    "`false` sends only the keys the logging handler recognises; by default a record's other `extra=` keys "
    "become properties.",
    argument="extras_as_properties",
)


GATEWAY_TOKEN: Final = Setting[str | None](
    "TRUBRICS_GATEWAY_TOKEN",
    None,
    parse.api_key,
    "The token senders must present to `trubrics-otel gateway` (`Authorization: Bearer <token>`); required "
    "when the gateway listens beyond loopback.",
    secret=True,
    argument="token",
)


SETTINGS: Final[tuple[Setting[Any], ...]] = (
    API_KEY,
    HOST,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    RETRY_DEADLINE,
    ALLOW_INSECURE_HTTP,
    SPOOL,
    SPOOL_DIR,
    SPOOL_BYTES,
    SEND_CONTENT,
    MAX_TEXT_LENGTH,
    REDACT,
    DEFAULT_USER_ID,
    DEFAULT_ASSISTANT_ID,
    MISSING_CONTENT,
    DROP_WITHOUT_CONTENT,
    CONTENT_WAIT,
    COPY_ATTRIBUTES,
    LOG_QUEUE_SIZE,
    LOG_QUEUE_BYTES,
    LOG_FLUSH_INTERVAL,
    LOG_FLUSH_TIMEOUT,
    LOG_EXTRAS,
    GATEWAY_TOKEN,
)


def traces_exporter_is_trubrics() -> bool:
    """Whether OpenTelemetry's zero-code set-up builds our span exporter (OTEL_TRACES_EXPORTER)."""
    names = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return "trubrics" in (name.strip() for name in names.split(","))


@dataclass(frozen=True)
class TransportSettings:
    """Where `TrubricsClient` sends, with which key, and how long it waits: resolved once, by `resolve`."""

    api_key: str | None = field(repr=False)
    host: str
    connect_timeout: float
    read_timeout: float
    retry_deadline: float
    spool_root: Path | None = None
    """The spool's root directory (each destination has its own under it); None when the spool is off."""
    spool_bytes: int = SPOOL_BYTES.default
    send_content: bool = True
    max_text_length: int = MAX_TEXT_LENGTH.default
    redact: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        host: str | None = None,
        *,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        retry_deadline: float | None = None,
        spool: bool | None = None,
        spool_dir: str | Path | None = None,
        spool_bytes: int | None = None,
        send_content: bool | None = None,
        max_text_length: int | None = None,
        redact: Callable[[dict[str, Any]], dict[str, Any] | None] | str | None = None,
    ) -> TransportSettings:
        """Resolve each argument (None: not given) against its environment variable and default.

        Raises:
            ConfigurationError: an argument is malformed, or `TRUBRICS_HOST` or `TRUBRICS_REDACT` is.
        """
        root = None
        if SPOOL.resolve(spool):
            root = SPOOL_DIR.resolve(spool_dir) or default_spool_root()
        return cls(
            API_KEY.resolve(api_key),
            HOST.resolve(host),
            CONNECT_TIMEOUT.resolve(connect_timeout),
            READ_TIMEOUT.resolve(timeout),
            RETRY_DEADLINE.resolve(retry_deadline),
            root,
            SPOOL_BYTES.resolve(spool_bytes),
            SEND_CONTENT.resolve(send_content),
            MAX_TEXT_LENGTH.resolve(max_text_length),
            REDACT.resolve(redact),
        )


@dataclass(frozen=True)
class Settings:
    """Every setting a front door (an exporter, the logging handler, the structlog processor) works with.

    Built once, by `Settings.resolve(**arguments)` in the door's constructor, and passed down from there:
    nothing below a door resolves a setting again. The fields are those of `SETTINGS`; `transport` is
    None for a door given a client, whose own settings hold (the variables it would override are not
    read, so a malformed `TRUBRICS_HOST` does not stop a door that never uses it).
    """

    transport: TransportSettings | None
    default_user_id: str
    default_assistant_id: str
    missing_content: str
    drop_without_content: bool
    copy_attributes: tuple[str, ...]
    content_wait: float
    queue_size: int
    flush_interval: float
    flush_timeout: float
    extras_as_properties: bool

    @classmethod
    def resolve(
        cls,
        *,
        with_transport: bool = True,
        api_key: str | None = None,
        host: str | None = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        retry_deadline: float | None = None,
        default_user_id: str | None = None,
        default_assistant_id: str | None = None,
        missing_content: str | None = None,
        drop_without_content: bool | None = None,
        copy_attributes: Sequence[str] | str | None = None,
        content_wait: float | None = None,
        queue_size: int | None = None,
        flush_interval: float | None = None,
        flush_timeout: float | None = None,
        extras_as_properties: bool | None = None,
    ) -> Settings:
        """Resolve every setting: the argument (None: not given), else its variable, else its default.

        Each keyword is the `argument` of one `Setting` of `SETTINGS`, the name the doors' users write.
        `with_transport` is False for a door given a client: `transport` is then None, and the first five
        arguments are unused.

        Raises:
            ConfigurationError: an argument is malformed, or `TRUBRICS_HOST` is (when `with_transport`).
        """
        transport = None
        if with_transport:
            transport = TransportSettings.resolve(
                api_key, host, connect_timeout=connect_timeout, timeout=timeout, retry_deadline=retry_deadline
            )
        return cls(
            transport,
            DEFAULT_USER_ID.resolve(default_user_id),
            DEFAULT_ASSISTANT_ID.resolve(default_assistant_id),
            MISSING_CONTENT.resolve(missing_content),
            DROP_WITHOUT_CONTENT.resolve(drop_without_content),
            COPY_ATTRIBUTES.resolve(copy_attributes),
            CONTENT_WAIT.resolve(content_wait),
            LOG_QUEUE_SIZE.resolve(queue_size),
            LOG_FLUSH_INTERVAL.resolve(flush_interval),
            LOG_FLUSH_TIMEOUT.resolve(flush_timeout),
            LOG_EXTRAS.resolve(extras_as_properties),
        )

    def mapping_fields(self) -> dict[str, Any]:
        """The fields of `MappingOptions`, which is built as `MappingOptions(**settings.mapping_fields())`."""
        return {name: getattr(self, name) for name in _MAPPING_FIELDS}


_MAPPING_FIELDS: Final = (
    "default_user_id",
    "default_assistant_id",
    "missing_content",
    "drop_without_content",
    "copy_attributes",
)


def environment_table() -> str:
    """Return the Markdown table of every environment variable, as the README and docs show it."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = _shown(setting.default)
        rows.append(f"| `{setting.env}` | {default} | {setting.doc} |")
    return "\n".join(rows)


def _shown(default: object) -> str:
    if default is None or default == ():
        return "(none)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"
