"""Real Python senders: the SDK's OTLP/HTTP exporters, from several processes, in protobuf, gzip and JSON.

Each sender also exports the very same spans and log records through this package's own exporters to a
second server: what the gateway stores must equal what the in-process path stores, field for field.
"""

from __future__ import annotations

import subprocess

from tests.processes import clean_environment
from trubrics_otel.gateway import RunningGateway
from trubrics_otel.server import LocalServer

from .conftest import by_span, sender_command, wait_for


def test_senders_in_three_processes_store_what_the_in_process_exporters_store(
    gateway: RunningGateway, server: LocalServer, api_key: str, tmp_path: object
) -> None:
    """Protobuf, gzip and JSON senders at once: every call one complete event, equal to the in-process one."""
    with LocalServer(api_keys={"direct-key"}) as direct:
        environment = clean_environment(
            TRUBRICS_HOST=direct.url, TRUBRICS_API_KEY="direct-key", TRUBRICS_SPOOL_DIR=f"{tmp_path}/spool"
        )
        variants = {"ada": ["--encoding", "protobuf"], "bo": ["--gzip"], "cy": ["--encoding", "json"]}
        senders = [
            subprocess.Popen(
                sender_command(
                    "--spans",
                    f"{gateway.url}/v1/traces",
                    "--logs",
                    f"{gateway.url}/v1/logs",
                    "--user",
                    user,
                    "--calls",
                    "3",
                    "--in-process",
                    *extra,
                ),
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for user, extra in variants.items()
        ]
        for sender in senders:
            out, err = sender.communicate(timeout=60)
            assert sender.returncode == 0, err
            assert out.strip() == "accepted 9", (out, err)  # 3 spans and 6 log records, each answered 200
        wait_for(lambda: len(server.llm_events()) >= 9 and len(direct.llm_events()) >= 9)
        through_gateway = by_span(server.llm_events())
        in_process = by_span(direct.llm_events())
    assert len(through_gateway) == 9
    assert through_gateway == in_process
    assert {event["user_id"] for event in through_gateway} == {"ada", "bo", "cy"}
    assert all(event["generation"] == f"Echo: {event['prompt']}" for event in through_gateway)
    assert gateway.app.projects.totals().sent == 9
