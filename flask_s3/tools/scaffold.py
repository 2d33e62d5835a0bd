"""``flask-s3 init``: write the deploy spec that reproduces what an app's config does today.

The spec is built from the same values the extension and ``create_all`` read (0.3 keys, seed
keys, defaults, ``create_all``'s defaults), so with it ``url_for`` gives the same URLs and a
plan against a bucket ``create_all`` filled has nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from ..assets.contenttypes import media_type
from ..config import BY_NAME, CONFIG_KEYS, ConfigKey, defaults
from ..errors import ConfigError
from ..migrate import MISSING, migrate, uses_flasks3
from ..spec import Spec, load_spec
from .createall import flasks3_types, gzipped_by_0_3, header_rules, static_files

COMMENT_AT = 40  # column of the trailing comments
# Flask-S3 0.3's create_all arguments, and where each belongs in the spec.
CREATE_ALL_ARGUMENTS = (
    "bucket_name=...           -> bucket.name",
    "location=...              -> bucket.region",
    "put_bucket_acl=False      -> nothing to change (bucket.acl only sets object ACLs)",
    "filepath_filter_regex=... -> assets.exclude: the files it left out",
    "include_hidden=True       -> assets.include_hidden: true",
)


@dataclass
class Scaffold:
    """The spec text, and what the app's config should lose once the spec is in use."""

    text: str
    delete: list[str] = field(default_factory=list)  # keys the spec now holds
    keep: list[str] = field(default_factory=list)  # keys with no place in a spec
    rename: dict[str, str] = field(default_factory=dict)  # old key -> current key to keep
    changes: list[str] = field(default_factory=list)  # what the first apply changes anyway
    flasks3: bool = False  # the config is Flask-S3 0.3's: its deploy script needs a look
    notes: list[str] = field(default_factory=list)  # behaviour the spec cannot keep

    def advice(self, out: str) -> list[str]:
        """What to change in the app, one instruction a line."""
        lines = [f"Serve with FlaskS3(app, spec={out!r}) (or app: in the spec for the CLI)."]
        if self.changes:
            lines.append("Stored objects that will change at the first apply (headers only):")
            lines += [f"  {change}" for change in self.changes]
        lines += self.notes
        if self.flasks3:
            lines.append(
                "Check the create_all(...) call of your deploy script: init cannot see its "
                "arguments. In the spec:"
            )
            lines += [f"  {line}" for line in CREATE_ALL_ARGUMENTS]
        if self.delete:
            lines.append("Delete from the app's config (the spec holds them now):")
            lines += [f"  {name}" for name in self.delete]
        for old, new in self.rename.items():
            lines.append(f"Rename {old} to {new} (it has no place in a spec).")
        if self.keep:
            lines.append(f"Keep in the config (no place in a spec): {', '.join(self.keep)}")
        return lines


def user_config(app: Flask) -> dict[str, Any]:
    """``app.config`` as the user wrote it: without what an earlier ``init_app`` filled in."""
    config = dict(app.config)
    state = app.extensions.get("s3")
    for key, (value, before) in getattr(state, "written", {}).items():
        if key in config and config[key] is value:
            if before is MISSING:
                del config[key]
            else:
                config[key] = before
    return config


def effective(user: dict[str, Any]) -> dict[str, Any]:
    """The values flask-s3 works with for ``user``'s config (as init_app computes them)."""
    config = dict(user)
    config.update(migrate(user).values)
    for key, value in defaults().items():
        config.setdefault(key, value)
    return config


def source_of(spec_field: str, user: dict[str, Any]) -> str:
    """Which key of the user's config a spec field comes from, for the comment beside it."""
    owners = [k for k in CONFIG_KEYS if k.spec_field == spec_field]
    present = [k.name for k in owners if k.name in user]
    if present:
        return "from " + ", ".join(present)
    if uses_flasks3(user) and any(k.status == "flask-s3-0.3" for k in owners):
        return "Flask-S3 0.3's default"
    return "default"


def build(app: Flask, app_import: str | None, *, keep_policy: bool = False) -> Scaffold:
    """The commented spec for ``app`` and the config keys it replaces."""
    user = user_config(app)
    config = effective(user)
    if not config.get("S3_BUCKET_NAME"):
        raise ConfigError(
            "the app's config names no bucket",
            "Set S3_BUCKET_NAME (or FLASKS3_BUCKET_NAME) in the app's config, then run init.",
        )
    files = static_files(app, hidden=False)
    rules = header_rules(files, config)
    lines = [
        f"# Deploy spec written by `flask-s3 init` from the config of {app_import or app.name}.",
        "# It reproduces what the app does today: the same url_for URLs, and the objects and",
        "# headers create_all stores. Review it with `flask-s3 plan`, then serve with",
        "# FlaskS3(app, spec=...) and delete the keys `flask-s3 init` listed from the config.",
    ]
    if uses_flasks3(user):
        lines += FLASKS3_NOTE
    lines += ["", "version: 1"]
    if app_import:
        lines.append(f"app: {_scalar(app_import)}")
    lines += ["", "bucket:"]
    lines.append(_line("name", config["S3_BUCKET_NAME"], source_of("bucket.name", user)))
    for name, key in (("region", "S3_REGION"), ("endpoint_url", "S3_ENDPOINT_URL")):
        if config.get(key):
            lines.append(_line(name, config[key], source_of(f"bucket.{name}", user)))
    flasks3 = uses_flasks3(user)
    if keep_policy:  # the bucket has our public-read statement (1.0's create_all put it)
        lines.append(_line("public_read_policy", True, "the bucket has it: keep it"))
    elif flasks3:
        # 0.3 sent ACL public-read with every object (and, by default, the bucket): the
        # objects are public already, so no policy is needed to keep them readable.
        lines.append(_line("acl", "public-read", "0.3: objects public through their ACL"))
        lines.append(_line("public_read_policy", False, "0.3 used ACLs; see the note at the top"))
    else:
        lines.append(_line("public_read_policy", True, "create_all makes assets public"))
    scheme = config.get("S3_URL_SCHEME") or "relative"
    lines += ["", "urls:", _line("scheme", scheme, source_of("urls.scheme", user))]
    for name, key in (
        ("style", "S3_URL_STYLE"),
        ("bucket_domain", "S3_BUCKET_DOMAIN"),
        ("cdn_domain", "S3_CDN_DOMAIN"),
        ("prefix", "S3_PREFIX"),
    ):
        value = config.get(key) or ("" if name == "prefix" else None)
        if name == "prefix":
            value = str(value).strip("/")
        lines.append(_line(name, value, source_of(f"urls.{name}", user)))
    lines += ["", "assets:", _line("include_hidden", False, "create_all's default")]
    headers = dict(config.get("S3_HEADERS") or {})
    lines.append(_line("headers", headers, source_of("assets.headers", user)))
    typed, untyped = flasks3_types(user, files) if flasks3 else ({}, [])
    if typed or rules:
        lines.append("  rules:")
    for ext, ctype in sorted(typed.items()):
        lines.append(_pad(f"    - match: {_scalar('**/*' + ext)}", "0.3's Content-Type"))
        lines.append(f"      headers: {_scalar({'Content-Type': ctype})}")
    if rules:
        lines.append("    # from FLASKS3_FILEPATH_HEADERS, matching today's files")
        for rule in rules:
            lines.append(f"    - match: {_scalar(rule.match)}")
            lines.append(f"      headers: {_scalar(dict(rule.headers))}")
    lines.append("  gzip:")
    lines.append(
        _line("enabled", bool(config.get("USE_GZIP")), source_of("assets.gzip.enabled", user), 4)
    )
    types = list(config.get("S3_GZIP_CONTENT_TYPES") or [])
    # A file keeps 0.3's Content-Type through a rule: gzip must still pick it by that type.
    if "*/*" not in types:
        types += [media_type(t) for t in typed.values() if gzipped_by_0_3(user, t, typed)]
        types = list(dict.fromkeys(types))
    why = source_of("assets.gzip.content_types", user)
    lines.append(_line("content_types", types, why, 4))
    if config.get("S3_FINGERPRINT"):
        lines.append("  fingerprint:")
        lines.append(_line("enabled", True, "from S3_FINGERPRINT", 4))
        if config.get("S3_FINGERPRINT_MANIFEST"):
            manifest = config["S3_FINGERPRINT_MANIFEST"]
            lines.append(_line("manifest", manifest, "from S3_FINGERPRINT_MANIFEST", 4))
    lines += ["", "runtime:"]
    for name, key in (
        ("enabled", "USE_S3"),
        ("debug", "USE_S3_DEBUG"),
        ("override_flask_url_for", "S3_OVERRIDE_FLASK_URL_FOR"),
    ):
        value, why = bool(config.get(key)), source_of(f"runtime.{name}", user)
        state = app.extensions.get("s3")
        if name == "enabled" and state is not None and state.flasks3_switches:
            # 0.3 read FLASKS3_ACTIVE once, at init_app: what templates get is that value
            templates_on = bool(state.templates_on)
            if templates_on != value and not app.debug:
                value, why = templates_on, "0.3: FLASKS3_ACTIVE as it was at FlaskS3(app)"
        lines.append(_line(name, value, why))
    text = "\n".join(lines) + "\n"
    if "${" in text:
        raise ConfigError(
            "a value in the app's config contains `${`, which a spec reads as a variable",
            "Change that value, or write the spec by hand with the value set from ${VAR}.",
        )
    scaffold = Scaffold(text, flasks3=flasks3)
    scaffold.changes = [
        f"{ext} files: Content-Type {ours!r} (Flask-S3 0.3 stored none)" for ext, ours in untyped
    ]
    if flasks3 and "USE_S3" not in user and not text_enabled(text):
        scaffold.notes.append(
            "runtime.enabled is false: with the spec, direct flask_s3.url_for calls give local "
            "URLs too (with FLASKS3_ACTIVE off, 0.3 gave them S3 URLs; only templates were "
            "switched). Keep the FLASKS3_* keys if code relies on that."
        )
    _sort_keys(scaffold, user)
    return scaffold


def text_enabled(text: str) -> bool:
    """The ``runtime.enabled`` value in a spec text build() wrote."""
    return "\n  enabled: true " in text.split("\nruntime:", 1)[-1]


FLASKS3_NOTE = [
    "#",
    "# Lines marked `0.3` keep what Flask-S3 0.3 stored and served, so the first plan against",
    "# the bucket its create_all filled has nothing to do. What dropping them changes:",
    "# - a rule with 0.3's Content-Type: the type becomes flask-s3's own (`text/css;",
    "#   charset=utf-8`, `image/x-icon`...): a header update of those objects, no re-upload.",
    "# - acl: public-read: new objects get no ACL and so are private; set",
    "#   public_read_policy: true (a bucket policy for anonymous reads) or serve through a",
    "#   CDN. Keep acl only on a bucket that accepts ACLs (new AWS buckets refuse them).",
    "# - scheme https (0.3's default): URLs become scheme-relative (//host/path).",
    "# - content_types ['*/*'] (FLASKS3_GZIP without FLASKS3_GZIP_ONLY_EXTS): images and",
    "#   fonts are stored plain; each changed object is uploaded once.",
]


def _sort_keys(scaffold: Scaffold, user: dict[str, Any]) -> None:
    """Keys the spec now holds go; keys with no spec field (credentials, testing) stay."""
    for key in CONFIG_KEYS:
        if key.name not in user:
            continue
        target: ConfigKey = BY_NAME[key.read_as] if key.read_as else key
        has_place = target.status != "current" or target.spec_field is not None
        if has_place or user[key.name] == key.default:
            scaffold.delete.append(key.name)
        elif key is target:
            scaffold.keep.append(key.name)
        else:
            scaffold.rename[key.name] = target.name


def _scalar(value: Any) -> str:
    # JSON is YAML's flow style, and json.dumps quotes every string safely.
    return json.dumps(value, ensure_ascii=False)


def _pad(text: str, comment: str) -> str:
    return f"{text.ljust(COMMENT_AT)} # {comment}" if comment else text


def _line(name: str, value: Any, comment: str, indent: int = 2) -> str:
    return _pad(f"{' ' * indent}{name}: {_scalar(value)}", comment)


def has_our_policy(spec: Spec) -> bool:
    """Whether the bucket's policy holds flask-s3's public-read statement; False if unknown."""
    from ..errors import FlaskS3Error
    from ..remote.bucket import current_policy, our_statement
    from ..s3 import open_store

    try:
        return our_statement(current_policy(open_store(spec))) is not None
    except FlaskS3Error:
        return False


def adopt_existing(spec: Spec, app: Flask) -> list[str]:
    """Adopt the bucket's gzip objects that hold today's files; lines saying what happened.

    A bucket that cannot be read is not an error here: the spec is written either way, and
    the plan shows what adopting would have saved.
    """
    from ..deployer.adopt import adopt_gzip
    from ..errors import FlaskS3Error
    from ..s3 import open_store

    try:
        adoption = adopt_gzip(spec, app, open_store(spec))
    except FlaskS3Error as exc:
        return [
            f"Could not read the bucket to adopt its gzip objects ({exc.summary}); run "
            "`flask-s3 init --force` again once it can be read, or the first apply uploads "
            "them again."
        ]
    lines = []
    if adoption.adopted:
        lines.append(
            f"Adopted {len(adoption.adopted)} gzip objects: their content is today's files, "
            "so they are not uploaded again (recorded in the bucket's manifest)."
        )
    if adoption.left:
        lines.append(f"Not adopted ({len(adoption.left)}, the plan updates them):")
        lines += [f"  {key}: {why}" for key, why in sorted(adoption.left.items())]
    return lines


def write(scaffold: Scaffold, out: Path, force: bool) -> Spec:
    """Write the spec (refusing to overwrite without ``force``), then validate it."""
    if out.exists() and not force:
        raise ConfigError(
            f"{out} already exists",
            "Choose another --out, or pass --force to overwrite it.",
        )
    out.write_text(scaffold.text, encoding="utf-8")
    return load_spec(out)
