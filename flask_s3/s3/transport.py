"""The fast store's HTTP layer: pooled keep-alive connections, one request and its answer.

It knows HTTP, not S3: it frames a request (a file body streamed in blocks, large ones after
"100 Continue"), reads the answer (capped, or streamed into a sink), keeps connections alive per
host, tells a stale kept-alive connection from a real failure, and waits between attempts as
botocore's standard retry mode does. Signing and the S3 calls sit above it (``signed.py``,
``fast.py``); nothing here imports them.
"""

from __future__ import annotations

import http.client
import random
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import IO

from .errors import StoreError, StoreUnreachable
from .filerange import FileRange
from .store import MAX_ANSWER, Body, Sink
from .target import Target

BLOCK_SIZE = 256 * 1024  # bytes per send of a streamed body (http.client's default is 8 KiB)
EXPECT_AFTER = 1024 * 1024  # bodies this large ask first (Expect: 100-continue)
CONTINUE_WAIT = 1.0  # seconds to wait for "100 Continue" before sending anyway, as botocore


@dataclass
class Response:
    """One answer: status, body and headers (names in lower case)."""

    status: int
    data: bytes
    headers: dict[str, str]


class _Connections:
    """Idle keep-alive connections per host, at most ``size`` kept for each."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.idle: dict[str, list[http.client.HTTPConnection]] = {}
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        if target.scheme == "https":
            if target.verify is False:
                self.context = ssl.create_default_context()
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
            else:
                cafile = target.verify if isinstance(target.verify, str) else None
                self.context = ssl.create_default_context(cafile=cafile)

    def take(self, host: str) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``host`` and whether it was used before (it may have gone stale)."""
        with self.lock:
            idle = self.idle.get(host)
            if idle:
                return idle.pop(), True
        return self.open_new(host), False

    def open_new(self, host: str) -> http.client.HTTPConnection:
        """A new connection to ``host``, connected (and its TLS handshake done)."""
        timeout = self.target.connect_timeout
        conn: http.client.HTTPConnection
        if self.context is not None:
            conn = http.client.HTTPSConnection(
                host, timeout=timeout, context=self.context, blocksize=BLOCK_SIZE
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=timeout, blocksize=BLOCK_SIZE)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self.target.read_timeout)
        return conn

    def give_back(self, host: str, conn: http.client.HTTPConnection, unused: bool = False) -> None:
        """``conn`` back among the idle ones. An ``unused`` one (opened ahead of a wave) goes
        to the far end: ``take`` hands out the connections that already carried a request
        first, so a request sent at once does not wait behind a handshake still settling on
        the way (the peer's accept, a proxy's), and the fresh ones serve the wave after it."""
        with self.lock:
            idle = self.idle.setdefault(host, [])
            if len(idle) < self.target.pool_size:
                if unused:
                    idle.insert(0, conn)
                else:
                    idle.append(conn)
                return
        conn.close()


def _unreachable(exc: BaseException, endpoint: str) -> StoreUnreachable:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return StoreUnreachable("tls", endpoint, exc.verify_message or str(exc))
    if isinstance(exc, ssl.SSLError):
        return StoreUnreachable("tls", endpoint, str(exc))
    if isinstance(exc, socket.gaierror):
        return StoreUnreachable("dns", endpoint, str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return StoreUnreachable("refused", endpoint, str(exc))
    if isinstance(exc, TimeoutError):
        return StoreUnreachable("timeout", endpoint, str(exc) or "timed out")
    return StoreUnreachable("connection", endpoint, f"{type(exc).__name__}: {exc}")


class Transport:
    """HTTP to one endpoint over pooled connections: the layer under the signed S3 requests."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.connections = _Connections(target)

    def exchange(
        self,
        method: str,
        netloc: str,
        url: str,
        headers: dict[str, str],
        body: bytes | Body | None,
        size: int,
        sink: Sink | None = None,
        limit: int | None = None,
    ) -> Response:
        """One request and its answer; an answer over ``limit`` bytes is refused unread."""
        conn, reused = self.connections.take(netloc)
        payload: IO[bytes] | bytes | None = None
        try:
            if body is not None:
                payload = body if isinstance(body, bytes) else body()
                # Unsigned, as botocore adds it after signing; without it a file body
                # would go out chunked, which S3 refuses.
                headers = {**headers, "content-length": str(size)}
            if payload is not None and size >= EXPECT_AFTER:
                response = self._with_continue(conn, method, url, headers, payload)
            else:
                conn.request(method, url, body=payload, headers=headers)
                response = None
            if response is None:
                answer = conn.getresponse()
                streamed = sink is not None and answer.status < 300
                declared = answer.getheader("content-length") or ""
                if method == "HEAD" or streamed:  # not an answer we hold: no cap
                    limit = None
                if limit is not None and declared.isdigit() and int(declared) > limit:
                    raise self._too_large(method, url, int(declared), limit)
                data = (
                    b"" if streamed else answer.read() if limit is None else answer.read(limit + 1)
                )
                if limit is not None and len(data) > limit:  # chunked, or longer than declared
                    raise self._too_large(method, url, len(data), limit)
                response = Response(
                    answer.status, data, {k.lower(): v for k, v in answer.getheaders()}
                )
                if streamed:
                    assert sink is not None
                    _stream(answer, sink)
                keep = not answer.will_close
            else:
                keep = False
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if reused and isinstance(
                exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
            ):
                raise _Stale() from None
            raise
        except BaseException:
            conn.close()
            raise
        finally:
            if payload is not None and not isinstance(payload, bytes):
                payload.close()
        if keep:
            self.connections.give_back(netloc, conn)
        else:
            conn.close()
        return response

    def _too_large(self, method: str, url: str, size: int, limit: int) -> StoreError:
        """An answer no S3 call of ours gets: refused before it fills the memory."""
        return StoreError(
            "AnswerTooLarge",
            200,
            f"the endpoint {self.target.endpoint} answered {method} {url.split('?')[0]} with "
            f"{size:,} bytes or more, where flask-s3 expects at most {limit:,}; it is broken "
            "or not S3. Check bucket.endpoint_url.",
        )

    def _with_continue(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        url: str,
        headers: dict[str, str],
        payload: IO[bytes] | bytes,
    ) -> Response | None:
        """Headers first; the body only once S3 says "100 Continue" (or stays silent for 1 s).

        An answer instead of "100 Continue" (403, 301...) is returned without sending the
        body; otherwise the body is sent and None tells the caller to read the answer.
        """
        conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "expect": "100-continue"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        sock = conn.sock
        assert sock is not None
        ready, _, _ = select.select([sock], [], [], CONTINUE_WAIT)
        if ready:
            reader = sock.makefile("rb", buffering=0)
            status_line = reader.readline(65537).decode("iso-8859-1")
            parts = status_line.split(None, 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            answer_headers = http.client.parse_headers(reader)
            if status != 100:
                declared = answer_headers.get("content-length") or "0"
                length = int(declared) if declared.isdigit() else 0
                if length > MAX_ANSWER and method != "HEAD":
                    raise self._too_large(method, url, length, MAX_ANSWER)
                data = reader.read(length) if length and method != "HEAD" else b""
                return Response(status, data, {k.lower(): v for k, v in answer_headers.items()})
        if isinstance(payload, FileRange) and type(sock) is socket.socket:  # plain TCP, no TLS
            payload.send_to(sock)  # page cache to socket, not through Python
        else:
            conn.send(payload)
        return None

    # -- the Store calls -------------------------------------------------------------------


class _Partial(Exception):
    """A streamed body broke off after the sink received part of it: not retryable."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _stream(answer: http.client.HTTPResponse, sink: Sink) -> None:
    delivered = False
    try:
        while block := answer.read(BLOCK_SIZE):
            delivered = True
            sink(block)
        if answer.length:  # read(n) ends quietly when the server closes before Content-Length
            raise http.client.IncompleteRead(b"", answer.length)
    except (OSError, http.client.HTTPException) as exc:
        if delivered:
            raise _Partial(exc) from None
        raise


class _Stale(Exception):
    """A kept-alive connection the server had closed: try once more on a new one."""


def _backoff(attempt: int) -> None:
    """botocore's standard mode: a random fraction of 2**attempt seconds, at most 20."""
    time.sleep(random.random() * min(20.0, 2.0 ** (attempt - 1)))
