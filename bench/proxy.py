"""A loopback TCP proxy that adds a fixed one-way delay in each direction, and records round trips.

Model of a far-away store: every byte the client sends reaches the server ``rtt / 2`` later,
every byte the server sends reaches the client ``rtt / 2`` later, order is kept within each
direction and there is no bandwidth cap. A new connection costs one round trip before the
client's first byte can leave (the TCP handshake): the proxy accepts at once on loopback but
holds that connection's client bytes until ``accept + rtt`` (their "virtual send time"), then
adds the one-way delay.

Recording: per client connection, the handshake is one exchange ``[accept, accept + rtt]``,
and every request/response exchange is one more: it starts at the virtual send time of the
first client byte after the server last spoke, and ends when the last server byte of it is
delivered to the client. HTTP/1.1 clients here never pipeline, so this framing is exact
without parsing HTTP (an ``Expect: 100-continue`` PUT shows as two exchanges, which it is on
a real network too). :func:`critical_path` turns the intervals into the number of round trips
that could not overlap.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

CHUNK = 256 * 1024


@dataclass
class Exchange:
    conn: int
    start: float
    end: float
    label: str


@dataclass
class Window:
    """What the proxy saw between two calls of :meth:`DelayProxy.take`."""

    connections: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    first_accept: float | None = None

    @property
    def requests(self) -> int:
        """Request/response exchanges (handshakes not counted)."""
        return sum(1 for e in self.exchanges if e.label != "connect")


def critical_path(intervals: list[tuple[float, float]]) -> int:
    """The longest chain of intervals, each starting no earlier than the previous one ended.

    For intervals this equals the largest set of pairwise non-overlapping ones, which the
    earliest-end-first greedy finds exactly.
    """
    count = 0
    last_end = float("-inf")
    for start, end in sorted(intervals, key=lambda iv: (iv[1], iv[0])):
        if start >= last_end:
            count += 1
            last_end = end
    return count


def _label(data: bytes) -> str:
    line = data.split(b"\r\n", 1)[0][:160]
    method = line.split(b" ", 1)[0]
    if method in (b"GET", b"PUT", b"POST", b"HEAD", b"DELETE"):
        # drop the query's signature and credentials; keep method, path and the query's names
        text = line.decode("latin-1").rsplit(" HTTP/", 1)[0]
        verb, _, target = text.partition(" ")
        path, _, query = target.partition("?")
        names = [p.split("=", 1)[0] for p in query.split("&") if p and not p.startswith("X-Amz")]
        return f"{verb} {path}" + (f"?{'&'.join(names)}" if names else "")
    return "(request body after 100-continue)"


class _Conn:
    def __init__(self, proxy: DelayProxy, ident: int, accepted: float) -> None:
        self.proxy = proxy
        self.ident = ident
        self.gate = accepted + proxy.rtt
        self.current: Exchange | None = None
        self.server_spoke = True  # the next client bytes open a new exchange

    async def pump_up(self, reader: asyncio.StreamReader, queue: asyncio.Queue[object]) -> None:
        loop = asyncio.get_running_loop()
        half = self.proxy.rtt / 2
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            now = loop.time()
            sent = max(now, self.gate)
            if not data:
                await queue.put((sent + half, None, None))
                return
            if self.server_spoke:
                self.current = Exchange(self.ident, sent, sent + self.proxy.rtt, _label(data))
                self.proxy._record(self.current)
                self.server_spoke = False
            await queue.put((sent + half, data, None))

    async def pump_down(self, reader: asyncio.StreamReader, queue: asyncio.Queue[object]) -> None:
        loop = asyncio.get_running_loop()
        half = self.proxy.rtt / 2
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            now = loop.time()
            self.server_spoke = True
            await queue.put((now + half, data or None, self.current))
            if not data:
                return

    @staticmethod
    async def deliver(queue: asyncio.Queue[object], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data, exchange = await queue.get()  # type: ignore[misc]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                if exchange is not None:
                    exchange.end = loop.time()
        except (ConnectionError, OSError):
            return


class DelayProxy:
    """``127.0.0.1:port`` forwarding to ``upstream`` with ``rtt_ms`` of round-trip delay."""

    def __init__(self, upstream_host: str, upstream_port: int, rtt_ms: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rtt = rtt_ms / 1000
        self.port = 0
        self._lock = threading.Lock()
        self._window = Window()
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}"

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self._window.exchanges.append(exchange)

    def take(self) -> Window:
        """What was recorded since the last call; starts a new window."""
        with self._lock:
            window, self._window = self._window, Window()
        return window

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._window.connections += 1
            if self._window.first_accept is None:
                self._window.first_accept = accepted
            self._window.exchanges.append(Exchange(ident, accepted, accepted + self.rtt, "connect"))
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()
            return
        conn = _Conn(self, ident, accepted)
        up: asyncio.Queue[object] = asyncio.Queue()
        down: asyncio.Queue[object] = asyncio.Queue()
        tasks = [
            asyncio.create_task(conn.pump_up(c_reader, up)),
            asyncio.create_task(conn.deliver(up, s_writer)),
            asyncio.create_task(conn.pump_down(s_reader, down)),
            asyncio.create_task(conn.deliver(down, c_writer)),
        ]
        try:
            # the connection is over when the server's side has been delivered (or either
            # side broke); a client that closes first is seen as EOF upstream, then server EOF
            await asyncio.wait([tasks[3]], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (c_writer, s_writer):
                writer.close()

    def start(self) -> DelayProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="delay-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Close every connection still open, then the listener and the loop."""
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @staticmethod
    def clock() -> float:
        """The proxy's clock (asyncio's default loop clock), for times taken outside it."""
        return time.monotonic()
