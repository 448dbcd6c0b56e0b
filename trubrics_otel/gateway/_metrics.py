"""The gateway's `/metrics`: its own counters and the delivery counters, in Prometheus' text format.

Two kinds of figures, named apart:

- `trubrics_gateway_*`: what senders sent (export requests by signal and answer, items received,
  items rejected as unreadable) and what the gateway holds now (calls waiting in the content join,
  projects served, exports under way);
- `trubrics_delivery_*`: the delivery counters of every project's client summed (records sent, failed,
  dropped by reason, spooled; requests to Trubrics and retries), those of released projects included,
  so that every counter only grows.

Nothing here does I/O; the app calls `render` on the worker pool, as reading the counters takes locks.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Final

from trubrics_otel.gateway._keys import Totals

__all__ = ["CONTENT_TYPE", "ExportCounters", "render"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text exposition format."""


class ExportCounters:
    """Thread-safe counts of the export requests a gateway answered and the items they carried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: Counter[tuple[str, int]] = Counter()
        self._received: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self.in_flight = 0

    def answered(self, signal: str, status: int) -> None:
        """Count one export request of `signal` (traces, logs) answered with `status`."""
        with self._lock:
            self._answers[signal, status] += 1

    def items(self, signal: str, received: int, rejected: int) -> None:
        """Count the items of one decoded request: those read, and those rejected as unreadable."""
        with self._lock:
            self._received[signal] += received
            self._rejected[signal] += rejected

    def snapshot(self) -> tuple[dict[tuple[str, int], int], dict[str, int], dict[str, int]]:
        """Return (answers by signal and status, items received by signal, items rejected by signal)."""
        with self._lock:
            return dict(self._answers), dict(self._received), dict(self._rejected)


def render(counters: ExportCounters, totals: Totals, *, held: int, projects: int, ready: bool) -> str:
    """Return every figure in Prometheus' text exposition format."""
    answers, received, rejected = counters.snapshot()
    lines: list[str] = []

    def metric(name: str, kind: str, doc: str, samples: list[tuple[str, int]]) -> None:
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    metric(
        "trubrics_gateway_exports_total",
        "counter",
        "OTLP export requests answered, by signal and HTTP status.",
        [(f'{{signal="{s}",code="{code}"}}', n) for (s, code), n in sorted(answers.items())],
    )
    metric(
        "trubrics_gateway_items_received_total",
        "counter",
        "Spans and log records decoded from export requests.",
        [(f'{{signal="{s}"}}', n) for s, n in sorted(received.items())],
    )
    metric(
        "trubrics_gateway_items_rejected_total",
        "counter",
        "Spans and log records answered as rejected (partial success): they could not be read.",
        [(f'{{signal="{s}"}}', n) for s, n in sorted(rejected.items())],
    )
    metric(
        "trubrics_gateway_held_calls", "gauge", "Calls and contents waiting in content joins.", [("", held)]
    )
    metric(
        "trubrics_gateway_projects", "gauge", "Projects (keys) with a delivery core now.", [("", projects)]
    )
    metric(
        "trubrics_gateway_exports_in_flight",
        "gauge",
        "Export requests being delivered.",
        [("", counters.in_flight)],
    )
    metric("trubrics_gateway_ready", "gauge", "1 while the gateway takes exports.", [("", int(ready))])
    for name, doc in _DELIVERY:
        metric(f"trubrics_delivery_{name}_total", "counter", doc, [("", getattr(totals, name))])
    metric(
        "trubrics_delivery_dropped_total",
        "counter",
        "Records not sent, by reason (docs/transport.md explains each).",
        [(f'{{reason="{reason}"}}', n) for reason, n in sorted(totals.dropped.items())],
    )
    return "\n".join(lines) + "\n"


_DELIVERY: Final = (
    ("sent", "Records Trubrics accepted."),
    ("failed", "Records given up after retries ran out."),
    ("spooled", "Records kept on disk to be sent again."),
    ("replayed", "Records sent from the spool."),
    ("incomplete", "Model calls sent with a placeholder for missing text."),
    ("requests", "HTTP requests sent to Trubrics."),
    ("retried", "Requests to Trubrics sent again after a transient failure."),
)
