"""Running a program the way a user would: a fresh interpreter, without the developer's settings."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence


def clean_environment(**settings: str) -> dict[str, str]:
    """Return this process's environment without TRUBRICS_* and OTEL_* variables, plus `settings`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TRUBRICS_", "OTEL_"))}
    return {**inherited, **settings}


def run_clean(
    command: Sequence[str], *, timeout: float = 120, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run `command` in the clean environment with `settings`, capturing its text; the caller checks it."""
    return subprocess.run(
        list(command),
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
