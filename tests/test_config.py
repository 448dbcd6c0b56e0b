"""Configuration: argument, then environment, then default; clear errors and single warnings."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from trubrics_otel import ConfigurationError, TrubricsClient, _config, _reporting


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit argument is used even when the environment says otherwise."""
    monkeypatch.setenv("TRUBRICS_HOST", "https://env.example:1")
    monkeypatch.setenv("TRUBRICS_TIMEOUT", "3")

    client = TrubricsClient("k", "https://arg.example:2/", timeout=4)

    assert client.host == "https://arg.example:2"
    assert client.timeout == 4.0


def test_the_environment_wins_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment values are used when no argument is given."""
    monkeypatch.setenv("TRUBRICS_API_KEY", "env-key")
    monkeypatch.setenv("TRUBRICS_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("TRUBRICS_CONNECT_TIMEOUT", "1.5")
    monkeypatch.setenv("TRUBRICS_RETRY_DEADLINE", "12")

    client = TrubricsClient()

    assert (client.host, client.connect_timeout, client.retry_deadline) == ("http://127.0.0.1:9", 1.5, 12.0)
    assert repr(client) == "TrubricsClient(host='http://127.0.0.1:9', api_key=<set>)"


def test_defaults() -> None:
    """With nothing configured, the production host and documented timeouts apply."""
    client = TrubricsClient("k")

    assert client.host == "https://app.trubrics.com/api/ingestion"
    assert (client.connect_timeout, client.timeout, client.retry_deadline) == (5.0, 10.0, 30.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "app.trubrics.com"}, "http:// or https:// URL"),
        ({"timeout": 0}, "positive number of seconds"),
        ({"connect_timeout": "soon"}, "number of seconds"),
        ({"retry_deadline": True}, "number of seconds"),
        ({"api_key": 123}, "must be a string"),
    ],
)
def test_bad_arguments_raise_a_full_sentence(kwargs: dict[str, object], message: str) -> None:
    """A malformed argument is a configuration error naming the setting."""
    with pytest.raises(ConfigurationError, match=message) as raised:
        TrubricsClient(**kwargs)  # type: ignore[arg-type]
    assert "TRUBRICS_" in str(raised.value)
    assert f"{next(iter(kwargs))}=" in str(raised.value)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("localhost:8765", "must be an http:// or https:// URL"),
        ("127.0.0.1:8765", "must be an http:// or https:// URL"),
        ("http://127.0.0.1:8765/publish_events", "use 'http://127.0.0.1:8765'"),
        ("https://h.example/api/ingestion/publish_llm_events/", "use 'https://h.example/api/ingestion'"),
        ("http://127.0.0.1:8765/?x=1", "without a query"),
    ],
)
def test_an_unusable_host_in_the_environment_is_an_error_not_the_default(
    monkeypatch: pytest.MonkeyPatch, host: str, message: str
) -> None:
    """TRUBRICS_HOST set but unusable raises, naming the variable: a typo must not send to production."""
    monkeypatch.setenv("TRUBRICS_HOST", host)

    with pytest.raises(ConfigurationError, match=message) as raised:
        TrubricsClient("k")

    assert str(raised.value).startswith(f"TRUBRICS_HOST={host!r} ")
    assert "Nothing is sent" in str(raised.value)


def test_an_unusable_host_argument_names_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """host= given in code is named as host=, and a command line names its own flag."""
    monkeypatch.setenv("TRUBRICS_HOST", "http://127.0.0.1:9")

    with pytest.raises(ConfigurationError, match=r"^The argument host='localhost:1' \(for TRUBRICS_HOST\)"):
        TrubricsClient("k", "localhost:1")
    with pytest.raises(ConfigurationError, match=r"^--host 'localhost:1' must be"):
        _config.HOST.resolve("localhost:1", given_as="--host")


def test_an_empty_host_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty TRUBRICS_HOST means the default, as OpenTelemetry treats its own variables."""
    monkeypatch.setenv("TRUBRICS_HOST", "  ")

    assert TrubricsClient("k").host == _config.DEFAULT_HOST


def test_a_secret_is_never_shown_in_an_error() -> None:
    """A malformed key is named, not printed."""
    with pytest.raises(ConfigurationError, match=r"api_key=\(hidden\)") as raised:
        TrubricsClient("bad\nkey")
    assert "bad" not in str(raised.value)


def test_bad_environment_values_warn_once_and_fall_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed environment value is reported once and the default is used."""
    monkeypatch.setattr(_config, "_warned", set())
    monkeypatch.setenv("TRUBRICS_TIMEOUT", "-1")

    with caplog.at_level(logging.WARNING, logger="trubrics_otel"):
        clients = [TrubricsClient("k") for _ in range(3)]

    assert all(client.timeout == 10.0 for client in clients)
    assert [r.getMessage() for r in caplog.records if "TRUBRICS_TIMEOUT" in r.getMessage()] == [
        "TRUBRICS_TIMEOUT='-1' must be a positive number of seconds, not '-1'; using the default (10.0)."
    ]


def test_environment_table_is_in_the_readme_and_docs() -> None:
    """The README and the configuration doc show the table the code defines, row for row."""
    root = Path(__file__).resolve().parent.parent
    table = _config.environment_table()

    for doc in ("README.md", "docs/configuration.md"):
        assert table in (root / doc).read_text(), f"{doc} does not show the current environment table"


def test_a_bad_environment_value_reaches_stderr_when_its_logger_is_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """warn_once goes through the never-silent path: a disabled logger sends it to stderr, once."""
    monkeypatch.setattr(_config, "_warned", set())
    monkeypatch.setattr(_reporting, "_echoed", set())
    monkeypatch.setattr(logging.getLogger("trubrics_otel.config"), "disabled", True)
    monkeypatch.setenv("TRUBRICS_CONNECT_TIMEOUT", "soon")

    TrubricsClient("k")
    TrubricsClient("k")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "trubrics-otel: WARNING: TRUBRICS_CONNECT_TIMEOUT='soon' must be a number of seconds"
    )
    assert "the logger trubrics_otel.config is disabled" in line


def test_settings_resolve_every_setting_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings.resolve takes each argument, else its variable, else its default, into one frozen object."""
    monkeypatch.setenv("TRUBRICS_HOST", "https://env.example:1")
    monkeypatch.setenv("TRUBRICS_LOG_QUEUE_SIZE", "7")
    monkeypatch.setenv("TRUBRICS_COPY_ATTRIBUTES", "a, b.")

    settings = _config.Settings.resolve(api_key="k", timeout=3, default_user_id="u", flush_timeout=0)

    spool_root = Path(os.environ["XDG_CACHE_HOME"]) / "trubrics-otel" / "spool"
    assert settings.transport == _config.TransportSettings(
        "k", "https://env.example:1", 5.0, 3.0, 30.0, spool_root
    )
    assert (settings.default_user_id, settings.queue_size, settings.flush_timeout) == ("u", 7, 0.0)
    assert settings.mapping_fields() == {
        "default_user_id": "u",
        "default_assistant_id": "unknown-assistant",
        "missing_content": "[content not recorded]",
        "drop_without_content": False,
        "copy_attributes": ("a", "b."),
    }
    with pytest.raises(AttributeError):
        settings.queue_size = 1  # type: ignore[misc]


def test_settings_for_a_door_given_a_client_skip_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the transport, an unusable TRUBRICS_HOST is not read: a door given a client never uses it."""
    monkeypatch.setenv("TRUBRICS_HOST", "localhost:1")

    assert _config.Settings.resolve(with_transport=False, host="ignored").transport is None
    with pytest.raises(ConfigurationError, match=r"^TRUBRICS_HOST='localhost:1' "):
        _config.Settings.resolve()


def test_settings_name_the_argument_and_never_show_the_key() -> None:
    """A bad argument names its keyword as the doors' users write it; the key stays out of the repr."""
    expected = r"^The argument queue_size=0 \(for TRUBRICS_LOG_QUEUE_SIZE\)"
    with pytest.raises(ConfigurationError, match=expected):
        _config.Settings.resolve(queue_size=0)

    assert "secret-key" not in repr(_config.Settings.resolve(api_key="secret-key"))
