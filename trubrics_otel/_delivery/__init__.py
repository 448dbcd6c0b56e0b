"""Delivery: what the front doors share between the mapping and the transport, and what outlives a batch.

- `join`: calls waiting for their content and their ancestors, matched by span id, bounded;
- `memory`: the calls sent (twins in other traces), the parents of recent calls (nested calls).

Everything here is state, so everything here holds its locks and starts empty in a forked child.
"""

from trubrics_otel._delivery.join import Content, ContentJoin, shared_join

__all__ = ["Content", "ContentJoin", "shared_join"]
