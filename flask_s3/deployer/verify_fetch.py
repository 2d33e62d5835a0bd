"""One URL of ``flask-s3 verify``: fetch it and compare what comes back with the local file.

Anonymous fetches go over plain HTTP(S) with no credentials and no redirects followed; signed
ones through the Store's streamed GET. The body streams into ``BodyCheck``, which hashes the
stored bytes (and the decoded ones when gzip-stored) without holding them, and stops reading
past the expected size: a hostile or broken answer cannot make us read forever.
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._version import __version__
from ..assets.local import CHUNK, LocalAsset, hash_file
from ..s3.errors import StoreCredentialsError, StoreError, StoreUnreachable

if TYPE_CHECKING:
    from ..s3.store import Store

CHECKED_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Cache-Control",
    "Content-Disposition",
    "Content-Language",
)
TIMEOUT = 30.0  # seconds per anonymous request (connect and each read)
Sink = Callable[[bytes], None]
SLACK = 64 * 1024  # a body this much longer than expected is cut off: never read endlessly


@dataclass(frozen=True)
class Target:
    """One URL to fetch and what it must serve."""

    key: str  # the S3 key (prefix included)
    url: str
    size: int | None  # of the stored bytes; None for a kept generation (not recorded)
    md5: str | None  # of the stored bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    asset: LocalAsset | None = None  # None for a kept generation
    origin: str | None = None  # send this Origin and expect it allowed (CORS)
    sri: str | None = None  # the integrity value the app renders


@dataclass(frozen=True)
class Result:
    key: str
    url: str
    problems: tuple[str, ...] = ()
    kept: bool = False  # from an earlier deploy that fingerprint.keep promises

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "url": self.url,
            "problems": list(self.problems),
            "kept": self.kept,
        }


class _TooLong(Exception):
    pass


class BodyCheck:
    """The sink a body streams into: MD5 of the stored bytes, and of the decoded bytes (with
    their SHA-384 for integrity) when gzip-stored. Bounded: never more than expected."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.raw = hashlib.md5()
        self.raw_size = 0
        asset = target.asset
        self.limit = (target.size or 0) + SLACK if target.size is not None else None
        gzipped = asset is not None and asset.gzip
        self.inflate = zlib.decompressobj(31) if gzipped else None
        # What a browser gets after decoding: the local file's bytes before gzip.
        self.original = original_digest(asset) if asset is not None and gzipped else None
        self.decoded = hashlib.md5()
        self.decoded_size = 0
        self.decode_problem: str | None = None
        self.sha = hashlib.sha384() if target.sri else None

    def __call__(self, block: bytes) -> None:
        self.raw_size += len(block)
        if self.limit is not None and self.raw_size > self.limit:
            raise _TooLong()
        self.raw.update(block)
        if self.inflate is None:
            if self.sha is not None:
                self.sha.update(block)
            return
        if self.decode_problem is not None:
            return
        try:
            data = self.inflate.decompress(block, CHUNK)
            while True:
                self._decoded(data)
                tail = self.inflate.unconsumed_tail
                if not tail or self.decode_problem is not None:
                    break
                data = self.inflate.decompress(tail, CHUNK)
        except zlib.error as exc:
            self.decode_problem = f"the gzip body cannot be decoded ({exc})"

    def _decoded(self, data: bytes) -> None:
        self.decoded_size += len(data)
        if self.original is not None and self.decoded_size > self.original[0]:
            self.decode_problem = "the decoded body is longer than the local file"
            return
        self.decoded.update(data)
        if self.sha is not None:
            self.sha.update(data)

    def problems(self) -> list[str]:
        """What differs from the local file (empty when the bytes are the same)."""
        target, asset = self.target, self.target.asset
        if asset is None:
            return []
        out: list[str] = []
        if asset.gzip:
            if self.decode_problem is None and self.inflate is not None and not self.inflate.eof:
                self.decode_problem = "the gzip body is truncated"
            if self.decode_problem is not None:
                return [self.decode_problem]
            assert self.original is not None
            size, md5 = self.original
            got = self.decoded.hexdigest()
            if (self.decoded_size, got) != (size, md5):
                out.append(
                    f"decoded body differs from the local file ({human(self.decoded_size)}, "
                    f"MD5 {got}; expected {human(size)}, MD5 {md5})"
                )
        else:
            got = self.raw.hexdigest()
            if (self.raw_size, got) != (target.size, target.md5):
                out.append(
                    f"body differs from the local file ({human(self.raw_size)}, MD5 {got}; "
                    f"expected {human(target.size or 0)}, MD5 {target.md5})"
                )
        if target.sri == "":
            out.append(
                "integrity: the app's manifest has no value for it, so pages render no "
                "integrity attribute; run `flask-s3 plan` and ship the manifest"
            )
        if self.sha is not None and not out:
            from ..assets.sri import sri_of_digest

            value = sri_of_digest(self.sha.digest())
            if value != target.sri:
                out.append(f"integrity: the body hashes to {value}, the app renders {target.sri}")
        return out


def original_digest(asset: LocalAsset) -> tuple[int, str]:
    """Size and MD5 of the bytes before gzip: what a browser gets after decoding."""
    if asset.content is not None:
        return len(asset.content), hashlib.md5(asset.content).hexdigest()
    return hash_file(asset.path)


def human(n: int) -> str:
    return f"{n:,} bytes"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is reported as the status it is; a browser's page would not get a 200."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect())


def request_headers(target: Target) -> dict[str, str]:
    """What a page's fetch sends, minus cookies and credentials (there are none to send).

    ``Accept-Encoding: identity``: what comes back is what is stored (a CDN's own compression
    would hide a Content-Encoding mismatch).
    """
    headers = {"User-Agent": f"flask-s3-verify/{__version__}", "Accept-Encoding": "identity"}
    if target.origin:
        headers["Origin"] = target.origin
    return headers


def fetch_through_proxy(target: Target, sink: Sink) -> tuple[int, dict[str, str]]:
    """``Anonymous.fetch`` through urllib, which honours the proxy the environment names."""
    request = urllib.request.Request(target.url, headers=request_headers(target), method="GET")
    try:
        response = _opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        with exc:
            exc.read(SLACK)
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}
    with response:
        answer = {k.lower(): v for k, v in response.getheaders()}
        if response.status == 200:
            while block := response.read(CHUNK):
                sink(block)
        return response.status, answer


class Anonymous:
    """GETs as a page makes them, with no credentials, over one keep-alive connection per
    worker thread and host (a new connection per URL costs a round trip or three each)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None

    def fetch(self, target: Target, sink: Sink) -> tuple[int, dict[str, str]]:
        """GET ``target.url``: the status and the lower-cased headers; the body goes to
        ``sink`` only for a 200. Redirects are not followed (reported as their status)."""
        parts = urlsplit(target.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {target.url}")
        if parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
            parts.hostname or ""
        ):
            return fetch_through_proxy(target, sink)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = request_headers(target)
        for attempt in (1, 2):
            conn, reused = self._take(parts.scheme, parts.netloc)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if reused and attempt == 1:
                    continue  # a kept connection the server had closed: once more, afresh
                raise
            except BaseException:
                conn.close()
                raise
            break
        try:
            answer = {k.lower(): v for k, v in response.getheaders()}
            if response.status != 200:
                conn.close()  # its body (an error page) is not worth draining
                return response.status, answer
            while block := response.read(CHUNK):
                sink(block)
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self.local.idle[(parts.scheme, parts.netloc)] = conn
        return response.status, answer

    def _take(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        idle: dict[tuple[str, str], http.client.HTTPConnection] = getattr(self.local, "idle", {})
        self.local.idle = idle
        conn = idle.pop((scheme, netloc), None)
        if conn is not None:
            return conn, True
        if scheme == "https":
            with self.lock:
                if self.context is None:
                    self.context = ssl.create_default_context()
            conn = http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=self.context)
        else:
            conn = http.client.HTTPConnection(netloc, timeout=TIMEOUT)
        with self.lock:
            self.opened.append(conn)
        return conn, False

    def close(self) -> None:
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()


def served_headers(raw: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased HTTP headers -> our canonical names, for the ones we compare."""
    return {name: raw[name.lower()] for name in CHECKED_HEADERS if raw.get(name.lower())}


def header_problems(planned: Mapping[str, str], served: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for name in CHECKED_HEADERS:
        want, got = planned.get(name), served.get(name)
        if want == got:
            continue
        shown_got = repr(got) if got is not None else "missing"
        shown_want = repr(want) if want is not None else "none"
        out.append(f"{name} is {shown_got}, planned {shown_want}")
    return out


def failure(target: Target, problem: str) -> Result:
    return Result(target.key, target.url, (problem,), target.asset is None)


def check_target(target: Target, fetcher: Anonymous | Store) -> Result:
    """Fetch one URL (anonymously, or signed through a Store) and compare."""
    problems: list[str] = []
    try:
        body = BodyCheck(target)
        if isinstance(fetcher, Anonymous):
            status, raw = fetcher.fetch(target, body)
            if status != 200:
                return failure(target, f"status {status}")
            served = served_headers(raw)
            if target.origin:
                allowed = raw.get("access-control-allow-origin")
                if allowed not in (target.origin, "*"):
                    problems.append(
                        f"CORS: no Access-Control-Allow-Origin for Origin {target.origin} "
                        f"(got {allowed!r}); browsers refuse assets fetched with "
                        "integrity, as module scripts or as fonts"
                    )
        else:
            served = fetcher.read_object(target.key, body)
    except _TooLong:
        return failure(target, f"body longer than the local file ({human(target.size or 0)})")
    except StoreError as exc:
        return failure(target, f"status {exc.status} ({exc.code})")
    except (StoreUnreachable, StoreCredentialsError) as exc:
        return failure(target, f"unreachable: {exc}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        return failure(target, f"unreachable: {reason}")
    if target.asset is None:  # a kept generation: its bytes and headers are not recorded
        return Result(target.key, target.url, (), True)
    problems[:0] = header_problems(target.headers, served) + body.problems()
    return Result(target.key, target.url, tuple(problems))
