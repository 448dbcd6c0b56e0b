"""The `trubrics-otel` command: `demo`, `check`, `events`, `serve` and `fake-llm`.

`main` is the console script's entry. The private modules hold the work: `_check` (the delivery test and
its exit codes), `_doctor` (what the set-up looks like), `_events` (the server's listings), `_output`
(tables). `_check` and `_output` import nothing of the commands, so the demo uses them too; the commands
import the demo, the server and the fakes only when they run.
"""

from trubrics_otel.cli._main import main

__all__ = ["main"]
