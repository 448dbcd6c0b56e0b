"""Zero-code: `OTEL_TRACES_EXPORTER=trubrics opentelemetry-instrument python app.py`, env only.

The README's "Zero-code" commands are run as written, in an environment holding exactly what an install
line of the README would install: a new virtual environment whose site-packages shows the distributions
that pip would pick for those requirements (found in this environment, which holds the dev extra, so no
network is needed) and only those. `opentelemetry-instrument` finds distros, configurators, exporters and
instrumentors through the entry points of the installed distributions, so it sees what a user's install
would give it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from processes import clean_environment, run_clean

from trubrics_otel.demo.fake_openai import FakeOpenAI
from trubrics_otel.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).parent / "apps" / "zero_code_app.py"
EXAMPLE_APP = ROOT / "examples" / "zero_code_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
PROJECT = "trubrics-otel"
APP_REQUIREMENTS = ["openai"]  # what the user's app (the example app) installed for itself
PLACEHOLDER = "[content not recorded]"
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# the calls examples/zero_code_app.py makes: (user, thread, prompt); the fake model answers "Echo: <prompt>"
CHATS = [
    ("ada", "thread-ada-1", "What is OpenTelemetry?"),
    ("ada", "thread-ada-1", "How does Trubrics use it?"),
    ("grace", "thread-grace-1", "Which sign-up step loses most users?"),
]


def test_opentelemetry_instrument_sends_llm_events(server: LocalServer, api_key: str) -> None:
    """The entry point is found, configured from TRUBRICS_* alone, and delivers every call once."""
    with FakeOpenAI() as model:
        env = {
            **clean_environment(),
            "OTEL_TRACES_EXPORTER": "trubrics",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
            "TRUBRICS_API_KEY": api_key,
            "TRUBRICS_HOST": server.url,
            "FAKE_OPENAI_BASE_URL": model.base_url,
        }
        done = subprocess.run(
            [str(INSTRUMENT), sys.executable, str(APP)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert done.returncode == 0, done.stderr
    events = server.llm_events()
    assert len(events) == 122
    assert all(r.item_count is not None and r.item_count <= 100 for r in server.requests)
    assert {(e["user_id"], e["properties"]["$thread_id"]) for e in events} == {("zero-user", "zero-thread")}
    assert {e["properties"]["service_name"] for e in events} == {"zero-code-app"}
    real = [e for e in events if e["assistant_id"] == "gpt-4o-2024-08-06"]
    assert [(e["prompt"], e["generation"]) for e in real] == [
        ("First question", "Echo: First question"),
        ("Second question", "Echo: Second question"),
    ]
    assert "Traceback" not in done.stderr


# --- the README's commands, as written ----------------------------------------------------------------


def readme_section(title: str) -> str:
    """The text of the README section headed `## <title>`, up to the next section."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def shell_blocks(section: str) -> list[list[str]]:
    """The `sh` code blocks of a section, each as its commands: continuations joined, blank lines dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [[line for line in block.replace("\\\n", " ").splitlines() if line.strip()] for block in blocks]


def pip_requirements(command: str) -> list[str]:
    """The requirements a `pip install` command names, with the clone itself (`.`) as this project."""
    for part in command.split("&&"):
        words = shlex.split(part, comments=True)
        if len(words) > 2 and words[0].endswith("pip") and words[1] == "install":
            arguments = [word for word in words[2:] if not word.startswith("-")]
            return [PROJECT + word[1:] if word.startswith(".") else word for word in arguments]
    raise AssertionError(f"no pip install in {command!r}")


def zero_code_commands() -> tuple[list[str], str]:
    """The README's zero-code block: the requirements its install line names, and the rest as a script."""
    (block, *_) = shell_blocks(readme_section("Zero-code"))
    installs = [line for line in block if re.match(r"\s*pip install ", line)]
    assert len(installs) == 1, "the zero-code block starts with one pip install line"
    return pip_requirements(installs[0]), "\n".join(line for line in block if line not in installs)


def fresh_clone_requirements() -> list[str]:
    """What "Try it"'s set-up line installs: the demo, which a fresh clone then runs zero-code with."""
    lines = [line for block in shell_blocks(readme_section("Try it")) for line in block]
    (demo,) = [line for line in lines if "trubrics-otel demo" in line]
    return pip_requirements(demo)


def resolve(requirements: list[str]) -> dict[str, set[str]]:
    """Name every distribution pip would install for the requirements, with the extras asked of each.

    Every distribution must be installed here (the dev extra holds all the README installs); the
    versions are this environment's.
    """
    chosen: dict[str, set[str]] = {}
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is not installed by the dev extra") from None
        known = chosen.get(name)
        if known is not None and set(requirement.extras) <= known:
            continue
        extras = chosen[name] = (known or set()) | set(requirement.extras)
        for text in distribution.requires or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in {"", *extras}):
                pending.append(needed)
    return chosen


def installed_like(requirements: list[str], target: Path) -> Path:
    """Make a virtual environment holding exactly the distributions of `requirements`; return its bin.

    Its site-packages links to the files this environment's distributions list in their RECORD, for the
    chosen distributions only; its bin holds their console scripts.
    """
    chosen = resolve(requirements)
    venv.EnvBuilder(symlinks=True).create(target)
    (site,) = target.glob("lib/python*/site-packages")
    for name in chosen:
        distribution = metadata.distribution(name)
        root = Path(str(distribution.locate_file("")))
        for file in distribution.files or []:
            source, destination = root / file, site / file
            if file.parts[0] != ".." and source.is_file() and not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.symlink_to(source)
    python = target / "bin" / "python"
    for name in chosen:
        for entry_point in metadata.distribution(name).entry_points.select(group="console_scripts"):
            module, _, function = entry_point.value.partition(":")
            script = target / "bin" / entry_point.name
            script.write_text(
                f"#!{python}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
            )
            script.chmod(0o755)
    return target / "bin"


@pytest.fixture
def any_key_server() -> Iterator[LocalServer]:
    """A local server that accepts any key, as `trubrics-otel serve` does, since the README's is `...`."""
    with LocalServer() as running:
        yield running


def run_readme_script(
    script: str, bin_dir: Path, server: LocalServer, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the script with bash in `cwd`, app.py being the example app, against the server and a fake."""
    shutil.copy(EXAMPLE_APP, cwd / "app.py")
    unrelated = ("OTEL_", "TRUBRICS_", "OPENAI_", "ANTHROPIC_", "TRACELOOP_", "OPENINFERENCE_", "PYTHON")
    with FakeOpenAI() as model:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(unrelated)},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "TRUBRICS_HOST": server.url,  # where a user trying it locally points it
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "fake",
        }
        return subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def prompts_and_generations(server: LocalServer) -> list[tuple[Any, ...]]:
    return [
        (e["user_id"], e["properties"].get("$thread_id"), e["prompt"], e["generation"])
        for e in server.llm_events()
    ]


EXPECTED = [(user, thread, prompt, f"Echo: {prompt}") for user, thread, prompt in CHATS]


@pytest.mark.parametrize("installed", ["fresh clone", "install line"])
def test_the_readme_zero_code_commands_store_real_prompts_and_generations(
    installed: str, any_key_server: LocalServer, tmp_path: Path
) -> None:
    """The README's zero-code commands store real text, after "Try it"'s set-up or their own install line."""
    requirements, script = zero_code_commands()
    if installed == "fresh clone":
        requirements = fresh_clone_requirements()
    bin_dir = installed_like(requirements + APP_REQUIREMENTS, tmp_path / "venv")

    done = run_readme_script(script, bin_dir, any_key_server, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert prompts_and_generations(any_key_server) == EXPECTED
    assert {e["event"] for e in any_key_server.events()} == {"trubrics-otel check"}
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT"])
def test_openai_v2_content_in_log_records_is_joined_to_its_span(
    mode: str, any_key_server: LocalServer, tmp_path: Path
) -> None:
    """The README's other openai-v2 modes, whose text travels in a log record, store real text too."""
    requirements, script = zero_code_commands()
    assert f"{CAPTURE}=SPAN_ONLY" in script
    bin_dir = installed_like(requirements + APP_REQUIREMENTS, tmp_path / "venv")

    done = run_readme_script(
        script.replace(f"{CAPTURE}=SPAN_ONLY", f"{CAPTURE}={mode}"), bin_dir, any_key_server, tmp_path
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert prompts_and_generations(any_key_server) == EXPECTED


def test_openai_v2_rejects_true_and_records_no_text(any_key_server: LocalServer, tmp_path: Path) -> None:
    """As the README warns, openai-v2 2.4b0 takes `true` for no content: placeholders, and a warning."""
    requirements, script = zero_code_commands()
    bin_dir = installed_like(requirements + APP_REQUIREMENTS, tmp_path / "venv")

    done = run_readme_script(
        script.replace(f"{CAPTURE}=SPAN_ONLY", f"{CAPTURE}=true"), bin_dir, any_key_server, tmp_path
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert {(e["prompt"], e["generation"]) for e in any_key_server.llm_events()} == {
        (PLACEHOLDER, PLACEHOLDER)
    }
    assert "true is not a valid option" in done.stderr


def test_a_malformed_host_is_named_by_check_and_leaves_the_app_running_untraced(
    any_key_server: LocalServer, tmp_path: Path
) -> None:
    """`trubrics-otel check` stops the README's commands naming the bad host; the app alone runs untraced."""
    requirements, script = zero_code_commands()
    bin_dir = installed_like(requirements + APP_REQUIREMENTS, tmp_path / "venv")
    bad = "export TRUBRICS_HOST=127.0.0.1:8765\n"

    checked = run_readme_script(bad + script, bin_dir, any_key_server, tmp_path)
    unchecked = run_readme_script(
        bad + script.replace("trubrics-otel check\n", ""), bin_dir, any_key_server, tmp_path
    )

    assert checked.returncode == 1
    assert "TRUBRICS_HOST='127.0.0.1:8765'" in checked.stderr
    assert "What is OpenTelemetry?" not in checked.stdout
    assert unchecked.returncode == 0, unchecked.stderr
    assert "-> Echo: What is OpenTelemetry?" in unchecked.stdout
    assert "Failed to auto initialize OpenTelemetry" in unchecked.stderr
    assert "TRUBRICS_HOST='127.0.0.1:8765'" in unchecked.stderr
    assert any_key_server.requests == []


def test_the_longer_doc_shows_the_readme_commands() -> None:
    """docs/zero-code.md repeats the README's install line and commands word for word."""
    (block, *_) = shell_blocks(readme_section("Zero-code"))
    doc = (ROOT / "docs" / "zero-code.md").read_text()

    assert [line for line in block if f"\n{line}\n" not in doc] == []


def test_the_providers_force_flush_sends_held_calls_under_zero_code(
    server: LocalServer, api_key: str
) -> None:
    """Under opentelemetry-instrument too, force_flush() sends a call the exporter holds for its content."""
    done = run_clean(
        [str(INSTRUMENT), sys.executable, str(APP.parent / "flush_app.py")],
        OTEL_TRACES_EXPORTER="trubrics",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        TRUBRICS_API_KEY=api_key,
        TRUBRICS_HOST=server.url,
        TRUBRICS_CONTENT_WAIT="60",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
