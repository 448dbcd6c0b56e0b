"""The LiteLLM recogniser: cache and reasoning tokens from the usage repr only LiteLLM's spans carry."""

from __future__ import annotations

import pytest

from trubrics_otel.mapping import Findings
from trubrics_otel.mapping.litellm import recognise

from .conftest import make_span

USAGE = (
    "{'completion_tokens': 6, 'prompt_tokens': 10, 'completion_tokens_details': {'reasoning_tokens': 2}, "
    "'prompt_tokens_details': {'cached_tokens': 5}, 'cache_creation_input_tokens': 3}"
)


def test_the_usage_repr_gives_cache_and_reasoning_tokens() -> None:
    """The Python repr of the provider's usage is read as literals."""
    span = make_span({"metadata.usage_object": USAGE}, scope="litellm")

    assert recognise(span) == Findings(cache_read_tokens=5, cache_creation_tokens=3, reasoning_tokens=2)


@pytest.mark.parametrize(
    "value",
    ["__import__('os').system('true')", "{'a': f()}", "{" * 5000, "not a dict", ["a"], None, "{1: 2"],
)
def test_anything_but_a_literal_dict_is_ignored(value: object) -> None:
    """Code, calls, oversized or malformed text is never evaluated and gives nothing."""
    assert recognise(make_span({"metadata.usage_object": value}, scope="litellm")) is None


def test_other_scopes_are_not_read() -> None:
    """Only LiteLLM's own spans are read, whatever their attributes."""
    assert recognise(make_span({"metadata.usage_object": USAGE}, scope="other")) is None
