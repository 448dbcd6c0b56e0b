"""The precedence table: every recogniser stands in every field's order, so no finding is ignored."""

from __future__ import annotations

import random
from dataclasses import fields

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


def _reference_combine(found: dict[str, Findings]) -> dict[str, object]:
    """The documented rule, field by field: the first recogniser in the field's order with a value wins."""
    merged: dict[str, object] = {}
    for field in fields(Findings):
        if field.name == "properties":
            continue
        order = PRECEDENCE.get(field.name, tuple(RECOGNISERS))
        values = [getattr(found[source], field.name) for source in order if source in found]
        merged[field.name] = next((value for value in values if value is not None), None)
    properties: dict[str, object] = {}
    for source in reversed(tuple(RECOGNISERS)):
        if source in found:
            properties.update(found[source].properties)
    merged["properties"] = properties
    return merged


def _findings(seed: int, source: str) -> Findings:
    """Findings with some fields set, some None, and some falsy but found (0, "")."""
    chooser = random.Random(f"{seed}-{source}")
    findings = Findings(properties={"shared": source, source: seed})
    for field in fields(Findings):
        if field.name != "properties":
            setattr(findings, field.name, chooser.choice([None, None, 0, "", f"{source}-{field.name}"]))
    return findings


@pytest.mark.parametrize("size", [2, 3, 8])
def test_combine_follows_the_documented_rule_for_any_recognisers_in_any_order(size: int) -> None:
    """Whichever recognisers found something, given in whatever order, each field follows its order."""
    chooser = random.Random(size)
    for seed in range(200):
        sources = chooser.sample(list(RECOGNISERS), size)
        found = {source: _findings(seed, source) for source in sources}

        assert vars(combine(found)) == _reference_combine(found)
