"""What `trubrics-otel check` can see of the set-up, before it sends anything.

Where the events go and where that came from; whether `opentelemetry-instrument` can load our exporters
(the command, a configurator, our entry points, the `OTEL_*_EXPORTER` values); which instrumentations
are installed, and whether the settings they read let prompts and generations reach Trubrics. Each
problem found becomes one line that says what to do.

`installed()` reads this interpreter's packages once; everything else is a plain function from the
environment's values and that snapshot to data, so that tests give it any set-up they need. The
command line may read `os.environ` for the `OTEL_*` and instrumentation variables: it reports the
environment. The library never does so outside `trubrics_otel._config`.

The rules for each instrumentation's content settings follow the installed code, read in 2026-11:
opentelemetry-util-genai 1.x (`utils.get_content_capturing_mode`, `is_experimental_mode`), the
openai-v2 instrumentation (`openai_v2/__init__.py`, `utils.is_content_enabled`), OpenLLMetry's
`should_send_prompts` and OpenInference's `TraceConfig`.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Final, TextIO

from trubrics_otel import _config
from trubrics_otel._config import ConfigurationError

__all__ = [
    "ContentCapture",
    "Destination",
    "EntryPoint",
    "ExporterSetting",
    "Installed",
    "Instrumentation",
    "Package",
    "SetupReport",
    "ZeroCode",
    "content_capture",
    "inspect_setup",
    "installed",
    "instrumentations",
    "print_report",
    "problems",
    "resolve_destination",
    "zero_code",
]

OTEL_GENAI: Final = "OpenTelemetry GenAI"
OPENLLMETRY: Final = "OpenLLMetry"
OPENINFERENCE: Final = "OpenInference"
OTHER: Final = "OpenTelemetry"

ZERO_CODE_INSTALL: Final = "install opentelemetry-distro (pip install 'trubrics-otel[zero-code]')"

# (signal, the variable that names its exporters, the entry-point group they are looked up in)
SIGNALS: Final = (
    ("traces", "OTEL_TRACES_EXPORTER", "opentelemetry_traces_exporter"),
    ("logs", "OTEL_LOGS_EXPORTER", "opentelemetry_logs_exporter"),
    ("metrics", "OTEL_METRICS_EXPORTER", "opentelemetry_metrics_exporter"),
)
INSTRUMENTOR_GROUP: Final = "opentelemetry_instrumentor"
CONFIGURATOR_GROUP: Final = "opentelemetry_configurator"
DISTRO_GROUP: Final = "opentelemetry_distro"
_GROUPS: Final = (INSTRUMENTOR_GROUP, CONFIGURATOR_GROUP, DISTRO_GROUP, *(group for _, _, group in SIGNALS))

GENAI_CAPTURE: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SEMCONV_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
TRACELOOP_CONTENT: Final = "TRACELOOP_TRACE_CONTENT"
OPENINFERENCE_HIDING: Final = (
    ("OPENINFERENCE_HIDE_INPUTS", "prompts"),
    ("OPENINFERENCE_HIDE_OUTPUTS", "generations"),
    ("OPENINFERENCE_HIDE_INPUT_MESSAGES", "prompt messages"),
    ("OPENINFERENCE_HIDE_OUTPUT_MESSAGES", "generated messages"),
    ("OPENINFERENCE_HIDE_INPUT_TEXT", "prompt text"),
    ("OPENINFERENCE_HIDE_OUTPUT_TEXT", "generated text"),
)
_GENAI_MODES: Final = ("NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")
# the OTLP exporters `otlp` stands for, by OTEL_EXPORTER_OTLP_PROTOCOL (the SDK's default is grpc)
_OTLP_BY_PROTOCOL: Final = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


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


# --- what is installed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPoint:
    """One entry point of the groups `opentelemetry-instrument` reads."""

    group: str
    name: str
    value: str
    distribution: str


@dataclass(frozen=True)
class Package:
    """An installed distribution that may instrument something, with what it depends on."""

    name: str
    version: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installed:
    """What this interpreter has installed that the set-up depends on."""

    entry_points: tuple[EntryPoint, ...] = ()
    packages: tuple[Package, ...] = ()
    instrument_command: str | None = None
    """The path of `opentelemetry-instrument`, or None when it is not installed."""

    def group(self, name: str) -> tuple[EntryPoint, ...]:
        """Return the entry points of one group."""
        return tuple(entry for entry in self.entry_points if entry.group == name)

    def version_of(self, package: str) -> str | None:
        """Return the version of an installed package, or None."""
        return next((p.version for p in self.packages if p.name == _normal(package)), None)


def installed() -> Installed:
    """Read the entry points, the instrumentation packages and the `opentelemetry-instrument` command."""
    entries = []
    for group in _GROUPS:
        for entry in metadata.entry_points(group=group):
            dist = getattr(entry, "dist", None)
            owner = f"{_normal(dist.name)} {dist.version}" if dist is not None else ""
            entries.append(EntryPoint(group, entry.name, entry.value, owner))
    packages = []
    for dist in metadata.distributions():
        name = _normal(dist.metadata["Name"] or "")
        if _may_instrument(name) or name == "opentelemetry-util-genai":
            requires = tuple(
                _normal(_requirement_name(line)) for line in dist.requires or () if "extra ==" not in line
            )
            packages.append(Package(name, dist.version, requires))
    return Installed(
        tuple(entries), tuple(sorted(set(packages), key=lambda p: p.name)), _instrument_command()
    )


def _instrument_command() -> str | None:
    beside = Path(sys.executable).parent / "opentelemetry-instrument"
    if beside.exists():
        return str(beside)
    return shutil.which("opentelemetry-instrument")


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _requirement_name(line: str) -> str:
    end = len(line)
    for mark in " ;<>=!~[(":
        index = line.find(mark)
        if index != -1:
            end = min(end, index)
    return line[:end]


def _may_instrument(name: str) -> bool:
    return (
        name.startswith(("opentelemetry-instrumentation-", "openinference-instrumentation-"))
        or name == "traceloop-sdk"
    )


# --- zero-code -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExporterSetting:
    """One `OTEL_*_EXPORTER` variable, and what `opentelemetry-instrument` will load for it."""

    signal: str
    variable: str
    value: str | None
    """As set; None when unset."""
    names: tuple[str, ...]
    """The exporters that will be loaded: the value's, or the distro's default when unset."""
    missing: tuple[str, ...]
    """Those of `names` that no installed package provides: the SDK's whole set-up fails on them, and
    the application runs untraced."""

    @property
    def shown(self) -> str:
        """The value as the report shows it."""
        if self.value is not None:
            return self.value
        if self.names:
            return f"(unset: opentelemetry-distro makes it {','.join(self.names)})"
        return "(unset: none)"


@dataclass(frozen=True)
class ZeroCode:
    """What `opentelemetry-instrument` would find."""

    instrument_command: str | None
    configurators: tuple[str, ...]
    """The installed configurators' packages, e.g. `opentelemetry-distro 0.66b2`."""
    registered: tuple[str, ...]
    """The signals for which `trubrics` is a registered exporter: `traces`, `logs`."""
    exporters: tuple[ExporterSetting, ...]

    @property
    def in_use(self) -> bool:
        """Whether OTEL_TRACES_EXPORTER or OTEL_LOGS_EXPORTER names `trubrics`."""
        return any(s.signal in ("traces", "logs") and "trubrics" in s.names for s in self.exporters)

    def setting(self, signal: str) -> ExporterSetting:
        """Return the setting of one signal: `traces`, `logs` or `metrics`."""
        return next(s for s in self.exporters if s.signal == signal)


def zero_code(environ: Mapping[str, str], found: Installed) -> ZeroCode:
    """Say what `opentelemetry-instrument` would load, from the environment and the installed packages."""
    distro_defaults = any(
        e.distribution.startswith("opentelemetry-distro ") for e in found.group(DISTRO_GROUP)
    )
    exporters = []
    for signal, variable, group in SIGNALS:
        raw = environ.get(variable)
        value = raw.strip() if raw is not None and raw.strip() else None
        if value is None:
            names: tuple[str, ...] = ("otlp",) if distro_defaults else ()
        elif value.lower() == "none":
            names = ()
        else:
            names = tuple(name.strip() for name in value.split(",") if name.strip())
        available = {entry.name for entry in found.group(group)}
        missing = tuple(name for name in names if _entry_name(name, signal, environ) not in available)
        exporters.append(ExporterSetting(signal, variable, value, names, missing))
    registered = tuple(
        signal
        for signal, _, group in SIGNALS
        if any(e.name == "trubrics" and e.value.startswith("trubrics_otel.") for e in found.group(group))
    )
    configurators = tuple(sorted({e.distribution for e in found.group(CONFIGURATOR_GROUP)}))
    return ZeroCode(found.instrument_command, configurators, registered, tuple(exporters))


def _entry_name(name: str, signal: str, environ: Mapping[str, str]) -> str:
    """Return the entry point the SDK looks up for an exporter name: `otlp` stands for one by protocol."""
    if name != "otlp":
        return name
    protocol = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    return _OTLP_BY_PROTOCOL.get(protocol.strip(), "otlp_proto_grpc")


# --- instrumentations and their content settings ---------------------------------------------------


@dataclass(frozen=True)
class Instrumentation:
    """One installed instrumentation package."""

    package: str
    version: str
    convention: str
    """`OpenTelemetry GenAI`, `OpenLLMetry`, `OpenInference`, or `OpenTelemetry` for the rest."""
    instruments: tuple[str, ...]
    """The names it registers for `opentelemetry-instrument` (`openai`); empty when it registers none."""


def instrumentations(found: Installed) -> list[Instrumentation]:
    """List the installed instrumentations.

    They are the packages of every registered instrumentor, and OpenLLMetry's and OpenInference's
    packages that register none.
    """
    registered: dict[str, list[str]] = {}
    for entry in found.group(INSTRUMENTOR_GROUP):
        registered.setdefault(entry.distribution.split(" ")[0], []).append(entry.name)
    result = []
    for package in found.packages:
        if package.name == "opentelemetry-util-genai":
            continue
        convention = _convention(package)
        if package.name in registered or convention != OTHER:
            names = tuple(sorted(registered.get(package.name, ())))
            result.append(Instrumentation(package.name, package.version, convention, names))
    return result


def _convention(package: Package) -> str:
    if "opentelemetry-util-genai" in package.requires:
        return OTEL_GENAI
    if package.name == "traceloop-sdk" or "opentelemetry-semantic-conventions-ai" in package.requires:
        return OPENLLMETRY
    if package.name.startswith("openinference-instrumentation-"):
        return OPENINFERENCE
    return OTHER


@dataclass(frozen=True)
class ContentCapture:
    """Whether one convention's instrumentations record prompts and generations where Trubrics gets them."""

    convention: str
    setting: str
    """The variable and its value as the report shows them."""
    where: str
    """Where the content goes: `on the spans`, `in log records`, or `not recorded`."""
    advice: str | None = None
    """What to do when the content is lost; None when it arrives."""


def content_capture(
    environ: Mapping[str, str], found: Installed, zero: ZeroCode | None = None
) -> list[ContentCapture]:
    """Say, for each convention installed, where its content goes under this environment."""
    conventions = {i.convention for i in instrumentations(found)}
    zero = zero if zero is not None else zero_code(environ, found)
    result = []
    if OTEL_GENAI in conventions:
        result.append(_genai_capture(environ, found.version_of("opentelemetry-util-genai"), zero))
    if OPENLLMETRY in conventions:
        result.append(_openllmetry_capture(environ))
    if OPENINFERENCE in conventions:
        result.append(_openinference_capture(environ))
    return result


def _genai_capture(environ: Mapping[str, str], util_version: str | None, zero: ZeroCode) -> ContentCapture:
    raw = environ.get(GENAI_CAPTURE, "").strip()
    shown = f"{GENAI_CAPTURE}={raw}" if raw else f"{GENAI_CAPTURE} unset"
    library = f"opentelemetry-util-genai {util_version}" if util_version else "opentelemetry-util-genai"
    # util-genai 1.x always takes the latest conventions; older versions only when opted in
    latest = _major(util_version) >= 1 or "gen_ai_latest_experimental" in environ.get(SEMCONV_OPT_IN, "")
    mode = raw.upper()
    if latest:
        if mode in ("SPAN_ONLY", "SPAN_AND_EVENT"):
            return ContentCapture(OTEL_GENAI, shown, "on the spans")
        if mode == "EVENT_ONLY":
            return _in_log_records(shown, zero, "or use SPAN_ONLY to put it on the spans")
        if not raw or mode == "NO_CONTENT":
            return ContentCapture(
                OTEL_GENAI,
                shown,
                "not recorded",
                f"set {GENAI_CAPTURE}=SPAN_ONLY to record prompts and generations on the spans",
            )
        return ContentCapture(
            OTEL_GENAI,
            shown,
            "not recorded",
            f"{GENAI_CAPTURE}={raw} is not a mode {library} accepts, so it records no content: "
            f"use SPAN_ONLY (one of {', '.join(_GENAI_MODES)})",
        )
    if raw.lower() == "true":
        alternative = f"or opt in with {SEMCONV_OPT_IN}=gen_ai_latest_experimental and use SPAN_ONLY"
        return _in_log_records(shown, zero, alternative)
    if mode in _GENAI_MODES and mode != "NO_CONTENT":
        return ContentCapture(
            OTEL_GENAI,
            shown,
            "not recorded",
            f"{library} reads {raw} only with {SEMCONV_OPT_IN}=gen_ai_latest_experimental: set that too "
            f"(or set {GENAI_CAPTURE}=true for the older conventions' log records)",
        )
    return ContentCapture(
        OTEL_GENAI,
        shown,
        "not recorded",
        f"set {GENAI_CAPTURE}=true to record prompts and generations in log records "
        f"(or {SEMCONV_OPT_IN}=gen_ai_latest_experimental with SPAN_ONLY, to put them on the spans)",
    )


def _in_log_records(shown: str, zero: ZeroCode, alternative: str) -> ContentCapture:
    """Content in log records reaches Trubrics only through TrubricsLogExporter."""
    if zero.in_use and "trubrics" not in zero.setting("logs").names:
        return ContentCapture(
            OTEL_GENAI,
            shown,
            "in log records, which are not sent to Trubrics",
            f"set OTEL_LOGS_EXPORTER=trubrics so that the content joins its spans ({alternative})",
        )
    where = "in log records" if zero.in_use else "in log records (sent by TrubricsLogExporter only)"
    return ContentCapture(OTEL_GENAI, shown, where)


def _openllmetry_capture(environ: Mapping[str, str]) -> ContentCapture:
    raw = environ.get(TRACELOOP_CONTENT)
    if raw is None or not raw.strip():
        return ContentCapture(OPENLLMETRY, f"{TRACELOOP_CONTENT} unset (true by default)", "on the spans")
    shown = f"{TRACELOOP_CONTENT}={raw.strip()}"
    value = raw.strip().lower()
    if value == "true":
        return ContentCapture(OPENLLMETRY, shown, "on the spans")
    if value in ("1", "yes", "on"):
        return ContentCapture(
            OPENLLMETRY,
            shown,
            "on some packages' spans",
            f"set {TRACELOOP_CONTENT}=true: some OpenLLMetry packages (anthropic) read only `true`",
        )
    return ContentCapture(
        OPENLLMETRY,
        shown,
        "not recorded",
        f"unset {TRACELOOP_CONTENT} (or set it to true) to record prompts and generations",
    )


def _openinference_capture(environ: Mapping[str, str]) -> ContentCapture:
    hidden = [
        (name, what) for name, what in OPENINFERENCE_HIDING if environ.get(name, "").strip().lower() == "true"
    ]
    if not hidden:
        return ContentCapture(OPENINFERENCE, "OPENINFERENCE_HIDE_* unset", "on the spans")
    names = ", ".join(f"{name}=true" for name, _ in hidden)
    what = " and ".join(dict.fromkeys(what for _, what in hidden))
    return ContentCapture(
        OPENINFERENCE,
        names,
        f"{what} hidden",
        f"unset {', '.join(name for name, _ in hidden)}: OpenInference hides the {what} from its spans",
    )


def _major(version: str | None) -> int:
    if not version:
        return 0
    digits = version.split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


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
