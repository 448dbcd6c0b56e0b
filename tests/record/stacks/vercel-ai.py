"""The Vercel AI SDK (Node): `generateText`, `streamText`, a tool call and a conversation, with telemetry on.

The recording itself is `tests/record/vercel/record.mjs`, run by Node with the pinned packages of
`tests/record/vercel/package.json` (installed by `npm ci` when `node_modules` is missing or older than the
lock file). This script starts the fake OpenAI endpoint for it and passes it the scenario every stack
shares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _capture import CHAT, STREAM, SYSTEM, THREAD_ID, TOOL, TURNS, USER_ID, WEATHER_TOOL

from trubrics_otel.demo.fake_openai import FakeOpenAI

VERCEL = Path(__file__).resolve().parents[1] / "vercel"
SCENARIO = {
    "USER_ID": USER_ID,
    "THREAD_ID": THREAD_ID,
    "SYSTEM": SYSTEM,
    "CHAT": CHAT,
    "STREAM": STREAM,
    "TOOL": TOOL,
    "TURNS": list(TURNS),
    "WEATHER_TOOL": WEATHER_TOOL,
}


def installed() -> bool:
    """Whether `node_modules` was installed from the current lock file."""
    marker = VERCEL / "node_modules" / ".package-lock.json"
    lock = VERCEL / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def main() -> int:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        print("vercel-ai needs node and npm on PATH", file=sys.stderr)
        return 1
    if not installed():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=VERCEL, check=True)
    with FakeOpenAI(delay=0.01) as server:
        done = subprocess.run(
            [node, "record.mjs", server.base_url, json.dumps(SCENARIO)], cwd=VERCEL, check=False
        )
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
