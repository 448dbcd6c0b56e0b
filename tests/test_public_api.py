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


def test_every_module_all_names_what_it_has() -> None:
    """Each module's __all__ (the private ones' too: what the others import from them) names what exists."""
    import importlib
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(trubrics_otel.__path__, "trubrics_otel."):
        if info.name.endswith(".__main__"):
            continue  # `python -m trubrics_otel.cli`: importing it runs the command
        module = importlib.import_module(info.name)
        missing.extend(
            f"{info.name}.{name}" for name in getattr(module, "__all__", ()) if not hasattr(module, name)
        )

    assert missing == []


def test_the_package_modules_are_private() -> None:
    """Users import the package's names, re-exported here, never a module path of the core."""
    import pkgutil

    public_modules = {
        info.name for info in pkgutil.iter_modules(trubrics_otel.__path__) if info.name[0] != "_"
    }
    defined_in = {
        getattr(trubrics_otel, name).__module__ for name in trubrics_otel.__all__ if name != "__version__"
    }

    assert public_modules == {"cli", "demo", "gateway", "integrations", "mapping", "server"}
    assert [
        module
        for module in defined_in
        if not module.startswith(("trubrics_otel._", "trubrics_otel.mapping._"))
    ] == []
