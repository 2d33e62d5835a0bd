"""The remote side: what the bucket holds under our static roots, read through the Store."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..assets.keys import CONTROL_DIR, join_key, normalize_prefix
from ..errors import S3Error
from ..records import record
from ..s3.errors import (
    StoreCredentialsError,
    StoreError,
    StoreUnreachable,
    describe_error,
    s3_errors,
)
from ..s3.lock import LOCK_NAME, LockState, recall_release, try_read_state
from ..s3.manifest import MANIFEST_NAME, Manifest, ManifestEntry, decode_manifest
from ..s3.store import ObjectInfo, Store
from ..spec import Spec
from .bucket import read_settings

if TYPE_CHECKING:
    from .early import EarlyLook

LIST_WORKERS = 8  # sub-folders listed side by side
DIGEST_BATCH = 4096  # objects hashed at once in a fingerprint


def control_key(spec: Spec, name: str) -> str:
    """Keys we keep for ourselves under the prefix (manifest, lock)."""
    return join_key(normalize_prefix(spec.urls.prefix), CONTROL_DIR, name)


@record
class RemoteInventory:
    """Everything the planner needs to know about the bucket, gathered before it decides."""

    exists: bool = True
    region: str = ""  # the region the store signs for (an ARN's partition follows it)
    objects: dict[str, ObjectInfo] = field(default_factory=dict)  # under our static roots
    control: dict[str, ObjectInfo] = field(default_factory=dict)  # under PREFIX/.flask-s3/
    manifest: dict[str, ManifestEntry] | None = None
    manifest_state: str = "missing"  # ok | missing | corrupt
    generations: list[list[str]] = field(default_factory=list)  # fingerprinted deploys
    heads: dict[str, dict[str, str]] = field(default_factory=dict)  # headers the manifest lacks
    cors: list[dict[str, Any]] | None = None  # read only when the spec manages CORS
    policy: dict[str, Any] | None = None
    manifest_digest: bytes = field(default=b"", repr=False)  # SHA-256 of the bytes read
    lock: LockState | None = None  # the apply lock, as the lock-free look read it (None: unread)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        # Tuples led by their key, and no key twice: sorted by key without a call per object.
        ordered = sorted([*self.objects.values(), *self.control.values()])
        for start in range(0, len(ordered), DIGEST_BATCH):  # one update per batch
            batch = ordered[start : start + DIGEST_BATCH]
            digest.update("".join([f"{o.key}\0{o.etag}\0{o.size}\n" for o in batch]).encode())
        return "sha256:" + digest.hexdigest()


def gather_remote(
    store: Store,
    spec: Spec,
    roots: Sequence[str] | None = None,
    hints: Sequence[str] | None = None,
    earlier: RemoteInventory | None = None,
    early: EarlyLook | None = None,
) -> RemoteInventory:
    """What the bucket holds under our static roots and control folder, and its settings.

    ``roots`` are the key prefixes the app's static folders map to (``None``: the whole spec
    prefix). Objects elsewhere in the bucket are not ours and are never listed. The manifest
    is fetched while the listing runs. With ``hints`` (the local keys, roughly) the listing is
    split into key ranges listed side by side (``listing.py``). HEADs come later
    (``gather_heads``), once the local inventory says which keys need them. ``earlier`` (the
    lock-free look, when this is the look under the lock): a manifest read back byte for byte
    the same is not decoded again. ``early``: the requests already sent while the app imported
    (``early.py``), taken instead of sending them again.
    """
    prefix = normalize_prefix(spec.urls.prefix)
    control_prefix = join_key(prefix, CONTROL_DIR) + "/"
    manifest_key = control_key(spec, MANIFEST_NAME)
    if roots is None:
        prefixes = [f"{prefix}/" if prefix else ""]
    else:
        prefixes = listing_prefixes([*roots, control_prefix.rstrip("/")])
    inventory = RemoteInventory(region=store.region)
    # No HEAD first: the listing's answer says whether the bucket is there (and whose it is);
    # the manifest, the settings and (for the lock-free look) the lock are read in the same
    # wave. Their answers count only once the listing found the bucket: for a missing or
    # foreign bucket they are dropped unread (reads, so asking early costs nothing but the
    # round trip it saves).
    sent = early is not None and early.ready()
    lock_key = control_key(spec, LOCK_NAME)
    with ThreadPoolExecutor(max_workers=3) as pool:
        lock_read: Future[LockState | None] | None = None
        if early is not None and sent:
            fetched_early, settings, lock_read = early.manifest, early.settings, early.lock
        else:
            if earlier is None:
                # kept from this machine's last release: read before this look's requests go
                remembered = recall_release(store, lock_key)
                lock_read = pool.submit(try_read_state, store, lock_key, remembered)
            fetched_early = pool.submit(_try_read_manifest, store, manifest_key, earlier)
            settings = pool.submit(read_settings, store, spec)
        try:
            listed = early.listed(prefixes) if early is not None and sent else None
            if listed is None:
                # ranges the store's key order just failed: the plain way at once
                doubted = early is not None and early.doubted
                if early is not None:
                    early.listing_sent.set()  # the manifest's decode goes beside the listing
                listed = list_everything(store, prefixes, None if doubted else hints)
        except StoreError as exc:
            if exc.status == 404 and exc.code in ("NoSuchBucket", "404", "NotFound"):
                return RemoteInventory(exists=False, region=store.region)
            raise _listing_error(exc, store.bucket) from None
        except (StoreUnreachable, StoreCredentialsError) as exc:
            raise describe_error(exc, "list", store.bucket) from None
        fetched = fetched_early.result()
        inventory.cors, inventory.policy = settings.result()
        inventory.lock = lock_read.result() if lock_read is not None else None
    if early is not None and sent and hints:
        early.remember(prefixes, hints, listed)
    for obj in listed:
        if obj.key.startswith(control_prefix):
            inventory.control[obj.key] = obj
        else:
            inventory.objects[obj.key] = obj
    if manifest_key in inventory.control:
        if fetched is None:  # written between the GET and the listing: read it now
            fetched = read_manifest(store, manifest_key, earlier)
        manifest, inventory.manifest_digest = fetched
        inventory.manifest = manifest.entries if manifest.state == "ok" else None
        inventory.generations = manifest.generations
        inventory.manifest_state = manifest.state
    return inventory


def _listing_error(exc: StoreError, bucket: str) -> S3Error:
    if exc.code in ("AccessDenied", "AllAccessDisabled", "403", "Forbidden"):
        owner = f" (bucket.expected_owner is {exc.expected_owner})" if exc.expected_owner else ""
        return S3Error(
            f"bucket {bucket!r} exists but these credentials may not use it",
            f"It belongs to another account{owner}, or the user lacks s3:ListBucket on it. "
            "Choose another bucket.name or grant access.",
        )
    return describe_error(exc, "list", bucket)


def gather_heads(store: Store, spec: Spec, remote: RemoteInventory, keys: Sequence[str]) -> None:
    """HEAD the objects whose headers the manifest cannot vouch for, into ``remote.heads``."""
    if not keys:
        return
    workers = max(1, min(spec.upload.concurrency, len(keys)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for key, headers in zip(
            keys, pool.map(lambda k: head_headers(store, k), keys), strict=True
        ):
            remote.heads[key] = headers


def list_everything(
    store: Store, prefixes: Sequence[str], hints: Sequence[str] | None
) -> list[ObjectInfo]:
    """Every object under ``prefixes``: by key ranges when hints allow it, checked, else plainly."""
    if hints:
        from .listing import list_ranges

        found = list_ranges(store, prefixes, hints)
        if found is not None:
            return found
    return list_under(store, prefixes)


def listing_prefixes(roots: Sequence[str]) -> list[str]:
    """``static`` -> ``static/``; a root inside another root is listed once, with it."""
    out: list[str] = []
    for prefix in sorted({f"{r}/" if r else "" for r in roots}):
        if not any(prefix.startswith(kept) for kept in out):
            out.append(prefix)
    return out


def list_under(store: Store, prefixes: Sequence[str]) -> list[ObjectInfo]:
    """Every object under each of ``prefixes``.

    A listing is a chain of pages, each waiting for the one before. Each prefix is first
    split into its sub-folders (one request with a delimiter), and the sub-folders are listed
    side by side: the same objects, in a fraction of the time.
    """
    found: list[ObjectInfo] = []
    folders: list[str] = []
    for prefix in prefixes:
        objects, subs = store.list_level(prefix)
        while len(subs) == 1 and not objects:  # static/ -> static/app/ -> ...
            objects, subs = store.list_level(subs[0])
        found.extend(objects)
        folders.extend(subs)
    if folders:
        with ThreadPoolExecutor(max_workers=min(LIST_WORKERS, len(folders))) as pool:
            for items in pool.map(lambda p: list(store.list_objects(p)), folders):
                found.extend(items)
    return found


def _try_read_manifest(
    store: Store,
    key: str,
    earlier: RemoteInventory | None,
    after: threading.Event | None = None,
) -> tuple[Manifest, bytes] | None:
    """The manifest, or None when it isn't there (or can't be read yet: the listing decides)."""
    try:
        return read_manifest(store, key, earlier, after)
    except S3Error:
        return None


# The longest a fetched manifest waits for the listing to be sent before it is decoded anyway
# (the app's import failed, say): the wait is for speed, never needed for an answer.
DECODE_WAIT = 5.0


def read_manifest(
    store: Store,
    key: str,
    earlier: RemoteInventory | None = None,
    after: threading.Event | None = None,
) -> tuple[Manifest, bytes]:
    """The manifest, and the SHA-256 of its bytes; decoded once ``after`` is set, if given.

    Decoding is a pure function of the bytes: when they are the ones ``earlier`` read, its
    decoded entries are taken (shared, never changed by their readers).

    ``after``: the early look's ``listing_sent``. Without the last run's ranges the listing
    waits for the local walk, and a big manifest's decode (a second of CPU at 200,000 keys,
    holding the interpreter's lock) would slow that walk, and with it the listing: the store
    then idles while this process parses. Fetched at once, it is decoded once the listing is
    out, beside it."""
    with s3_errors("read-manifest", store.bucket):
        body = store.get_object(key)
    if after is not None:
        after.wait(DECODE_WAIT)
    digest = hashlib.sha256(body).digest()
    if earlier is not None and earlier.manifest_digest == digest:
        return Manifest(earlier.manifest or {}, earlier.generations, earlier.manifest_state), digest
    return decode_manifest(body), digest


def head_headers(store: Store, key: str) -> dict[str, str]:
    with s3_errors("head", store.bucket):
        return store.head_object(key)
