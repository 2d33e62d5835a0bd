"""Round trips at a distance: a no-op is connect + one wave; a small change adds the lock's and
the upload's waves, nothing more. Measured behind the bench's delay proxy (tests/test_bench_proxy
tests the proxy itself), counted as the longest chain of exchanges that could not overlap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clirun import flask_s3

from bench.proxy import DelayProxy, critical_path

# Long enough that one wave's requests, started a few ms apart on a busy machine, still overlap.
RTT_MS = 150
ATTEMPTS = 3


def _chain(proxy: DelayProxy) -> tuple[int, list[str]]:
    window = proxy.take()
    labels = [f"{e.start:.3f}-{e.end:.3f} {e.label}" for e in window.exchanges]
    return critical_path([(e.start, e.end) for e in window.exchanges]), labels


def _listed_under_the_lock(labels: list[str]) -> bool:
    """True when a listing was sent after the lock's PUT (a look under the lock)."""

    def start(label: str) -> float:
        return float(label.split("-", 1)[0])

    taken = min(start(x) for x in labels if " PUT " in x and "lock.json" in x)
    return any(start(x) > taken for x in labels if "list-type" in x)


def test_a_no_op_is_one_wave_and_a_change_adds_only_the_lock_and_the_writes(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    static = tmp_path / "static"
    for folder in ("css", "js", "img/icons"):
        (static / folder).mkdir(parents=True)
        for i in range(3):
            (static / folder / f"f{i}.txt").write_text(f"{folder} {i}")
    (tmp_path / "app.py").write_text(
        "from flask import Flask\napp = Flask(__name__, static_folder='static')\n"
    )
    proxy = DelayProxy("127.0.0.1", s3_env.port or 0, RTT_MS).start()
    try:
        for name, endpoint in (("direct", s3_env.endpoint_url), ("far", proxy.endpoint_url)):
            (tmp_path / f"{name}.yaml").write_text(
                f'version: 1\napp: "app:app"\n'
                f"bucket: {{name: {bucket_name}, endpoint_url: {endpoint}}}\n"
            )
        first = flask_s3(tmp_path, "apply", "direct.yaml")
        assert first.returncode == 0, first.stderr

        # A machine busy past the RTT can serialise two requests of one wave: each count is
        # the best of up to ATTEMPTS runs, which shows what the design does (and an extra
        # round trip in the code fails every run).
        chains: list[int] = []
        for _ in range(ATTEMPTS):
            proxy.take()
            noop = flask_s3(tmp_path, "apply", "far.yaml")
            assert noop.returncode == 0, noop.stderr
            assert "No changes" in noop.stderr + noop.stdout
            chain, labels = _chain(proxy)
            # read-only: the lock is read beside the listing (for an apply), never written
            assert not any(
                "lock.json" in label and not label.split()[1] == "GET" for label in labels
            ), labels
            chains.append(chain)
            if chain <= 2:
                break
        # connect, then the listing, the manifest and the bucket policy side by side
        assert min(chains) == 2, (chains, labels)

        chains = []
        remembered: list[int] = []  # after a change made here: no look under the lock
        for attempt in range(ATTEMPTS + 1):
            (static / "css" / "f0.txt").write_text(f"changed {attempt}")
            change = flask_s3(tmp_path, "apply", "far.yaml")
            assert change.returncode == 0, change.stderr
            chain, labels = _chain(proxy)
            assert any("PUT" in label and "lock.json" in label for label in labels), labels
            chains.append(chain)
            stored = s3_client.get_object(Bucket=bucket_name, Key="static/css/f0.txt")
            assert stored["Body"].read() == f"changed {attempt}".encode()
            manifest_puts = [x for x in labels if "PUT" in x and "manifest.json" in x]
            assert len(manifest_puts) == 1, labels  # written once, beside the upload
            relisted = _listed_under_the_lock(labels)
            if attempt == 0:
                # the first change through this endpoint: nothing remembered of its lock, so
                # the bucket is looked at again under the lock
                assert relisted, labels
            else:
                # the lock released by the change before, taken on the same ETag: the first
                # look still holds and is not made again
                assert not relisted, labels
                remembered.append(chain)
            chains.append(chain)
            if attempt >= 1 and chain <= 5:
                break
        # connect, first look, lock, the look under the lock, the upload beside the manifest
        # (apply.recorded_ahead), unlock
        assert min(chains) <= 6, (chains, labels)
        # without the look under the lock: connect, first look, lock, upload, unlock
        assert min(remembered) <= 5, (chains, labels)
    finally:
        proxy.stop()
