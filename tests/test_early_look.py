"""The lock-free look starts before the app is imported; uploads keep to the concurrency.

Through the bench's delay proxy (its clock is ``time.monotonic``, the same one the app module
reads in its own process), against the real SeaweedFS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from clirun import flask_s3

from bench.proxy import DelayProxy
from flask_s3.remote.early import EarlyLook, load_ranges, valid_ranges
from flask_s3.remote.inventory import DECODE_WAIT, gather_remote
from flask_s3.s3 import open_store
from flask_s3.spec import load_spec

SLOW_APP = (
    "import time\n"
    "began = time.monotonic()\n"
    "time.sleep(1.5)\n"
    "from flask import Flask\n"
    "app = Flask(__name__, static_folder='static')\n"
    "with open('import.times', 'w') as out:\n"
    "    out.write(f'{began} {time.monotonic()}')\n"
)


def _project(tmp_path: Path, bucket: str, endpoint: str, app: str = SLOW_APP) -> Path:
    static = tmp_path / "static"
    for folder in ("css", "js", "img/icons"):
        (static / folder).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            (static / folder / f"f{i}.txt").write_text(f"{folder} {i}")
    (tmp_path / "app.py").write_text(app)
    _spec(tmp_path, "deploy.yaml", bucket, endpoint)
    return tmp_path


def _spec(tmp_path: Path, name: str, bucket: str, endpoint: str, extra: str = "") -> None:
    (tmp_path / name).write_text(
        f'version: 1\napp: "app:app"\nbucket: {{name: {bucket}, endpoint_url: {endpoint}}}\n'
        + extra
    )


def _range_file(tmp_path: Path) -> Path:
    files = list((tmp_path / "flask-s3-cache").glob("ranges-*.json"))
    assert len(files) == 1, files
    return files[0]


def test_the_look_is_answered_before_the_app_has_finished_importing(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = DelayProxy("127.0.0.1", s3_env.port or 0, 20).start()
    try:
        project = _project(tmp_path, bucket_name, proxy.endpoint_url)
        first = flask_s3(project, "apply", "deploy.yaml")
        assert first.returncode == 0, first.stderr
        saved = json.loads(_range_file(tmp_path).read_text())
        assert ["static/", ""] in saved["ranges"], saved  # the last run's ranges, kept

        written = _range_file(tmp_path).stat().st_mtime_ns
        proxy.take()
        noop = flask_s3(project, "apply", "deploy.yaml")
        assert noop.returncode == 0, noop.stderr
        assert _range_file(tmp_path).stat().st_mtime_ns == written  # a no-op writes nothing
        assert "No changes" in noop.stdout + noop.stderr
        exchanges = proxy.take().exchanges
        began, imported = map(float, (project / "import.times").read_text().split())
        answered = [e.label for e in exchanges if e.end < imported]
        labels = [f"{e.start - began:.3f}-{e.end - began:.3f} {e.label}" for e in exchanges]
        assert any("manifest.json" in label for label in answered), labels
        assert any("?policy" in label for label in answered), labels
        assert any("list-type" in label for label in answered), labels
        # and the look was not sent a second time once the app was there
        assert sum("manifest.json" in e.label for e in exchanges) == 1, labels
        assert sum("list-type" in e.label for e in exchanges) == len(saved["ranges"]), labels
    finally:
        proxy.stop()


HOSTILE = [
    b"\x00\xff not json",
    b"[" * 100_000,  # deep nesting
    json.dumps({"v": 1, "ranges": [["static/", ""]] * 10 + [["x" * 5000, ""]]}).encode(),
    b" " * 70_000 + b'{"v": 1, "ranges": [["static/", ""]]}',  # too big to be ours
    json.dumps({"v": 1, "ranges": [["other/", ""], ["static/", ""]]}).encode(),  # other prefixes
    # the right prefixes, boundaries that hide keys if trusted: the range after "static/a"
    # starts past the css folder, and a start that is not even under its prefix
    json.dumps(
        {"v": 1, "ranges": [[".flask-s3/", ""], ["static/", ""], ["static/", "static/js/"]]}
    ).encode(),
    json.dumps(
        {
            "v": 1,
            "ranges": [
                [".flask-s3/", ""],
                ["static/", ""],
                ["static/", "static/css/f0.txt"],
                ["static/", "static/img/icons/f3.txt"],
            ],
        }
    ).encode(),
]


def test_a_stale_or_hostile_range_cache_still_gives_the_right_plan(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    project = _project(tmp_path, bucket_name, s3_env.endpoint_url, app=SLOW_APP.replace("1.5", "0"))
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    path = _range_file(tmp_path)
    # The bucket changes behind the cache's back: one object gone, one only the bucket has.
    s3_client.delete_object(Bucket=bucket_name, Key="static/js/f2.txt")
    s3_client.put_object(Bucket=bucket_name, Key="static/css/zz-extra.txt", Body=b"x")
    for text in HOSTILE:
        path.write_bytes(text)
        result = flask_s3(project, "plan", "deploy.yaml", "--format", "json")
        assert result.returncode == 0, (text[:80], result.stderr)
        plan = json.loads(result.stdout)
        changed = sorted((a["action"], a["key"]) for a in plan["actions"])
        assert changed == [("upload", "static/js/f2.txt")], (text[:80], changed)
        assert "Traceback" not in result.stderr


def test_cached_ranges_are_read_only_when_they_partition_the_spec_prefix(tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text(
        'version: 1\napp: "app:app"\nbucket: {name: b-x}\nurls: {prefix: site}\n'
    )
    spec = load_spec(str(tmp_path / "deploy.yaml"))
    good = [["site/static/", ""], ["site/static/", "site/static/m"], ["site/.flask-s3/", ""]]
    assert [tuple(r) for r in valid_ranges(good, spec)] == [
        ("site/static/", "", "site/static/m"),
        ("site/static/", "site/static/m", None),
        ("site/.flask-s3/", "", None),
    ]
    for bad in (
        [["static/", ""]],  # outside the spec's prefix
        [["site/static/", "site/static/m"]],  # a prefix not listed from its start
        [["site/static/", ""], ["site/static/", "site/static/"]],  # start == prefix
        [["site/static/", ""], ["site/static/", "site/x"]],  # start outside its prefix
        [
            ["site/static/", ""],
            ["site/static/", "site/static/m"],
            ["site/static/", "site/static/a"],
        ],
        [["site/static/", ""], ["site/.f/", ""], ["site/static/", "site/static/z"]],  # repeated
        [["site/", ""], ["site/static/", ""]],  # nested: keys listed twice
        [["site/static/", ""]] * 70,  # too many
        [],
        {"site/static/": ""},
        [["site/static/", 3]],
    ):
        assert valid_ranges(bad, spec) == [], bad
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"v": 1, "ranges": good}) + " " * 70_000)
    assert load_ranges(huge, spec) == []
    assert load_ranges(tmp_path / "missing.json", spec) == []


def test_an_app_import_error_wins_over_the_early_look_errors(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    project = _project(tmp_path, bucket_name, s3_env.endpoint_url, app=SLOW_APP.replace("1.5", "0"))
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0  # a range file exists
    (project / "broken.py").write_text("import time\ntime.sleep(0.5)\nraise ValueError('boom')\n")
    # a bucket that is not there, and a port where nothing listens: the app's error is told
    for name, endpoint in (("gone", s3_env.endpoint_url), ("deaf", "http://127.0.0.1:9")):
        _spec(project, f"{name}.yaml", f"{bucket_name}-{name}", endpoint)
        result = flask_s3(project, "plan", f"{name}.yaml", "--app", "broken:app")
        assert result.returncode == 1, result.stderr
        assert "cannot load the Flask app 'broken:app': ValueError: boom" in result.stderr
        assert "Traceback" not in result.stderr
    # and with the app fine, the early look's errors are the usual ones
    deaf = flask_s3(project, "plan", "deaf.yaml")
    assert deaf.returncode == 1 and "cannot reach the S3 endpoint" in deaf.stderr, deaf.stderr
    gone = flask_s3(project, "plan", "gone.yaml", "--detailed-exitcode")
    assert gone.returncode == 2, gone.stderr
    assert "create-bucket" in gone.stdout or "create bucket" in gone.stdout.lower(), gone.stdout


ATTEMPTS = 3  # a machine busy past the RTT can serialise one wave's requests


def test_a_change_goes_up_in_waves_of_the_concurrency_and_never_more(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    project = _project(tmp_path, bucket_name, s3_env.endpoint_url, app=SLOW_APP.replace("1.5", "0"))
    proxy = DelayProxy("127.0.0.1", s3_env.port or 0, 150).start()
    try:
        _spec(project, "far.yaml", bucket_name, proxy.endpoint_url, "upload: {concurrency: 4}\n")
        assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
        files = sorted((project / "static").rglob("f*.txt"))
        waves: list[int] = []
        for attempt in range(ATTEMPTS):
            for count in (4, 7):  # as many files as the concurrency, then more
                for file in files[:count]:
                    file.write_text(f"changed {attempt} {count} {file.name}")
                proxy.take()
                result = flask_s3(project, "apply", "far.yaml")
                assert result.returncode == 0, result.stderr
                puts = [e for e in proxy.take().exchanges if e.label.startswith("PUT /")]
                uploads = [e for e in puts if "/static/" in e.label]
                assert len(uploads) == count, [e.label for e in puts]
                # never more in flight than the spec's concurrency: it is a cap (a sweep over
                # starts and ends; an end at the same instant as a start comes first)
                events = sorted([(e.start, 1) for e in uploads] + [(e.end, -1) for e in uploads])
                in_flight = peak = 0
                for _, step in events:
                    in_flight += step
                    peak = max(peak, in_flight)
                assert peak <= 4, [(e.start, e.end) for e in uploads]
                if count == 4:  # one wave: every upload sent before the first was answered
                    first_answer = min(e.end for e in uploads)
                    waves.append(1 + sum(e.start >= first_answer for e in uploads))
            if waves[-1] == 1:
                break
            time.sleep(0.1)
        assert min(waves) == 1, waves
        for file in files[:7]:
            key = file.relative_to(project).as_posix()
            body = s3_client.get_object(Bucket=bucket_name, Key=key)["Body"].read()
            assert body == file.read_bytes()
    finally:
        proxy.stop()


def test_early_ranges_on_a_store_listing_out_of_byte_order_still_list_everything(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    # SeaweedFS lists "static/hero/y.png" before "static/hero-x.png": the early ranges fail the
    # order check and the folders are listed one by one, the cache notwithstanding.
    s3_client.create_bucket(Bucket=bucket_name)
    project = _project(tmp_path, bucket_name, s3_env.endpoint_url, app=SLOW_APP.replace("1.5", "0"))
    (project / "static" / "hero").mkdir()
    (project / "static" / "hero" / "y.png").write_bytes(b"y")
    (project / "static" / "hero-x.png").write_bytes(b"x")
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    assert _range_file(tmp_path).exists()
    s3_client.delete_object(Bucket=bucket_name, Key="static/hero-x.png")
    s3_client.delete_object(Bucket=bucket_name, Key="static/hero/y.png")
    result = flask_s3(project, "plan", "deploy.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    changed = sorted((a["action"], a["key"]) for a in json.loads(result.stdout)["actions"])
    assert changed == [("upload", "static/hero-x.png"), ("upload", "static/hero/y.png")], changed


def test_without_kept_ranges_the_manifest_is_fetched_at_once_and_decoded_beside_the_listing(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str, monkeypatch: Any
) -> None:
    """The listing then waits for the local walk: a big manifest's decode (a second of CPU at
    200,000 keys) must not run during that walk, only once the listing is sent."""
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = DelayProxy("127.0.0.1", s3_env.port or 0, 20).start()
    try:
        project = _project(
            tmp_path, bucket_name, proxy.endpoint_url, app=SLOW_APP.replace("1.5", "0")
        )
        assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
        spec = load_spec(str(project / "deploy.yaml"))

        # a first run on this machine: no ranges kept
        monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / "fresh-cache"))
        store = open_store(spec)
        proxy.take()
        look = EarlyLook(spec)
        assert look.start(store) is False  # no listing in the first wave
        deadline = time.monotonic() + 5
        while not any("manifest.json" in e.label for e in proxy.take().exchanges):
            assert time.monotonic() < deadline, "the manifest GET was not sent at once"
            time.sleep(0.05)
        time.sleep(0.3)
        assert not look.manifest.done()  # fetched, and held until the listing is out
        began = time.monotonic()
        remote = gather_remote(store, spec, ["static"], ["static/css/f0.txt"], early=look)
        assert time.monotonic() - began < DECODE_WAIT - 1  # released by the listing, not the wait
        assert remote.manifest_state == "ok" and "static/css/f0.txt" in (remote.manifest or {})

        # the ranges kept by an earlier run: the listing goes in the first wave, and the
        # manifest is decoded as soon as it arrives
        monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / "flask-s3-cache"))
        look = EarlyLook(spec)
        assert look.start(store) is True
        fetched = look.manifest.result(timeout=DECODE_WAIT - 1)
        assert fetched is not None and fetched[0].state == "ok"
    finally:
        proxy.stop()
