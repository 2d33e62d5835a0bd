"""Fewer malloc arenas for a big plan: glibc gives each thread that allocates its own arena.

A plan of 200,000 files runs the local scan, the listing ranges and the uploads in threads;
with one arena each, memory freed by one thread is not reused by another, and the process's
peak grows by tens of megabytes (measured: 451 MB -> 387 MB for a 200,000-file no-op plan
with ``MALLOC_ARENA_MAX=2``). Python's own small-object allocator is untouched by this.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 2


def fewer_arenas() -> None:
    """As ``MALLOC_ARENA_MAX=2`` would, before any thread starts; a no-op off glibc, or when
    the user set ``MALLOC_ARENA_MAX`` themselves."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # musl and other C libraries have no mallopt
    mallopt(M_ARENA_MAX, ARENAS)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector paused while inventories are built, then as before.

    A 200,000-file plan allocates about a million objects that live until the end (assets,
    listed objects, manifest entries), none of them in a reference cycle; each collection
    walks them all again. Measured: a quarter of the no-op's CPU (11.4 -> 8.3 s). Memory does
    not grow: reference counting frees everything but cycles, and the few cycles made
    meanwhile (threads, futures) are collected once it runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
