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

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..assets.keys import join_key, normalize_prefix, quote_key
from ..assets.local import LocalAsset, LocalInventory
from ..s3.errors import StoreCredentialsError, StoreError, StoreUnreachable
from ..s3.manifest import MANIFEST_NAME, decode_manifest
from .verify_fetch import Anonymous, Result, Target, check_target

if TYPE_CHECKING:
    from flask import Flask

    from ..s3.store import Store
    from ..spec import Spec

REPORT_FORMAT = 1
ANY_ORIGIN = "https://flask-s3-verify.invalid"  # what we send when bucket.cors allows "*"
FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".otf", ".eot")
Progress = Callable[[int, int], None]  # (URLs done, URLs in all)


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
    from ..extension import URL_KEYS

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
    from ..extension import url_host

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
    from ..remote.inventory import control_key

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
    from ..assets.fingerprint import app_manifest_path, read_manifest

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
    from ..extension import url_host

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
        result = check_target(target, fetcher)
        if progress is not None:
            with lock:
                done += 1
                progress(done, len(chosen))
        return result

    count = max(1, min(workers or spec.upload.concurrency, len(chosen) or 1))
    fetcher: Anonymous | Store = Anonymous() if anonymous else store
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            report.results = list(pool.map(one, chosen))
    finally:
        if isinstance(fetcher, Anonymous):
            fetcher.close()
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
