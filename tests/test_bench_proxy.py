"""The bench's delay proxy and launcher: delays, round-trip records, critical path, peak RSS."""

from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.proxy import DelayProxy, critical_path

RTT_MS = 60


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"x" * 50_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[DelayProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front = DelayProxy("127.0.0.1", server.server_address[1], RTT_MS).start()
    try:
        yield front
    finally:
        front.stop()
        server.shutdown()
        server.server_close()


def _get(port: int, times: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(times):
        conn.request("GET", "/bucket?list-type=2&X-Amz-Signature=secret")
        assert len(conn.getresponse().read()) == 50_000
    conn.close()


def test_critical_path_counts_only_exchanges_that_cannot_overlap() -> None:
    assert critical_path([]) == 0
    assert critical_path([(0, 1), (1, 2), (2, 3)]) == 3
    assert critical_path([(0, 1), (0.1, 1.1), (0.2, 1.2)]) == 1
    # two chains side by side: the longer one counts
    assert critical_path([(0, 1), (1, 2), (0, 0.5), (0.5, 1), (1, 1.5), (1.5, 2)]) == 4


def test_sequential_requests_pay_one_round_trip_each_plus_the_handshake(
    proxy: DelayProxy,
) -> None:
    began = time.monotonic()
    _get(proxy.port, 3)
    elapsed = time.monotonic() - began
    time.sleep(0.05)
    window = proxy.take()
    assert elapsed >= 4 * RTT_MS / 1000
    assert elapsed < 4 * RTT_MS / 1000 + 0.5
    assert window.connections == 1
    assert window.requests == 3
    assert critical_path([(e.start, e.end) for e in window.exchanges]) == 4
    labels = {e.label for e in window.exchanges}
    assert labels == {"connect", "GET /bucket?list-type"}  # no signature in the record


def test_parallel_connections_overlap(proxy: DelayProxy) -> None:
    threads = [threading.Thread(target=_get, args=(proxy.port, 1)) for _ in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    time.sleep(0.05)
    window = proxy.take()
    assert window.connections == 4
    assert window.requests == 4
    assert critical_path([(e.start, e.end) for e in window.exchanges]) == 2
    # one after the other they would take 8 round trips; side by side 2, plus thread start-up
    assert elapsed < 6 * RTT_MS / 1000


def test_launcher_reports_the_tools_own_peak_rss(tmp_path: Path) -> None:
    # A parent with a 120 MB high-water mark (its own process, so this test process keeps its
    # RSS) starts a 40 MB tool through the launcher: the launcher reports the tool's 40 MB.
    launcher = Path(__file__).resolve().parent.parent / "bench" / "spawn.py"
    out = tmp_path / "usage"
    tool = "x = bytearray(40 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1"
    parent = textwrap.dedent(
        f"""\
        import resource, subprocess, sys
        ballast = bytearray(120 * 2**20)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        code = subprocess.run([sys.executable, "-I", "-S", {str(launcher)!r}, {str(out)!r},
                               sys.executable, "-c", {tool!r}]).returncode
        print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    result = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True)
    code, parent_kb = result.stdout.split()
    assert code == "0", result.stderr
    maxrss_kb, _user, _sys, began, ended = out.read_text().split()
    assert 40 * 1024 < int(maxrss_kb) < 70 * 1024 < 120 * 1024 <= int(parent_kb)
    assert float(ended) > float(began)
    failing = subprocess.run(
        [sys.executable, "-I", "-S", str(launcher), str(out), sys.executable, "-c", "exit(3)"]
    )
    assert failing.returncode == 3
