"""Globs on keys: what users write matches what they mean, and a glob that can never match
is refused or reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from wcmatch import glob as wcglob

from flask_s3.assets.globs import (
    glob_match,
    glob_problem,
    key_matcher,
    literal_head,
    outside_roots,
    rule_matcher,
)
from flask_s3.assets.keys import StaticSource
from flask_s3.assets.scan import scan_sources
from flask_s3.errors import ConfigError
from flask_s3.spec import HeaderRule, spec_from_dict


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        # the semantics the hand-written matcher had, kept
        ("static/*.css", "static/app.css", True),
        ("static/*.css", "static/css/app.css", False),
        ("static/**", "static/css/app.css", True),
        ("static/fonts/**", "static/fonts/a/b.woff2", True),
        ("static/fonts/**", "static/fontsx/b.woff2", False),
        ("**/*.map", "app.js.map", True),
        ("**/*.map", "static/js/app.js.map", True),
        ("**/*.map", "static/js/app.js", False),
        ("static/?.js", "static/a.js", True),
        ("static/?.js", "static/ab.js", False),
        ("static/?.js", "static//.js", False),
        ("static/a+b.css", "static/a+b.css", True),
        ("static/a+b.css", "static/aab.css", False),
        ("static/(x).css", "static/(x).css", True),
        ("*.css", "x.css\n", False),
        ("static/*", "static/line\nbreak", True),
        ("static/**/x.css", "static/x.css", True),
        ("static/**/x.css", "static/a/b/x.css", True),
        ("**/dist/app.js", "dist/app.js", True),
        # what users write that the old matcher took literally
        ("static/*.{css,js}", "static/app.js", True),
        ("static/*.{css,js}", "static/app.css", True),
        ("static/*.{css,js}", "static/app.map", False),
        ("**/*.{woff,woff2}", "static/fonts/a.woff2", True),
        ("static/{css,js}/**", "static/js/a/b.js", True),
        ("static/{css,js}/**", "static/img/a.png", False),
        ("static/img/[ab].png", "static/img/b.png", True),
        ("static/img/[ab].png", "static/img/c.png", False),
        ("static/img/[!ab].png", "static/img/c.png", True),
        ("static/img/[a-c]*.png", "static/img/cat.png", True),
        ("static/img/[a-c]*.png", "static/img/dog.png", False),
        ("static/v{1..3}/*.js", "static/v2/a.js", True),
        ("static/v{1..3}/*.js", "static/v4/a.js", False),
        # escapes make glob characters literal
        (r"static/a\*.css", "static/a*.css", True),
        (r"static/a\*.css", "static/ab.css", False),
        (r"static/\{x\}.css", "static/{x}.css", True),
        (r"static/\[1\].png", "static/[1].png", True),
        # hidden names are the scan's business: a glob matches them like any other name
        ("static/*", "static/.htaccess", True),
        ("**/*.css", "static/.cache/x.css", True),
        ("static/**", "static/.well-known/x", True),
        # case-sensitive, as S3 keys are
        ("static/*.CSS", "static/a.css", False),
        ("Static/**", "static/a.css", False),
        # no extglob: parentheses and @ are literal
        ("@(a|b).css", "a.css", False),
        ("@(a|b).css", "@(a|b).css", True),
    ],
)
def test_glob(pattern: str, key: str, matches: bool) -> None:
    assert glob_problem(pattern) is None
    assert glob_match(pattern, key) is matches


def test_a_matcher_is_compiled_once_per_pattern_tuple() -> None:
    assert key_matcher(("**/*.map", "static/x/**")) is key_matcher(("**/*.map", "static/x/**"))
    assert not key_matcher(())
    assert key_matcher(())("static/a.css") is False


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("/static/x.css", "keys have no leading slash; write static/x.css"),
        ("/", "write **"),
        ("static\\css\\*.css", "write static/css/*.css"),
        ("static\\\\x.css", "never backslashes"),
        ("static\\", "never backslashes"),
        ("static/fonts/", "write static/fonts/** for the files below it"),
        ("static/./x.css", "'.' or '..' segment"),
        ("../static/**", "'.' or '..' segment"),
        ("!static/x.css", "does not negate"),
        ("static/**.js", "write static/**/*.js for any depth, or static/*.js"),
        ("static**", "whole segment"),
        ("", "empty"),
        ("{/static,static}/x.css", "the alternative '/static/x.css'"),
        ("{,}", "the alternative '' is empty"),
        ("x{1..5000}", "more than 1000"),
    ],
)
def test_globs_that_can_never_match_are_refused(pattern: str, fragment: str) -> None:
    problem = glob_problem(pattern)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    "pattern", ["static/{a,}/x.css", r"static/\!x", "static/x[", "static/{a", "**", "*"]
)
def test_odd_but_matchable_globs_are_accepted(pattern: str) -> None:
    assert glob_problem(pattern) is None


SEGMENTS = st.sampled_from(["a", "b", "ab", ".x", "a.css", "x.map", "["])
PATTERN_PARTS = st.sampled_from(
    ["a", "b", "*", "**", "**", "?", "*.css", "[ab]", "[!a]*", "{a,b}", "{a,b/a}", ".x", "x.map"]
)


@settings(max_examples=500, deadline=None)
@example("**/a", "a")
@example("**/x.map", "b/x.map")
@example("a/**", "a/b/ab")
@example("a/**/b", "a/b")
@given(
    st.lists(PATTERN_PARTS, min_size=1, max_size=4).map("/".join),
    st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join),
)
def test_guarded_matcher_agrees_with_wcmatch(pattern: str, key: str) -> None:
    # The startswith/endswith guards only skip work: the answer is wcmatch's own.
    flags = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | wcglob.FORCEUNIX | wcglob.CASE
    assert glob_match(pattern, key) is wcglob.globmatch(key, pattern, flags=flags)


def test_literal_head() -> None:
    assert literal_head("static/css/*.css") == ("static/css", False)
    assert literal_head("static/robots.txt") == ("static/robots.txt", True)
    assert literal_head("**/*.map") == ("", False)
    assert literal_head("{static,assets}/x") == ("", False)


def test_globs_outside_every_static_root_are_reported() -> None:
    roots = ["static", "admin/assets"]
    warnings = outside_roots(
        [
            ("assets.exclude[0]", "**/*.map"),
            ("assets.exclude[1]", "static/drafts/**"),
            ("assets.exclude[2]", "assets/**"),
            ("assets.rules[0].match", "admin/*.css"),
            ("assets.rules[1].match", "admin/static/x.css"),
            ("assets.fingerprint.exclude[0]", "robots.txt"),
            ("assets.fingerprint.exclude[1]", "static/robots.txt"),
        ],
        roots,
    )
    assert [w.split(":")[0] for w in warnings] == [
        "assets.exclude[2]",
        "assets.rules[1].match",
        "assets.fingerprint.exclude[0]",
    ]
    assert "keys start with static/, admin/assets/" in warnings[0]
    assert outside_roots([("assets.exclude[0]", "robots.txt")], ["static", ""]) == []


def _tree(root: Path, names: list[str]) -> Path:
    for name in names:
        path = root / "static" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name, encoding="utf-8")
    return root / "static"


def test_scan_applies_braces_brackets_and_globstar(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLASK_S3_NO_HASH_CACHE", "1")
    folder = _tree(
        tmp_path,
        ["css/app.css", "css/app.css.map", "js/app.js", "js/a/b.js.map", "img/a.png", "img/c.png"],
    )
    spec = spec_from_dict(
        {
            "version": 1,
            "bucket": {"name": "shop"},
            "assets": {
                "exclude": ["**/*.map", "static/img/[ab].png", "assets/**"],
                "rules": [
                    {"match": "static/{css,js}/**", "headers": {"Cache-Control": "max-age=60"}}
                ],
            },
        }
    )
    inventory = scan_sources([StaticSource("static", folder, "static")], spec)
    assert sorted(inventory.assets) == [
        "static/css/app.css",
        "static/img/c.png",
        "static/js/app.js",
    ]
    cache = {k: a.headers.get("Cache-Control") for k, a in inventory.assets.items()}
    assert cache == {
        "static/css/app.css": "max-age=60",
        "static/js/app.js": "max-age=60",
        "static/img/c.png": None,
    }
    assert [w for w in inventory.warnings if "can never match" in w] == [
        "assets.exclude[2]: 'assets/**' can never match: no static folder serves such keys "
        "(keys start with static/)"
    ]


def test_rule_matcher_gives_every_matching_rule_once_in_order() -> None:
    rules = (
        HeaderRule("static/**", {}),
        HeaderRule("**/*.{css,min.css}", {}),
        HeaderRule("static/img/*", {}),
        HeaderRule("static/css/*.css", {}),
    )
    matcher = rule_matcher(rules)
    assert matcher is rule_matcher(rules)
    assert matcher("static/css/app.min.css") == (0, 1, 3)
    assert matcher("static/img/a.png") == (0, 2)
    assert matcher("other/a.css") == (1,)
    assert matcher("other/a.js") == ()
    assert rule_matcher(())("static/a.css") == ()


def test_a_brace_bomb_in_a_spec_built_in_python_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expands to more than 1000 patterns"):
        key_matcher(("static/{1..100000}/*.css",))
