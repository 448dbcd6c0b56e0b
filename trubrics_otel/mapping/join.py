"""Moved: the content join is delivery state (`trubrics_otel._delivery.join`); the old name still imports."""

from trubrics_otel._delivery.join import Content, ContentJoin

__all__ = ["Content", "ContentJoin"]
