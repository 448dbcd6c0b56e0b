"""The local Trubrics-compatible ingestion server, for tests, the demo and users without an account.

`LocalServer` answers `POST .../publish_events` and `POST .../publish_llm_events` with the production
API's checks and status codes, stores what it accepts in SQLite, and can stage faults (error statuses,
`Retry-After`, slow answers, dropped connections) in front of them:

    with LocalServer(api_keys={"test-key"}) as server:
        server.faults.script(Fault(status=503, retry_after="1"))
        ...  # point TRUBRICS_HOST at server.url
        server.events()  # what was accepted, exactly as sent

`serve_forever`, behind `trubrics-otel serve`, runs one until Ctrl-C or SIGTERM, writing a line per
request on standard error (`LocalServer(log_to=...)`; silent by default) and a summary when it stops. A
taken port raises `PortInUseError` with a message that says what to do.

HTTP endpoints; the API's are served at the root and under the production base path `/api/ingestion`
(`/publish_events` and `/api/ingestion/publish_events` alike), the server's own controls at the root only.
Any other path is a 404 whose `detail` names the paths there are, or the `TRUBRICS_HOST` to set when the
path ends in an endpoint after a prefix production does not have (`/publish_events/publish_events`):

| method | path | answer |
|---|---|---|
| POST | `/publish_events`, `/publish_llm_events` | 200, 401, 413, 422 as the API; staged faults first |
| GET | `/events`, `/llm_events` | the stored items, newest first; a key only if reads need one (below) |
| GET | `/health` | `{"status": "ok"}` |
| GET, POST, DELETE | `/_trubrics/faults` | show, add to (`{"script": [...], "fail_rate": 0.1}`), clear |
| GET | `/` | the inspector page: what the server received, live, for a browser |
| GET | `/_trubrics/summary` | the page's counts, per-assistant latency and tokens, items received twice |
| GET | `/_trubrics/requests` | the latest requests (`?refused=true`: the refused ones), with the reasons |

A listing is filtered by the query parameters `user_id`, `thread_id`, `event` (`/events`) or
`assistant_id` (`/llm_events`), and `limit` (the latest so many). With `after=N` it lists only the items
whose arrival number is greater than N, oldest first (`limit` then keeps the earliest). Every listing
carries the header `X-Trubrics-Cursor`: the highest arrival number stored for its kind (0 when none is),
or, when `limit` cut an `after` listing short, that of its last item. A follower reads `?limit=0` for
the cursor of "now", then asks `?after=<cursor>` with each answer's cursor, and misses nothing.
`LocalServer.events()` and `llm_events()` list in arrival order, the oldest first. The page's own reads
(its files, its data, and the listings it asks for with the `X-Trubrics-Inspector` header) write no
request line and are not in `LocalServer.requests`.

Every POST must be `Content-Type: application/json` (415 otherwise), so that a web page cannot post to
it unasked. Listening on loopback, it answers only requests that name a loopback host (`Host:
localhost`, `127.x.x.x`, `[::1]`; 421 otherwise), so that a web page cannot reach it under its own name
(DNS rebinding). With `api_keys`, a server listening beyond loopback (`--host 0.0.0.0`) needs a valid key
on every endpoint but the page's files and `/health` (`key_for_reads` asks it on loopback too); without
keys every endpoint is open. A `limit` or `after` over 2**53 is a 422. At most `max_connections`
connections are served at once (one more is answered 503 with `Retry-After`), and at most `max_items`
items of each kind are kept (the oldest are dropped first, and counted).

An item whose `properties["$idempotency_key"]` names one of its kind already stored is acknowledged (200)
but not stored again, and counted as a duplicate; an item without the key is stored at every copy.

The server uses the standard library only. It never forwards anything to Trubrics, and it is meant for
localhost and trusted networks: it has no TLS.
"""

from trubrics_otel.server._faults import Fault, FaultInjector
from trubrics_otel.server._reading import MAX_BODY_BYTES
from trubrics_otel.server._request_log import ReceivedRequest
from trubrics_otel.server._serve import DEFAULT_PORT, serve_forever
from trubrics_otel.server._server import LocalServer, PortInUseError
from trubrics_otel.server._store import StoreClosedError

__all__ = [
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "Fault",
    "FaultInjector",
    "LocalServer",
    "PortInUseError",
    "ReceivedRequest",
    "StoreClosedError",
    "serve_forever",
]
