"""Events and LLM events sent directly with `TrubricsClient`, no telemetry library in between.

Run it with `python examples/send_events.py`.
"""

from trubrics_otel import Event, LLMEvent, TrubricsClient

import _local

with _local.trubrics() as server:
    client = TrubricsClient()  # TRUBRICS_API_KEY and TRUBRICS_HOST from the environment
    result = client.send(
        [
            Event("user-42", "Sign up", properties={"plan": "pro"}),
            LLMEvent(
                "user-42",
                "gpt-4o",
                "Tell me a joke about logs",
                "I would, but it lacks context.",
                latency=1.2,
                thread_id="jokes-1",
            ),
        ]
    )
    # send() never raises: it says what became of the records
    print(f"sent {result.sent}, dropped {result.dropped}, failed {result.failed} {result.problem}".strip())
    client.shutdown()
    _local.show(server)
