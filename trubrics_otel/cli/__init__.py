"""The `trubrics-otel` command: `demo`, `check`, `events`, `serve` and `fake-llm`.

`main` is the console script's entry (`_main`: the parser; `_commands`: each command's glue). The
private modules hold the work: `_doctor` (what the set-up looks like: `_installed`, `_capture`),
`_events` (the server's listings). The delivery test and its exit codes (`trubrics_otel._check`) and
the tables (`trubrics_otel._table`) live outside the command line, because the demo uses them too: the
demo never imports the commands, and the commands import the demo, the server and the fakes only when
they run.
"""

from trubrics_otel.cli._main import main

__all__ = ["main"]
