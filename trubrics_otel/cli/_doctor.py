"""What `trubrics-otel check` can see of the set-up, before it sends anything.

Where the events go and where that came from; whether `opentelemetry-instrument` can load our exporters
(the command, a configurator, our entry points, the `OTEL_*_EXPORTER` values: `_installed`); which
instrumentations are installed, and whether the settings they read let prompts and generations reach
Trubrics (`_capture`). Each problem found becomes one line that says what to do.

The command line may read `os.environ` for the `OTEL_*` and instrumentation variables: it reports the
environment. The library never does so outside `trubrics_otel._config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from trubrics_otel import _config
from trubrics_otel._config import ConfigurationError
from trubrics_otel.cli._capture import ContentCapture, content_capture
from trubrics_otel.cli._installed import (
    OTHER,
    ZERO_CODE_INSTALL,
    ExporterSetting,
    Installed,
    Instrumentation,
    ZeroCode,
    instrumentations,
    zero_code,
)

__all__ = ["Destination", "SetupReport", "inspect_setup", "print_report", "problems", "resolve_destination"]


# --- where the events go -------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """The host and key `check` sends with, and where each came from."""

    host: str
    host_source: str
    """`--host`, `TRUBRICS_HOST` or `the default`."""
    api_key: str | None = field(repr=False)
    key_source: str | None
    """`--api-key`, `TRUBRICS_API_KEY`, or None when no key is set."""


def resolve_destination(host: str | None, api_key: str | None) -> Destination:
    """Resolve `--host` and `--api-key` (None when not given) the way the client will.

    Raises:
        ConfigurationError: a flag or the variable behind it is malformed; the error names which.
    """
    if host is not None:
        resolved_host, host_source = _config.HOST.resolve(host, given_as="--host"), "--host"
    elif _config.HOST.is_set():
        resolved_host, host_source = _config.HOST.resolve(), _config.HOST.env
    else:
        resolved_host, host_source = _config.HOST.default, "the default"
    if api_key is not None:
        key = _config.API_KEY.resolve(api_key, given_as="--api-key")
        if key is None:
            raise ConfigurationError(
                "--api-key is empty: pass the project's key, or leave the flag out to use TRUBRICS_API_KEY."
            )
        return Destination(resolved_host, host_source, key, "--api-key")
    key = _config.API_KEY.resolve()
    return Destination(resolved_host, host_source, key, _config.API_KEY.env if key is not None else None)


# --- the whole report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupReport:
    """Everything `check` shows before its test event, and the problems found."""

    destination: Destination
    zero_code: ZeroCode
    instrumentations: tuple[Instrumentation, ...]
    content: tuple[ContentCapture, ...]
    problems: tuple[str, ...]


def inspect_setup(destination: Destination, environ: Mapping[str, str], found: Installed) -> SetupReport:
    """Inspect the set-up: what would be loaded, what is recorded, and what to fix."""
    zero = zero_code(environ, found)
    found_instrumentations = tuple(instrumentations(found))
    content = tuple(content_capture(environ, found, zero))
    return SetupReport(
        destination,
        zero,
        found_instrumentations,
        content,
        tuple(problems(zero, found_instrumentations, content)),
    )


def problems(
    zero: ZeroCode,
    found: Sequence[Instrumentation],
    content: Sequence[ContentCapture],
) -> list[str]:
    """Return one line per problem, each saying what to do."""
    lines = []  # a missing key is not listed: the test event's verdict says it, with the host's answer
    if zero.in_use:
        lines.extend(_zero_code_problems(zero, found))
    lines.extend(f"{c.convention}: {c.advice}." for c in content if c.advice is not None)
    return lines


def _zero_code_problems(zero: ZeroCode, found: Sequence[Instrumentation]) -> list[str]:
    traces, logs = zero.setting("traces"), zero.setting("logs")
    named = "OTEL_TRACES_EXPORTER=trubrics" if "trubrics" in traces.names else "OTEL_LOGS_EXPORTER=trubrics"
    lines = []
    if not zero.configurators:
        lines.append(
            f"{named}, but no OpenTelemetry configurator is installed, so opentelemetry-instrument sets up "
            f"nothing: {ZERO_CODE_INSTALL}."
        )
    elif zero.instrument_command is None:
        lines.append(
            f"{named}, but the opentelemetry-instrument command is not installed: {ZERO_CODE_INSTALL}."
        )
    for setting in (traces, logs):
        if "trubrics" in setting.names and setting.signal not in zero.registered:
            lines.append(
                f"trubrics is not registered as an OpenTelemetry {setting.signal} exporter, so "
                f"opentelemetry-instrument cannot load it: reinstall trubrics-otel in this environment."
            )
    if zero.configurators:
        for setting in zero.exporters:
            lines.extend(_missing_exporter_problems(setting))
    if "trubrics" in logs.names and "trubrics" not in traces.names:
        lines.append(
            "OTEL_LOGS_EXPORTER=trubrics, but OTEL_TRACES_EXPORTER does not name trubrics: LLM events are "
            "made from spans, so add trubrics to OTEL_TRACES_EXPORTER."
        )
    if not any(i.convention != OTHER for i in found):
        lines.append(
            "No LLM instrumentation is installed, so no model call makes a span: install one, "
            "e.g. pip install opentelemetry-instrumentation-openai-v2."
        )
    return lines


def _missing_exporter_problems(setting: ExporterSetting) -> list[str]:
    if not setting.missing:
        return []
    fix = {"traces": "trubrics", "logs": "trubrics (or none)", "metrics": "none"}[setting.signal]
    if setting.value is None:
        return [
            f"{setting.variable} is unset, so opentelemetry-distro makes it otlp, and no OTLP exporter is "
            f"installed: OpenTelemetry's set-up fails and nothing is sent; set {setting.variable}={fix}."
        ]
    names = ", ".join(setting.missing)
    return [
        f"{setting.variable}={setting.value} names {names}, which no installed package provides: "
        f"OpenTelemetry's set-up fails and nothing is sent; install it, or set {setting.variable}={fix}."
    ]


# --- printing ----------------------------------------------------------------------------------------


def print_report(report: SetupReport, out: TextIO) -> None:
    """Print the set-up as `check` shows it: sections of aligned lines, then the problems."""
    where = report.destination
    key = f"set, from {where.key_source} (not shown)" if where.key_source else "not set"
    zero = report.zero_code
    registered = f"registered for {', '.join(zero.registered)}" if zero.registered else "not registered"
    rows: list[tuple[str, list[tuple[str, str]]]] = [
        ("Where events go", [("host", f"{where.host} (from {where.host_source})"), ("API key", key)]),
        (
            "Zero-code (opentelemetry-instrument)",
            [
                ("opentelemetry-instrument", zero.instrument_command or "not installed"),
                ("configurator", ", ".join(zero.configurators) or "none installed"),
                ("trubrics exporter", registered),
                *((setting.variable, setting.shown) for setting in zero.exporters),
            ],
        ),
        (
            "Instrumentations",
            [(f"{i.package} {i.version}", _what(i)) for i in report.instrumentations] or [("none", "")],
        ),
    ]
    if report.content:
        rows.append(
            ("Prompts and generations", [(c.convention, f"{c.where}: {c.setting}") for c in report.content])
        )
    for title, lines in rows:
        print(title, file=out)
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            print(f"  {label.ljust(width)}  {value}".rstrip(), file=out)
    if report.problems:
        print("Problems", file=out)
        for problem in report.problems:
            print(f"  - {problem}", file=out)
    else:
        print("Problems: none found.", file=out)
    out.flush()


def _what(instrumentation: Instrumentation) -> str:
    names = instrumentation.instruments
    return instrumentation.convention + (f" ({', '.join(names)})" if names else "")
