"""What this interpreter has installed that the set-up depends on; what `opentelemetry-instrument` loads.

`installed()` reads this interpreter's packages and entry points once; `zero_code()` and
`instrumentations()` are plain functions of the environment's values and that snapshot, so that tests
give them any set-up they need.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

__all__ = [
    "OPENINFERENCE",
    "OPENLLMETRY",
    "OTEL_GENAI",
    "OTHER",
    "ZERO_CODE_INSTALL",
    "EntryPoint",
    "ExporterSetting",
    "Installed",
    "Instrumentation",
    "Package",
    "ZeroCode",
    "installed",
    "instrumentations",
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

# the OTLP exporters `otlp` stands for, by OTEL_EXPORTER_OTLP_PROTOCOL (the SDK's default is grpc)
_OTLP_BY_PROTOCOL: Final = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


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
