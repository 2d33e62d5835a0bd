"""CloudFront invalidation as a planned action (``cdn.cloudfront``).

The plan lists the URL paths, as the CDN sees them, of objects whose cached copies went
stale: updated, header-updated and deleted ones. New objects were never cached, and a
fingerprinted name never changes content, so neither is listed. Too many paths collapse to
the fewest wildcards that cover them, never wider than a static root.

Apply sends the invalidation last, under the lock, after every upload and delete succeeded
and the manifest recorded them. A marker object (``.flask-s3/cdn-pending``) is written before
the first write and removed once CloudFront accepted the invalidation, so an apply that died
or failed in between makes the next plan invalidate the static roots.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..assets.keys import join_key, normalize_prefix, quote_key
from ..errors import CdnError
from ..spec import Spec

if TYPE_CHECKING:
    from ..assets.local import LocalInventory
    from ..plan import Action, Plan
    from ..s3.store import Store

ACTION = "invalidate-cdn"
STALE_KINDS = ("update", "update-headers", "delete")
PENDING_NAME = "cdn-pending"
POLL_SECONDS = 10.0
WAIT_LIMIT = 30 * 60.0
WaitProgress = Callable[[str, float], None]  # (CloudFront status, seconds waited)


# -- planning (pure) --------------------------------------------------------------------


def url_path(key: str) -> str:
    """The path a CDN serving the bucket sees for ``key``: the same quoting ``url_for`` uses."""
    return "/" + quote_key(key)


def root_paths(roots: Iterable[str]) -> list[str]:
    """URL paths of the static roots (``static`` -> ``/static``; the bucket root -> ``""``)."""
    return sorted({url_path(r).rstrip("/") for r in roots})


def stale_paths(spec: Spec, actions: Iterable[Action]) -> list[str]:
    """URL paths of the objects whose cached copies the actions make stale."""
    fingerprint = spec.assets.fingerprint
    hashed = re.compile(rf"\.[0-9a-f]{{{fingerprint.length}}}(?:\.[^./]*)?\Z")
    paths: set[str] = set()
    for action in actions:
        if action.action not in STALE_KINDS or action.key is None:
            continue
        if action.logical is not None:  # a fingerprinted name: its content never changes
            continue
        if action.action == "delete" and fingerprint.enabled and hashed.search(action.key):
            continue  # an old generation's hashed name, never cached under new content
        if action.action == "update-headers" and _encryption_only(action.changed):
            continue  # encryption at rest is invisible to a visitor
        paths.add(url_path(action.key))
    return sorted(paths)


def _encryption_only(changed: Mapping[str, Any] | None) -> bool:
    from ..headers import ENCRYPTION

    return bool(changed) and all(name in ENCRYPTION for name in changed or {})


def collapse(paths: Sequence[str], roots: Sequence[str], limit: int) -> list[str]:
    """At most ``limit`` paths covering ``paths``, wildcards as narrow as possible.

    Folders are collapsed deepest first (at one depth, the fullest first) into ``folder/*``
    until the list fits; no wildcard is wider than the static root holding its paths.
    """
    if len(paths) <= limit:
        return sorted(paths)
    ordered_roots = sorted(roots, key=len, reverse=True)

    def root_of(path: str) -> str:
        return next((r for r in ordered_roots if path.startswith(r + "/")), "")

    def folders(path: str) -> list[str]:
        """Folders holding ``path``, from its own up to its static root."""
        root = root_of(path)
        out = []
        folder = path.rsplit("/", 1)[0]
        while len(folder) >= len(root):
            out.append(folder)
            if folder == root:
                break
            folder = folder.rsplit("/", 1)[0]
        return out

    chains = {p: folders(p) for p in paths}
    under: dict[str, int] = {}
    for chain in chains.values():
        for folder in chain:
            under[folder] = under.get(folder, 0) + 1
    total = len(paths)
    collapsed: set[str] = set()
    by_depth: dict[int, list[str]] = {}
    for folder in under:
        by_depth.setdefault(folder.count("/"), []).append(folder)
    parents = {f: c[c.index(f) + 1 :] for c in chains.values() for f in c}
    for depth in sorted(by_depth, reverse=True):
        # Folders of one depth are disjoint: collapsing one leaves the others' counts alone.
        for folder in sorted(by_depth[depth], key=lambda f: (-under[f], f)):
            if total <= limit:
                break
            count = under[folder]
            if count < 2:
                continue
            collapsed.add(folder)
            total -= count - 1
            for parent in parents[folder]:
                under[parent] -= count - 1
        if total <= limit:
            break
    out: set[str] = set()
    for path, chain in chains.items():
        widest = next((f for f in reversed(chain) if f in collapsed), None)
        out.add(path if widest is None else widest + "/*")
    return sorted(out)


def plan_invalidation(
    spec: Spec, local: LocalInventory, actions: Sequence[Action], *, pending: bool = False
) -> Action | None:
    """The ``invalidate-cdn`` action these object actions need, or None.

    ``pending``: an earlier apply changed objects but its invalidation never went through
    (the marker is still in the bucket), so every static root is invalidated.
    """
    from ..plan import Action, ActionKind, Reason

    cloudfront = spec.cdn.cloudfront
    if cloudfront is None or cloudfront.invalidate == "off":
        return None
    roots = root_paths(local.roots)
    paths = stale_paths(spec, actions)
    any_change = any(a.key is not None for a in actions)
    if pending or (cloudfront.invalidate == "all" and any_change):
        reason = "pending" if pending else "all"
        targets = [f"{r}/*" for r in roots]
    elif paths:
        reason = "changed"
        targets = collapse(paths, roots, cloudfront.max_paths)
    else:
        return None
    return Action(
        ActionKind(ACTION),
        Reason(reason),
        cdn={
            "provider": "cloudfront",
            "distribution_id": cloudfront.distribution_id,
            "paths": paths,
            "invalidate": targets,
            "wait": cloudfront.wait,
        },
    )


def pending_key(spec: Spec) -> str:
    from ..assets.keys import CONTROL_DIR

    return join_key(normalize_prefix(spec.urls.prefix), CONTROL_DIR, PENDING_NAME)


def is_pending(spec: Spec, control_keys: Iterable[str]) -> bool:
    """Whether the marker of an invalidation that never went through is in the bucket."""
    return spec.cdn.cloudfront is not None and pending_key(spec) in set(control_keys)


# -- applying ---------------------------------------------------------------------------


def caller_reference(plan: Plan, action: Action) -> str:
    """Derived from the plan: the same plan retried asks CloudFront for the same batch,
    which CloudFront answers with the invalidation it already made."""
    cdn = action.cdn or {}
    digest = hashlib.sha256()
    for part in (
        cdn.get("distribution_id", ""),
        plan.spec_digest,
        plan.local.fingerprint,
        plan.remote.fingerprint,
        *cdn.get("invalidate", ()),
    ):
        digest.update(str(part).encode() + b"\0")
    return "flask-s3-" + digest.hexdigest()[:40]


def make_client(spec: Spec) -> Any:
    """The CloudFront client, made once per apply. Endpoint and credentials are botocore's
    (``AWS_ENDPOINT_URL_CLOUDFRONT`` points it elsewhere); ``profile`` picks another identity."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    cloudfront = spec.cdn.cloudfront
    profile = (cloudfront.profile if cloudfront else None) or spec.bucket.profile
    try:
        session = boto3.session.Session(profile_name=profile)
    except BotoCoreError as exc:  # ProfileNotFound and friends
        raise CdnError(
            f"cannot set up AWS credentials for CloudFront: {exc}",
            "Check cdn.cloudfront.profile (or bucket.profile) in the spec.",
        ) from None
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60
    )
    return session.client("cloudfront", region_name="us-east-1", config=config)


def invalidate(
    client: Any,
    plan: Plan,
    action: Action,
    *,
    wait: bool = False,
    progress: WaitProgress | None = None,
    poll_seconds: float = POLL_SECONDS,
    wait_limit: float = WAIT_LIMIT,
) -> str:
    """Send the invalidation; with ``wait``, poll until CloudFront completes it. Its id."""
    from botocore.exceptions import BotoCoreError, ClientError

    cdn = action.cdn or {}
    distribution = str(cdn.get("distribution_id"))
    targets = list(cdn.get("invalidate", ()))
    try:
        answer = client.create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={
                "Paths": {"Quantity": len(targets), "Items": targets},
                "CallerReference": caller_reference(plan, action),
            },
        )
        invalidation = answer["Invalidation"]
        ident = str(invalidation["Id"])
        status = str(invalidation.get("Status", ""))
        started = time.monotonic()
        while wait and status.lower() != "completed":
            waited = time.monotonic() - started
            if progress is not None:
                progress(status, waited)
            if waited >= wait_limit:
                raise CdnError(
                    f"CloudFront invalidation {ident} on distribution {distribution} is still "
                    f"{status} after {int(waited)} s",
                    "It goes on without us; check it in the CloudFront console.",
                )
            time.sleep(poll_seconds)
            answer = client.get_invalidation(DistributionId=distribution, Id=ident)
            status = str(answer["Invalidation"].get("Status", ""))
        if wait and progress is not None:
            progress(status, time.monotonic() - started)
        return ident
    except (BotoCoreError, ClientError) as exc:
        raise describe_cdn_error(exc, distribution) from None


_FIXES = {
    "NoSuchDistribution": "No distribution has this id in the account. Check "
    "cdn.cloudfront.distribution_id (the console's ID column, e.g. E2QWRUHAPOMQZL).",
    "AccessDenied": "These credentials may not invalidate it. Grant cloudfront:CreateInvalidation "
    "(and cloudfront:GetInvalidation for wait) on the distribution, or set "
    "cdn.cloudfront.profile to an identity that has them.",
    "TooManyInvalidationsInProgress": "CloudFront allows 15 wildcard paths (3000 paths) in "
    "progress at once. Wait for running invalidations to finish, or lower "
    "cdn.cloudfront.max_paths.",
    "InvalidArgument": "CloudFront refused the paths. Check the plan's invalidate-cdn action.",
}


def describe_cdn_error(exc: BaseException, distribution: str) -> CdnError:
    """One clear CdnError naming the distribution and the fix (never a secret)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    head = f"CloudFront invalidation on distribution {distribution} failed"
    if isinstance(exc, NoCredentialsError):
        return CdnError(
            f"{head}: no AWS credentials found",
            "Set AWS credentials in the environment, or cdn.cloudfront.profile in the spec.",
        )
    if isinstance(exc, EndpointConnectionError):
        return CdnError(f"{head}: cannot reach CloudFront", f"{exc}.")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "")
        return CdnError(f"{head}: {code}", _FIXES.get(code, str(err.get("Message") or "")))
    if isinstance(exc, BotoCoreError):
        return CdnError(f"{head}: {exc}")
    raise exc


def mark_pending(store: Store, spec: Spec) -> None:
    """Note in the bucket that objects are about to change before the CDN is told."""
    from ..s3.errors import s3_errors
    from ..s3.store import put_bytes
    from .encryption import spec_headers

    body = b"an apply changed objects; its CloudFront invalidation has not been sent yet\n"
    with s3_errors("upload", store.bucket):
        put_bytes(store, pending_key(spec), body, spec_headers(spec))


def clear_pending(store: Store, spec: Spec) -> None:
    from ..s3.errors import s3_errors

    with s3_errors("delete", store.bucket):
        store.delete_object(pending_key(spec))
