"""What `trubrics-otel check` sees of the set-up: each rule checked against the installed packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trubrics_otel._config import ConfigurationError
from trubrics_otel.cli._capture import ContentCapture, content_capture
from trubrics_otel.cli._doctor import Destination, inspect_setup, problems, resolve_destination
from trubrics_otel.cli._installed import (
    OPENINFERENCE,
    OPENLLMETRY,
    OTEL_GENAI,
    EntryPoint,
    Installed,
    Package,
    installed,
    instrumentations,
    zero_code,
)
from trubrics_otel.server import LocalServer

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
COMMAND = Path(sys.executable).parent / "trubrics-otel"
HERE = Destination("http://127.0.0.1:8765", "--host", "key", "--api-key")

OUR_EXPORTERS = (
    EntryPoint(
        "opentelemetry_traces_exporter", "trubrics", "trubrics_otel._exporters:TrubricsSpanExporter", ""
    ),
    EntryPoint("opentelemetry_logs_exporter", "trubrics", "trubrics_otel._exporters:TrubricsLogExporter", ""),
)
DISTRO = (
    EntryPoint(
        "opentelemetry_configurator", "configurator", "opentelemetry.distro:C", "opentelemetry-distro 1.0"
    ),
    EntryPoint("opentelemetry_distro", "distro", "opentelemetry.distro:D", "opentelemetry-distro 1.0"),
)
OPENAI_V2 = Package("opentelemetry-instrumentation-openai-v2", "2.4b0", ("opentelemetry-util-genai",))
UTIL_GENAI = Package("opentelemetry-util-genai", "1.1b0")
OLD_UTIL_GENAI = Package("opentelemetry-util-genai", "0.2b0")


def clean_environment() -> dict[str, str]:
    """This process's environment without any TRUBRICS_*, OTEL_* or instrumentation content settings."""
    prefixes = ("TRUBRICS_", "OTEL_", "TRACELOOP_", "OPENINFERENCE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def genai(environ: dict[str, str], util: Package = UTIL_GENAI, **extra: EntryPoint) -> ContentCapture:
    """Return the OpenTelemetry GenAI content verdict for an environment and a util-genai version."""
    found = Installed((*OUR_EXPORTERS, *DISTRO), (OPENAI_V2, util), "/bin/opentelemetry-instrument")
    (capture,) = content_capture(environ, found)
    return capture


# --- where the events go ---------------------------------------------------------------------------


def test_the_host_and_key_flags_are_named_as_their_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag wins over the variable, and the report names which one gave each value."""
    monkeypatch.setenv("TRUBRICS_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("TRUBRICS_API_KEY", "from-env")

    given = resolve_destination("http://127.0.0.1:8765", "from-flag")
    from_env = resolve_destination(None, None)

    assert (given.host, given.host_source, given.api_key, given.key_source) == (
        "http://127.0.0.1:8765",
        "--host",
        "from-flag",
        "--api-key",
    )
    assert (from_env.host, from_env.host_source, from_env.key_source) == (
        "http://127.0.0.1:1",
        "TRUBRICS_HOST",
        "TRUBRICS_API_KEY",
    )
    assert "from-flag" not in repr(given)


def test_nothing_set_is_the_default_host_and_no_key() -> None:
    """Without flags or variables the host is Trubrics' and no key is set."""
    where = resolve_destination(None, None)

    assert (where.host, where.host_source, where.api_key, where.key_source) == (
        "https://app.trubrics.com/api/ingestion",
        "the default",
        None,
        None,
    )


def test_a_bad_host_flag_names_the_flag() -> None:
    """A host flag with a query is refused, and the error names --host."""
    with pytest.raises(ConfigurationError, match=r"^--host 'http://h\?x=1' must be a base URL"):
        resolve_destination("http://h?x=1", None)


# --- what is installed -----------------------------------------------------------------------------


def test_this_environment_is_read_as_installed() -> None:
    """The dev environment's command, configurator, exporters and instrumentations are all found."""
    found = installed()
    zero = zero_code({"OTEL_TRACES_EXPORTER": "trubrics"}, found)
    by_package = {i.package: i for i in instrumentations(found)}

    assert zero.instrument_command == str(INSTRUMENT)
    assert any(name.startswith("opentelemetry-distro ") for name in zero.configurators)
    assert zero.registered == ("traces", "logs")
    assert by_package["opentelemetry-instrumentation-openai-v2"].convention == OTEL_GENAI
    assert by_package["opentelemetry-instrumentation-openai"].convention == OPENLLMETRY
    assert by_package["openinference-instrumentation-openai"].convention == OPENINFERENCE
    assert by_package["opentelemetry-instrumentation-openai-v2"].instruments == ("openai",)
    assert by_package["opentelemetry-instrumentation-requests"].convention == "OpenTelemetry"


# --- zero-code problems ----------------------------------------------------------------------------


def test_no_configurator_means_install_the_distro() -> None:
    """OTEL_TRACES_EXPORTER=trubrics without a configurator gets the line that says what to install."""
    found = Installed(OUR_EXPORTERS, (OPENAI_V2, UTIL_GENAI), "/bin/opentelemetry-instrument")
    environ = {
        "OTEL_TRACES_EXPORTER": "trubrics",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    }

    report = inspect_setup(HERE, environ, found)

    assert report.problems == (
        "OTEL_TRACES_EXPORTER=trubrics, but no OpenTelemetry configurator is installed, so "
        "opentelemetry-instrument sets up nothing: install opentelemetry-distro "
        "(pip install 'trubrics-otel[zero-code]').",
    )


def test_without_zero_code_the_exporter_settings_are_not_problems() -> None:
    """With no OTEL_*_EXPORTER naming trubrics, a missing configurator is nobody's problem."""
    found = Installed((), (OPENAI_V2, UTIL_GENAI), None)

    report = inspect_setup(HERE, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}, found)

    assert report.problems == ()


def test_an_unregistered_exporter_means_reinstall() -> None:
    """OTEL_LOGS_EXPORTER=trubrics where our entry point is missing says to reinstall, and to add traces."""
    found = Installed(DISTRO, (OPENAI_V2, UTIL_GENAI), "/bin/opentelemetry-instrument")
    zero = zero_code({"OTEL_LOGS_EXPORTER": "trubrics", "OTEL_TRACES_EXPORTER": "none"}, found)

    lines = problems(zero, instrumentations(found), [])

    assert lines[0].startswith("trubrics is not registered as an OpenTelemetry logs exporter")
    assert lines[-1].startswith(
        "OTEL_LOGS_EXPORTER=trubrics, but OTEL_TRACES_EXPORTER does not name trubrics"
    )


def test_no_llm_instrumentation_under_zero_code_is_a_problem() -> None:
    """Zero-code with only non-LLM instrumentations says to install an LLM one."""
    found = Installed(
        (*OUR_EXPORTERS, *DISTRO), (Package("opentelemetry-instrumentation-requests", "1"),), "/x"
    )
    environ = {
        "OTEL_TRACES_EXPORTER": "trubrics",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }

    report = inspect_setup(HERE, environ, found)

    assert report.problems == (
        "No LLM instrumentation is installed, so no model call makes a span: install one, "
        "e.g. pip install opentelemetry-instrumentation-openai-v2.",
    )


def test_the_distros_otlp_default_without_an_otlp_exporter_really_breaks_the_set_up() -> None:
    """The problem the doctor reports is real: opentelemetry-instrument fails, and the fix it names works."""
    environ = {**clean_environment(), "OTEL_TRACES_EXPORTER": "trubrics", "OTEL_LOGS_EXPORTER": "none"}
    app = "from opentelemetry import trace; print(type(trace.get_tracer_provider()).__name__)"

    lines = problems(zero_code(environ, installed()), instrumentations(installed()), [])
    broken = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", app],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    fixed = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", app],
        env={**environ, "OTEL_METRICS_EXPORTER": "none", "TRUBRICS_API_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert lines == [
        "OTEL_METRICS_EXPORTER is unset, so opentelemetry-distro makes it otlp, and no OTLP exporter is "
        "installed: OpenTelemetry's set-up fails and nothing is sent; set OTEL_METRICS_EXPORTER=none."
    ]
    assert broken.stdout.strip() == "ProxyTracerProvider"
    assert "Failed to auto initialize OpenTelemetry" in broken.stderr
    assert fixed.stdout.strip() == "TracerProvider", fixed.stderr


# --- prompts and generations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "where", "advice"),
    [
        (None, "not recorded", "set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY"),
        ("NO_CONTENT", "not recorded", "set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY"),
        ("true", "not recorded", "=true is not a mode opentelemetry-util-genai 1.1b0 accepts"),
        ("span_only", "on the spans", None),
        ("SPAN_AND_EVENT", "on the spans", None),
    ],
)
def test_genai_content_follows_util_genai_1(value: str | None, where: str, advice: str | None) -> None:
    """util-genai 1.x takes the mode names only, in any case, and records nothing for `true`."""
    capture = genai({} if value is None else {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})

    assert capture.where == where
    assert (capture.advice is None) == (advice is None)
    assert advice is None or advice in str(capture.advice)


def test_genai_rules_match_the_installed_util_genai(monkeypatch: pytest.MonkeyPatch) -> None:
    """For each value, the installed util-genai records content exactly where the doctor says it does."""
    from opentelemetry.util.genai import utils

    for value in ("true", "SPAN_ONLY", "span_and_event", "NO_CONTENT", "EVENT_ONLY"):
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
        on_spans = utils.should_capture_content_on_spans()
        in_events = utils.get_content_capturing_mode().name in ("EVENT_ONLY", "SPAN_AND_EVENT")

        where = genai({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}).where

        assert (
            utils.is_experimental_mode()
        )  # the latest conventions, whatever OTEL_SEMCONV_STABILITY_OPT_IN says
        assert (where == "on the spans") == on_spans, value
        assert where.startswith("in log records") == (in_events and not on_spans), value


def test_event_only_under_zero_code_needs_the_logs_exporter() -> None:
    """EVENT_ONLY puts the content in log records, which OTEL_LOGS_EXPORTER=none would never send."""
    environ = {"OTEL_TRACES_EXPORTER": "trubrics", "OTEL_LOGS_EXPORTER": "none"}

    lost = genai({**environ, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"})
    joined = genai(
        {
            **environ,
            "OTEL_LOGS_EXPORTER": "trubrics",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
        }
    )

    assert str(lost.advice).startswith("set OTEL_LOGS_EXPORTER=trubrics so that the content joins its spans")
    assert (joined.where, joined.advice) == ("in log records", None)


@pytest.mark.parametrize(
    ("environ", "where", "advice"),
    [
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}, "in log records", None),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}, "not recorded", "only with"),
        (
            {
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
                "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            },
            "on the spans",
            None,
        ),
        ({}, "not recorded", "=true to record prompts and generations in log records"),
    ],
)
def test_genai_content_follows_the_older_conventions_before_util_genai_1(
    environ: dict[str, str], where: str, advice: str | None
) -> None:
    """util-genai 0.x keeps v1.30 conventions unless opted in: `true` there, the modes only when opted in."""
    capture = genai(environ, OLD_UTIL_GENAI)

    assert capture.where.startswith(where)
    assert (capture.advice is None) == (advice is None)
    assert advice is None or advice in str(capture.advice)


def test_openllmetry_content_rule_matches_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACELOOP_TRACE_CONTENT=false stops OpenLLMetry's content, as the doctor says; unset keeps it."""
    from opentelemetry.instrumentation.openai.utils import should_send_prompts

    found = Installed(
        (),
        (
            Package(
                "opentelemetry-instrumentation-openai", "0.62.4", ("opentelemetry-semantic-conventions-ai",)
            ),
        ),
    )
    for value in ("false", "true", None):
        if value is None:
            monkeypatch.delenv("TRACELOOP_TRACE_CONTENT", raising=False)
        else:
            monkeypatch.setenv("TRACELOOP_TRACE_CONTENT", value)
        (capture,) = content_capture({} if value is None else {"TRACELOOP_TRACE_CONTENT": value}, found)

        assert (capture.where == "on the spans") == should_send_prompts(), value
        assert (capture.advice is None) == should_send_prompts(), value


def test_openinference_hiding_rule_matches_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENINFERENCE_HIDE_INPUTS=true hides the prompts in TraceConfig, and the doctor says so."""
    from openinference.instrumentation import TraceConfig

    monkeypatch.setenv("OPENINFERENCE_HIDE_INPUTS", "TRUE")
    found = Installed((), (Package("openinference-instrumentation-openai", "0.1.66"),))

    (capture,) = content_capture({"OPENINFERENCE_HIDE_INPUTS": "TRUE"}, found)

    assert TraceConfig().hide_inputs is True
    assert capture.where == "prompts hidden"
    assert capture.advice == "unset OPENINFERENCE_HIDE_INPUTS: OpenInference hides the prompts from its spans"


# --- the report as the command prints it -----------------------------------------------------------


def test_the_command_shows_the_set_up_and_never_the_key(server: LocalServer, api_key: str) -> None:
    """`check` prints where the host and key came from, the zero-code pieces and the problems, not the key."""
    environ = {**clean_environment(), "TRUBRICS_HOST": server.url, "OTEL_TRACES_EXPORTER": "trubrics"}

    done = subprocess.run(
        [str(COMMAND), "check", "--api-key", api_key],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"  host     {server.url} (from TRUBRICS_HOST)" in done.stdout
    assert "  API key  set, from --api-key (not shown)" in done.stdout
    assert f"opentelemetry-instrument  {INSTRUMENT}" in done.stdout
    assert "OTEL_TRACES_EXPORTER      trubrics" in done.stdout
    assert "  - OTEL_LOGS_EXPORTER is unset, so opentelemetry-distro makes it otlp" in done.stdout
    assert api_key not in done.stdout + done.stderr
