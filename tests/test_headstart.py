"""The head start: `plan SPEC` and `apply SPEC` send the lock-free look before click is imported,
and everything else stays click's to parse and the command's to report.

Against the real SeaweedFS, through ``faultproxy`` (it sees every request and connection)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from clirun import flask_s3
from faultproxy import FaultProxy

from flask_s3.cli import main
from flask_s3.headstart import FLAGS, VALUED, spec_argument

APP = "from flask import Flask\napp = Flask(__name__, static_folder='static')\n"


def _project(tmp_path: Path, bucket: str, endpoint: str) -> Path:
    for folder in ("css", "js"):
        (tmp_path / "static" / folder).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "static" / folder / f"f{i}.txt").write_text(f"{folder} {i}")
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "deploy.yaml").write_text(
        f'version: 1\napp: "app:app"\nbucket: {{name: {bucket}, endpoint_url: {endpoint}}}\n'
    )
    return tmp_path


@pytest.mark.parametrize("name", sorted(VALUED))
def test_the_options_known_here_are_the_commands_own(name: str) -> None:
    command = main.commands[name]
    options = [p for p in command.params if isinstance(p, click.Option)]
    valued = {o for p in options if not p.is_flag for o in p.opts}
    flags = {o for p in options if p.is_flag for o in [*p.opts, *p.secondary_opts]}
    # every option is known, `--plan` excepted on purpose (nothing is sent before its check)
    assert valued - {"--plan"} == VALUED[name]
    assert flags == FLAGS[name]
    assert [p.name for p in command.params if isinstance(p, click.Argument)] == ["spec_path"]


@pytest.mark.parametrize(
    ("argv", "spec"),
    [
        (["apply", "d.yaml"], "d.yaml"),
        (["apply", "--app", "x:y", "d.yaml", "--force-refresh", "--verify"], "d.yaml"),
        (["apply", "--lock-timeout=5", "--wait", "d.yaml"], "d.yaml"),
        (["plan", "--format", "json", "--out", "p.json", "d.yaml", "--strict"], "d.yaml"),
        (["plan", "--out", "d.yaml", "x.yaml"], "x.yaml"),  # a value is not the SPEC
        (["plan", "--", "-odd.yaml"], "-odd.yaml"),
        (["apply", "d.yaml", "--plan", "p.json"], None),  # the saved plan is checked first
        (["apply", "--plan=p.json", "d.yaml"], None),
        (["plan", "d.yaml", "--help"], None),
        (["plan", "-h", "d.yaml"], None),
        (["plan", "d.yaml", "--bogus"], None),
        (["plan", "--force-refresh=yes", "d.yaml"], None),
        (["apply"], None),
        (["apply", "a.yaml", "b.yaml"], None),
        (["validate", "d.yaml"], None),
        (["--version"], None),
        ([], None),
    ],
)
def test_the_spec_is_found_only_in_a_command_line_made_of_known_options(
    argv: list[str], spec: str | None
) -> None:
    assert spec_argument(argv) == spec


def test_the_look_leaves_before_click_is_imported(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = FaultProxy(s3_env.port or 0)
    try:
        project = _project(tmp_path, bucket_name, proxy.endpoint_url)
        assert flask_s3(project, "apply", "deploy.yaml").returncode == 0  # ranges kept
        proxy.seen.clear()
        probe = (
            "import sys, time\n"
            "from flask_s3.headstart import begin\n"
            "begin(sys.argv[1:])\n"
            "print('click' in sys.modules, 'flask' in sys.modules)\n"
            "time.sleep(1)\n"  # the answers: a daemon thread's, kept from exit
        )
        result = subprocess.run(
            [sys.executable, "-c", probe, "plan", "deploy.yaml"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["False", "False"]
        paths = [path for method, path, _ in proxy.seen if method == "GET"]
        assert any("manifest.json" in p for p in paths), paths
        assert any("?policy" in p for p in paths), paths
        assert any("list-type" in p for p in paths), paths
        # and a real run sends that look once, not once more from the command
        proxy.seen.clear()
        noop = flask_s3(project, "apply", "deploy.yaml")
        assert noop.returncode == 0, noop.stderr
        paths = [path for method, path, _ in proxy.seen]
        assert sum("manifest.json" in p for p in paths) == 1, paths
        assert sum("?policy" in p for p in paths) == 1, paths
    finally:
        proxy.close()


def test_nothing_is_sent_for_a_stale_plan_a_bad_option_or_a_broken_spec(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = FaultProxy(s3_env.port or 0)
    try:
        project = _project(tmp_path, bucket_name, proxy.endpoint_url)
        saved = flask_s3(project, "plan", "deploy.yaml", "--out", "plan.json")
        assert saved.returncode == 0, saved.stderr
        (project / "other.yaml").write_text((project / "deploy.yaml").read_text())
        (project / "broken.yaml").write_text("version: 1\nbucket: {name: [\n")
        cases = [
            (("apply", "other.yaml", "--plan", "plan.json"), 1, "plan is stale"),
            (("plan", "deploy.yaml", "--bogus"), 2, "No such option '--bogus'"),
            (("plan", "broken.yaml"), 1, "broken.yaml"),
        ]
        for args, code, message in cases:
            proxy.seen.clear()
            proxy.accepted.clear()
            result = flask_s3(project, *args)
            assert result.returncode == code, (args, result.stderr)
            assert message in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.stderr
            time.sleep(0.2)  # a request a daemon thread had sent would have arrived by now
            assert proxy.seen == [] and proxy.accepted == [], (args, proxy.seen)
    finally:
        proxy.close()
