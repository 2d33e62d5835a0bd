"""`flask-s3 iam-policy`: the policy allows every S3 call a plan or an apply really sends, and
nothing else. The calls are recorded by a loopback proxy in front of SeaweedFS and mapped to
IAM actions here, by S3's REST rules, independently of flask_s3/tools/iam.py."""

from __future__ import annotations

import json
import re
import secrets
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
from click.testing import CliRunner
from faultproxy import FaultProxy

from flask_s3.cli import main
from flask_s3.remote.arns import partition_for

ROOT = Path(__file__).resolve().parent.parent
Call = tuple[str, str, "str | None"]  # (IAM action, resource ARN, s3:prefix of a listing)


def iam_calls(head: bytes, body: bytes) -> list[Call]:
    """The IAM actions one path-style S3 request needs, with their resources."""
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:])
    }
    path, _, query = target.partition("?")
    params = parse_qs(query, keep_blank_values=True)
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    the_bucket = f"arn:aws:s3:::{bucket}"
    acl = ["s3:PutObjectAcl"] if "x-amz-acl" in headers else []
    if key:
        obj = f"{the_bucket}/{key}"
        if method in ("GET", "HEAD"):
            return [("s3:GetObject", obj, None)]
        if method == "DELETE":
            return [("s3:DeleteObject", obj, None)]
        if method == "PUT" and "x-amz-copy-source" in headers:
            source = unquote(headers["x-amz-copy-source"]).lstrip("/")
            calls: list[Call] = [("s3:PutObject", obj, None)]
            calls.append(("s3:GetObject", f"arn:aws:s3:::{source}", None))
            return calls + [(a, obj, None) for a in acl]
        if method == "PUT" and not params:
            return [("s3:PutObject", obj, None)] + [(a, obj, None) for a in acl]
    else:
        if method == "HEAD":  # HeadBucket
            return [("s3:ListBucket", the_bucket, None)]
        if method == "GET" and "list-type" in params:
            return [("s3:ListBucket", the_bucket, params.get("prefix", [""])[0])]
        if method == "PUT" and not params:  # CreateBucket
            return [("s3:CreateBucket", the_bucket, None)] + [
                ("s3:PutBucketAcl", the_bucket, None) for _ in acl
            ]
        if method == "POST" and "delete" in params:  # DeleteObjects: each key is a DeleteObject
            keys = [e.text or "" for e in ET.fromstring(body).iter() if e.tag.endswith("Key")]
            return [("s3:DeleteObject", f"{the_bucket}/{k}", None) for k in keys]
        bucket_actions = {
            ("GET", "cors"): "s3:GetBucketCORS",
            ("PUT", "cors"): "s3:PutBucketCORS",
            ("DELETE", "cors"): "s3:PutBucketCORS",
            ("GET", "policy"): "s3:GetBucketPolicy",
            ("PUT", "policy"): "s3:PutBucketPolicy",
            ("DELETE", "policy"): "s3:DeleteBucketPolicy",
        }
        for (verb, sub), action in bucket_actions.items():
            if method == verb and sub in params:
                return [(action, the_bucket, None)]
    raise AssertionError(f"no IAM mapping for {method} {target}")


def glob(pattern: str) -> re.Pattern[str]:
    """IAM's `*` wildcard (ARNs and StringLike)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


def allowing(policy: dict[str, Any], call: Call) -> list[tuple[str, str]]:
    """The (action, resource pattern) pairs of ``policy`` that allow ``call``."""
    action, resource, prefix = call
    found = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if action not in statement["Action"]:
            continue
        condition = statement.get("Condition")
        if condition is not None:
            assert list(condition) == ["StringLikeIfExists"]
            patterns = condition["StringLikeIfExists"]["s3:prefix"]
            if prefix is not None and not any(glob(p).match(prefix) for p in patterns):
                continue
        found += [(action, r) for r in statement["Resource"] if glob(r).match(resource)]
    return found


def pairs(policy: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a, r) for s in policy["Statement"] for a in s["Action"] for r in s["Resource"]}


@dataclass
class Recording:
    proxy: FaultProxy
    calls: list[Call] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)  # User-Agent of each request

    def record(self, head: bytes, body: bytes) -> None:
        self.calls.extend(iam_calls(head, body))
        agent = re.search(rb"(?im)^user-agent:(.*)$", head)
        self.agents.add(agent.group(1).decode().strip() if agent else "")


@pytest.fixture
def recorder(s3_server: Any) -> Iterator[Recording]:
    port = int(s3_server.endpoint_url.rsplit(":", 1)[1])
    recording = Recording(FaultProxy(port))
    recording.proxy.on_request = recording.record
    yield recording
    recording.proxy.close()


def write_app(root: Path, module: str) -> None:
    package = root / module
    (package / "static" / "css").mkdir(parents=True)
    (package / "panel").mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from flask import Blueprint, Flask

            def create_app():
                app = Flask(__name__)
                panel = Blueprint("panel", __name__, static_folder="panel",
                                  static_url_path="/assets")
                app.register_blueprint(panel, url_prefix="/admin")
                return app
            """
        )
    )
    for name in ("a.txt", "b.txt", "gone.txt", "css/site.css"):
        (package / "static" / name).write_text(f"{name}\n" * 20)
    for name in ("admin.css", "old.css"):
        (package / "panel" / name).write_text(f"{name}\n" * 20)


def app_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A fresh app module in ``folder`` (importable, the working folder) and its spec's path."""
    module = f"iamapp_{secrets.token_hex(4)}"
    write_app(folder, module)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.chdir(folder)
    return module, folder / "deploy.yaml"


@dataclass
class PlayedRole:
    """The proxy plays IAM with ``policy``: a call it does not allow is answered 403."""

    policy: dict[str, Any] = field(default_factory=dict)
    denied: list[Call] = field(default_factory=list)

    def judge(self, head: bytes, body: bytes) -> str:
        refused = [c for c in iam_calls(head, body) if not allowing(self.policy, c)]
        self.denied.extend(refused)
        return "403" if refused else "pass"


def write_spec(path: Path, module: str, endpoint: str, bucket: str, max_age: int) -> None:
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            app: "{module}:create_app()"
            bucket:
              name: {bucket}
              region: us-east-1
              endpoint_url: {endpoint}
              cors: ["https://shop.example.com"]
              public_read_policy: true
            urls: {{prefix: site}}
            assets:
              prune: true
              headers: {{Cache-Control: "max-age=60"}}
              rules:
                - match: "static/b.txt"
                  headers: {{Cache-Control: "max-age={max_age}"}}
            upload: {{concurrency: 4}}
            """
        )
    )


def run(args: list[str]) -> str:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("store", ["fast", "boto3"])
def test_policy_allows_exactly_the_calls_plan_and_apply_send(
    store, recorder, s3_env, s3_client, bucket_name, tmp_path, monkeypatch
):
    proxy, calls = recorder.proxy, recorder.calls
    monkeypatch.setenv("FLASK_S3_STORE", store)
    module, spec = app_in(tmp_path, monkeypatch)
    write_spec(spec, module, proxy.endpoint_url, bucket_name, max_age=60)
    policies = {
        which: json.loads(run(["iam-policy", str(spec), "--for", which]))
        for which in ("plan", "apply")
    }
    assert calls == []  # printing a policy sends nothing

    sent: dict[str, list[Call]] = {"plan": [], "apply": []}

    def step(which: str) -> None:
        calls.clear()
        run([which, str(spec)])
        sent[which] += calls

    step("plan")  # the bucket is missing
    step("apply")  # create it, CORS, policy, uploads, manifest, lock
    static = tmp_path / module / "static"
    (static / "a.txt").write_text("changed\n")  # update
    (static / "gone.txt").unlink()  # prune
    (tmp_path / module / "panel" / "old.css").unlink()  # prune in the blueprint's folder
    step("plan")
    step("apply")  # the manifest records both pruned keys as ours: DeleteObject on the roots
    write_spec(spec, module, proxy.endpoint_url, bucket_name, max_age=600)  # copy in place
    s3_client.delete_object(Bucket=bucket_name, Key="site/.flask-s3/manifest.json.gz")  # HEADs
    step("plan")
    step("apply")

    for which, policy in policies.items():
        used = set()
        for call in sent[which]:
            allowed = allowing(policy, call)
            assert allowed, f"{which}: {call} is not allowed by the printed policy"
            used.update(allowed)
        assert used == pairs(policy), f"{which}: granted but never used: {pairs(policy) - used}"
    plan_actions = {a for a, _ in pairs(policies["plan"])}
    assert plan_actions == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetBucketCORS",
        "s3:GetBucketPolicy",
    }
    assert {a for a, _ in pairs(policies["apply"])} - plan_actions == {
        "s3:CreateBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:PutBucketCORS",
        "s3:PutBucketPolicy",
    }
    botocore_sent = {"Botocore/" in agent for agent in recorder.agents}
    assert botocore_sent == ({True} if store == "boto3" else {False})  # one store per run
    listed = {c[2] for c in sent["plan"] if c[2] is not None}
    assert {"site/static/", "site/admin/assets/", "site/.flask-s3/"} <= listed


def policy_for(tmp_path: Path, spec_text: str, which: str, *extra: str) -> dict[str, Any]:
    spec = tmp_path / "deploy.yaml"
    spec.write_text(textwrap.dedent(spec_text))
    return dict(json.loads(run(["iam-policy", str(spec), "--for", which, *extra])))


SHOP = 'version: 1\napp: "examples.shop:create_app()"\n'


def test_prefix_deploy_in_aws_cn_names_only_its_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    policy = policy_for(
        tmp_path,
        SHOP + "bucket: {name: shop-assets, region: cn-north-1}\nurls: {prefix: v2}\n",
        "apply",
    )
    folders = [
        "arn:aws-cn:s3:::shop-assets/v2/.flask-s3/*",
        "arn:aws-cn:s3:::shop-assets/v2/admin/assets/*",
        "arn:aws-cn:s3:::shop-assets/v2/static/*",
    ]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["FlaskS3ListOwnFolders"]["Resource"] == ["arn:aws-cn:s3:::shop-assets"]
    assert by_sid["FlaskS3ListOwnFolders"]["Condition"]["StringLikeIfExists"]["s3:prefix"] == [
        "v2/.flask-s3/*",
        "v2/admin/assets/*",
        "v2/static/*",
    ]
    assert by_sid["FlaskS3ReadObjects"]["Resource"] == folders
    assert by_sid["FlaskS3WriteObjects"]["Resource"] == folders
    # prune is off and no CDN marker: nothing is ever deleted (a lock is released by a write)
    assert "FlaskS3DeleteObjects" not in by_sid
    # CORS and the bucket policy are not managed by this spec: no right to them at all
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not {a for a in actions if "Cors" in a or "CORS" in a or "Policy" in a}
    assert all(r.startswith("arn:aws-cn:s3:::shop-assets") for _, r in pairs(policy))


def test_region_flag_gov_cloud_and_acl_rights(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = SHOP + "bucket: {name: gov-assets, region: us-gov-west-1, acl: public-read}\n"
    policy = policy_for(tmp_path, text, "apply")
    assert {r.split(":")[1] for _, r in pairs(policy)} == {"aws-us-gov"}
    assert ("s3:PutObjectAcl", "arn:aws-us-gov:s3:::gov-assets/static/*") in pairs(policy)
    assert ("s3:PutBucketAcl", "arn:aws-us-gov:s3:::gov-assets") in pairs(policy)
    plan = policy_for(tmp_path, text, "plan", "--region", "us-iso-east-1")
    assert {a for a, _ in pairs(plan)} == {"s3:ListBucket", "s3:GetObject"}
    assert {r.split(":")[1] for _, r in pairs(plan)} == {"aws-iso"}


def test_partitions_come_from_botocores_data():
    """Every region botocore's endpoint data lists maps to its partition (a second file of
    botocore's than the one flask_s3/tools/iam.py reads), and new regions follow the patterns."""
    import botocore.loaders

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    checked = 0
    for partition in endpoints["partitions"]:
        for region in partition["regions"]:
            assert partition_for(region) == partition["partition"], region
            checked += 1
    assert checked > 30
    assert {p["partition"] for p in endpoints["partitions"]} >= {"aws", "aws-cn", "aws-us-gov"}
    assert partition_for("cn-southwest-9") == "aws-cn"  # not yet listed, matched by pattern
    assert partition_for("us-gov-north-7") == "aws-us-gov"
    assert partition_for("garage") == "aws"  # a local store's made-up region, as botocore


def test_public_read_statement_uses_the_partition():
    from flask_s3.remote.bucket import policy_statement
    from flask_s3.spec import spec_from_dict

    spec = spec_from_dict(
        {"version": 1, "bucket": {"name": "cn-assets", "region": "cn-northwest-1"}}
    )
    assert policy_statement(spec)["Resource"] == "arn:aws-cn:s3:::cn-assets/*"


def test_for_is_required_and_checked(tmp_path):
    spec = tmp_path / "deploy.yaml"
    spec.write_text(SHOP + "bucket: {name: shop-assets}\n")
    result = CliRunner().invoke(main, ["iam-policy", str(spec), "--for", "deployer"])
    assert result.exit_code == 2
    assert "'deployer' is not one of 'plan', 'apply', 'deploy', 'admin'" in result.output


def test_runs_succeed_when_the_proxy_allows_only_the_printed_policy(
    recorder, s3_env, bucket_name, tmp_path, monkeypatch
):
    """The proxy plays IAM: a request the policy does not allow gets 403 AccessDenied. A spec
    that manages neither CORS nor the bucket policy: the plan's look at the bucket policy (to
    notice a leftover public-read statement) is refused and tolerated, nothing else is."""
    proxy = recorder.proxy
    module, spec = app_in(tmp_path, monkeypatch)
    spec.write_text(
        f'version: 1\napp: "{module}:create_app()"\n'
        f"bucket: {{name: {bucket_name}, region: us-east-1, endpoint_url: {proxy.endpoint_url}}}\n"
    )
    policies = {
        which: json.loads(run(["iam-policy", str(spec), "--for", which]))
        for which in ("plan", "apply")
    }
    iam = PlayedRole()
    proxy.judge = iam.judge
    iam.policy = policies["apply"]
    run(["apply", str(spec)])
    # A new bucket: created before the lock, then planned again under it; that plan's look at
    # the bucket policy is refused and tolerated, as the plan role's is below.
    assert {c[0] for c in iam.denied} <= {"s3:GetBucketPolicy"}
    (tmp_path / module / "static" / "a.txt").write_text("changed\n")
    iam.denied.clear()
    iam.policy = policies["plan"]
    result = CliRunner().invoke(main, ["plan", str(spec), "--detailed-exitcode"])
    assert result.exit_code == 2, result.output
    assert "1 to update" in result.output
    assert {c[0] for c in iam.denied} == {"s3:GetBucketPolicy"}
    # and the plan role really cannot deploy
    result = CliRunner().invoke(main, ["apply", str(spec)])
    assert result.exit_code == 1
    assert "AccessDenied" in result.output, result.output
    assert "s3:PutObject" in {c[0] for c in iam.denied}


def test_cloudfront_kms_and_bucket_encryption_join_only_when_configured():
    from flask_s3.spec import AssetsSpec, BucketSpec, CdnSpec, CloudFrontSpec, EncryptionSpec, Spec
    from flask_s3.tools.iam import policy_document

    plain = Spec(bucket=BucketSpec(name="shop", region="eu-west-1"))
    actions = {
        a for s in policy_document(plain, ["static"], "apply")["Statement"] for a in s["Action"]
    }
    assert not {a for a in actions if a.startswith(("cloudfront:", "kms:"))}
    assert "s3:PutEncryptionConfiguration" not in actions
    key = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd"
    spec = Spec(
        bucket=BucketSpec(name="shop", region="cn-north-1"),
        assets=AssetsSpec(encryption=EncryptionSpec(type="aws:kms", kms_key_id=key)),
        cdn=CdnSpec(cloudfront=CloudFrontSpec(distribution_id="E2QWRUHAPOMQZL")),
    )
    applied = {s["Sid"]: s for s in policy_document(spec, ["static"], "apply")["Statement"]}
    cdn = applied["FlaskS3InvalidateCdn"]
    assert cdn["Action"] == ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"]
    assert cdn["Resource"] == ["arn:aws-cn:cloudfront::*:distribution/E2QWRUHAPOMQZL"]
    assert applied["FlaskS3UseKmsKey"]["Resource"] == [key]
    assert set(applied["FlaskS3UseKmsKey"]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert applied["FlaskS3BucketEncryption"]["Action"] == ["s3:PutEncryptionConfiguration"]
    planned = {s["Sid"]: s for s in policy_document(spec, ["static"], "plan")["Statement"]}
    assert "FlaskS3InvalidateCdn" not in planned and "FlaskS3BucketEncryption" not in planned
    assert planned["FlaskS3UseKmsKey"]["Action"] == ["kms:Decrypt"]


def test_the_deploy_role_writes_objects_only_and_the_admin_role_the_bucket_settings(
    recorder, s3_env, bucket_name, tmp_path, monkeypatch
):
    """The split for teams: PutBucketPolicy can grant anyone anything on the bucket, so the
    deploy role of every merge gets objects only; bucket settings need the admin role. The
    proxy plays IAM with each printed policy in turn."""
    proxy = recorder.proxy
    module, spec = app_in(tmp_path, monkeypatch)
    write_spec(spec, module, proxy.endpoint_url, bucket_name, max_age=60)
    policies = {
        which: json.loads(run(["iam-policy", str(spec), "--for", which]))
        for which in ("deploy", "admin", "apply")
    }
    deploy_actions = {a for a, _ in pairs(policies["deploy"])}
    admin_actions = {a for a, _ in pairs(policies["admin"])}
    assert not deploy_actions & {"s3:PutBucketPolicy", "s3:PutBucketCORS", "s3:CreateBucket"}
    assert {"s3:PutBucketPolicy", "s3:PutBucketCORS", "s3:CreateBucket"} <= admin_actions
    assert policies["admin"] == policies["apply"]  # one role for everything, as before
    iam = PlayedRole()
    proxy.judge = iam.judge
    iam.policy = policies["admin"]
    run(["apply", str(spec)])  # the admin creates the bucket and its settings
    assert iam.denied == []
    iam.policy = policies["deploy"]
    (tmp_path / module / "static" / "a.txt").write_text("changed\n")
    assert "1 updated" in run(["apply", str(spec)])  # every merge: objects only
    assert iam.denied == []
    text = spec.read_text().replace("https://shop.example.com", "https://evil.example.com")
    spec.write_text(text)  # a pull request that changes a bucket setting
    result = CliRunner().invoke(main, ["apply", str(spec)])
    assert result.exit_code == 1
    assert "s3:PutBucketCORS" in result.output
    assert {c[0] for c in iam.denied} == {"s3:PutBucketCORS"}


def test_kms_and_cloudfront_statements_are_narrowed_or_say_why(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    base = SHOP + textwrap.dedent(
        """\
        assets: {encryption: {type: "aws:kms"}}
        cdn: {cloudfront: {distribution_id: E2QWRUHAPOMQZL}}
        """
    )
    spec = tmp_path / "deploy.yaml"
    spec.write_text(base + "bucket: {name: shop-assets, region: cn-north-1}\n")
    result = CliRunner().invoke(main, ["iam-policy", str(spec), "--for", "apply"])
    assert result.exit_code == 0, result.output
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    kms = statements["FlaskS3UseKmsKey"]
    assert kms["Resource"] == ["*"]
    assert kms["Condition"] == {
        "StringEquals": {"kms:ViaService": ["s3.cn-north-1.amazonaws.com.cn"]}
    }
    cdn = statements["FlaskS3InvalidateCdn"]["Resource"]
    assert cdn == ["arn:aws-cn:cloudfront::*:distribution/E2QWRUHAPOMQZL"]
    assert "the CloudFront distribution's account is unknown" in result.stderr
    assert "no KMS key ARN" in result.stderr

    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"
    spec.write_text(
        SHOP
        + textwrap.dedent(
            f"""\
            bucket: {{name: shop-assets, region: eu-west-1, expected_owner: "111122223333"}}
            assets: {{encryption: {{type: "aws:kms", kms_key_id: "{key}"}}}}
            cdn: {{cloudfront: {{distribution_id: E2QWRUHAPOMQZL}}}}
            """
        )
    )
    result = CliRunner().invoke(main, ["iam-policy", str(spec), "--for", "deploy"])
    assert result.exit_code == 0, result.output
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["FlaskS3UseKmsKey"]["Resource"] == [key]
    assert statements["FlaskS3UseKmsKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}
    }
    assert statements["FlaskS3InvalidateCdn"]["Resource"] == [
        "arn:aws:cloudfront::111122223333:distribution/E2QWRUHAPOMQZL"
    ]
    assert result.stderr == ""
    # A separate CloudFront profile is another identity: its account is named, or unknown.
    spec.write_text(
        SHOP
        + textwrap.dedent(
            """\
            bucket: {name: shop-assets, region: eu-west-1, expected_owner: "111122223333"}
            cdn:
              cloudfront: {distribution_id: E2QWRUHAPOMQZL, profile: cdn, account: "444455556666"}
            """
        )
    )
    result = CliRunner().invoke(main, ["iam-policy", str(spec), "--for", "admin"])
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["FlaskS3InvalidateCdn"]["Resource"] == [
        "arn:aws:cloudfront::444455556666:distribution/E2QWRUHAPOMQZL"
    ]
