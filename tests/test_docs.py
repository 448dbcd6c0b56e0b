"""The README and the docs: links that lead somewhere, code that runs, and a site that lists every page.

Every fenced code block of docs/ either runs in a test or is marked as a fragment on the line before it:

- a `python` block without a marker is run here, as written, as its own program;
- `<!-- tested: tests/test_x.py -->`: that test module runs (or compares) the block, and reads the page;
- `<!-- fragment -->`: shown, not run (part of a program, a command to type, output to expect).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from processes import run_clean

import trubrics_otel
import trubrics_otel.server
from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ANCHORED_LINK = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
FENCE = re.compile(r"^```(\S*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FRAGMENT = "<!-- fragment -->"
TESTED = re.compile(r"<!-- tested: (tests/[\w/]+\.py) -->")


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


# --- every code block runs in a test, or is a fragment ---------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page: where it is, its language, its code and the marker above it."""

    page: Path
    line: int
    language: str
    code: str
    marker: str

    def __str__(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(page: Path, text: str | None = None) -> Iterator[Block]:
    """The fenced code blocks of a page, each with the last non-blank line before it."""
    text = page.read_text() if text is None else text
    for match in FENCE.finditer(text):
        before = [line for line in text[: match.start()].splitlines() if line.strip()]
        line = text.count("\n", 0, match.start()) + 1
        yield Block(page, line, match.group(1), match.group(2), before[-1].strip() if before else "")


def unaccounted(block: Block) -> str | None:
    """Why a block neither runs in a test nor is a fragment, or None when it is accounted for."""
    if block.marker == FRAGMENT:
        return None
    tested = TESTED.fullmatch(block.marker)
    if tested:
        module = ROOT / tested.group(1)
        if not module.is_file():
            return f"{block}: {tested.group(1)} does not exist"
        if block.page.name not in module.read_text():
            return f"{block}: {tested.group(1)} does not read {block.page.name}"
        return None
    if block.language == "python":
        return None  # run by test_the_python_blocks_of_the_docs_run_as_written
    kind = block.language or "plain"
    return f"{block}: a {kind} block with neither {FRAGMENT} nor <!-- tested: ... --> before it"


DOC_PAGES = sorted(DOCS.glob("*.md"))
ALL_BLOCKS = [block for page in DOC_PAGES for block in blocks(page)]
RUNNABLE = [
    block for block in ALL_BLOCKS if block.language == "python" and not block.marker.startswith("<!--")
]


def test_every_code_block_of_the_docs_runs_in_a_test_or_is_a_fragment() -> None:
    """No block of docs/ is left unchecked: each is run here, named as run elsewhere, or marked a fragment."""
    assert [reason for block in ALL_BLOCKS if (reason := unaccounted(block))] == []
    assert len(RUNNABLE) >= 6


def test_the_marker_rule_catches_an_unmarked_block() -> None:
    """A shell block with no marker, or one naming a test that does not read the page, is reported."""
    page = DOCS / "example.md"
    text = (
        "Run:\n\n```sh\nmake\n```\n\n<!-- tested: tests/test_config.py -->\n```python\nprint()\n```\n"
        "\n<!-- fragment -->\n```text\noutput\n```\n"
    )

    reasons = [reason for block in blocks(page, text) if (reason := unaccounted(block))]

    assert reasons == [
        "example.md:3: a sh block with neither <!-- fragment --> nor <!-- tested: ... --> before it",
        "example.md:8: tests/test_config.py does not read example.md",
    ]


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    """A fake OpenAI endpoint for the blocks that call a model."""
    with FakeOpenAI(delay=0.0) as model:
        yield model.base_url


@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_the_python_blocks_of_the_docs_run_as_written(
    block: Block, server: LocalServer, api_key: str, fake_openai: str
) -> None:
    """Each python block runs as its own program, warns of nothing, and delivers what it sends."""
    done = run_clean(
        [sys.executable, "-c", block.code],
        timeout=60,
        TRUBRICS_HOST=server.url,
        TRUBRICS_API_KEY=api_key,
        OPENAI_BASE_URL=fake_openai,
        OPENAI_API_KEY="fake",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY",
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert re.findall(r"^.*(?:WARNING|ERROR).*trubrics.*$", done.stderr, re.MULTILINE | re.IGNORECASE) == []
    if "LocalServer(" not in block.code:  # a block that runs its own server sends nothing to ours
        received = server.events() + server.llm_events()
        assert received, f"{block} sent nothing to TRUBRICS_HOST"
        assert all(item["user_id"] == "user-42" for item in received)
        placeholders = [item for item in server.llm_events() if "[content not recorded]" in item.values()]
        assert placeholders == []


# --- the site ----------------------------------------------------------------------------------------------


def nav_pages(entries: object) -> Iterator[str]:
    """The page files named anywhere in mkdocs.yml's nav."""
    if isinstance(entries, str):
        yield entries
    elif isinstance(entries, list):
        for entry in entries:
            yield from nav_pages(entry)
    elif isinstance(entries, dict):
        for entry in entries.values():
            yield from nav_pages(entry)


def test_the_site_lists_every_page_of_the_docs() -> None:
    """Every page in docs/ is in the site's navigation, and the navigation names no missing page."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    listed = sorted(nav_pages(config["nav"]))

    assert listed == sorted(page.name for page in DOC_PAGES)
    assert config["strict"] is True


def test_the_api_reference_documents_every_public_name() -> None:
    """docs/api.md renders each name of `trubrics_otel.__all__` and `trubrics_otel.server.__all__`."""
    api = (DOCS / "api.md").read_text()
    documented = set(re.findall(r"^::: ([\w.]+)$", api, re.MULTILINE))

    expected = {f"trubrics_otel.{name}" for name in trubrics_otel.__all__ if name != "__version__"} | {
        f"trubrics_otel.server.{name}" for name in trubrics_otel.server.__all__
    }

    assert sorted(expected - documented) == []
    assert sorted(documented - expected) == []


def test_the_site_build_command_is_documented_and_run_in_ci() -> None:
    """The docs say how to build the site with warnings as errors, and CI runs that very command."""
    command = ".venv/bin/mkdocs build --strict"

    assert command in (DOCS / "index.md").read_text()
    assert f"\n{command}" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_points_at_the_docs() -> None:
    """The README sends its reader to the docs' home and quickstart."""
    readme = (ROOT / "README.md").read_text()

    assert "](docs/index.md)" in readme
    assert "](docs/quickstart.md)" in readme
