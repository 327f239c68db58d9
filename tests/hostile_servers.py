"""Loopback servers that misbehave on purpose: a trickle of bytes, scripted answers (redirects,
429s). Raw sockets, so nothing in between smooths the misbehaviour over."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each, with its request head, to `handle`."""

    def __init__(self, handle: Callable[[socket.socket, bytes, RawServer], None]):
        self.handle = handle
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                self.requests.append(head)
                self.handle(conn, head, self)
            except OSError:
                pass


def trickle(payload: bytes, every_s: float) -> Callable[[socket.socket, bytes, RawServer], None]:
    """Send `payload` one byte at a time, `every_s` apart (until the client hangs up)."""

    def handle(conn: socket.socket, _head: bytes, server: RawServer) -> None:
        for i in range(len(payload)):
            if server.stop.wait(every_s):
                return
            conn.sendall(payload[i : i + 1])

    return handle


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def scripted(
    route: Callable[[str, bytes], bytes],
) -> Callable[[socket.socket, bytes, RawServer], None]:
    """Answer each request with `route(path, head)`."""

    def handle(conn: socket.socket, head: bytes, _server: RawServer) -> None:
        path = head.split(b" ", 2)[1].decode()
        conn.sendall(route(path, head))

    return handle


def elapsed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.monotonic()
    try:
        out: object = fn()
    except Exception as exc:  # noqa: BLE001 - returned for the test to look at
        out = exc
    return time.monotonic() - t0, out
