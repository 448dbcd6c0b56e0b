"""Hosts the local server cannot stage: `RawServer`, a socket server on 127.0.0.1 that answers as told.

Its answer to each request is a function of the test's, given the connection, the request's head and its
body; it keeps every head and body it read.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

__all__ = ["Answer", "RawServer", "respond"]

Answer = Callable[[socket.socket, bytes, bytes], None]
"""Answers one request on its connection, given its head and its body."""


class RawServer:
    """A socket server on 127.0.0.1: each connection's requests are read whole and given to `answer`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffered = b""
        try:
            while not self.stopped.is_set():
                while b"\r\n\r\n" not in buffered:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                found = re.search(rb"(?i)content-length:\s*(\d+)", head)
                length = int(found.group(1)) if found else 0
                while len(buffered) < length:
                    buffered += connection.recv(65536)
                body, buffered = buffered[:length], buffered[length:]
                self.heads.append(head)
                self.bodies.append(body)
                self.answer(connection, head, body)
        except OSError:
            return

    def stop(self) -> None:
        """Stop accepting, end every answer under way (`stopped` is set), and close the connections."""
        self.stopped.set()
        self._listener.close()
        for connection in self._connections:
            connection.close()


def respond(status: str, headers: dict[str, str] | None = None, body: bytes = b"{}") -> bytes:
    """An HTTP/1.1 answer with `status` (such as "302 Found"), `headers` and a JSON `body`."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
