"""The deploy spec: the example, interpolation, and a corpus of bad specs, each with the
located message a user sees from `flask-s3 validate`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_s3.errors import SpecError
from flask_s3.spec import Spec, load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).parent / "specs" / "bad"

# file -> (line, column, key path, a fragment of the message)
EXPECTED = {
    "01-syntax.yaml": (4, 1, "", "YAML syntax error"),
    "02-tab-indent.yaml": (3, 1, "", "indent with spaces, not tabs"),
    "03-duplicate-key.yaml": (4, 3, "bucket.name", "duplicate key (first given on line 3)"),
    "04-unknown-top-key.yaml": (4, 1, "bukcet", 'did you mean "bucket"?'),
    "05-misspelt-nested.yaml": (3, 3, "bucket.nmae", 'did you mean "name"?'),
    "06-wrong-type-bool.yaml": (4, 3, "bucket.create", 'expected true or false, got "maybe"'),
    "07-wrong-type-list.yaml": (5, 3, "assets.exclude", "expected a list"),
    "08-bad-scheme.yaml": (5, 3, "urls.scheme", 'expected one of relative, http, https; got "ftp"'),
    "09-bad-bucket-name.yaml": (3, 3, "bucket.name", "3-63 lowercase letters"),
    "10-bad-region.yaml": (4, 3, "bucket.region", "a region looks like eu-west-1"),
    "11-bad-endpoint.yaml": (4, 3, "bucket.endpoint_url", "an http:// or https:// URL"),
    "12-concurrency-zero.yaml": (5, 3, "upload.concurrency", "from 1 to 256, got 0"),
    "13-concurrency-huge.yaml": (5, 3, "upload.concurrency", "from 1 to 256, got 10000"),
    "14-concurrency-word.yaml": (5, 3, "upload.concurrency", 'from 1 to 256, got "many"'),
    "15-negative-max-delete.yaml": (5, 3, "assets.max_delete", "of 0 or more, got -1"),
    "16-missing-version.yaml": (1, 1, "", 'missing required key "version"'),
    "17-version-two.yaml": (1, 1, "version", "write `version: 1`; got 2"),
    "18-missing-bucket.yaml": (1, 1, "", 'missing required key "bucket"'),
    "19-missing-bucket-name.yaml": (2, 1, "bucket", 'missing required key "name"'),
    "20-empty.yaml": (1, 1, "", "the file is empty"),
    "21-list-top.yaml": (1, 1, "", "the top level must be a mapping"),
    "22-secret-key.yaml": (4, 3, "bucket.aws_secret_access_key", "credentials do not belong"),
    "23-password-in-headers.yaml": (6, 5, "assets.headers.X-Password", "credentials do not"),
    "24-undefined-var.yaml": (3, 3, "bucket.name", "FLASK_S3_TEST_UNDEFINED_BUCKET is not set"),
    "25-malformed-var.yaml": (5, 3, "urls.prefix", "unclosed `${`"),
    "26-glob-type.yaml": (5, 13, "assets.exclude[0]", "expected text, got 42"),
    "27-rule-without-match.yaml": (6, 7, "assets.rules[0]", 'missing required key "match"'),
    "28-header-name-space.yaml": (6, 5, "assets.headers.Cache Control", "not a valid header"),
    "29-alias-bomb.yaml": (1, 40, "", "expands to more than"),
    "30-python-tag.yaml": (2, 1, "bucket", "is not allowed"),
    "31-cors-post.yaml": (6, 28, "bucket.cors.allowed_methods[1]", 'GET, HEAD; got "POST"'),
    "32-not-utf8.yaml": (4, 11, "", "not UTF-8"),
    "33-many-problems.yaml": (4, 3, "bucket.acl", 'got "public"'),
    "34-fingerprint-length.yaml": (7, 5, "assets.fingerprint.length", "from 6 to 32, got 2"),
    "35-merge-key.yaml": (3, 1, "bucket", "merge keys (<<) are not supported"),
    "50-expires-not-a-date.yaml": (6, 5, "assets.headers.Expires", '"next tuesday" is not a date'),
    "51-expected-owner.yaml": (4, 3, "bucket.expected_owner", "12-digit AWS account id"),
    "52-duplicate-and-misspelt.yaml": (4, 3, "bucket.name", "duplicate key (first given on"),
    "53-bucket-adjacent-periods.yaml": (3, 3, "bucket.name", "two adjacent periods"),
    "54-bucket-ip-address.yaml": (3, 3, "bucket.name", "looks like an IP address"),
    "55-bucket-underscore-capitals.yaml": (3, 3, "bucket.name", "3-63 lowercase letters"),
    "56-bucket-xn-prefix.yaml": (3, 3, "bucket.name", "starts with 'xn--', which S3 reserves"),
    "57-bucket-s3alias-suffix.yaml": (3, 3, "bucket.name", "ends with '-s3alias', which S3"),
    "58-bucket-from-var-mrap.yaml": (3, 3, "bucket.name", "\"shop.mrap\" ends with '.mrap'"),
    "36-cloudfront-domain-as-id.yaml": (
        6,
        5,
        "cdn.cloudfront.distribution_id",
        'not the d123.cloudfront.net domain or an ARN; got "d111111abcdef8.cloudfront.net"',
    ),
    "37-cloudfront-id-from-var.yaml": (
        7,
        5,
        "cdn.cloudfront.distribution_id",
        "capital letters and digits such as E2QWRUHAPOMQZL, not the d123.cloudfront.net domain "
        'or an ARN; got "e2qwruhapomqzl"',
    ),
    "38-kms-key-without-kms.yaml": (
        7,
        5,
        "assets.encryption.kms_key_id",
        "a KMS key needs type: aws:kms (type is AES256)",
    ),
    "39-encryption-type.yaml": (
        5,
        16,
        "assets.encryption.type",
        'expected one of none, AES256, aws:kms; got "aes256"',
    ),
    "40-cloudfront-max-paths.yaml": (
        5,
        49,
        "cdn.cloudfront.max_paths",
        "from 1 to 3000, got 0",
    ),
    "36-glob-absolute.yaml": (
        5,
        25,
        "assets.exclude[1]",
        "keys have no leading slash; write static/",
    ),
    "37-glob-backslash.yaml": (6, 7, "assets.rules[0].match", "write static/fonts/*.woff2"),
    "38-glob-empty.yaml": (5, 13, "assets.exclude[0]", "must not be empty"),
    "39-glob-folder.yaml": (9, 9, "assets.fingerprint.exclude[1]", "write static/fonts/** for"),
    "40-glob-brace-alternative.yaml": (
        5,
        13,
        "assets.exclude[0]",
        "alternative '/static/js/*.map'",
    ),
    "41-glob-dotdot.yaml": (5, 13, "assets.exclude[0]", "'.' or '..' segment"),
    "42-glob-brace-bomb.yaml": (5, 13, "assets.exclude[0]", "expand to more than 1000"),
    "43-glob-globstar-in-name.yaml": (
        6,
        7,
        "assets.rules[0].match",
        "write static/js/**/*.js for any depth, or static/js/*.js",
    ),
}


def test_corpus_is_complete():
    assert sorted(EXPECTED) == sorted(p.name for p in BAD.glob("*.yaml"))
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_gives_a_located_message(name: str):
    line, column, path, fragment = EXPECTED[name]
    with pytest.raises(SpecError) as info:
        load_spec(BAD / name)
    matching = [p for p in info.value.problems if p.path == path]
    assert matching, [str(p) for p in info.value.problems]
    problem = matching[0]
    assert (problem.line, problem.column) == (line, column), str(problem)
    assert fragment in problem.message
    assert str(problem).startswith(f"{BAD / name}:{line}:{column}: ")


def test_every_problem_is_reported_at_once():
    with pytest.raises(SpecError) as info:
        load_spec(BAD / "33-many-problems.yaml")
    assert [p.path for p in info.value.problems] == [
        "bucket.acl",
        "urls.style",
        "upload.concurency",
    ]
    assert info.value.summary == "3 problems in the deploy spec"


def test_a_duplicate_key_does_not_hide_the_other_problems():
    with pytest.raises(SpecError) as info:
        load_spec(BAD / "52-duplicate-and-misspelt.yaml")
    found = [(p.path, p.message) for p in info.value.problems]
    assert found == [
        ("bucket.name", "duplicate key (first given on line 3); keep one"),
        ("assets.prnue", 'unknown key; did you mean "prune"?'),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "shop-assets",
        "a.b-c",
        "123",
        "shop.s3alias",  # the reserved suffix is "-s3alias"
        "xn-shop",
        "amzn-s3-demo",
        "sthree",
        "1.2.3.4.5",  # not the four-part IP form
        "mrap-shop",
    ],
)
def test_bucket_names_s3_accepts_pass(name: str):
    assert spec_from_dict({"version": 1, "bucket": {"name": name}}).bucket.name == name


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "-shop",
        "shop-",
        "shop..assets",
        "10.0.0.1",
        "sthree-shop",
        "amzn-s3-demo-shop",
        "shop--ol-s3",
        "shop--x-s3",
        "shop--table-s3",
    ],
)
def test_bucket_names_s3_refuses_are_refused(name: str):
    with pytest.raises(SpecError) as info:
        spec_from_dict({"version": 1, "bucket": {"name": name}})
    assert [p.path for p in info.value.problems] == ["bucket.name"]


def test_validate_command_exits_1_without_traceback_for_every_bad_spec():
    # One process for the whole corpus keeps this fast; each file is its own invocation.
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from flask_s3.cli import main\n"
        "for path in sys.argv[1:]:\n"
        "    r = CliRunner().invoke(main, ['validate', path])\n"
        "    print(path, r.exit_code, 'Traceback' in r.output, repr(r.exception))\n"
    )
    paths = [str(BAD / name) for name in sorted(EXPECTED)]
    out = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert len(lines) == len(paths), out.stderr
    for line in lines:
        _path, code, traceback, exc = line.split(" ", 3)
        assert (code, traceback) == ("1", "False"), line
        assert exc.startswith("SystemExit"), line


def test_secret_values_are_never_echoed():
    with pytest.raises(SpecError) as info:
        load_spec(BAD / "22-secret-key.yaml")
    assert "AKIAEXAMPLESECRETVALUE" not in str(info.value)


def test_alias_bomb_is_refused_quickly():
    started = time.process_time()  # CPU time: a busy machine must not fail the test
    with pytest.raises(SpecError):
        load_spec(BAD / "29-alias-bomb.yaml")
    assert time.process_time() - started < 1.0


def test_example_validates_and_hydrates(monkeypatch: pytest.MonkeyPatch):
    spec = load_spec(ROOT / "deploy.example.yaml")
    assert spec.bucket.name == "flask-s3-example"
    assert spec.bucket.endpoint_url is None  # ${FLASK_S3_ENDPOINT_URL:-} empty: AWS
    assert spec.urls.scheme == "https" and spec.urls.style == "host"
    config = spec.flask_config()
    assert config["S3_BUCKET_NAME"] == "flask-s3-example"
    assert config["S3_URL_SCHEME"] == "https"
    assert config["USE_GZIP"] is True
    assert config["S3_HEADERS"] == {"Cache-Control": "public, max-age=86400"}
    monkeypatch.setenv("FLASK_S3_ENDPOINT_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("FLASK_S3_URL_STYLE", "path")
    local = load_spec(ROOT / "deploy.example.yaml")
    assert local.bucket.endpoint_url == "http://127.0.0.1:9000"
    assert local.urls.style == "path"
    assert local.digest != spec.digest


def test_example_cdn_section_validates_when_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    text = (ROOT / "deploy.example.yaml").read_text()
    block = text[text.index("# cdn:") :]
    assert block.count("\n#") >= 6
    uncommented = text.replace(block, "\n".join(line[2:] for line in block.splitlines()))
    path = tmp_path / "deploy.yaml"
    path.write_text(uncommented)
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", "E2QWRUHAPOMQZL")
    spec = load_spec(path)
    cloudfront = spec.cdn.cloudfront
    assert cloudfront is not None and cloudfront.distribution_id == "E2QWRUHAPOMQZL"
    assert (cloudfront.invalidate, cloudfront.wait, cloudfront.max_paths) == ("changed", False, 15)
    assert spec.assets.encryption.type == "AES256"
    monkeypatch.delenv("CLOUDFRONT_DISTRIBUTION_ID")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "CLOUDFRONT_DISTRIBUTION_ID is not set" in str(info.value)


def test_interpolation_defaults_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "deploy.yaml"
    path.write_text(
        "version: 1\nbucket:\n  name: ${BUCKET:-shop-dev}\nurls:\n  prefix: v${RELEASE}/x\n"
    )
    monkeypatch.setenv("RELEASE", "42")
    spec = load_spec(path)
    assert (spec.bucket.name, spec.urls.prefix) == ("shop-dev", "v42/x")
    monkeypatch.setenv("BUCKET", "shop-prod")
    assert load_spec(path).bucket.name == "shop-prod"


def test_minimal_spec_gets_every_default(tmp_path: Path):
    path = tmp_path / "deploy.yaml"
    path.write_text("version: 1\nbucket: {name: shop}\n")
    spec = load_spec(path)
    assert spec == Spec(bucket=spec.bucket, source=path, digest=spec.digest)
    assert spec.upload.concurrency == 16 and spec.assets.max_delete == 256
    assert spec.digest.startswith("sha256:") and load_spec(path).digest == spec.digest


def test_a_validated_spec_is_remembered_until_it_or_the_schema_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import jsonschema

    cache = tmp_path / "cache"
    monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(cache))
    calls: list[object] = []
    real = jsonschema.Draft202012Validator

    def counting(schema: object) -> object:
        calls.append(schema)
        return real(schema)

    monkeypatch.setattr(jsonschema, "Draft202012Validator", counting)
    path = tmp_path / "deploy.yaml"
    path.write_text("version: 1\nbucket: {name: shop}\nupload: {concurrency: 8}\n")
    first = load_spec(path)
    assert len(calls) == 1 and len(list((cache / "valid-specs").iterdir())) == 1
    assert load_spec(path) == first and len(calls) == 1  # remembered: no second validation
    path.write_text("version: 1\nbucket: {name: shop}\nupload: {concurrency: many}\n")
    with pytest.raises(SpecError, match=r"upload\.concurrency"):
        load_spec(path)
    with pytest.raises(SpecError):  # a bad spec is never remembered as good
        load_spec(path)
    assert len(calls) == 3 and len(list((cache / "valid-specs").iterdir())) == 1
    monkeypatch.setenv("FLASK_S3_NO_HASH_CACHE", "1")
    path.write_text("version: 1\nbucket: {name: shop}\nupload: {concurrency: 8}\n")
    load_spec(path)
    assert len(calls) == 4


def test_cors_short_form(tmp_path: Path):
    spec = spec_from_dict({"version": 1, "bucket": {"name": "shop", "cors": ["https://a.b"]}})
    assert spec.bucket.cors is not None
    assert spec.bucket.cors.allowed_origins == ("https://a.b",)
    assert spec.bucket.cors.allowed_methods == ("GET", "HEAD")


def test_spec_from_dict_reports_problems_without_lines():
    with pytest.raises(SpecError) as info:
        spec_from_dict({"version": 1, "bucket": {"name": "x"}}, source="config")
    assert info.value.problems[0].path == "bucket.name"
    assert info.value.problems[0].file == "config"


def test_unreadable_and_missing_files(tmp_path: Path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="this is a folder"):
        load_spec(tmp_path)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yaml"
        locked.write_text("version: 1\n")
        locked.chmod(0)
        with pytest.raises(SpecError, match="cannot read the file"):
            load_spec(locked)


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.text(max_size=2000).map(lambda s: s * 3),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=12)
            | st.sampled_from(["version", "bucket", "name", "urls", "assets", "headers", "rules"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=yaml_values)
def test_random_documents_only_ever_raise_spec_error(tmp_path: Path, document: object):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        load_spec(path)
    except SpecError as exc:
        assert exc.problems


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_random_text_only_ever_raises_spec_error(tmp_path: Path, text: str):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_spec(path)
    except SpecError as exc:
        assert exc.problems


@pytest.mark.parametrize(
    "document",
    [
        "a: &a [*a]\n",  # a recursive alias
        "version: 1\nbucket: &b {name: shop, x: *b}\n",
        "version: !!python/name:os.system 1\nbucket: {name: shop}\n",
        "version: 1\nbucket: !!binary aGVsbG8=\n",
        "? [a, b]\n: c\n",
        "version: 1\nbucket: {name: shop}\n---\nversion: 1\n",
        "x: " + "[" * 5000 + "]" * 5000 + "\n",
    ],
)
def test_hostile_yaml_is_refused_cleanly(tmp_path: Path, document: str):
    path = tmp_path / "hostile.yaml"
    path.write_text(document)
    with pytest.raises(SpecError):
        load_spec(path)
