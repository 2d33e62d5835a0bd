"""Memory and the collector for a big plan: fewer malloc arenas, fewer cyclic collections.

glibc gives each thread that allocates its own arena.
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

M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
ARENAS = 2
# Above the scan's 1 MiB reads (assets/local.py): at glibc's own 128 KiB every file read maps and
# unmaps a block of its own (measured: a cold 200,000-file plan took 50% more CPU).
MMAP_THRESHOLD = 2 * 1024 * 1024
COLLECT_EVERY = 50_000  # net container allocations between young collections (default 700)
_frozen_after_pause = [False]  # set by `flask-s3` itself: a process that ends with its command


def fewer_arenas() -> None:
    """As ``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=2097152`` would, before any thread starts;
    a no-op off glibc, and for each setting the user made themselves.

    The second keeps big blocks (a 200,000-entry dict's table) in mappings of their own,
    returned whole when freed. By default glibc raises that threshold to the size of each such
    block freed, up to 32 MB: the tables a growing dict lets go of then come from the heap,
    whose holes the rest of the plan only partly reuses. Measured on a 200,000-file no-op
    plan: 270 -> 247 MB peak, and 325 -> 290 MB with a cold hash cache.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # musl and other C libraries have no mallopt
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def fewer_collections() -> None:
    """Collect cyclic garbage less often during a command, and not once more at its exit.

    A plan allocates many objects that live until the end (modules, inventory records, listing
    answers) and makes few reference cycles. Python's default collects every 700 net container
    allocations, and each older-generation pass walks every live object again: measured on a
    2,000-file no-op, 10-15% of the run's CPU went into collections that freed next to nothing.
    At exit the interpreter walks everything once more; objects frozen by then are left to the
    process's end, which returns their memory anyway (finalizers at exit were never promised).
    """
    import atexit

    if gc.get_threshold()[0] >= COLLECT_EVERY:
        return  # done already (commands run in one process, as tests run them)
    gc.set_threshold(COLLECT_EVERY, 20, 20)
    atexit.register(gc.freeze)


@contextmanager
def collector_paused() -> Iterator[None]:
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
        if _frozen_after_pause[0]:
            # What the pause built lives to the command's end. The allocations it counted
            # would set off a young collection at once, walking all of it (20-60 ms after a
            # 2,000-file no-op, most runs, for a few hundred objects freed): frozen, it is left
            # out of every collection instead, and the count starts again.
            gc.freeze()
        if was_enabled:
            gc.enable()


_kept: list[object] = []


def keep_until_exit(*objects: object) -> None:
    """Keep ``objects`` (a 200,000-file plan's inventories) alive until the process ends, in
    a process that ends with its command (see ``freeze_after_pauses``): ``flask-s3`` leaves
    through ``os._exit`` (``__main__.leave``), which returns their memory whole, where freeing
    them one by one when the command returns took 0.4 s of a 200,000-file no-op (measured with
    py-spy). A program that calls the library frees them as before."""
    if _frozen_after_pause[0]:
        _kept.extend(objects)


def freeze_after_pauses() -> None:
    """Have ``collector_paused`` freeze what was built during each pause (see there).

    Only for a process that ends with its command (``flask-s3``, ``python -m flask_s3``): the
    few cycles made during a pause that are already garbage stay until the exit, which frees
    them with the rest. A program that calls the library keeps the collector as it was."""
    _frozen_after_pause[0] = True
