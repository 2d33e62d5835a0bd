"""A tiny loopback HTTP(S) server that answers like S3, for behaviour no real server shows on
demand: a private CA, a region redirect, a refusal before the body, throttling."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTING = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>'
    b"<KeyCount>0</KeyCount></ListBucketResult>"
)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, **headers: str) -> Answer:
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>m</Message></Error>".encode()
    return Answer(status, body, {"Content-Type": "application/xml", **headers})


@dataclass
class Seen:
    method: str
    path: str
    region: str  # of the signature's credential scope
    headers: dict[str, str]
    body_read: int
    body: bytes = b""


# answer(request seen so far) -> Answer; "before_body" decides on an Expect: 100-continue
Responder = Callable[[Seen], Answer]


@dataclass
class Loopback:
    responder: Responder
    before_body: Callable[[Seen], Answer | None] = lambda seen: None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"


@contextmanager
def serve(loop: Loopback, context: ssl.SSLContext | None = None) -> Iterator[Loopback]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _seen(self, body_read: int, body: bytes = b"") -> Seen:
            match = re.search(
                r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", "")
            )
            return Seen(
                self.command,
                self.path,
                match.group(1) if match else "",
                {k.lower(): v for k, v in self.headers.items()},
                body_read,
                body,
            )

        def handle_expect_100(self) -> bool:
            early = loop.before_body(self._seen(0))
            if early is None:
                return super().handle_expect_100()
            loop.seen.append(self._seen(0))
            self._answer(early, close=True)
            return False

        def _answer(self, answer: Answer, close: bool = False) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = self._seen(len(body), body)
            loop.seen.append(seen)
            self._answer(loop.responder(seen))

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        loop.scheme = "https"
    loop.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        server.shutdown()
        server.server_close()
