"""What sending a big file's parts while it is hashed would save: ``python -m bench.overlap``.

A measurement for issue 28, not a part of flask-s3. On one private SeaweedFS, the large
profile's file goes up as a multipart upload two ways, alternating:

- ``sequential``: as ``flask-s3 apply`` does today, the plan's read hashes the file (the whole
  MD5 and each part's, ``parts.digest_file``), then the upload sends the parts, 8 at a time;
- ``overlapped``: each part is sent (sendfile, with the Content-MD5 just taken) as soon as the
  same read has hashed it, so the upload runs under the hashing instead of after it.

Both take the same digests from the same one read and send the same requests; only the order
in time differs. Prints each run's wall time and CPU seconds, then the medians.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import mmap
import os
import queue
import secrets
import statistics
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

from flask_s3.assets import parts
from flask_s3.s3 import open_store
from flask_s3.s3.filerange import FileRange
from flask_s3.s3.store import Store
from flask_s3.spec import BucketSpec, Spec, UploadSpec
from flask_s3.tools.seaweedfs import LocalS3

from . import trees
from .run import make_bucket
from .tools import WORK

KEY = "static/video/big.bin"
HEADERS = {"Content-Type": "application/octet-stream"}
IN_FLIGHT = 8


def send(store: Store, path: str, upload_id: str, number: int, step: int, md5: str) -> str:
    size = os.path.getsize(path)
    offset = (number - 1) * step
    length = min(step, size - offset)
    return store.upload_part(
        KEY,
        upload_id,
        number,
        lambda: cast(IO[bytes], FileRange(path, offset, length)),
        size=length,
        md5_b64=md5,
    )


def sequential(store: Store, path: str) -> None:
    taken = parts.digest_file(path)
    upload_id = store.create_multipart_upload(KEY, HEADERS)
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        sent = [
            pool.submit(send, store, path, upload_id, n, taken.step, md5)
            for n, md5 in enumerate(taken.parts, start=1)
        ]
        etags = [f.result() for f in sent]
    store.complete_multipart_upload(KEY, upload_id, list(enumerate(etags, start=1)))


def overlapped(store: Store, path: str) -> None:
    size = os.path.getsize(path)
    step = parts.part_size(size)
    upload_id = store.create_multipart_upload(KEY, HEADERS)
    pool = ThreadPoolExecutor(IN_FLIGHT)
    sent: list[Future[str]] = []
    work: queue.SimpleQueue[Any] = queue.SimpleQueue()
    slots = threading.BoundedSemaphore(parts.DEPTH)

    def hash_parts() -> None:  # whole windows: WINDOW divides the 8 MiB part of a 1 GiB file
        digest, filled, number = hashlib.md5(), 0, 0
        while (window := work.get()) is not None:
            digest.update(window)
            filled += len(window)
            window.close()
            slots.release()
            if filled == step or number * step + filled == size:
                number += 1
                md5 = base64.b64encode(digest.digest()).decode()
                sent.append(pool.submit(send, store, path, upload_id, number, step, md5))
                digest, filled = hashlib.md5(), 0

    helper = threading.Thread(target=hash_parts)
    helper.start()
    whole = hashlib.md5()
    with open(path, "rb") as fh:
        offset = 0
        while offset < size:
            length = min(parts.WINDOW, size - offset)
            slots.acquire()
            window = mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_READ, offset=offset)
            whole.update(window)
            work.put(window)
            offset += length
    work.put(None)
    helper.join()
    etags = [f.result() for f in sent]
    pool.shutdown()
    store.complete_multipart_upload(KEY, upload_id, list(enumerate(etags, start=1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    app_dir = trees.build_large(WORK / "trees", args.mib * 1024 * 1024)
    path = str(app_dir / "static" / "video" / "big.bin")
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    ).start()
    ways = {"sequential": sequential, "overlapped": overlapped}
    got: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    try:
        for rep in range(args.reps):
            for name in list(ways)[:: 1 if rep % 2 == 0 else -1]:
                bucket = f"o-{secrets.token_hex(5)}"
                make_bucket(server, bucket)
                spec = Spec(
                    bucket=BucketSpec(
                        name=bucket, endpoint_url=server.endpoint_url, region="us-east-1"
                    ),
                    upload=UploadSpec(concurrency=16),
                )
                store = open_store(spec, access_key=server.access_key, secret_key=server.secret_key)
                began, cpu = time.perf_counter(), os.times()
                ways[name](store, path)
                done = os.times()
                sample = (
                    time.perf_counter() - began,
                    done.user - cpu.user + done.system - cpu.system,
                )
                got[name].append(sample)
                print(f"{name:10} wall {sample[0]:6.2f} s  cpu {sample[1]:5.2f} s", flush=True)
    finally:
        server.stop()
    for name, samples in got.items():
        print(
            f"{name:10} median wall {statistics.median(s[0] for s in samples):6.2f} s  "
            f"cpu {statistics.median(s[1] for s in samples):5.2f} s"
        )
    ratios = [o[0] / s[0] for o, s in zip(got["overlapped"], got["sequential"], strict=True)]
    print(f"overlapped/sequential median ratio {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
