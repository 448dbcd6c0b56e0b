"""`python -m trubrics_otel.cli`, the same as the `trubrics-otel` command."""

from trubrics_otel.cli._main import main

raise SystemExit(main())
