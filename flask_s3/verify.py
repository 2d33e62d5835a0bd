"""Proof after deploy: fetch every asset URL the app emits, as a browser would, and compare.

For each file of the local inventory (and each key of the fingerprint generations ``keep``
promises) the URL is the one ``url_for`` gives (the CDN domain when configured, otherwise the
bucket URL), built by the same code the extension uses. Public assets are fetched anonymously
over plain HTTP(S), with no credentials; private ones through the Store, signed. The body is
hashed as it streams (decoded first when gzip-stored) and compared with the local file; the
headers with the planned ones; the CORS answer and the integrity value where browsers need them.
Nothing here writes anywhere.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .keys import join_key, normalize_prefix, quote_key
from .local import CHUNK, LocalAsset, LocalInventory, hash_file
from .s3.errors import StoreCredentialsError, StoreError, StoreUnreachable
from .s3.manifest import MANIFEST_NAME, decode_manifest

if TYPE_CHECKING:
    from flask import Flask

    from .s3.store import Store
    from .spec import Spec

REPORT_FORMAT = 1
CHECKED_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Cache-Control",
    "Content-Disposition",
    "Content-Language",
)
TIMEOUT = 30.0  # seconds per anonymous request (connect and each read)
SLACK = 64 * 1024  # a body this much longer than expected is cut off: never read endlessly
ANY_ORIGIN = "https://flask-s3-verify.invalid"  # what we send when bucket.cors allows "*"
FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".otf", ".eot")
Progress = Callable[[int, int], None]  # (URLs done, URLs in all)


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


@dataclass
class VerifyReport:
    """What was fetched and what differed; ``to_dict`` is what every renderer reads."""

    mode: str  # "anonymous" or "signed"
    base: str  # the URL base the app emits (scheme://host[/prefix])
    total: int  # URLs there are to check (before --sample)
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sample: int | None = None
    seed: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.problems]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """The report as data: counts, notes and every URL that failed, with its problems."""
        failed = self.failed
        return {
            "format_version": REPORT_FORMAT,
            "ok": not failed,
            "mode": self.mode,
            "base": self.base,
            "total": self.total,
            "checked": len(self.results),
            "passed": len(self.results) - len(failed),
            "failed": len(failed),
            "sample": self.sample,
            "seed": self.seed if self.sample is not None else None,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "failures": [r.to_dict() for r in failed],
        }


# -- what to fetch ------------------------------------------------------------------------


def url_config(app: Flask, spec: Spec) -> dict[str, Any]:
    """The URL settings the app's ``url_for`` uses: its config where FlaskS3 is set up on it,
    otherwise the spec's, with values set explicitly in ``app.config`` winning."""
    from .extension import URL_KEYS

    config = spec.flask_config()
    for key in URL_KEYS:
        value = app.config.get(key)
        if "s3" in app.extensions or value not in (None, ""):
            config[key] = value
    return config


def is_public(spec: Spec, config: Mapping[str, Any]) -> bool:
    """Whether browsers are meant to read the assets without credentials."""
    return bool(
        spec.bucket.public_read_policy
        or spec.bucket.acl == "public-read"
        or config.get("S3_CDN_DOMAIN")
    )


def cors_origins(spec: Spec) -> list[str]:
    cors = spec.bucket.cors
    if cors is None:
        return []
    return [ANY_ORIGIN if o == "*" else o for o in cors.allowed_origins]


def needs_cors(asset: LocalAsset, spec: Spec) -> bool:
    """Fetched by browsers as CORS requests: with an integrity attribute (assets.integrity),
    as module scripts (``.mjs``) and as web fonts."""
    name = (asset.logical or asset.key).lower()
    return spec.assets.integrity or name.endswith((".mjs", *FONT_SUFFIXES))


def build_targets(
    spec: Spec,
    local: LocalInventory,
    config: Mapping[str, Any],
    kept_keys: Sequence[str] = (),
    *,
    anonymous: bool = True,
    rendered: Mapping[str, str] | None = None,
) -> list[Target]:
    """Every URL to check, sorted by key: the inventory's, then kept generations' extras.

    ``rendered``: the integrity values the app renders (its manifest); "" marks a file it
    has none for. Without it, the values the local files give."""
    from .extension import url_host

    host = url_host(config)
    if host.startswith("//"):  # a scheme-relative URL: pages are served over HTTPS
        host = "https:" + host
    spec_prefix = normalize_prefix(spec.urls.prefix)
    app_prefix = normalize_prefix(str(config.get("S3_PREFIX") or ""))

    def url_of(key: str) -> str:
        relative = key[len(spec_prefix) + 1 :] if spec_prefix else key
        return f"{host}/{quote_key(join_key(app_prefix, relative))}"

    origins = cors_origins(spec) if anonymous else []
    targets: list[Target] = []
    for key in sorted(local.assets):
        asset = local.assets[key]
        origin = None
        if origins and needs_cors(asset, spec):
            origin = origins[len(targets) % len(origins)]  # each origin gets its turn
        sri = asset.sri
        if spec.assets.integrity and rendered is not None:
            sri = rendered.get(
                asset.logical or key[len(spec_prefix) + 1 if spec_prefix else 0 :], ""
            )
        targets.append(
            Target(key, url_of(key), asset.size, asset.md5, asset.headers, asset, origin, sri)
        )
    for key in sorted(set(kept_keys) - set(local.assets)):
        targets.append(Target(key, url_of(key), None, None))
    return targets


def kept_generation_keys(spec: Spec, store: Store) -> tuple[list[str], str | None]:
    """Keys of the fingerprint generations ``keep`` promises, from the bucket's manifest;
    and a note when they cannot be read."""
    if not spec.assets.fingerprint.enabled:
        return [], None
    from .remote import control_key

    try:
        body = store.get_object(control_key(spec, MANIFEST_NAME))
    except (StoreError, StoreUnreachable, StoreCredentialsError) as exc:
        return [], f"kept fingerprint generations unchecked: the manifest cannot be read ({exc})"
    manifest = decode_manifest(body)
    if manifest.state != "ok":
        return [], "kept fingerprint generations unchecked: the manifest is corrupt"
    keep = spec.assets.fingerprint.keep
    keys = {k for generation in manifest.generations[-keep:] for k in generation}
    return sorted(keys), None


def rendered_integrity(app: Flask, spec: Spec) -> tuple[dict[str, str] | None, str | None]:
    """The integrity values the app renders (read from the manifest it ships), and a note
    when they cannot be read (then the local files' values are checked instead)."""
    if not spec.assets.integrity:
        return None, None
    from .fingerprint import app_manifest_path, read_manifest

    path = app_manifest_path(app, spec)
    try:
        values = read_manifest(path).integrity
    except FileNotFoundError:
        return None, f"the app's manifest {path} is missing: integrity checked against the files"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, (
            f"the app's manifest {path} cannot be read ({exc}): integrity checked against the files"
        )
    return dict(values or {}), None


def choose_sample(targets: list[Target], sample: int | None, seed: int) -> list[Target]:
    """``sample`` targets picked by a seeded generator: the same seed, the same URLs."""
    if sample is None or sample >= len(targets):
        return targets
    picked = random.Random(seed).sample(range(len(targets)), sample)
    return [targets[i] for i in sorted(picked)]


# -- one fetch ----------------------------------------------------------------------------


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
            from .integrity import sri_of_digest

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


def fetch_anonymous(target: Target, sink: Callable[[bytes], None]) -> tuple[int, dict[str, str]]:
    """GET ``target.url`` with no credentials at all, as a browser's page would.

    ``Accept-Encoding: identity``: what comes back is what is stored (a CDN's own compression
    would hide a Content-Encoding mismatch). Returns the status and the lower-cased headers;
    the body goes to ``sink`` only for a 200.
    """
    headers = {"User-Agent": f"flask-s3-verify/{__version__}", "Accept-Encoding": "identity"}
    if target.origin:
        headers["Origin"] = target.origin
    request = urllib.request.Request(target.url, headers=headers, method="GET")
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


def check_target(target: Target, store: Store | None) -> Result:
    """Fetch one URL (anonymously, or through ``store`` when given) and compare."""
    problems: list[str] = []
    try:
        body = BodyCheck(target)
        if store is None:
            status, raw = fetch_anonymous(target, body)
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
            served = store.read_object(target.key, body)
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


# -- the whole run ------------------------------------------------------------------------


def verify_site(
    spec: Spec,
    app: Flask,
    local: LocalInventory,
    store: Store,
    *,
    sample: int | None = None,
    seed: int = 0,
    signed: bool | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Fetch and check every URL (or a seeded sample of ``sample``); never raises for a
    URL that fails: the report names it."""
    from .extension import url_host

    started = time.monotonic()
    config = url_config(app, spec)
    anonymous = not signed if signed is not None else is_public(spec, config)
    kept, note = kept_generation_keys(spec, store)
    rendered, integrity_note = rendered_integrity(app, spec)
    targets = build_targets(spec, local, config, kept, anonymous=anonymous, rendered=rendered)
    report = VerifyReport(
        mode="anonymous" if anonymous else "signed",
        base=url_host(config)
        + (
            f"/{quote_key(p)}"
            if (p := normalize_prefix(str(config.get("S3_PREFIX") or "")))
            else ""
        ),
        total=len(targets),
        sample=sample,
        seed=seed,
    )
    report.notes += [n for n in (note, integrity_note) if n]
    report.notes += setup_notes(spec, anonymous)
    chosen = choose_sample(targets, sample, seed)
    done = 0
    lock = threading.Lock()

    def one(target: Target) -> Result:
        nonlocal done
        result = check_target(target, None if anonymous else store)
        if progress is not None:
            with lock:
                done += 1
                progress(done, len(chosen))
        return result

    count = max(1, min(workers or spec.upload.concurrency, len(chosen) or 1))
    with ThreadPoolExecutor(max_workers=count) as pool:
        report.results = list(pool.map(one, chosen))
    report.seconds = time.monotonic() - started
    return report


def setup_notes(spec: Spec, anonymous: bool) -> list[str]:
    """What this run does not check, said once, so a pass is not read as more than it is."""
    notes: list[str] = []
    if not anonymous:
        notes.append(
            "fetched signed through the S3 API (the bucket is not public: no public read "
            "policy, ACL or CDN domain), so CORS answers are not checked"
        )
    elif spec.assets.integrity and not cors_origins(spec):
        notes.append(
            "assets.integrity is on but bucket.cors names no origin: CORS answers unchecked"
        )
    return notes
