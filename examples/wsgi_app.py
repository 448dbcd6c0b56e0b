"""A small web app (standard-library WSGI) whose middleware names the user and thread of every request.

`POST /chat` asks the model the request's body. The middleware wraps each request in
`trubrics_otel.context(...)` with the user and conversation from the request's headers, so every model
call the request makes is sent as that user's, in that thread. The script serves the app on 127.0.0.1 and
sends it a few requests. Run it with `python examples/wsgi_app.py`.
"""

import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

import trubrics_otel

import _local

# openai-v2 records no prompt or answer unless asked to; SPAN_ONLY puts them on the call's span
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def chat_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answer a question with the model."""
    question = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
    reply = openai.OpenAI().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    body = json.dumps({"answer": reply.choices[0].message.content}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def with_trubrics_context(app: WSGIApp) -> WSGIApp:
    """Run each request inside `trubrics_otel.context()` with the user and thread it names."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        user, thread = environ.get("HTTP_X_USER_ID"), environ.get("HTTP_X_THREAD_ID")
        with trubrics_otel.context(user_id=user, thread_id=thread):
            return list(app(environ, start_response))  # the whole response, inside the context

    return middleware


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def ask(url: str, user: str, thread: str, question: str) -> str:
    headers = {"X-User-Id": user, "X-Thread-Id": thread}
    request = urllib.request.Request(f"{url}/chat", data=question.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["answer"])


with _local.trubrics() as server, _local.fake_openai():
    trubrics_otel.configure(service_name="wsgi-chat")
    OpenAIInstrumentor().instrument()
    http = make_server("127.0.0.1", 0, with_trubrics_context(chat_app), handler_class=QuietHandler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_port}"

    for user, thread, question in [
        ("ada", "web-ada-1", "What can I ask you?"),
        ("grace", "web-grace-1", "Summarise my last order."),
        ("ada", "web-ada-1", "Thanks!"),
    ]:
        print(f"{user}: {question}\n  -> {ask(url, user, thread, question)}")

    http.shutdown()
    trace.get_tracer_provider().force_flush()  # send what is queued before reading the server
    _local.show(server)
