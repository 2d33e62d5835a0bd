"""The example app, the GitHub Action (action.yml) and the CI recipes in examples/ci/: their
shape, their flask-s3 commands and flags, the security linter, and the scripts they run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from flask_s3.cli import main
from flask_s3.deployer.render import MARKER

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
SHA_PIN = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*\s*$", re.M)

INPUTS = {
    "spec",
    "command",
    "app",
    "python-version",
    "working-directory",
    "install",
    "comment",
    "version",
    "github-token",
}
OUTPUTS = {"exitcode", "has-changes", "plan-file"}

# The parts of GitHub's action metadata syntax a composite action may use.
ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "runs"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "author": {"type": "string"},
        "branding": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"icon": {"type": "string"}, "color": {"type": "string"}},
        },
        "inputs": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["description"],
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "required": {"type": "boolean"},
                    "default": {"type": "string"},
                    "deprecationMessage": {"type": "string"},
                },
            },
        },
        "outputs": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["description", "value"],
                "additionalProperties": False,
                "properties": {"description": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "runs": {
            "type": "object",
            "required": ["using", "steps"],
            "additionalProperties": False,
            "properties": {
                "using": {"const": "composite"},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            k: {"type": ["string", "object"]}
                            for k in (
                                "id",
                                "if",
                                "name",
                                "uses",
                                "run",
                                "shell",
                                "with",
                                "env",
                                "working-directory",
                            )
                        },
                        "oneOf": [
                            {"required": ["uses"], "not": {"required": ["run"]}},
                            {"required": ["run", "shell"], "not": {"required": ["uses"]}},
                        ],
                    },
                },
            },
        },
    },
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_action_metadata_follows_the_composite_action_syntax():
    action = load(ACTION)
    jsonschema.validate(action, ACTION_SCHEMA)
    assert set(action["inputs"]) == INPUTS and set(action["outputs"]) == OUTPUTS
    assert action["inputs"]["command"]["default"] == "plan"
    assert action["inputs"]["comment"]["default"] == "true"
    steps = action["runs"]["steps"]
    ids = {s["id"]: s for s in steps if "id" in s}
    text = ACTION.read_text()
    for name in re.findall(r"\binputs\.([\w-]+)", text):
        assert name in INPUTS, name
    for step_id, output in re.findall(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)", text):
        assert f"{output}=" in ids[step_id]["run"], (step_id, output)
    for output in action["outputs"].values():
        assert re.fullmatch(r"\$\{\{ steps\.run\.outputs\.[\w-]+ \}\}", output["value"])
    for step in steps:
        # inputs reach scripts through env, never pasted into the script (template injection)
        assert "${{" not in step.get("run", ""), step.get("name")


def test_third_party_actions_are_pinned_to_a_commit_with_the_version_beside_it():
    for path in (ACTION, GITHUB):
        text = path.read_text()
        uses = re.findall(r"uses: (\S+)", text)
        assert uses and len(SHA_PIN.findall(text)) == len(uses), path


def zizmor() -> str:
    found = Path(sys.executable).parent / "zizmor"
    assert found.exists(), "zizmor is pinned in requirements/dev.txt: make clean test"
    return str(found)


def github_workflows() -> list[Path]:
    return [p for p in sorted((ROOT / "examples" / "ci").glob("*.y*ml")) if "jobs" in load(p)]


def test_zizmor_finds_nothing_in_the_action_and_the_github_workflows():
    workflows = github_workflows()
    assert GITHUB in workflows and GITLAB not in workflows
    for path in (ACTION, *workflows):
        assert "zizmor:" not in path.read_text(), f"{path.name}: no findings may be silenced"
    result = subprocess.run(
        [zizmor(), "--offline", "--no-config", "--persona", "auditor", "--format", "json"]
        + [str(p) for p in (ACTION, *workflows)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = json.loads(result.stdout or "null")
    assert findings == [], [(f["ident"], f["desc"]) for f in findings or []]
    assert result.returncode == 0, result.stderr


def test_zizmor_does_find_what_the_issue_counted_in_the_old_recipe(tmp_path):
    """The linter run above can fail: on the recipe as it was, it reports 12 findings."""
    old = tmp_path / "old.yml"
    old.write_text(
        textwrap.dedent(
            """
            on: [pull_request, push]
            permissions: {contents: read, id-token: write, pull-requests: write}
            jobs:
              plan:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - run: pip install flask-s3
              apply:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - run: pip install flask-s3
            """
        )
    )
    result = subprocess.run(
        [zizmor(), "--offline", "--no-config", "--format", "json", str(old)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    idents = {f["ident"] for f in json.loads(result.stdout)}
    assert {"unpinned-uses", "artipacked", "excessive-permissions"} <= idents


def flask_s3_commands(script: str) -> list[list[str]]:
    """Every `flask-s3 COMMAND ...` in a shell script, with its arguments up to a redirect."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        at_command = r"(?:^\s*|[;&|]\s*|\bthen\s+)"  # not inside an echo's message
        for match in re.finditer(at_command + r"flask-s3 ([a-z][a-z-]*)([^;|&>#]*)", line):
            commands.append([match.group(1), *shlex.split(match.group(2))])
    return commands


def action_scripts() -> str:
    return "\n".join(s.get("run", "") for s in load(ACTION)["runs"]["steps"])


def gitlab_scripts() -> str:
    lines: list[str] = []

    def flatten(item: Any) -> None:
        if isinstance(item, list):
            for sub in item:
                flatten(sub)
        else:
            lines.append(str(item))

    for job in load(GITLAB).values():
        if isinstance(job, dict):
            flatten(job.get("script", []))
    return "\n".join(lines)


@pytest.mark.parametrize("where", ["action", "gitlab"])
def test_commands_and_flags_the_recipes_run_exist(where):
    commands = flask_s3_commands(action_scripts() if where == "action" else gitlab_scripts())
    expected = {"plan", "apply", "comment"} | ({"verify"} if where == "gitlab" else set())
    assert {c[0] for c in commands} == expected
    for command in commands:
        help_text = CliRunner().invoke(main, [command[0], "--help"]).output
        assert "Usage: " in help_text, command
        for flag in (a for a in command[1:] if a.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), (command[0], flag)


def test_github_recipe_least_permissions_per_job_and_the_action_inputs():
    workflow = load(GITHUB)
    inputs = set(load(ACTION)["inputs"])
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["plan"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert jobs["apply"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["plan-skipped-for-fork"]["permissions"] == {}
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"]
    assert "head.repo.full_name != github.repository" in jobs["plan-skipped-for-fork"]["if"]
    assert "refs/heads/main" in jobs["apply"]["if"]
    for name, role in (("plan", "FLASK_S3_PLAN_ROLE_ARN"), ("apply", "FLASK_S3_DEPLOY_ROLE_ARN")):
        steps = jobs[name]["steps"]
        checkout = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
        assert checkout and all(s["with"]["persist-credentials"] is False for s in checkout)
        aws = [s for s in steps if "configure-aws-credentials@" in s.get("uses", "")]
        assert aws[0]["with"]["role-to-assume"] == f"${{{{ vars.{role} }}}}"
        ours = [s for s in steps if "/flask-s3@" in s.get("uses", "")]
        assert len(ours) == 1 and set(ours[0]["with"]) <= inputs
        assert ours[0]["with"]["command"] == name
        upload = [s for s in steps if "upload-artifact@" in s.get("uses", "")]
        assert upload[0]["with"]["path"] == f"${{{{ steps.{ours[0]['id']}.outputs.plan-file }}}}"
    assert "aws_secret_access_key" not in GITHUB.read_text().lower()


def test_fork_pull_requests_get_a_notice_and_a_green_job(tmp_path):
    step = load(GITHUB)["jobs"]["plan-skipped-for-fork"]["steps"][0]
    summary = tmp_path / "summary.md"
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("::notice title=flask-s3::flask-s3 plan skipped: ")
    assert "forks get no AWS credentials" in summary.read_text()


def test_gitlab_recipe_jobs_rules_and_the_skip_for_forks():
    config = load(GITLAB)
    plan, apply = config["flask-s3 plan"], config["flask-s3 apply"]
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert apply["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'}
    ]
    assert (plan["stage"], apply["stage"]) == ("plan", "deploy")
    assert config["stages"] == ["plan", "deploy"]
    for job, role in ((plan, "$FLASK_S3_PLAN_ROLE_ARN"), (apply, "$FLASK_S3_DEPLOY_ROLE_ARN")):
        assert job["id_tokens"]["FLASK_S3_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
        assert job["variables"]["AWS_ROLE_ARN"] == role
    assert "plan.json" in plan["artifacts"]["paths"]
    assert "apply deploy.yaml --plan plan.json" in str(apply["script"])
    assert "flask-s3 comment plan.md" in str(plan["script"])
    # the very first thing the plan job does: without the project's variables, say so, pass
    skip = plan["script"][0]
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", skip + "\necho SHOULD-NOT-GET-HERE; exit 3"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "SHOULD-NOT-GET-HERE" not in result.stdout
    assert result.stdout.startswith("flask-s3 plan skipped: this pipeline has no credentials")
    with_vars = {"PATH": os.environ["PATH"], "FLASK_S3_GITLAB_TOKEN": "t"}
    with_vars["FLASK_S3_PLAN_ROLE_ARN"] = "arn:aws:iam::123456789012:role/plan"
    result = subprocess.run(
        ["bash", "-e", "-c", skip + "\necho GOES-ON"], env=with_vars, capture_output=True, text=True
    )
    assert result.stdout.strip() == "GOES-ON"


def run_action_step(step: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_action_plan_then_apply_against_the_local_s3(s3_env, bucket_name, tmp_path):
    """The action's own script, run as the runner would: outputs, summary, exit codes."""
    step = next(s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "run")
    spec = tmp_path / "deploy.yaml"
    spec.write_text(
        "version: 1\n"
        'app: "examples.shop:create_app()"\n'
        f"bucket: {{name: {bucket_name}, endpoint_url: {s3_env.endpoint_url}}}\n"
    )
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "FLASK_S3_SPEC": str(spec),
        "FLASK_S3_APP": "",
    }

    def outputs() -> dict[str, str]:
        pairs = (line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
        return dict(pairs)  # the runner keeps the last value of a name

    result = run_action_step(step, {**env, "FLASK_S3_COMMAND": "plan"}, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    plan_file = runner_temp / "flask-s3" / "plan.json"
    assert outputs() == {"exitcode": "2", "has-changes": "true", "plan-file": str(plan_file)}
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith(MARKER) and "create-bucket" in summary
    assert json.loads(plan_file.read_text())["counts"]["upload"] > 0

    (tmp_path / "output").unlink()
    result = run_action_step(step, {**env, "FLASK_S3_COMMAND": "apply"}, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs() == {"exitcode": "0", "has-changes": "true", "plan-file": str(plan_file)}
    assert "Apply complete:" in result.stdout

    (tmp_path / "output").unlink()
    result = run_action_step(step, {**env, "FLASK_S3_COMMAND": "plan"}, ROOT)
    assert outputs()["has-changes"] == "false" and outputs()["exitcode"] == "0"

    (tmp_path / "output").unlink()
    result = run_action_step(step, {**env, "FLASK_S3_COMMAND": "deploy"}, ROOT)
    assert result.returncode == 1 and "command must be plan or apply" in result.stdout
    spec.write_text("version: 1\nbucket: {name: x, unknown_key: 1}\n")
    result = run_action_step(step, {**env, "FLASK_S3_COMMAND": "plan"}, ROOT)
    assert result.returncode == 1 and outputs()["exitcode"] == "1"
    assert "Traceback" not in result.stderr


def test_example_page_uses_s3_urls_and_local_ones_when_off():
    from examples.shop import create_app

    html = create_app().test_client().get("/").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert assets and all(
        a.startswith("https://flask-s3-example.s3.amazonaws.com/") for a in assets
    )
    local = create_app(USE_S3=False).test_client().get("/").get_data(as_text=True)
    local_assets = re.findall(r'(?:href|src)="([^"]+)"', local)
    assert local_assets and all(a.startswith(("/static/", "/admin/assets/")) for a in local_assets)
    client = create_app(USE_S3=False).test_client()
    for url in local_assets:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("page", ["README.md", "docs/ci.md"])
def test_readme_and_ci_page_show_a_five_line_workflow_using_the_action(page):
    text = (ROOT / page).read_text()
    section = text[text.index("GitHub Actions in five lines") :]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(block.splitlines()) == 5
    steps = yaml.safe_load(block)["steps"]
    ours = [s for s in steps if s["uses"].startswith("OWNER/flask-s3@")]
    assert len(ours) == 1 and set(ours[0].get("with", {})) <= set(load(ACTION)["inputs"])
    assert steps[0]["with"]["persist-credentials"] is False
