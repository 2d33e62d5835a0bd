"""The embedded SeaweedFS: real credentials checks, HTTP serving, metrics, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from flask_s3.errors import FlaskS3Error
from flask_s3.tools import seaweedfs as locals3
from flask_s3.tools.seaweedfs import LocalS3


def test_wrong_secret_is_refused(s3_server, s3_client, bucket_name):
    import boto3
    from botocore.config import Config

    bad = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        bad.create_bucket(Bucket=bucket_name)
    assert info.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")
    s3_client.create_bucket(Bucket=bucket_name)  # the right secret works


def test_objects_are_served_over_http_with_headers(s3_server, s3_client, bucket_name):
    s3_client.create_bucket(Bucket=bucket_name)
    before = s3_server.request_counts()
    s3_client.put_object(
        Bucket=bucket_name,
        Key="a.css",
        Body=b"x{}",
        ContentType="text/css",
        CacheControl="max-age=1",
    )
    after = s3_server.request_counts()
    assert after.get("PUT", 0) - before.get("PUT", 0) == 1
    # Anonymous reads are refused until a policy allows them; read with a signed URL.
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket_name, "Key": "a.css"}
    )
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"x{}"
        assert resp.headers["Content-Type"] == "text/css"
        assert resp.headers["Cache-Control"] == "max-age=1"


def test_stop_leaves_no_process_and_no_data_dir():
    server = LocalS3().start()
    pid = server.process.pid if server.process else 0
    data_dir = server.data_dir
    server.stop()
    assert not data_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(locals3.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlaskS3Error, match=r"flask-s3\[local\]"):
        locals3.find_weed()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_local_s3_command_stops_its_weed_on_sigterm(tmp_path, signum):
    """Issue 22: `flask-s3 local-s3` ended by SIGTERM/SIGHUP (CI, systemd, a closed terminal)
    must not leave its `weed` child running."""
    command = [sys.executable, "-m", "flask_s3", "local-s3", "--dir", str(tmp_path / "s3")]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    weed: list[int] = []
    try:
        assert cli.stdout is not None
        for line in cli.stdout:
            if line.startswith("Local S3 ready at"):
                break
        weed = _children(cli.pid)
        assert weed and all(_alive(pid) for pid in weed)
        cli.send_signal(signum)
        rest = cli.communicate(timeout=30)[0]
        assert "Stopped." in rest and "Traceback" not in rest
        assert not [pid for pid in weed if _alive(pid)]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        for pid in weed:  # the test's own grandchild, left behind only when the fix is absent
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
