"""The public surface: `__all__` is exactly the package's public names."""

from __future__ import annotations

import trubrics_otel


def test_all_lists_exactly_the_public_names() -> None:
    """Every public attribute is in __all__, and everything in __all__ exists."""
    public = {name for name in vars(trubrics_otel) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(trubrics_otel, name)).__name__ == "module"}

    assert set(trubrics_otel.__all__) - {"__version__"} == public - modules
    assert all(hasattr(trubrics_otel, name) for name in trubrics_otel.__all__)
    assert sorted(trubrics_otel.__all__) == list(trubrics_otel.__all__)


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run calls the README's test command, so the documented command is the one CI proves."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    test_line = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"

    assert f"\n{test_line}\n" in readme
    assert f"\n{test_line}\n" in ci
