"""The words of the local server's refusals: the request line's notes and the details a client reads.

A request line ends with a few words on what happened (`3 items`, `2 of 3 items invalid`, `invalid
JSON`), and a refused request's answer carries a `detail` that says what to do: a 404 names the paths
there are, or the `TRUBRICS_HOST` to set when the path has a prefix production does not have.

This module never decides whether a request is refused, and never sees a request's headers or body: it
words what the handler (`_http`) decided, from the counts, problems and paths it is given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Final

from trubrics_otel._events import MAX_BATCH_SIZE, JSONValue, Problem
from trubrics_otel.server._reading import MAX_BODY_BYTES

__all__ = [
    "INGESTION_BASE",
    "TOO_LARGE",
    "TOO_LARGE_DETAIL",
    "invalid",
    "items",
    "not_found",
    "phrase",
    "undecodable",
]

INGESTION_BASE: Final = "/api/ingestion"
"""The production API's base path: the API's routes are served at the root and under it."""

_MIB: Final = MAX_BODY_BYTES // (1024 * 1024)

TOO_LARGE: Final = f"body over {_MIB} MiB"
"""The request line's note for a body over `MAX_BODY_BYTES`."""

TOO_LARGE_DETAIL: Final = f"The request body is larger than {_MIB} MiB."
"""The 413's detail."""

_PATHS: Final = (
    "The paths are /publish_events, /publish_llm_events, /events, /llm_events and /health, "
    f"at the root or under {INGESTION_BASE}, and /_trubrics/faults at the root; "
    "the inspector page is / (open it in a browser)."
)


def items(count: int) -> str:
    """Return the request line's note for a number of items, e.g. `"1 item"`, `"3 items"`."""
    return f"{count} item" if count == 1 else f"{count} items"


def undecodable(problem: Mapping[str, JSONValue]) -> str:
    """Return the request line's note for a body that is not JSON, or is empty."""
    return "no body" if problem.get("type") == "missing" else "invalid JSON"


def invalid(problems: list[Problem], count: int | None) -> str:
    """Return the request line's note for a body the API's rules refuse, e.g. `"2 of 3 items invalid"`."""
    indexes = {problem.index for problem in problems if problem.index is not None}
    if indexes and count is not None:
        return f"{len(indexes)} of {items(count)} invalid"
    if count is None:
        return "not a list"
    return f"{items(count)}, over {MAX_BATCH_SIZE}"


def not_found(path: str, base_url: str, routes: Collection[str], endpoints: Collection[str]) -> str:
    """Return the 404's detail: what is wrong with `path`, and the base URL to use instead.

    A client reaches this with a wrong base URL more often than with a wrong endpoint, e.g.
    `TRUBRICS_HOST=http://127.0.0.1:8765/publish_events` posts to `/publish_events/publish_events`.

    Args:
        path: the path asked for, which is not one of `routes`.
        base_url: the server's base URL as the client reached it, e.g. `http://127.0.0.1:8765`.
        routes: every path the server answers.
        endpoints: the API's endpoints, e.g. `publish_events`, served at the root and under
            `INGESTION_BASE`.
    """
    segments = [segment for segment in path.split("/") if segment]
    tidy = "/" + "/".join(segments)
    if tidy in routes:
        return f"No such path: {path}. Did you mean {tidy}? The paths have no trailing or doubled slash."
    if segments[-2:] == ["_trubrics", "faults"]:
        return f"No such path: {path}. The faults are staged at the root only: {base_url}/_trubrics/faults."
    if not segments or segments[-1] not in endpoints:
        return f"No such path: {path}. {_PATHS}"
    endpoint, prefix = segments[-1], segments[:-1]
    under_base = prefix[:2] == INGESTION_BASE.strip("/").split("/")
    if any(segment in endpoints for segment in prefix):
        return (
            f"No such path: {path}. The host's base URL must not include the endpoint, which the client "
            f"appends: set TRUBRICS_HOST to {base_url}{INGESTION_BASE if under_base else ''}."
        )
    return (
        f"No such path: {path}. This server answers /{endpoint} at the root or under {INGESTION_BASE}, "
        f"not under /{'/'.join(prefix)}: set TRUBRICS_HOST to {base_url} (or {base_url}{INGESTION_BASE})."
    )


def phrase(status: int) -> str:
    """Return a status with its reason phrase, e.g. `"HTTP 503 Service Unavailable"`."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"
