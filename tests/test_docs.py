"""The README and the docs: every file they link to exists, and every heading they link to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ANCHORED_LINK = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = CODE_BLOCK.sub("", page.read_text())
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    """A link to another page of the project names a file that is there."""
    targets = [target for target in LINK.findall(page.read_text()) if "://" not in target]

    missing = [target for target in targets if not (page.parent / target).exists()]

    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_to_a_heading_finds_it(page: Path) -> None:
    """A link to `#a-heading`, on the same page or another, names a heading that page has."""
    links = [
        (target, anchor) for target, anchor in ANCHORED_LINK.findall(page.read_text()) if "://" not in target
    ]

    broken = [
        f"{target}#{anchor}"
        for target, anchor in links
        if anchor not in anchors(page.parent / target if target else page)
    ]

    assert broken == []


def test_headings_become_the_anchors_github_gives_them() -> None:
    """Anchors keep words and hyphens, drop other punctuation, and join words with hyphens."""
    page = ROOT / "README.md"

    assert {
        "try-it",
        "zero-code",
        "recording-prompts-and-generations",
        "traces-llm-spans-become-llm-events",
    } <= (anchors(page))


def test_the_readme_sets_up_a_clone_in_two_lines() -> None:
    """A fresh clone has one line for the demo and one for the tests; other installs are for users' apps."""
    readme = (ROOT / "README.md").read_text()

    set_up = [line for line in readme.splitlines() if "python3 -m venv" in line]

    assert set_up == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[demo]' && .venv/bin/trubrics-otel demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest",
    ]
