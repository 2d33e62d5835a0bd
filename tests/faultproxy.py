"""A loopback HTTP proxy for fault tests: it sits between boto3 and SeaweedFS and, on the
requests a policy picks, answers 503 SlowDown / 500 or resets the connection instead of
forwarding. Every request gets its own upstream connection; responses close the connection."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SLOWDOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
BODY_503 = (
    b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
)
ERROR_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
DENIED = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
BODY_403 = (
    b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)
BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
BODY_EXPIRED = (
    b"<?xml version='1.0'?><Error><Code>ExpiredToken</Code>"
    b"<Message>The provided token has expired.</Message></Error>"
)
PUBLIC_ACCESS_BLOCKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
BODY_BLOCKED = (  # GetPublicAccessBlock as AWS answers it for a bucket with every setting on
    b'<?xml version="1.0"?><PublicAccessBlockConfiguration '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicAcls>true</BlockPublicAcls>'
    b"<IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>"
    b"<RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
)
BODY_500 = b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>boom</Message></Error>"

# policy(method, path, request number) -> "pass" | "503" | "500" | "403" | "expired" | "reset"
# | "slow" | "delay" | "reset-after" | "cut" | "public-access-blocked" | "corrupt"
# ("slow" forwards after half a second, to keep requests in flight; "delay" after ``delay``;
# "reset-after" forwards, then resets instead of answering; "cut" sends half the answer;
# "corrupt" forwards the body with its last bit flipped)
Policy = Callable[[str, str, int], str]


@dataclass
class FaultProxy:
    upstream_port: int
    policy: Policy = lambda method, path, n: "pass"
    port: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    on_request: Callable[[bytes, bytes], None] | None = None  # (head, body) of each request
    judge: Callable[[bytes, bytes], str] | None = None  # a verdict from (head, body) instead
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request, as seen
    delay: float = 0.2  # seconds a "delay" verdict waits before forwarding
    accepted: list[float] = field(default_factory=list)  # time.time() of each connection

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._count = 0
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted.append(time.time())
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                head, body = read_request(conn)
            except (OSError, ValueError):
                return
            if not head:
                return
            if self.on_request is not None:
                self.on_request(head, body)
            method, path = head.split(b" ", 2)[:2]
            with self._lock:
                self._count += 1
                n = self._count
            if self.judge is not None:
                verdict = self.judge(head, body)
            else:
                verdict = self.policy(method.decode(), path.decode(), n)
            with self._lock:
                self.seen.append((method.decode(), path.decode(), verdict))
                self.headers.append(header_dict(head))
            if verdict == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if verdict == "503":
                conn.sendall(SLOWDOWN % (len(BODY_503), BODY_503))
                return
            if verdict == "500":
                conn.sendall(ERROR_500 % (len(BODY_500), BODY_500))
                return
            if verdict == "403":
                body403 = b"" if method == b"HEAD" else BODY_403
                conn.sendall(DENIED % (len(body403), body403))
                return
            if verdict == "expired":  # a session token past its expiry, as AWS answers it
                body400 = b"" if method == b"HEAD" else BODY_EXPIRED
                conn.sendall(BAD_REQUEST % (len(body400), body400))
                return
            if verdict == "public-access-blocked":
                conn.sendall(PUBLIC_ACCESS_BLOCKED % (len(BODY_BLOCKED), BODY_BLOCKED))
                return
            if verdict == "corrupt":  # one bit of the body flipped on the way
                body = body[:-1] + bytes([body[-1] ^ 1]) if body else body
            if verdict == "slow":
                time.sleep(0.5)
            if verdict == "delay":
                time.sleep(self.delay)
            self._forward(conn, head, body, verdict)

    def _forward(
        self, conn: socket.socket, head: bytes, body: bytes, verdict: str = "pass"
    ) -> None:
        lines = [
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"connection:", b"keep-alive:", b"expect:"))
        ]
        lines.insert(1, b"Connection: close")
        try:
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
                up.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                if verdict in ("reset-after", "cut"):
                    # The request reached S3 (a write took effect); the answer is lost whole
                    # (reset-after) or cut off mid-body (cut).
                    answer = b""
                    while chunk := up.recv(65536):
                        answer += chunk
                    if verdict == "cut":
                        conn.sendall(answer[: max(len(answer) // 2, answer.find(b"\r\n\r\n") + 5)])
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                while chunk := up.recv(65536):
                    conn.sendall(chunk)
        except OSError:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def header_dict(head: bytes) -> dict[str, str]:
    """The request's headers, names lower-cased."""
    out: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return out


def read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read one HTTP request: the head (without the blank line) and a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b"", b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"expect" and b"100-continue" in value.lower():
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    while len(rest) < length:
        chunk = conn.recv(min(65536, length - len(rest)))
        if not chunk:
            raise ValueError("client closed mid-body")
        rest += chunk
    return head, rest
