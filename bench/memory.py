"""Where a plan's memory goes: tracemalloc by line at each step of `flask-s3 plan`.

    cd APP_DIR && python -m bench.memory SPEC [--top 20]

Run from the app's folder with the spec's credentials in the environment (as for `flask-s3
plan`). Prints, after the listing, at the end of the local scan (just before its hash cache is
saved, where a big no-op peaks) and after the plan, what is allocated per source line and the
peak so far. tracemalloc slows the run about fourfold and counts Python's allocations only:
the process's RSS adds the interpreter, the libraries and malloc's own overhead.
"""

from __future__ import annotations

import argparse
import tracemalloc
from typing import Any

SHOWN = ("flask_s3/", "json/", "xml/", "<string>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spec")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    tracemalloc.start()
    import flask_s3.deployer.snapshot as snapshot
    import flask_s3.hashcache as hashcache
    from flask_s3.cli import take_snapshot

    marks: list[tuple[str, tracemalloc.Snapshot, float, float]] = []

    def mark(label: str) -> None:
        current, peak = tracemalloc.get_traced_memory()
        marks.append((label, tracemalloc.take_snapshot(), current / 1e6, peak / 1e6))

    def wrap(owner: Any, name: str, before: str | None, after: str | None) -> None:
        real = getattr(owner, name)

        def wrapped(*a: Any, **k: Any) -> Any:
            if before:
                mark(before)
            result = real(*a, **k)
            if after:
                mark(after)
            return result

        setattr(owner, name, wrapped)

    wrap(snapshot, "gather_remote", None, "after the listing")
    wrap(hashcache.HashCache, "save", "end of the local scan", None)
    wrap(snapshot, "decide", None, "after the plan")
    take_snapshot(args.spec, None, False, templates=True)
    for label, snap, current, peak in marks:
        print(f"== {label}: {current:.1f} MB allocated, peak so far {peak:.1f} MB")
        for stat in snap.statistics("lineno")[: args.top]:
            frame = stat.traceback[0]
            where = frame.filename
            for part in SHOWN:
                if part in where:
                    where = part + where.split(part, 1)[1] if part.endswith("/") else where
                    break
            print(f"  {stat.size / 1e6:7.1f} MB {stat.count:9,d}  {where}:{frame.lineno}")


if __name__ == "__main__":
    main()
