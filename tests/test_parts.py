"""A large file's digests: the whole MD5 and each part's MD5 from one read, equal to hashlib's
over the same bytes; kept only while the file is unchanged; taken by the plan's own read, so
the upload reads the file once more, only to send it."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_s3.assets import parts
from flask_s3.assets.parts import MIB, digest_file, digest_parts, known, part_size
from flask_s3.assets.scan import scan_app
from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.snapshot import snapshot
from flask_s3.s3 import open_store
from flask_s3.spec import BucketSpec, Spec, UploadSpec


def expected(data: bytes, step: int) -> tuple[int, str, tuple[str, ...]]:
    return (
        len(data),
        hashlib.md5(data).hexdigest(),
        tuple(
            base64.b64encode(hashlib.md5(data[i : i + step]).digest()).decode()
            for i in range(0, len(data), step)
        ),
    )


class Trickle(io.RawIOBase):
    """A reader that hands out fewer bytes than asked, at odd sizes (as a pipe or a slow
    disk may): part boundaries then fall inside a block."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.rng = data, 0, random.Random(7)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.rng.randint(1, 700_000), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("size", [0, 1, 3 * MIB + 17, 4 * MIB, 9 * MIB - 1])
def test_one_read_gives_what_hashlib_gives(size: int):
    data = random.Random(size).randbytes(size)
    step = 2 * MIB
    assert digest_parts(io.BytesIO(data), step) == expected(data, step)
    assert digest_parts(Trickle(data), step) == expected(data, step)


def test_a_file_digest_is_kept_while_the_file_is_unchanged(tmp_path: Path):
    path = tmp_path / "big.bin"
    data = os.urandom(part_size(1) + 12345)  # two parts
    path.write_bytes(data)
    taken = digest_file(str(path))
    assert (taken.size, taken.md5, taken.parts) == expected(data, taken.step)
    assert [taken.span(n) for n in (1, 2)] == [(0, taken.step), (taken.step, 12345)]
    assert known(str(path), taken.md5) == taken
    assert known(str(path), "0" * 32) is None  # of other bytes than the plan's
    with open(path, "r+b") as fh:  # same size, other bytes
        fh.write(b"changed")
    assert known(str(path), taken.md5) is None
    assert not parts.unchanged(str(path), taken)


def spec_for(endpoint: str, bucket: str) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=endpoint),
        upload=UploadSpec(multipart_threshold=5 * MIB),
    )


def test_the_plan_takes_the_parts_only_of_files_that_go_up_in_parts(tmp_path: Path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "big.bin").write_bytes(os.urandom(6 * MIB))
    (static / "mid.bin").write_bytes(os.urandom(2 * MIB))
    app = Flask("parts", root_path=str(tmp_path))
    local = scan_app(app, spec_for("http://127.0.0.1:9", "b"))
    big, mid = local.assets["static/big.bin"], local.assets["static/mid.bin"]
    assert big.md5 == hashlib.md5((static / "big.bin").read_bytes()).hexdigest()
    assert known(big.path, big.md5) is not None
    assert known(mid.path, mid.md5) is None  # under the threshold: one PUT, no parts


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="Linux's per-process I/O count")
@pytest.mark.usefixtures("both_stores")
def test_the_upload_reads_the_file_once(tmp_path: Path, s3_env: Any, bucket_name: str, s3_client):
    """The plan hashed the file and its parts; the upload only sends it (read() or sendfile,
    both counted), where it used to read every part twice."""
    size = 20 * MIB + 333
    static = tmp_path / "static"
    static.mkdir()
    data = os.urandom(size)
    (static / "video.mp4").write_bytes(data)
    spec = spec_for(s3_env.endpoint_url, bucket_name)
    store = open_store(spec)
    snap = snapshot(spec, Flask("once", root_path=str(tmp_path)), store)
    before = _bytes_read()
    apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)
    read = _bytes_read() - before
    assert size <= read < size + 2 * MIB, read
    stored = s3_client.get_object(Bucket=bucket_name, Key="static/video.mp4")["Body"].read()
    assert stored == data


def test_a_failing_part_hasher_fails_the_read_without_leaving_it_waiting():
    """The reader waits for its buffers to come back from the part hasher: one the hasher
    could not give back must end the read with that error, not hang it."""
    free = [bytearray(MIB) for _ in range(2)]

    def blocks(whole: Any):
        for _ in range(6):  # more blocks than buffers: waits for the hasher to return them
            waited = time.monotonic()
            while not free:
                assert time.monotonic() - waited < 5, "the reader was left waiting"
                time.sleep(0.001)
            buffer = free.pop()
            whole.update(buffer)
            yield buffer, len(buffer)

    def give_back(buffer: bytearray) -> None:
        free.append(buffer)
        raise OSError("the part hasher failed")

    with pytest.raises(OSError, match="the part hasher failed"):
        parts._hash_both(blocks, MIB, give_back)
