"""Delivery: what the front doors share between the mapping and the transport, and what outlives a batch.

- `core`: the delivery core of a configuration (settings, client, translator, state); `core_for`;
- `join`: calls waiting for their content and their ancestors, matched by span id, bounded;
- `memory`: the calls sent (twins in other traces), the parents of recent calls (nested calls);
- `releaser`: the thread that sends held calls when their window closes.

Everything here is state, so everything here holds its locks and starts empty in a forked child.
"""

from trubrics_otel._delivery.core import PART_SIZE, DeliveryCore, core_for
from trubrics_otel._delivery.join import Content, ContentJoin, shared_join

__all__ = ["PART_SIZE", "Content", "ContentJoin", "DeliveryCore", "core_for", "shared_join"]
