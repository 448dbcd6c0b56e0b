"""The local ingestion server over real HTTP: the API's checks, storage, inspection, faults, lifecycle."""

from __future__ import annotations

import email.utils
import errno
import http.client
import io
import json
import math
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

import trubrics_otel.server
from trubrics_otel import ConfigurationError, Event, TrubricsClient
from trubrics_otel.server import MAX_BODY_BYTES, Fault, LocalServer, PortInUseError, serve_forever

TIMESTAMP = "2024-10-09T13:21:46.182000+00:00"


def event(i: int = 0, user: str = "u1", thread: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"i": i}
    if thread is not None:
        properties["$thread_id"] = thread
    return {"user_id": user, "event": f"Event {i}", "timestamp": TIMESTAMP, "properties": properties}


def llm_event(i: int = 0, user: str = "u1", thread: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"tokens": i}
    if thread is not None:
        properties["$thread_id"] = thread
    return {
        "user_id": user,
        "assistant_id": "gpt-4o",
        "prompt": f"prompt {i}",
        "generation": f"answer {i}",
        "timestamp": TIMESTAMP,
        "latency": 0.25,
        "properties": properties,
    }


def post(
    server: LocalServer,
    path: str,
    body: object,
    *,
    key: str | None = "test-key",
    timeout: float = 5,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-api-key"] = key
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.url}{path}", data=data, headers=headers, timeout=timeout)


def get(server: LocalServer, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}{path}", params=params, timeout=5)


def statuses(server: LocalServer) -> list[int | None]:
    return [r.status for r in server.requests]


# --- the public surface --------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    """The server package exports exactly its public names."""
    public = {name for name in vars(trubrics_otel.server) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(trubrics_otel.server, name)).__name__ == "module"}

    assert set(trubrics_otel.server.__all__) == public - modules
    assert len(set(trubrics_otel.server.__all__)) == len(trubrics_otel.server.__all__)


# --- accepting and listing ----------------------------------------------------------------------


def test_events_are_stored_and_listed_exactly_as_sent(server: LocalServer) -> None:
    """Accepted events come back exactly as sent, key order included; GET /events lists the newest first."""
    sent = [
        event(0),
        {
            "timestamp": "2024-10-09T13:21:46Z",
            "event": "Sign up ✓",
            "user_id": "ü-1",
            "properties": {"nested": {"a": [1, 2.5, None, True]}, "big": 2**62, "small": 0.1},
            "extra": "kept",
        },
    ]

    response = post(server, "/publish_events", sent)

    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    assert response.headers["Content-Type"] == "application/json"
    listed = get(server, "/events").json()
    assert listed == sent[::-1]
    assert [list(item) for item in listed] == [list(item) for item in sent[::-1]]
    assert server.events() == sent


def test_llm_events_are_stored_and_listed_exactly_as_sent(server: LocalServer) -> None:
    """Accepted LLM events, optional fields absent or null, come back exactly as sent, newest first."""
    minimal = {"user_id": "u2", "prompt": "hi", "generation": "hello", "latency": None}
    sent = [llm_event(0), minimal]

    assert post(server, "/publish_llm_events", sent).status_code == 200

    assert get(server, "/llm_events").json() == sent[::-1]
    assert server.llm_events() == sent
    assert server.events() == []


def test_the_production_base_path_is_accepted(server: LocalServer, api_key: str) -> None:
    """The production-like base URL .../api/ingestion works for the project's own client."""
    client = TrubricsClient(api_key, f"{server.url}/api/ingestion")
    sent = Event("u1", "Sign up", properties={"plan": "pro"}, thread_id="t1")

    assert client.send([sent]).sent == 1
    client.shutdown()

    assert server.events() == [sent.to_json()]
    assert server.requests[0].path == "/api/ingestion/publish_events"
    assert get(server, "/api/ingestion/events").json() == [sent.to_json()]


def test_an_empty_list_is_accepted(server: LocalServer) -> None:
    """An empty array is a valid request that stores nothing."""
    assert post(server, "/publish_events", []).status_code == 200
    assert server.events() == []
    assert server.requests[0].item_count == 0


def test_items_are_filtered_by_user_and_thread(server: LocalServer) -> None:
    """GET /events and events() filter by user_id and thread_id, alone or together."""
    sent = [event(0, "u1", "t1"), event(1, "u2", "t1"), event(2, "u1", "t2"), event(3, "u1")]
    post(server, "/publish_events", sent)
    post(server, "/publish_llm_events", [llm_event(0, "u1", "t1"), llm_event(1, "u2", "t2")])

    assert get(server, "/events", user_id="u1").json() == [sent[3], sent[2], sent[0]]
    assert get(server, "/events", thread_id="t1").json() == [sent[1], sent[0]]
    assert get(server, "/events", user_id="u1", thread_id="t2").json() == [sent[2]]
    assert get(server, "/events", user_id="nobody").json() == []
    assert server.events(user_id="u2") == [sent[1]]
    assert server.events(thread_id="t2") == [sent[2]]
    assert [e["user_id"] for e in server.llm_events(thread_id="t2")] == ["u2"]
    assert get(server, "/llm_events", user_id="u1").json() == [llm_event(0, "u1", "t1")]


def test_limit_over_http_keeps_the_latest_items_and_in_python_the_earliest(server: LocalServer) -> None:
    """GET /events?limit=2 lists the two latest items, newest first; events(limit=2) the first two."""
    post(server, "/publish_events", [event(0), event(1)])
    post(server, "/publish_events", [event(2)])
    post(server, "/publish_events", [event(3), event(4)])

    assert [e["event"] for e in get(server, "/events", limit="2").json()] == ["Event 4", "Event 3"]
    assert [e["event"] for e in get(server, "/events", limit="1").json()] == ["Event 4"]
    assert get(server, "/events", limit="0").json() == []
    assert [e["event"] for e in server.events(limit=2)] == ["Event 0", "Event 1"]


def test_events_are_filtered_by_event_and_llm_events_by_assistant_id(server: LocalServer) -> None:
    """GET /events takes event=, GET /llm_events takes assistant_id=, alongside the other filters."""
    post(server, "/publish_events", [event(0, "u1"), event(1, "u1"), event(0, "u2")])
    claude = {**llm_event(1), "assistant_id": "claude"}
    post(server, "/publish_llm_events", [llm_event(0), claude, llm_event(2, "u2")])

    assert get(server, "/events", event="Event 0").json() == [event(0, "u2"), event(0, "u1")]
    assert get(server, "/events", event="Event 0", user_id="u1").json() == [event(0, "u1")]
    assert get(server, "/llm_events", assistant_id="claude").json() == [claude]
    assert get(server, "/llm_events", assistant_id="gpt-4o", user_id="u1").json() == [llm_event(0)]


@pytest.mark.parametrize(
    ("path", "given", "meant"),
    [("/events", "assistant_id", "event"), ("/llm_events", "event", "assistant_id")],
)
def test_the_other_listings_filter_is_422(server: LocalServer, path: str, given: str, meant: str) -> None:
    """A filter of the other listing's is refused, naming the filter to use, rather than filtering nothing."""
    post(server, "/publish_events", [event()])

    response = get(server, path, **{given: "x"})

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", given]
    assert f"filter {path} by {meant}" in problem["msg"]


def test_after_lists_what_arrived_since_oldest_first(server: LocalServer) -> None:
    """Every listing carries the cursor; after=<cursor> lists only what arrived since, oldest first."""
    post(server, "/publish_events", [event(0), event(1), event(2)])
    start = get(server, "/events", limit="0")
    post(server, "/publish_events", [event(3)])
    post(server, "/publish_events", [event(4)])

    since = get(server, "/events", after=start.headers["X-Trubrics-Cursor"])
    then = get(server, "/events", after=since.headers["X-Trubrics-Cursor"])

    assert start.headers["X-Trubrics-Cursor"] == "3"
    assert since.json() == [event(3), event(4)]
    assert since.headers["X-Trubrics-Cursor"] == "5"
    assert (then.json(), then.headers["X-Trubrics-Cursor"]) == ([], "5")


def test_the_cursor_is_per_kind_and_zero_when_empty(server: LocalServer) -> None:
    """Each kind counts its own arrivals; an empty one answers cursor 0, filtered or not."""
    post(server, "/publish_events", [event(0), event(1)])

    assert get(server, "/llm_events").headers["X-Trubrics-Cursor"] == "0"
    assert get(server, "/events", user_id="nobody").headers["X-Trubrics-Cursor"] == "2"
    post(server, "/publish_llm_events", [llm_event()])
    assert get(server, "/llm_events", after="0").headers["X-Trubrics-Cursor"] == "1"


def test_a_follower_with_a_limit_continues_where_it_stopped(server: LocalServer) -> None:
    """after= with limit= lists the earliest items since, and its cursor is the last one listed."""
    post(server, "/publish_events", [event(i) for i in range(5)])
    pages: list[list[str]] = []
    cursor = "0"
    for _ in range(4):
        page = get(server, "/events", after=cursor, limit="2")
        pages.append([e["event"] for e in page.json()])
        cursor = page.headers["X-Trubrics-Cursor"]

    assert pages == [["Event 0", "Event 1"], ["Event 2", "Event 3"], ["Event 4"], []]
    assert cursor == "5"


def test_a_filtered_follower_misses_nothing(server: LocalServer) -> None:
    """A follower of one user continues from the highest arrival of every user and sees only its own."""
    post(server, "/publish_events", [event(0, "u1"), event(1, "u2")])
    first = get(server, "/events", user_id="u1", after="0")
    post(server, "/publish_events", [event(2, "u2"), event(3, "u1")])
    second = get(server, "/events", user_id="u1", after=first.headers["X-Trubrics-Cursor"])

    assert first.json() == [event(0, "u1")]
    assert first.headers["X-Trubrics-Cursor"] == "2"
    assert second.json() == [event(3, "u1")]


def test_arrival_numbers_keep_rising_after_clear(server: LocalServer) -> None:
    """clear() empties the listings, and what arrives next is still after the old cursor."""
    post(server, "/publish_events", [event(0), event(1)])
    server.clear()
    emptied = get(server, "/events")
    post(server, "/publish_events", [event(2)])

    assert (emptied.json(), emptied.headers["X-Trubrics-Cursor"]) == ([], "0")
    assert get(server, "/events", after="2").json() == [event(2)]


@pytest.mark.parametrize("name", ["limit", "after"])
@pytest.mark.parametrize(("value", "kind"), [("ten", "int_parsing"), ("-1", "greater_than_equal")])
def test_a_bad_limit_or_after_is_refused(server: LocalServer, name: str, value: str, kind: str) -> None:
    """A limit or after that is not a non-negative integer is a 422 naming the query parameter."""
    response = get(server, "/llm_events", **{name: value})

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["query", name], kind)


def test_health(server: LocalServer) -> None:
    """GET /health answers ok without a key, and HEAD answers the same without a body."""
    assert get(server, "/health").json() == {"status": "ok"}

    head = requests.head(f"{server.url}/health", timeout=5)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(b'{"status": "ok"}'))


# --- the key ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, ""])
def test_a_missing_key_is_401(server: LocalServer, key: str | None) -> None:
    """No x-api-key header, or an empty one, is refused with 401 and nothing is stored."""
    response = post(server, "/publish_events", [event()], key=key)

    assert response.status_code == 401
    assert "missing" in response.json()["detail"]
    assert server.events() == []
    assert not server.requests[0].has_key


def test_a_wrong_key_is_401_and_never_echoed(server: LocalServer) -> None:
    """A key not in the server's set is refused, and appears neither in the answer nor in the log."""
    secret = "sk-wrong-0123456789"

    response = post(server, "/publish_events", [event()], key=secret)

    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]
    assert secret not in response.text
    (request,) = server.requests
    assert request.has_key
    assert request.headers["x-api-key"] == "<redacted>"
    assert secret not in repr(server.requests)
    assert server.events() == []


def test_any_non_empty_key_is_accepted_without_a_key_set() -> None:
    """A server started without api_keys takes any non-empty key, and still refuses none."""
    with LocalServer() as server:
        assert post(server, "/publish_events", [event()], key="anything").status_code == 200
        assert post(server, "/publish_events", [event()], key=None).status_code == 401


# --- refusals -----------------------------------------------------------------------------------


def test_a_body_over_5_mib_is_413_and_the_connection_survives(server: LocalServer) -> None:
    """A body one byte over 5 MiB is refused with 413, after which the same connection still works."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    body = b"[" + b" " * (MAX_BODY_BYTES - 1) + b"]"
    headers = {"x-api-key": "test-key", "Content-Type": "application/json"}
    connection.request("POST", "/publish_events", body=body, headers=headers)
    first = connection.getresponse()
    first.read()
    connection.request("GET", "/health")
    second = connection.getresponse()

    assert first.status == 413
    assert second.status == 200
    assert json.loads(second.read()) == {"status": "ok"}
    connection.close()


def test_invalid_json_is_422_with_its_position(server: LocalServer) -> None:
    """A body that is not JSON is answered with FastAPI's json_invalid detail, naming the position."""
    response = post(server, "/publish_events", '[{"user_id": "u1",')

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", 18], "msg": "JSON decode error", "type": "json_invalid"}]
    }


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_not_json(server: LocalServer, constant: str) -> None:
    """NaN and Infinity, which JSON does not have, are refused as invalid JSON."""
    item = f'{{"user_id": "u", "event": "e", "timestamp": "{TIMESTAMP}", "properties": {{"x": {constant}}}}}'
    body = f"[{item}]"

    response = post(server, "/publish_events", body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert server.events() == []


def test_an_empty_body_is_422(server: LocalServer) -> None:
    """A request without a body is refused like FastAPI's missing body."""
    response = post(server, "/publish_events", b"")

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]}


def test_a_body_that_is_not_a_list_is_422(server: LocalServer) -> None:
    """A single object instead of an array is refused as a whole."""
    response = post(server, "/publish_events", event())

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body"], "msg": "Input should be a valid list", "type": "list_type"}
    ]
    assert server.requests[0].item_count is None


def test_101_items_are_422_too_long(server: LocalServer) -> None:
    """More than 100 items in one request are refused as too_long, and none is stored."""
    response = post(server, "/publish_events", [event(i) for i in range(101)])

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body"], "too_long")
    assert server.events() == []
    assert server.requests[0].item_count == 101


@pytest.mark.parametrize(
    ("path", "make", "field"),
    [
        ("/publish_events", event, "user_id"),
        ("/publish_events", event, "event"),
        ("/publish_events", event, "timestamp"),
        ("/publish_llm_events", llm_event, "user_id"),
        ("/publish_llm_events", llm_event, "prompt"),
        ("/publish_llm_events", llm_event, "generation"),
    ],
)
def test_each_required_field_missing_is_422(server: LocalServer, path: str, make: Any, field: str) -> None:
    """An item without a required field refuses the whole request, naming the item's index and field."""
    broken = make(1)
    del broken[field]

    response = post(server, path, [make(0), broken])

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", 1, field], "msg": "Field required", "type": "missing"}
    ]
    assert server.events() == []
    assert server.llm_events() == []


@pytest.mark.parametrize(
    ("path", "make", "field", "value", "kind"),
    [
        ("/publish_events", event, "user_id", 42, "string_type"),
        ("/publish_events", event, "event", None, "string_type"),
        ("/publish_events", event, "timestamp", "yesterday", "datetime_parsing"),
        ("/publish_events", event, "properties", ["a"], "dict_type"),
        ("/publish_llm_events", llm_event, "user_id", 42, "string_type"),
        ("/publish_llm_events", llm_event, "assistant_id", 3, "string_type"),
        ("/publish_llm_events", llm_event, "prompt", ["hi"], "string_type"),
        ("/publish_llm_events", llm_event, "latency", True, "float_type"),
        ("/publish_llm_events", llm_event, "latency", "fast", "float_type"),
        ("/publish_llm_events", llm_event, "timestamp", "not a date", "datetime_parsing"),
        ("/publish_llm_events", llm_event, "properties", [], "dict_type"),
    ],
)
def test_each_wrong_type_is_422(
    server: LocalServer, path: str, make: Any, field: str, value: object, kind: str
) -> None:
    """A field of the wrong type refuses the whole request, naming the item's index and field."""
    broken = {**make(2), field: value}

    response = post(server, path, [make(0), make(1), broken])

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", 2, field], kind)
    assert server.events() == []
    assert server.llm_events() == []


def test_every_problem_of_every_item_is_listed(server: LocalServer) -> None:
    """The 422 lists each invalid field of each invalid item, as FastAPI does."""
    response = post(server, "/publish_events", [{"event": 1}, event(1), "text"])

    assert [problem["loc"] for problem in response.json()["detail"]] == [
        ["body", 0, "user_id"],
        ["body", 0, "event"],
        ["body", 0, "timestamp"],
        ["body", 2],
    ]


def test_an_unknown_path_is_404_naming_the_paths(server: LocalServer) -> None:
    """A path the API does not have is a JSON 404 whose detail lists the paths there are."""
    response = post(server, "/publish_everything", [])

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No such path: /publish_everything. The paths are /publish_events, /publish_llm_events, "
        "/events, /llm_events and /health, at the root or under /api/ingestion, and /_trubrics/faults "
        "at the root; the inspector page is / (open it in a browser)."
    }


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/publish_events/publish_events", ""),
        ("/publish_llm_events/publish_llm_events", ""),
        ("/api/ingestion/publish_events/publish_events", "/api/ingestion"),
    ],
)
def test_a_base_url_that_includes_the_endpoint_is_404_naming_the_base_url(
    server: LocalServer, path: str, base: str
) -> None:
    """A host set to an endpoint's URL, which production would refuse, is a 404 naming the host to set."""
    response = post(server, path, [event()])

    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"No such path: {path}. The host's base URL must not include the endpoint, which the client "
        f"appends: set TRUBRICS_HOST to {server.url}{base}."
    )
    assert server.events() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/publish_events"), ("GET", "/ingestion/events"), ("GET", "/api/ingestion/x/health")],
)
def test_an_unknown_prefix_is_404_naming_the_base_urls(server: LocalServer, method: str, path: str) -> None:
    """An API path under a prefix production does not have is a 404 naming the two base URLs there are."""
    response = requests.request(method, f"{server.url}{path}", json=[event()], timeout=5)

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith(
        f"No such path: {path}. This server answers /{path.rsplit('/', 1)[1]} at the root"
    )
    assert detail.endswith(f"set TRUBRICS_HOST to {server.url} (or {server.url}/api/ingestion).")
    assert server.events() == []


@pytest.mark.parametrize(
    "path", ["/publish_events/", "/api/ingestion//publish_events", "/api/ingestion/publish_events/"]
)
def test_an_extra_slash_is_404_naming_the_path_meant(server: LocalServer, path: str) -> None:
    """A trailing or doubled slash is not the API's path: the 404 names the one meant."""
    response = post(server, path, [event()])

    assert response.status_code == 404
    assert f"Did you mean {path.rstrip('/').replace('//', '/')}?" in response.json()["detail"]
    assert server.events() == []


def test_the_faults_are_staged_at_the_root_only(server: LocalServer) -> None:
    """/_trubrics/faults under the ingestion base path is a 404 naming the root URL, and stages nothing."""
    response = requests.post(f"{server.url}/api/ingestion/_trubrics/faults", json={"fail_rate": 1}, timeout=5)

    assert response.status_code == 404
    assert response.json()["detail"].endswith(f"at the root only: {server.url}/_trubrics/faults.")
    assert server.faults.fail_rate == 0.0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/publish_events", "POST"), ("POST", "/events", "GET"), ("DELETE", "/health", "GET")],
)
def test_a_wrong_method_is_405(server: LocalServer, method: str, path: str, allowed: str) -> None:
    """A known path with the wrong method is a JSON 405 naming the allowed method."""
    response = requests.request(method, f"{server.url}{path}", timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}


def test_a_chunked_body_is_refused_with_411(server: LocalServer) -> None:
    """A body without a Content-Length is refused in JSON, and the connection is closed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request(
        "POST", "/publish_events", body=iter([b"[]"]), headers={"x-api-key": "test-key"}, encode_chunked=True
    )
    response = connection.getresponse()

    assert response.status == 411
    assert response.getheader("Connection") == "close"
    assert "Content-Length" in json.loads(response.read())["detail"]
    connection.close()


def test_an_unknown_method_is_answered_in_json(server: LocalServer) -> None:
    """A method HTTP servers do not know is a JSON 501, not the standard library's HTML page."""
    response = requests.request("BREW", f"{server.url}/publish_events", timeout=5)

    assert response.status_code == 501
    assert response.headers["Content-Type"] == "application/json"
    assert "BREW" in response.json()["detail"]


# --- connections --------------------------------------------------------------------------------


def test_keep_alive_carries_several_requests(server: LocalServer) -> None:
    """One HTTP/1.1 connection carries a refused request and then an accepted one."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    headers = {"x-api-key": "test-key", "Content-Type": "application/json"}

    connection.request("POST", "/publish_events", body=b"[not json", headers=headers)
    first = connection.getresponse()
    first.read()
    sock = connection.sock
    connection.request("POST", "/publish_events", body=json.dumps([event()]), headers=headers)
    second = connection.getresponse()
    second.read()

    assert (first.status, second.status) == (422, 200)
    assert connection.sock is sock
    assert first.getheader("Connection") is None
    connection.close()


def test_concurrent_clients_store_every_item_exactly_once(server: LocalServer) -> None:
    """8 threads each posting 50 requests over their own connection lose and duplicate nothing."""
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        with requests.Session() as session:
            session.headers["x-api-key"] = "test-key"
            for n in range(50):
                item = event(n, user=f"w{worker}")
                response = session.post(f"{server.url}/publish_events", json=[item], timeout=5)
                if response.status_code != 200:
                    errors.append(AssertionError(response.text))

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stored = sorted((e["user_id"], e["properties"]["i"]) for e in server.events())
    assert stored == sorted((f"w{w}", n) for w in range(8) for n in range(50))
    assert len(server.requests) == 400


# --- the request log ----------------------------------------------------------------------------


def test_the_request_log_records_each_answer(server: LocalServer) -> None:
    """Each request is logged with its method, path, status, item count and redacted headers."""
    post(server, "/publish_events", [event(0), event(1)])
    post(server, "/publish_llm_events", [llm_event()], key=None)
    get(server, "/events")
    snapshot = server.requests

    assert [(r.method, r.path, r.status, r.item_count, r.has_key) for r in snapshot] == [
        ("POST", "/publish_events", 200, 2, True),
        ("POST", "/publish_llm_events", 401, 1, False),
        ("GET", "/events", 200, None, False),
    ]
    assert snapshot[0].headers["x-api-key"] == "<redacted>"
    assert snapshot[0].headers["content-type"] == "application/json"
    get(server, "/health")
    assert len(snapshot) == 3


def test_clear_forgets_items_and_requests_but_keeps_faults(server: LocalServer) -> None:
    """clear() empties the store and the log; staged faults stay staged."""
    post(server, "/publish_events", [event()])
    post(server, "/publish_llm_events", [llm_event()])
    server.faults.script(Fault(status=500))

    server.clear()

    assert (server.events(), server.llm_events(), server.requests) == ([], [], [])
    assert server.faults.pending == 1


# --- faults -------------------------------------------------------------------------------------


def test_scripted_faults_are_answered_in_order_then_normal_service(server: LocalServer) -> None:
    """Scripted faults answer one request each, status and Retry-After verbatim; then all is normal."""
    when = email.utils.format_datetime(email.utils.localtime(), usegmt=True)
    server.faults.script(Fault(status=503, retry_after="1"), Fault(status=429, retry_after=when), Fault(500))

    answers = [post(server, "/publish_events", [event(i)]) for i in range(4)]

    assert [a.status_code for a in answers] == [503, 429, 500, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["1", when, None, None]
    assert answers[0].headers["Content-Type"] == "application/json"
    assert server.events() == [event(3)]
    assert [r.item_count for r in server.requests] == [1, 1, 1, 1]


def test_a_fault_comes_before_the_key_check(server: LocalServer) -> None:
    """A staged fault stands for the infrastructure in front of the API: it answers even a keyless request."""
    server.faults.script(Fault(status=502))

    assert post(server, "/publish_events", [event()], key=None).status_code == 502
    assert post(server, "/publish_events", [event()], key=None).status_code == 401


def test_faults_apply_to_publish_requests_only(server: LocalServer) -> None:
    """Reading, health and fault control never consume a scripted fault."""
    server.faults.script(Fault(status=503))

    assert get(server, "/events").status_code == 200
    assert get(server, "/health").status_code == 200
    assert server.faults.pending == 1


def test_a_delayed_fault_makes_a_client_time_out(server: LocalServer) -> None:
    """A slow answer outlasts a short read timeout; the next request is served at once."""
    server.faults.script(Fault(status=200, delay=0.2))

    with pytest.raises(requests.ReadTimeout):
        post(server, "/publish_events", [event(0)], timeout=0.05)
    started = time.monotonic()
    assert post(server, "/publish_events", [event(1)]).status_code == 200
    assert time.monotonic() - started < 0.2


def test_a_delayed_error_waits_before_answering(server: LocalServer) -> None:
    """A delayed error status is answered after its delay."""
    server.faults.script(Fault(status=504, delay=0.1))
    started = time.monotonic()

    assert post(server, "/publish_events", [event()]).status_code == 504
    assert time.monotonic() - started >= 0.1


def test_a_slow_success_still_stores(server: LocalServer) -> None:
    """A 2xx fault only delays the request, which is then checked and stored as usual."""
    server.faults.script(Fault(status=200, delay=0.05), Fault(status=200))

    assert post(server, "/publish_events", [event()]).status_code == 200
    assert post(server, "/publish_events", [event()], key="wrong").status_code == 401
    assert len(server.events()) == 1


def test_a_dropped_connection_is_a_connection_error(server: LocalServer) -> None:
    """A drop closes the connection without an answer; the next request is served."""
    server.faults.script(Fault(drop=True))

    with pytest.raises(requests.ConnectionError):
        post(server, "/publish_events", [event(0)])
    assert post(server, "/publish_events", [event(1)]).status_code == 200

    assert statuses(server) == [None, 200]
    assert server.events() == [event(1)]


def test_fail_rate_one_fails_every_request_and_zero_none(server: LocalServer) -> None:
    """fail_rate 1.0 answers every publish request with 503; set to 0.0 at runtime, none."""
    server.faults.fail_rate = 1.0
    failing = [post(server, "/publish_events", [event()]).status_code for _ in range(10)]
    server.faults.fail_rate = 0.0
    passing = [post(server, "/publish_events", [event()]).status_code for _ in range(10)]

    assert failing == [503] * 10
    assert passing == [200] * 10


def test_a_seeded_fail_rate_fails_the_same_requests() -> None:
    """Two servers with the same seed and rate fail the same requests of a run."""
    runs = []
    for _ in range(2):
        with LocalServer(fail_rate=0.5, seed=3) as server:
            runs.append([post(server, "/publish_events", [], key="k").status_code for _ in range(20)])

    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


def test_faults_clear_stops_every_fault(server: LocalServer) -> None:
    """faults.clear() empties the script and sets the fail rate to 0."""
    server.faults.script(Fault(), Fault())
    server.faults.fail_rate = 1.0

    server.faults.clear()

    assert (server.faults.pending, server.faults.fail_rate) == (0, 0.0)
    assert post(server, "/publish_events", []).status_code == 200


def test_faults_can_be_staged_over_http(server: LocalServer) -> None:
    """POST /_trubrics/faults queues faults and sets the rate; GET shows them; DELETE clears them."""
    staged = requests.post(
        f"{server.url}/_trubrics/faults",
        json={"script": [{"status": 429, "retry_after": "2"}, {"drop": True, "delay": 0}], "fail_rate": 0.0},
        timeout=5,
    )

    assert staged.status_code == 200
    assert staged.json() == {"pending": 2, "fail_rate": 0.0}
    assert get(server, "/_trubrics/faults").json() == {"pending": 2, "fail_rate": 0.0}
    first = post(server, "/publish_events", [])
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    with pytest.raises(requests.ConnectionError):
        post(server, "/publish_events", [])

    requests.post(f"{server.url}/_trubrics/faults", json={"fail_rate": 1}, timeout=5)
    assert post(server, "/publish_events", []).status_code == 503
    cleared = requests.delete(f"{server.url}/_trubrics/faults", timeout=5)
    assert cleared.json() == {"pending": 0, "fail_rate": 0.0}
    assert post(server, "/publish_events", []).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"script": {"status": 503}},
        {"script": [{"status": 99}]},
        {"script": [{"code": 503}]},
        {"fail_rate": 2},
        {"rate": 0.5},
    ],
)
def test_a_bad_fault_request_is_422_and_changes_nothing(server: LocalServer, body: object) -> None:
    """A malformed POST /_trubrics/faults is refused with a readable reason and stages nothing."""
    response = requests.post(f"{server.url}/_trubrics/faults", json=body, timeout=5)

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].endswith(".")
    assert (server.faults.pending, server.faults.fail_rate) == (0, 0.0)


@pytest.mark.parametrize(
    "arguments",
    [
        {"status": 99},
        {"status": 600},
        {"status": True},
        {"retry_after": 5},
        {"retry_after": "1\r\nSet-Cookie: x"},
        {"delay": -1},
        {"delay": math.inf},
        {"drop": "yes"},
    ],
)
def test_a_malformed_fault_raises(arguments: dict[str, Any]) -> None:
    """A fault with an impossible field raises ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match=r"^A fault's .*\.$"):
        Fault(**arguments)


def test_script_takes_only_faults(server: LocalServer) -> None:
    """Scripting something that is not a Fault raises and queues nothing."""
    with pytest.raises(ConfigurationError, match="Fault"):
        server.faults.script(Fault(), 503)  # type: ignore[arg-type]
    assert server.faults.pending == 0


# --- configuration and lifecycle ----------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"fail_rate": -0.1},
        {"fail_rate": 1.5},
        {"fail_rate": math.nan},
        {"fail_rate": "0.5"},
        {"port": -1},
        {"port": 70000},
        {"port": "8000"},
        {"host": ""},
        {"api_keys": "test-key"},
        {"api_keys": [""]},
        {"seed": "seven"},
        {"database": 42},
        {"database": ""},
        {"log_to": "requests.log"},
    ],
)
def test_bad_arguments_raise_a_configuration_error(arguments: dict[str, Any]) -> None:
    """A malformed constructor argument raises ConfigurationError with a full sentence."""
    with pytest.raises(ConfigurationError, match=r"\.$"):
        LocalServer(**arguments)


def test_a_database_that_cannot_be_opened_raises(tmp_path: Path) -> None:
    """A database path SQLite cannot open is a configuration error naming the path."""
    with pytest.raises(ConfigurationError, match="Cannot open the SQLite database"):
        LocalServer(database=tmp_path)


def test_a_file_database_survives_a_restart(tmp_path: Path) -> None:
    """Items stored in a file database are there after a stop and a start, of the same or a new server."""
    database = tmp_path / "trubrics.db"
    first = LocalServer(database=database).start()
    post(first, "/publish_events", [event(0, thread="t1")], key="k")
    post(first, "/publish_llm_events", [llm_event(0)], key="k")
    first.stop()

    with LocalServer(database=str(database)) as second:
        assert second.events(thread_id="t1") == [event(0, thread="t1")]
        post(second, "/publish_events", [event(1)], key="k")
    first.start()
    try:
        assert first.events() == [event(0, thread="t1"), event(1)]
        assert first.llm_events() == [llm_event(0)]
    finally:
        first.stop()


def test_url_and_port(server: LocalServer) -> None:
    """url is the base URL of the ephemeral port bound, ready to be TRUBRICS_HOST."""
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.running


def test_url_before_start_raises() -> None:
    """An ephemeral port is unknown until start(), and url says so."""
    server = LocalServer()

    with pytest.raises(RuntimeError, match="start"):
        _ = server.url
    server.stop()


def test_stop_is_idempotent_and_closes_open_connections() -> None:
    """stop() cuts idle keep-alive connections, can be called twice, and the port then refuses."""
    server = LocalServer().start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/health")
    connection.getresponse().read()

    server.stop()
    server.stop()

    assert not server.running
    connection.request("GET", "/health")  # the request may still be written into the dead socket
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.getresponse()
    with pytest.raises(requests.ConnectionError):
        get(server, "/health")


def test_a_taken_port_raises_port_in_use_error(server: LocalServer) -> None:
    """Starting on a port another server holds raises PortInUseError saying what to do; stop() stays safe."""
    second = LocalServer(port=server.port)

    with pytest.raises(PortInUseError) as raised:
        second.start()
    second.stop()
    second.stop()

    assert isinstance(raised.value, OSError)
    assert raised.value.errno == errno.EADDRINUSE
    assert str(raised.value) == (
        f"Port {server.port} on 127.0.0.1 is already in use (is another `trubrics-otel serve` running?): "
        "stop it, or pass --port 0 to pick a free port."
    )
    assert not second.running
    assert get(server, "/health").status_code == 200


def test_serve_forever_on_a_taken_port_raises_without_printing(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve_forever on a taken port raises PortInUseError at once and prints nothing."""
    with pytest.raises(PortInUseError, match=f"^Port {server.port} on 127.0.0.1 is already in use"):
        serve_forever(port=server.port, stop=threading.Event())

    assert capsys.readouterr() == ("", "")


def test_serve_forever_prints_the_url_and_returns_when_stopped() -> None:
    """serve_forever prints where it listens, serves, and returns once its stop event is set."""
    out = io.StringIO()
    stop = threading.Event()
    kwargs = {"port": 0, "stream": out, "log_to": io.StringIO(), "stop": stop}
    runner = threading.Thread(target=serve_forever, kwargs=kwargs)
    runner.start()
    deadline = time.monotonic() + 5
    while "Ctrl-C" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    url = out.getvalue().split("listening on ", 1)[1].split()[0]

    health = requests.get(f"{url}/health", timeout=5).json()
    stop.set()
    runner.join(timeout=5)

    assert health == {"status": "ok"}
    assert not runner.is_alive()
    assert "any non-empty x-api-key" in out.getvalue()
    assert out.getvalue().endswith("Press Ctrl-C to stop.\n")


# --- hardening: JSON the server must store, bounds, CSRF, DNS rebinding, keys on reads -------------


def test_a_lone_surrogate_escape_is_stored_and_listed(server: LocalServer) -> None:
    """A `\\udc80` escape is valid JSON: the item is stored, listed and summed up, not dropped."""
    body = (
        '[{"user_id": "u\\udc80", "event": "e\\udc80", "timestamp": "' + TIMESTAMP + '", '
        '"properties": {"$thread_id": "t\\udc80", "text": "\\udc80 é"}}]'
    )

    response = post(server, "/publish_events", body)

    assert response.status_code == 200
    expected = {
        "user_id": "u\udc80",
        "event": "e\udc80",
        "timestamp": TIMESTAMP,
        "properties": {"$thread_id": "t\udc80", "text": "\udc80 é"},
    }
    assert server.events() == [expected]
    assert get(server, "/events").json() == [expected]
    assert requests.get(f"{server.url}/_trubrics/summary", timeout=5).json()["totals"]["events"] == 1


def test_a_lone_surrogate_in_a_refused_item_is_answered(server: LocalServer) -> None:
    """A refusal whose detail echoes a lone surrogate is still answered, as escaped JSON."""
    response = post(server, "/publish_events", '[{"user_id": "\\udc80", "event": 3, "timestamp": "x"}]')

    assert response.status_code == 422


@pytest.mark.parametrize("name", ["limit", "after"])
def test_a_huge_limit_or_after_is_422_not_a_dropped_connection(server: LocalServer, name: str) -> None:
    """A number SQLite cannot take is refused with 422 naming the largest accepted, on a live connection."""
    response = get(server, "/events", **{name: "9" * 40})

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["query", name], "less_than_equal")
    assert get(server, "/events", **{name: str(2**53)}).status_code == 200


@pytest.mark.parametrize("path", ["/publish_events", "/_trubrics/faults"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_post_that_is_not_json_is_415(server: LocalServer, path: str, content_type: str | None) -> None:
    """A web page can POST text/plain to any address unasked (CSRF): every POST must say JSON, or 415."""
    headers = {"x-api-key": "test-key"} | ({} if content_type is None else {"Content-Type": content_type})
    body = json.dumps([event()] if path == "/publish_events" else {"script": [{"status": 503}]})

    response = requests.post(f"{server.url}{path}", data=body, headers=headers, timeout=5)

    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]
    assert server.events() == []
    assert server.faults.pending == 0


def test_json_with_a_charset_is_json(server: LocalServer) -> None:
    """`application/json; charset=utf-8` is JSON."""
    headers = {"x-api-key": "test-key", "Content-Type": "Application/JSON; charset=utf-8"}
    response = requests.post(
        f"{server.url}/publish_events", data=json.dumps([event()]), headers=headers, timeout=5
    )

    assert response.status_code == 200


def raw_get(port: int, path: str, host: str | None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        host_line = b"" if host is None else b"Host: " + host.encode() + b"\r\n"
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\n" + host_line + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::2]"])
def test_a_loopback_server_refuses_another_host_name(server: LocalServer, host: str) -> None:
    """DNS rebinding: a page of another site that resolves to 127.0.0.1 names its own host, and gets 421."""
    answer = raw_get(server.port, "/events", host)

    assert answer.startswith(b"HTTP/1.1 421")
    assert b"DNS rebinding" in answer


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8765", "127.0.0.1", "127.1.2.3:80", "[::1]:9", None]
)
def test_a_loopback_server_answers_loopback_host_names(server: LocalServer, host: str | None) -> None:
    """localhost, 127.x.x.x and [::1], with or without a port, are served; so is a request without Host."""
    assert raw_get(server.port, "/events", host).startswith(b"HTTP/1.1 200")


def test_a_server_on_every_interface_answers_any_host_name() -> None:
    """Bound beyond loopback, the server is meant to be reached by other names: no Host check."""
    with LocalServer("0.0.0.0") as server:
        assert raw_get(server.port, "/health", "my-laptop.local:8765").startswith(b"HTTP/1.1 200")


READS = ["/events", "/llm_events", "/api/ingestion/events", "/_trubrics/faults", "/_trubrics/summary"]


@pytest.mark.parametrize("path", [*READS, "/_trubrics/requests"])
def test_with_keys_every_read_needs_a_valid_key_on_every_interface(path: str) -> None:
    """Listening on every interface with keys, the listings, the faults and the page's data need the key."""
    with LocalServer("0.0.0.0", api_keys={"k"}) as server:
        missing = requests.get(f"{server.url}{path}", timeout=5)
        wrong = requests.get(f"{server.url}{path}", headers={"x-api-key": "nope"}, timeout=5)
        right = requests.get(f"{server.url}{path}", headers={"x-api-key": "k"}, timeout=5)

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "x-api-key" in missing.json()["detail"]


def test_with_keys_faults_cannot_be_set_or_cleared_without_the_key() -> None:
    """The fault controls are writes too: without the key they change nothing."""
    with LocalServer("0.0.0.0", api_keys={"k"}) as server:
        server.faults.script(Fault(status=503))
        added = post(server, "/_trubrics/faults", {"script": [{"status": 500}]}, key=None)
        cleared = requests.delete(f"{server.url}/_trubrics/faults", timeout=5)

        assert (added.status_code, cleared.status_code) == (401, 401)
        assert server.faults.pending == 1


def test_with_keys_the_page_and_health_stay_open() -> None:
    """The page's files and /health hold no data: they load without a key, so the page can ask for one."""
    with LocalServer("0.0.0.0", api_keys={"k"}) as server:
        for path in ("/", "/_trubrics/inspector.js", "/_trubrics/inspector.css", "/health"):
            assert requests.get(f"{server.url}{path}", timeout=5).status_code == 200


def test_key_for_reads_can_be_asked_of_a_loopback_server() -> None:
    """On loopback, reads are open by default (the Host check guards them); key_for_reads=True closes them."""
    with LocalServer(api_keys={"k"}) as open_reads, LocalServer(api_keys={"k"}, key_for_reads=True) as closed:
        assert get(open_reads, "/events").status_code == 200
        assert get(closed, "/events").status_code == 401


def test_without_keys_reads_stay_open_everywhere() -> None:
    """Without keys (the default), every endpoint stays open, as before."""
    with LocalServer("0.0.0.0", key_for_reads=True) as server:
        assert get(server, "/events").status_code == 200
        assert get(server, "/_trubrics/faults").status_code == 200


# --- de-duplication by $idempotency_key --------------------------------------------------------------


def keyed(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {**item, "properties": {**item["properties"], "$idempotency_key": key}}


def test_an_item_whose_key_is_stored_is_acknowledged_but_not_stored_again(server: LocalServer) -> None:
    """A retry of a stored item is answered 200, as if stored, and stored once (without the transport's
    key); the log line says so."""
    first = post(server, "/publish_events", [keyed(event(1), "k1"), keyed(event(2), "k2")])
    again = post(server, "/publish_events", [keyed(event(1), "k1"), keyed(event(3), "k3")])

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"status": "success"}
    assert server.events() == [event(1), event(2), event(3)]
    assert server.requests[-1].reason == "2 items, 1 already stored"


def test_copies_within_one_request_are_stored_once(server: LocalServer) -> None:
    """Two items with one key in the same batch: the first is stored."""
    post(server, "/publish_llm_events", [keyed(llm_event(1), "k"), keyed(llm_event(2), "k")])

    assert server.llm_events() == [llm_event(1)]


def test_keys_are_per_kind_and_items_without_a_key_are_all_stored(server: LocalServer) -> None:
    """An event and an LLM event may share a key; items without one (or with a non-string one) are kept."""
    post(server, "/publish_events", [keyed(event(1), "k"), event(2), event(2)])
    post(server, "/publish_llm_events", [keyed(llm_event(1), "k")])
    post(server, "/publish_events", [{**event(4), "properties": {"$idempotency_key": 7}}] * 2)

    assert len(server.events()) == 5
    assert len(server.llm_events()) == 1


def test_clear_forgets_the_keys(server: LocalServer) -> None:
    """After clear() an item with a key seen before is stored again."""
    post(server, "/publish_events", [keyed(event(1), "k")])
    server.clear()
    post(server, "/publish_events", [keyed(event(1), "k")])

    assert server.events() == [event(1)]


def test_a_file_database_keeps_de_duplicating_across_restarts(tmp_path: Path) -> None:
    """The keys are stored with the items: a restarted server does not store a retry again."""
    database = tmp_path / "items.sqlite"
    with LocalServer(database=database) as before:
        post(before, "/publish_events", [keyed(event(1), "k")])
    with LocalServer(database=database) as after:
        post(after, "/publish_events", [keyed(event(1), "k")])

        assert after.events() == [event(1)]


def test_a_database_of_an_earlier_version_gains_the_key_column(tmp_path: Path) -> None:
    """A database made before keys were stored opens, keeps its items, and de-duplicates from then on."""
    database = tmp_path / "old.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE events (received INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, "
            "user_id TEXT, thread_id TEXT, event TEXT, timestamp TEXT, item TEXT NOT NULL)"
        )
        connection.execute(
            "INSERT INTO events (received_at, item) VALUES ('2026-01-01T00:00:00+00:00', ?)",
            (json.dumps(event(0)),),
        )
    connection.close()
    with LocalServer(database=database) as server:
        post(server, "/publish_events", [keyed(event(1), "k")] * 2)

        assert server.events() == [event(0), event(1)]


# --- bounds: stored items, connections ------------------------------------------------------------


def test_max_items_drops_the_oldest_of_each_kind_and_counts_them() -> None:
    """Beyond max_items of a kind the oldest are dropped first; the summary counts them, per kind."""
    with LocalServer(max_items=3) as server:
        post(server, "/publish_events", [event(i) for i in range(4)])
        post(server, "/publish_events", [event(4)])
        post(server, "/publish_llm_events", [llm_event(0)])

        assert server.events() == [event(2), event(3), event(4)]
        assert server.llm_events() == [llm_event(0)]
        assert get(server, "/events").headers["X-Trubrics-Cursor"] == "5"
        evicted = requests.get(f"{server.url}/_trubrics/summary", timeout=5).json()["evicted"]
        assert evicted == {"events": 2, "llm_events": 0, "max_items": 3}


def test_max_items_counts_a_file_databases_items_from_the_start(tmp_path: Path) -> None:
    """A reopened file database's items count against max_items."""
    database = tmp_path / "items.sqlite"
    with LocalServer(database=database) as before:
        post(before, "/publish_events", [event(i) for i in range(3)])
    with LocalServer(database=database, max_items=3) as after:
        post(after, "/publish_events", [event(3)])

        assert after.events() == [event(1), event(2), event(3)]


def test_beyond_max_connections_a_connection_is_answered_503_at_once() -> None:
    """Idle connections at the cap: the next is answered 503 with Retry-After, not left hanging."""
    with LocalServer(max_connections=2) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), 5) for _ in range(2)]
        try:
            # the idle ones are served first: they are accepted in order
            busy = post(server, "/publish_events", [event(i) for i in range(50)])
        finally:
            for connection in idle:
                connection.close()

        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert "max_connections" in busy.json()["detail"]
        assert server.events() == []
        deadline = time.monotonic() + 5
        while (answer := get(server, "/health")).status_code == 503 and time.monotonic() < deadline:
            pass  # the idle connections' threads are ending
        assert answer.status_code == 200


@pytest.mark.parametrize("arguments", [{"max_items": 0}, {"max_connections": 0}, {"max_items": True}])
def test_bounds_must_be_positive(arguments: dict[str, Any]) -> None:
    """max_items and max_connections are positive integers."""
    with pytest.raises(ConfigurationError, match="positive integer"):
        LocalServer(**arguments)


def test_a_client_using_the_server_as_its_proxy_names_any_host(server: LocalServer) -> None:
    """An absolute-form target (HTTP_PROXY) is not a web page's request: any Host is served."""
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        sock.sendall(
            b"GET http://ingestion.example.invalid/health HTTP/1.1\r\n"
            b"Host: ingestion.example.invalid\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 200")
