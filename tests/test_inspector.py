"""The inspector's HTTP side: the page and its files, the summary and the refused requests, over real HTTP.

What a browser does with them is tested in tests/test_inspector_browser.py.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from trubrics_otel.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR = ROOT / "trubrics_otel" / "server" / "inspector"
TIMESTAMP = "2026-11-30T11:54:31.000000+00:00"
MARKED = {"X-Trubrics-Inspector": "1"}


def llm_event(user: str = "ada", assistant: str | None = "gpt-4o", **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": user,
        "prompt": "What is OpenTelemetry?",
        "generation": "An open standard.",
        "timestamp": TIMESTAMP,
    }
    if assistant is not None:
        item["assistant_id"] = assistant
    return {**item, **fields}


def event(user: str = "ada", name: str = "Sign up", **properties: Any) -> dict[str, Any]:
    return {"user_id": user, "event": name, "timestamp": TIMESTAMP, "properties": properties}


def publish(server: LocalServer, kind: str, items: list[dict[str, Any]], key: str = "test-key") -> None:
    response = requests.post(
        f"{server.url}/publish_{kind}", json=items, headers={"x-api-key": key}, timeout=5
    )
    assert response.status_code == 200, response.text


def summary(server: LocalServer) -> dict[str, Any]:
    response = requests.get(f"{server.url}/_trubrics/summary", timeout=5)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


# --- the page and its files ----------------------------------------------------------------------------


def test_the_root_is_the_inspector_page(server: LocalServer) -> None:
    """GET / answers the page as HTML, allowed to run only its own script and to talk only to this server."""
    response = requests.get(f"{server.url}/", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Inspector · trubrics-otel local server</title>" in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert [(r.method, r.path, r.status, r.reason) for r in server.requests] == [
        ("GET", "/", 200, "inspector page")
    ]


@pytest.mark.parametrize(
    ("path", "content_type", "file"),
    [
        ("/_trubrics/inspector.js", "text/javascript; charset=utf-8", "inspector.js"),
        ("/_trubrics/inspector.css", "text/css; charset=utf-8", "inspector.css"),
    ],
)
def test_the_page_files_are_served_from_the_package(
    server: LocalServer, path: str, content_type: str, file: str
) -> None:
    """The script and the style come from the package, byte for byte, and their reads are not logged."""
    response = requests.get(f"{server.url}{path}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content == (INSPECTOR / file).read_bytes()
    assert server.requests == []


def test_head_answers_the_page_without_a_body(server: LocalServer) -> None:
    """HEAD / gives the page's headers and length, and no body."""
    response = requests.head(f"{server.url}/", timeout=5)

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len((INSPECTOR / "index.html").read_bytes())
    assert response.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_page_is_get_only(server: LocalServer, method: str) -> None:
    """Anything but GET (or HEAD) on / is a 405 naming GET."""
    response = requests.request(method, f"{server.url}/", json=[], timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/index.html", "/api/ingestion/", "/_trubrics/", "/_trubrics/inspector"])
def test_other_paths_near_the_page_stay_404s_with_their_hint(server: LocalServer, path: str) -> None:
    """Only / is the page: other paths are still the 404 that names the paths there are."""
    response = requests.get(f"{server.url}{path}", timeout=5)

    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"No such path: {path}.")
    assert "the inspector page is /" in response.json()["detail"]


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """Every file the page names is served by this server: no CDN, nothing fetched from the network."""
    html = (INSPECTOR / "index.html").read_text()
    css = (INSPECTOR / "inspector.css").read_text()
    script = (INSPECTOR / "inspector.js").read_text()

    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources
    assert [source for source in sources if not source.startswith(("/", "#", "data:"))] == []
    assert re.findall(r"url\(|@import", css) == []
    assert re.findall(r"https?://", script) == []


def test_the_script_never_parses_data_as_markup() -> None:
    """The script builds the page from text nodes: no innerHTML, outerHTML, insertAdjacentHTML or write."""
    script = (INSPECTOR / "inspector.js").read_text()

    assert (
        re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", script)
        == []
    )


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    """A built wheel holds the page, its script and its style beside the server's modules."""
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())

    assert {
        f"trubrics_otel/server/inspector/{name}" for name in ("index.html", "inspector.js", "inspector.css")
    } <= (names)


# --- /_trubrics/summary ---------------------------------------------------------------------------------


def test_an_empty_server_sums_up_to_nothing(server: LocalServer) -> None:
    """With nothing stored, the summary has zero totals, empty lists and the client's placeholder text."""
    result = summary(server)

    assert result["cursors"] == {"events": 0, "llm_events": 0}
    assert set(result["totals"].values()) == {0}
    assert [result[name] for name in ("users", "event_names", "threads", "assistants", "repeats")] == [[]] * 5
    assert result["placeholder"] == "[content not recorded]"
    assert result["requests"]["answered"] == 0


def test_the_summary_counts_per_user_and_per_event_name(server: LocalServer) -> None:
    """Users are counted across both kinds, the busiest first; event names by count."""
    publish(server, "events", [event("ada"), event("ada", "Upgrade"), event("grace"), event("ada")])
    publish(server, "llm_events", [llm_event("grace"), llm_event("grace"), llm_event("eve")])

    result = summary(server)

    assert result["users"] == [
        {"user_id": "ada", "events": 3, "llm_events": 0},
        {"user_id": "grace", "events": 1, "llm_events": 2},
        {"user_id": "eve", "events": 0, "llm_events": 1},
    ]
    assert result["event_names"] == [{"event": "Sign up", "count": 3}, {"event": "Upgrade", "count": 1}]
    assert result["totals"] | {"repeated": None} == {
        "events": 4,
        "llm_events": 3,
        "users": 3,
        "event_names": 2,
        "threads": 0,
        "assistants": 1,
        "missing_content": 0,
        "repeated": None,
    }


def test_the_summary_gives_latency_tokens_and_finish_reasons_per_assistant(server: LocalServer) -> None:
    """Per assistant: calls, latency (mean, p50, p95, max), tokens, finish reasons and missing content."""
    publish(
        server,
        "llm_events",
        [
            *[
                llm_event(latency=latency, properties={"input_tokens": 10, "output_tokens": 5})
                for latency in (0.1, 0.2, 0.3, 0.4)
            ],
            llm_event(latency=2.0, properties={"total_tokens": 100, "finish_reasons": ["stop"]}),
            llm_event("eve", "claude", prompt="[content not recorded]", generation="[content not recorded]"),
            llm_event(
                "eve", None, latency=None, properties={"input_tokens": True, "finish_reasons": ["length"]}
            ),
        ],
    )

    by_name = {assistant["assistant_id"]: assistant for assistant in summary(server)["assistants"]}

    gpt = by_name["gpt-4o"]
    assert gpt["llm_events"] == 5
    assert gpt["latency"] == {"count": 5, "mean": pytest.approx(0.6), "p50": 0.3, "p95": 2.0, "max": 2.0}
    assert gpt["tokens"] == {"calls": 5, "input_tokens": 40, "output_tokens": 20, "total_tokens": 160}
    assert gpt["finish_reasons"] == {"stop": 1}
    assert gpt["missing_content"] == 0
    assert by_name["claude"]["missing_content"] == 1
    assert by_name["claude"]["latency"] is None
    assert by_name[None]["tokens"] == {"calls": 0, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert by_name[None]["finish_reasons"] == {"length": 1}


def test_threads_are_listed_latest_first_with_their_users(server: LocalServer) -> None:
    """A thread counts its items of both kinds and names its users; the latest active thread comes first."""
    publish(server, "llm_events", [llm_event("ada", properties={"$thread_id": "t-1"})] * 2)
    publish(server, "llm_events", [llm_event("grace", properties={"$thread_id": "t-2"})])
    publish(server, "events", [event("ada", **{"$thread_id": "t-1"})])

    threads = summary(server)["threads"]

    assert [(t["thread_id"], t["user_ids"], t["llm_events"], t["events"]) for t in threads] == [
        ("t-1", ["ada"], 2, 1),
        ("t-2", ["grace"], 1, 0),
    ]
    assert all(t["last_received_at"].endswith("+00:00") for t in threads)


def test_items_received_twice_are_shown_as_such(server: LocalServer) -> None:
    """A batch sent again is stored again; the summary names each repeated item and its copies, honestly."""
    batch = [event("ada"), event("grace")]
    publish(server, "events", batch)
    publish(server, "events", batch)
    publish(server, "events", [event("ada")])

    result = summary(server)

    assert len(server.events()) == 5
    assert result["totals"]["repeated"] == 3
    assert [(r["kind"], r["copies"], r["first_received"], r["item"]) for r in result["repeats"]] == [
        ("events", 3, 1, batch[0]),
        ("events", 2, 2, batch[1]),
    ]


def test_the_summary_follows_what_arrives_and_starts_over_after_clear(server: LocalServer) -> None:
    """Each summary includes what arrived since the last one; after clear() it sums up only what is left."""
    publish(server, "events", [event("ada")])
    first = summary(server)
    publish(server, "events", [event("grace")])
    second = summary(server)
    server.clear()
    publish(server, "llm_events", [llm_event("eve")])
    third = summary(server)

    assert first["cursors"] == {"events": 1, "llm_events": 0}
    assert second["cursors"] == {"events": 2, "llm_events": 0}
    assert [user["user_id"] for user in second["users"]] == ["ada", "grace"]
    assert third["users"] == [{"user_id": "eve", "events": 0, "llm_events": 1}]
    assert third["totals"]["events"] == 0
    assert third["generation"] == second["generation"] + 1


def test_a_file_database_is_summed_up_when_the_server_restarts(tmp_path: Path) -> None:
    """Items kept in a file from an earlier run are in the first summary of the next."""
    database = tmp_path / "events.sqlite3"
    with LocalServer(database=database) as first:
        publish(first, "events", [event("ada"), event("grace")], key="any")

    with LocalServer(database=database) as second:
        result = summary(second)

    assert result["totals"]["events"] == 2


def test_the_summary_counts_the_runs_requests(server: LocalServer) -> None:
    """The run's requests and refusals by status are in the summary; the page's own polls are not."""
    publish(server, "events", [event()])
    requests.post(f"{server.url}/publish_events", json=[event()], timeout=5)
    for _ in range(3):
        summary(server)

    counted = summary(server)["requests"]

    assert (counted["answered"], counted["refused"], counted["dropped"]) == (2, {"401": 1}, 0)


# --- /_trubrics/requests ----------------------------------------------------------------------------------


def test_refused_requests_are_listed_newest_first_with_the_servers_reason(server: LocalServer) -> None:
    """Each refused request shows its status, the server's reason and the answer's detail, newest first."""
    publish(server, "events", [event()])
    requests.post(f"{server.url}/publish_events", json=[event()], timeout=5)
    requests.post(
        f"{server.url}/publish_events",
        json=[event(), {"event": 1}],
        headers={"x-api-key": "test-key"},
        timeout=5,
    )

    listed = requests.get(f"{server.url}/_trubrics/requests", params={"refused": "true"}, timeout=5).json()

    assert [(r["status"], r["path"], r["items"], r["reason"], r["has_key"]) for r in listed["requests"]] == [
        (422, "/publish_events", 2, "1 of 2 items invalid", True),
        (401, "/publish_events", 1, "missing x-api-key", False),
    ]
    assert [problem["loc"] for problem in listed["requests"][0]["detail"]] == [
        ["body", 1, "user_id"],
        ["body", 1, "event"],
        ["body", 1, "timestamp"],
    ]
    assert "x-api-key" in listed["requests"][1]["detail"]
    assert listed["requests"][0]["number"] > listed["requests"][1]["number"]
    assert listed["requests"][0]["user_agent"].startswith("python-requests/")


def test_requests_lists_every_request_and_takes_a_limit(server: LocalServer) -> None:
    """Without refused=true it lists accepted requests too; limit keeps the latest."""
    publish(server, "events", [event()])
    publish(server, "llm_events", [llm_event()])
    requests.get(f"{server.url}/events", timeout=5)

    listed = requests.get(f"{server.url}/_trubrics/requests", params={"limit": "2"}, timeout=5).json()

    assert [(r["method"], r["path"], r["status"], r["detail"]) for r in listed["requests"]] == [
        ("GET", "/events", 200, None),
        ("POST", "/publish_llm_events", 200, None),
    ]


def test_a_staged_fault_is_a_refusal_with_its_reason(server: LocalServer) -> None:
    """A connection a staged fault dropped is listed as refused, with no status and a sentence saying why."""
    requests.post(f"{server.url}/_trubrics/faults", json={"script": [{"drop": True}]}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{server.url}/publish_events", json=[event()], headers={"x-api-key": "k"}, timeout=5)

    (dropped,) = requests.get(f"{server.url}/_trubrics/requests?refused=true", timeout=5).json()["requests"]

    assert (dropped["status"], dropped["reason"]) == (None, "by a staged fault")
    assert "without an answer" in dropped["detail"]


@pytest.mark.parametrize("query", ["refused=yes", "limit=-1", "limit=x"])
def test_a_bad_requests_query_is_a_422(server: LocalServer, query: str) -> None:
    """refused takes true or false, limit a non-negative integer; anything else is a 422 naming it."""
    response = requests.get(f"{server.url}/_trubrics/requests?{query}", timeout=5)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", query.split("=", maxsplit=1)[0]]


def test_the_refusals_version_changes_with_each_refusal_and_on_clear(server: LocalServer) -> None:
    """The number the page watches changes on a refusal or a clear, and not on an accepted request."""
    versions = [summary(server)["requests"]["refusals_version"]]
    publish(server, "events", [event()])
    versions.append(summary(server)["requests"]["refusals_version"])
    requests.post(f"{server.url}/publish_events", json=[event()], timeout=5)
    versions.append(summary(server)["requests"]["refusals_version"])
    server.clear()
    versions.append(summary(server)["requests"]["refusals_version"])

    assert versions[0] == versions[1]
    assert len({versions[1], versions[2], versions[3]}) == 3


# --- what the page's own reads leave behind ----------------------------------------------------------------


def test_the_pages_reads_are_not_logged_but_a_clients_are(server: LocalServer) -> None:
    """A listing read with X-Trubrics-Inspector answers the same and leaves no entry; without it, it does."""
    publish(server, "llm_events", [llm_event()])

    marked = requests.get(f"{server.url}/llm_events?limit=5", headers=MARKED, timeout=5)
    plain = requests.get(f"{server.url}/llm_events?limit=5", timeout=5)

    assert marked.json() == plain.json() == [llm_event()]
    assert marked.headers["X-Trubrics-Cursor"] == plain.headers["X-Trubrics-Cursor"] == "1"
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/publish_llm_events"),
        ("GET", "/llm_events"),
    ]


def test_the_pages_reads_write_no_request_line() -> None:
    """The request lines of `serve` show the page's load and the clients' requests, not the page's polling."""
    lines = io.StringIO()
    with LocalServer(log_to=lines) as server:
        requests.get(f"{server.url}/", timeout=5)
        requests.get(f"{server.url}/_trubrics/inspector.js", timeout=5)
        requests.get(f"{server.url}/_trubrics/summary", timeout=5)
        requests.get(f"{server.url}/events?limit=50", headers=MARKED, timeout=5)
        publish(server, "events", [event()], key="any")

    written = [" ".join(line.split()[1:-2]) for line in lines.getvalue().splitlines()]
    assert written == ["GET / 200 inspector page", "POST /publish_events 200 1 item"]


def test_a_marked_publish_is_still_logged(server: LocalServer) -> None:
    """The header hides reads only: a POST that carries it is logged and counted like any other."""
    response = requests.post(
        f"{server.url}/publish_events", json=[event()], headers={"x-api-key": "test-key", **MARKED}, timeout=5
    )

    assert response.status_code == 200
    assert [(r.method, r.status) for r in server.requests] == [("POST", 200)]


def test_summary_json_is_json_safe(server: LocalServer) -> None:
    """Odd but accepted values (a number as thread id, unicode, nested properties) sum up to valid JSON."""
    publish(
        server,
        "llm_events",
        [llm_event("ü-1", "模型", latency=1e-9, properties={"$thread_id": 7, "nested": {"a": [1, None]}})],
    )

    response = requests.get(f"{server.url}/_trubrics/summary", timeout=5)

    parsed = json.loads(response.content, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert parsed["threads"][0]["thread_id"] == "7"
    assert parsed["assistants"][0]["assistant_id"] == "模型"


def test_items_de_duplicated_by_key_are_shown_by_key(server: LocalServer) -> None:
    """A retry with a stored $idempotency_key is not stored again; the summary lists it by key, counted."""
    first = event("ada", **{"$idempotency_key": "key-1"})
    other = event("grace", **{"$idempotency_key": "key-2"})
    publish(server, "events", [first, other])
    publish(server, "events", [first])
    publish(server, "events", [first, other])
    publish(server, "llm_events", [llm_event(properties={"$idempotency_key": "key-1"})] * 2)

    result = summary(server)

    assert len(server.events()) == 2
    assert result["totals"]["repeated"] == 0
    assert result["repeats"] == []
    assert result["deduplicated"]["total"] == 4
    assert [
        (d["kind"], d["idempotency_key"], d["copies"], d["first_received"])
        for d in result["deduplicated"]["items"]
    ] == [
        ("events", "key-1", 3, 1),
        ("llm_events", "key-1", 2, 1),
        ("events", "key-2", 2, 2),
    ]
    assert result["deduplicated"]["items"][0]["item"] == event("ada")  # stored without the transport's key
