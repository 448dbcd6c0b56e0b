"""Whether the installed instrumentations record prompts and generations where Trubrics gets them.

The rules follow the installed code, read in 2026-11: opentelemetry-util-genai 1.x
(`utils.get_content_capturing_mode`, `is_experimental_mode`), the openai-v2 instrumentation
(`openai_v2/__init__.py`, `utils.is_content_enabled`), OpenLLMetry's `should_send_prompts` and
OpenInference's `TraceConfig`. Each is a plain function of the environment's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from trubrics_otel.cli._installed import (
    OPENINFERENCE,
    OPENLLMETRY,
    OTEL_GENAI,
    Installed,
    ZeroCode,
    instrumentations,
    zero_code,
)

__all__ = ["GENAI_CAPTURE", "ContentCapture", "content_capture"]

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
