"""The precedence table: every recogniser stands in every field's order, so no finding is ignored."""

from __future__ import annotations

import pytest

from trubrics_otel.mapping import PRECEDENCE, RECOGNISERS, Findings, combine


@pytest.mark.parametrize("field", sorted(PRECEDENCE))
def test_each_order_names_every_recogniser_once(field: str) -> None:
    """A recogniser missing from an order would win alone and lose beside another."""
    assert sorted(PRECEDENCE[field]) == sorted(RECOGNISERS)


def test_the_first_in_a_fields_order_wins() -> None:
    """For user_id the general `user.id` beats GenAI's `gen_ai.user`; for thread_id GenAI comes first."""
    found = {
        "genai": Findings(user_id="genai-user", thread_id="genai-thread"),
        "otel_general": Findings(user_id="general-user", thread_id="general-thread"),
    }

    merged = combine(found)

    assert (merged.user_id, merged.thread_id) == ("general-user", "genai-thread")
