"""The second virtual environment the legacy openai-v2 tests run in: built once, then reused.

opentelemetry-instrumentation-openai-v2 2.3b0, the last release that keeps message content only in log
records (`gen_ai.user.message`, `gen_ai.choice`, ...), cannot share an environment with the 2.4b0 of the
`dev` extra. So `tests/requirements/openai-v2-legacy.txt` is installed, with this package editable (so its
entry points exist there too), into `<repo>/.venv-legacy`.

A marker file written after a successful install holds a digest of what the environment was built from:
the requirements, `pyproject.toml` and the Python version. The environment is reused while the digest
matches and rebuilt when it does not. A failed build raises `LegacyEnvironmentError`, which the tests
turn into a failure, never a skip: CI must run them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "tests" / "requirements" / "openai-v2-legacy.txt"
LOCATION = REPO / ".venv-legacy"
MARKER = "trubrics-otel-legacy.sha256"
INSTALL_TIMEOUT = 600.0


class LegacyEnvironmentError(RuntimeError):
    """The legacy environment could not be built."""


@dataclass(frozen=True)
class LegacyEnvironment:
    """A built environment: where its interpreter and scripts are."""

    root: Path

    @property
    def python(self) -> Path:
        return self._script("python")

    @property
    def instrument(self) -> Path:
        """The environment's `opentelemetry-instrument`, the zero-code launcher."""
        return self._script("opentelemetry-instrument")

    def _script(self, name: str) -> Path:
        if os.name == "nt":
            return self.root / "Scripts" / f"{name}.exe"
        return self.root / "bin" / name


def legacy_environment(location: Path = LOCATION) -> LegacyEnvironment:
    """Return the legacy environment, building it first when it is missing or was built from other files."""
    return built_environment(REQUIREMENTS, location)


def built_environment(requirements: Path, location: Path) -> LegacyEnvironment:
    """Return the environment of `requirements` (and this package) at `location`, built when needed."""
    environment = LegacyEnvironment(location)
    digest = _digest(requirements)
    with _exclusive(location):
        if _is_built(environment, digest):
            return environment
        _build(environment, requirements)
        (location / MARKER).write_text(digest + "\n", encoding="utf-8")
    return environment


def _digest(requirements: Path) -> str:
    sha = hashlib.sha256()
    for path in (requirements, REPO / "pyproject.toml"):
        sha.update(path.read_bytes())
    sha.update(sys.version.encode())
    return sha.hexdigest()


def _is_built(environment: LegacyEnvironment, digest: str) -> bool:
    marker = environment.root / MARKER
    return (
        environment.python.exists()
        and marker.exists()
        and marker.read_text(encoding="utf-8").strip() == digest
    )


def _build(environment: LegacyEnvironment, requirements: Path) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
    env.pop("VIRTUAL_ENV", None)
    _run([sys.executable, "-m", "venv", "--clear", str(environment.root)], env, "create the virtualenv")
    install = ["install", "--quiet", "-e", str(REPO), "-r", str(requirements)]
    _run(
        [str(environment.python), "-m", "pip", *install],
        env,
        f"install {requirements.relative_to(REPO)} (is a package index reachable?)",
    )


def _run(command: list[str], env: dict[str, str], purpose: str) -> None:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LegacyEnvironmentError(f"Could not {purpose}: {error}") from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        raise LegacyEnvironmentError(f"Could not {purpose}; `{' '.join(command)}` said:\n{output}")


@contextlib.contextmanager
def _exclusive(location: Path) -> Iterator[None]:
    """Hold a lock so that two test runs sharing the checkout never build the environment at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no concurrent runs to guard against in CI
        yield
        return
    name = hashlib.sha256(str(location).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"trubrics-otel-legacy-{name}.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
