"""Record what each LLM stack really emits, against the local fake model endpoints.

    python tests/record/record.py                 # every stack
    python tests/record/record.py anthropic-sdk   # one or more stacks by name

Each stack is a script `tests/record/stacks/<stack>.py` and a pinned requirements file
`tests/record/requirements/<stack>.txt`. The requirements, with this package editable, are installed
once into `.venv-record/<stack>` (rebuilt when the requirements change); the script runs there, calls the
real client library with the real instrumentation against `trubrics_otel.demo`'s fake endpoints, and
writes `tests/data/captures/<stack>-<case>.json`. The replay tests (`tests/mapping/test_stacks.py`) then
assert the exact events each capture becomes.

Re-run it when an instrumentation releases: bump the pins, record, and read the replay tests' failures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))

from legacy_env import built_environment  # noqa: E402


def stacks() -> list[str]:
    """Every stack that has both a script and a requirements file."""
    return sorted(
        path.stem
        for path in (HERE / "stacks").glob("*.py")
        if not path.stem.startswith("_") and (HERE / "requirements" / f"{path.stem}.txt").exists()
    )


def record(stack: str) -> int:
    """Build the stack's environment if needed and run its script; return the script's exit code."""
    environment = built_environment(HERE / "requirements" / f"{stack}.txt", REPO / ".venv-record" / stack)
    print(f"== {stack}", file=sys.stderr)
    done = subprocess.run(
        [str(environment.python), str(HERE / "stacks" / f"{stack}.py")], cwd=REPO, check=False
    )
    return done.returncode


def main(argv: list[str]) -> int:
    chosen = argv or stacks()
    unknown = sorted(set(chosen) - set(stacks()))
    if unknown:
        print(f"unknown stack(s): {', '.join(unknown)}; known: {', '.join(stacks())}", file=sys.stderr)
        return 2
    failed = [stack for stack in chosen if record(stack) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
