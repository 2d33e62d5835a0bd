"""The local scan in a forked process, beside the listing: two cores instead of one lock.

The scan (stat, the hash cache, headers) and the listing's parse are both Python work; in one
process they take turns on the interpreter lock, so a no-op of 200,000 files costs the sum of
both. A child forked just before the listing starts scans with the app and spec it inherits
and sends the inventory back through a pipe, in frames of a few thousand assets (so neither
side holds the whole of it twice), while the parent lists.

It is only a way to the same inventory, taken when asked for (``FLASK_S3_SCAN_FORK=1``; see
``_pays`` for why not by default), on Linux with two cores or more and no thread but ours (a
lock another thread held at the fork would never be released in the child). Anything the
child cannot deliver (an unreadable file, a clash of names, any failure at all) makes the
parent scan again in its own process, where the error is raised as it always was. An
interrupted or failing parent kills and reaps the child.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from ..assets.local import LocalAsset, LocalInventory
from ..assets.scan import scan_app

if TYPE_CHECKING:
    from flask import Flask

    from ..spec import Spec

FRAME = 4096  # assets per frame
FORK_FROM = 5_000  # files: below this a thread does as well
PIPE_SIZE = 1024 * 1024  # Linux's default limit for an unprivileged pipe
_LENGTH = struct.Struct("<Q")
_OURS = ("flask-s3-open",)  # our thread that may still be finishing (s3/reach.py)


def start_scan(app: Flask, spec: Spec, files: int) -> ForkedScan | None:
    """A forked scan of ``app``'s static files (about ``files`` of them), or None where a fork
    would not pay or is not safe here."""
    if not _pays(files) or not _can_fork():
        return None
    _import_what_the_scan_may(spec)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about any other thread; ours are done or hold no lock (above)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child: its coverage is not collected)
        os.close(read_end)
        _child(app, spec, write_end)
    os.close(write_end)
    try:  # fewer hand-overs between the two processes (Linux's default pipe holds 64 KiB)
        import fcntl

        fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, AttributeError):
        pass
    return ForkedScan(pid, read_end, app, spec)


def _pays(files: int) -> bool:
    """Whether a second process is asked for and may gain more than it costs.

    The fork is not free: pages written after it are copied (both processes touch their
    objects' reference counts), and the inventory is pickled, sent and rebuilt, about 6 us a
    file in all. It gains the scan's time only while a core is idle for it, and a local S3
    server (SeaweedFS in the benchmark) is one more process wanting the same cores: measured
    on a shared two-core machine it lost as often as it won, so it is asked for, not assumed
    (``FLASK_S3_SCAN_FORK=1``), and never for a small tree."""
    return files >= FORK_FROM and os.environ.get("FLASK_S3_SCAN_FORK", "") == "1"


def _can_fork() -> bool:
    if sys.platform != "linux":
        return False
    if len(os.sched_getaffinity(0)) < 2:
        return False  # one core: the child would only take turns with the parent
    # our open thread may be returning still: give it a moment
    for _ in range(50):
        others = [t for t in threading.enumerate() if t is not threading.current_thread()]
        if not others:
            return True
        if any(t.name not in _OURS for t in others):
            return False  # an app's thread: it may hold a lock the child would need
        time.sleep(0.001)
    return False


def _import_what_the_scan_may(spec: Spec) -> None:
    """The modules the scan imports on demand, imported before the fork (not in the child)."""
    from ..assets import contenttypes, parts  # noqa: F401

    if spec.assets.fingerprint.enabled or spec.assets.integrity:
        from ..assets import bundlers, fingerprint  # noqa: F401


def _child(app: Flask, spec: Spec, out: int) -> None:  # pragma: no cover
    """Scan, send the inventory in frames, and leave without running the parent's exit code."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about a ^C
        inventory = scan_app(app, spec)
        with os.fdopen(out, "wb") as pipe:
            _send(inventory, pipe)
        status = 0
    except BaseException:
        pass
    finally:
        os._exit(status)


def _send(inventory: LocalInventory, pipe: Any) -> None:
    headers: dict[int, int] = {}
    header_sets: list[dict[str, str]] = []
    rows: list[tuple[Any, ...]] = []

    def frame(value: object) -> None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.write(_LENGTH.pack(len(data)))
        pipe.write(data)

    for asset in inventory.assets.values():
        number = headers.get(id(asset.headers))
        if number is None:  # numbered across frames: the parent keeps every set it was sent
            number = headers[id(asset.headers)] = len(headers)
            header_sets.append(asset.headers)
        rows.append(
            (
                asset.key,
                asset.path,
                asset.size,
                asset.md5,
                number,
                asset.gzip,
                asset.logical,
                asset.content,
                asset.sri,
            )
        )
        if len(rows) == FRAME:
            frame((header_sets, rows))
            header_sets, rows = [], []
    frame((header_sets, rows))
    frame(
        (
            "end",
            inventory.warnings,
            inventory.roots,
            inventory.names,
            inventory.integrity,
        )
    )


class ForkedScan:
    """The parent's side: the frames read back into a ``LocalInventory``, then the child reaped."""

    def __init__(self, pid: int, pipe: int, app: Flask, spec: Spec) -> None:
        self.pid, self.pipe, self.app, self.spec = pid, pipe, app, spec
        self.received: LocalInventory | None = None
        # Read as the child writes, beside the listing: the child never waits on a full pipe
        # for the parent to finish listing, and most frames are built by the time it has.
        self.reader = threading.Thread(target=self._read, name="flask-s3-scan", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            self.received = self._receive()
        except Exception:  # a broken frame: the parent scans again
            self.received = None

    def result(self) -> LocalInventory:
        try:
            self.reader.join()
            inventory = self.received
        finally:
            self.close()
        if inventory is None:  # the child could not deliver it: scan here, errors and all
            return scan_app(self.app, self.spec)
        return inventory

    def close(self) -> None:
        """Stop the child if it still runs (the parent failed or was interrupted); reap it."""
        if self.pid:
            pid, self.pid = self.pid, 0
            try:
                os.kill(pid, signal.SIGKILL)  # after its last frame it only exits
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.reader.join()  # the child is gone: the reader meets the end of the pipe
        if self.pipe >= 0:
            pipe, self.pipe = self.pipe, -1
            os.close(pipe)

    def _receive(self) -> LocalInventory | None:
        from sys import intern

        inventory = LocalInventory()
        header_sets: list[dict[str, str]] = []
        assets = inventory.assets
        with os.fdopen(self.pipe, "rb", closefd=False) as pipe:
            while True:
                head = pipe.read(_LENGTH.size)
                if len(head) < _LENGTH.size:
                    return None  # the child stopped before its last frame
                (size,) = _LENGTH.unpack(head)
                data = pipe.read(size)
                if len(data) < size:
                    return None
                value = pickle.loads(data)
                if value[0] == "end":
                    _, warnings_, roots, names, integrity = value
                    inventory.warnings, inventory.roots = warnings_, roots
                    inventory.names, inventory.integrity = names, integrity
                    return inventory
                more, rows = value
                header_sets += more
                for key, path, size_, md5, number, gzip, logical, content, sri in rows:
                    # interned as the scan does: the listing and manifest share these strings
                    key = intern(key)
                    assets[key] = LocalAsset(
                        key,
                        path,
                        size_,
                        intern(md5),
                        header_sets[number],
                        gzip,
                        logical,
                        content,
                        sri,
                    )
