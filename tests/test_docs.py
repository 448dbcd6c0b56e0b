"""The README and the docs: every file they link to exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    """A link to another page of the project names a file that is there."""
    targets = [target for target in LINK.findall(page.read_text()) if "://" not in target]

    missing = [target for target in targets if not (page.parent / target).exists()]

    assert missing == []
