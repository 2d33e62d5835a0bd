"""First contact: one connection to the endpoint before a run's first request.

With nothing listening (a local S3 not started, a wrong port) or a host name that does not
resolve, botocore's standard retries spend several seconds of backoff on every request before
the error shows. The check here connects once, to the host and port botocore's requests go to,
with botocore's connect timeout and a budget of one attempt: the decision botocore itself makes
for ``retries={"mode": "standard", "total_max_attempts": 1}`` (tests/test_s3_differential.py
holds the two side by side). A refused connection or an unresolvable host ends the run there;
anything else (a timeout, TLS) is left to the requests and their full retries, which stay
botocore's. The fast store keeps the connection for its first request, so the check costs no
round trip. AWS's own endpoints are left alone (they always listen); behind a proxy botocore
connects to the proxy, so there is nothing to check.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .errors import StoreUnreachable, describe_error

if TYPE_CHECKING:
    from ..spec import Spec
    from .fast import FastStore
    from .store import Store

# The run stops only on these: no server behind the address, or no address at all.
FAST_FAILURES = (ConnectionRefusedError, socket.gaierror)
T = TypeVar("T")


def check_endpoint(store: Store) -> None:
    """S3Error, on one line, when nothing can answer at the store's endpoint (see above)."""
    try:
        first_contact(store)
    except StoreUnreachable as exc:
        raise describe_error(exc, "connect", store.bucket) from None


def first_contact(store: Store) -> None:
    """Raise StoreUnreachable (refused or dns) when nothing can answer at the endpoint."""
    from .fast import FastStore

    if is_aws(store.endpoint):
        return  # AWS always listens; its requests keep botocore's full retries
    if isinstance(store, FastStore):
        host = store.target.host
        try:
            # a connection of its own: an idle one the warm-up just opened proves nothing new,
            # and the pool would end up one short
            connection = store.connections.open_new(host)
        except FAST_FAILURES as exc:
            raise _unreachable(exc, store.endpoint) from None
        except (OSError, ValueError):
            return  # timeouts, TLS...: the requests retry these as botocore does
        store.connections.give_back(host, connection)
        return
    from .boto import BotoStore  # its module only when it is the store (a millisecond)

    if isinstance(store, BotoStore):
        address = boto_address(store.client)
        if address is None:
            return
        try:
            with socket.create_connection(address[:2], timeout=address[2]):
                pass
        except FAST_FAILURES as exc:
            raise _unreachable(exc, store.endpoint) from None
        except (OSError, ValueError):
            return


def is_aws(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def boto_address(client: Any) -> tuple[str, int, float] | None:
    """(host, port, connect timeout) botocore's requests connect to, when it is the endpoint's.

    Only for path-style addressing (a custom endpoint), where every request goes to the
    endpoint URL's host; None behind a proxy (botocore connects to the proxy instead).
    """
    config = client.meta.config
    if (getattr(config, "s3", None) or {}).get("addressing_style") != "path":
        return None
    url = str(client.meta.endpoint_url)
    session = client._endpoint.http_session
    if session._proxy_config.proxy_url_for(url):
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port, float(config.connect_timeout)


def _unreachable(exc: BaseException, endpoint: str) -> StoreUnreachable:
    kind = "dns" if isinstance(exc, socket.gaierror) else "refused"
    return StoreUnreachable(kind, endpoint, str(exc))


WARM_CONNECTIONS = 16  # the first wave: listing ranges, the manifest, the bucket settings


def open_early(spec: Spec, opened: Callable[[Store], bool] | None = None) -> Callable[[], Store]:
    """Open the store, check the endpoint and connect, in a thread, while the app imports.

    Connecting (and a TLS handshake) is a round trip or two that needs nothing from the app;
    done beside the app's import, the first listing wave finds its connections open. The
    returned call waits for it and raises what opening raised (after the app's own errors).
    ``opened(store)`` is called as soon as the store is open, before the endpoint check (the
    early look sends its requests there: they connect beside the warm-up); it answers True when
    that was the whole first wave, listings included. Then no connection is opened ahead: the
    wave's requests open their own, and the ones that follow (the look under the lock, a
    listing done again) find those idle. Warm connections nobody used were a thread, a socket
    and a server-side accept each, on the CPU the listing needs.
    """
    return opening(spec, opened).result


def opening(spec: Spec, opened: Callable[[Store], bool] | None = None) -> Future[Store]:
    """``open_early``'s work, as the future of its thread (``headstart`` waits on it)."""
    from .resolve import open_store

    def run() -> Store:
        store = open_store(spec)
        whole_wave = opened(store) if opened is not None else False
        # the endpoint check's own connection and the warm ones, all in one round trip
        with warming(store, 0 if whole_wave else WARM_CONNECTIONS - 1):
            check_endpoint(store)
        return store

    return in_background(run, "flask-s3-open")


def in_background(call: Callable[[], T], name: str) -> Future[T]:
    """``call`` run in a daemon thread (a failed app import exits without waiting for it);
    what it returns or raises is handed to whichever thread asks the future."""
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(call())
        except BaseException as exc:  # raised in the thread that asks for the result
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


@contextmanager
def warming(store: Store, count: int) -> Iterator[None]:
    """Up to ``count`` connections opened side by side (beside the block) and left idle.

    They are opened while the block runs (the endpoint check connects too), so the whole set
    costs one round trip, not one for the check and one more for the rest; the block's error
    wins, and the warm connections are waited for either way.
    """
    from .fast import FastStore

    threads: list[threading.Thread] = []
    if isinstance(store, FastStore):  # botocore's pool opens its own, on first use
        count = min(count, store.connections.target.pool_size - 1)
        threads = _connecting(store, count)
    try:
        yield
    finally:
        for thread in threads:
            thread.join()


def top_up(store: Store, wanted: int) -> None:
    """Open connections in the background until ``wanted`` are idle (at most the pool's size).

    For a wave of requests about to start (the uploads, once the lock is held): opened while
    the lock's PUT and the look under it are in flight, the wave finds them ready instead of
    waiting a round trip for the ones it lacks. Nothing waits for them.
    """
    from .fast import FastStore

    if not isinstance(store, FastStore):
        return  # botocore's pool opens its own, on first use
    pool = store.connections
    with pool.lock:
        idle = len(pool.idle.get(store.target.host, []))
    _connecting(store, min(wanted, pool.target.pool_size) - idle)


def _connecting(store: FastStore, count: int) -> list[threading.Thread]:
    """``count`` threads started, each opening a connection and leaving it idle in the pool."""
    pool = store.connections
    host = store.target.host

    def connect() -> None:
        try:
            connection = pool.open_new(host)
        except (OSError, ValueError):
            return  # the requests themselves will meet it, with their retries
        pool.give_back(host, connection, unused=True)

    threads = [
        threading.Thread(target=connect, name="flask-s3-connect", daemon=True)
        for _ in range(max(0, count))
    ]
    for thread in threads:
        thread.start()
    return threads
