"""Writes the sample plans in tests/plans/ (run by hand when the plan format changes)."""

from __future__ import annotations

import json
from pathlib import Path

from flask_s3.plan import Action, BucketInfo, LocalInfo, Plan, PlanOptions, RemoteInfo

HERE = Path(__file__).parent / "plans"
CSS = {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=86400"}
MD5 = "0123456789abcdef0123456789abcdef"


def base(actions: tuple[Action, ...], unchanged: int, exists: bool = True) -> Plan:
    return Plan(
        spec_path="deploy.yaml",
        spec_digest="sha256:" + "ab" * 32,
        app="shop:create_app()",
        bucket=BucketInfo("shop-assets", "eu-west-1", None, "v2", exists),
        remote=RemoteInfo("sha256:" + "cd" * 32, unchanged, "ok"),
        local=LocalInfo("sha256:" + "ef" * 32, 418, 12_345_678),
        options=PlanOptions(prune=True, force_refresh=False, max_delete=256),
        actions=actions,
        unchanged=unchanged,
        warnings=(),
        created_at="2026-11-25T07:00:00Z",
    )


def main() -> None:
    nochange = base((), 412)
    mixed = base(
        (
            Action("create-bucket", "missing"),
            Action(
                "update-bucket-cors",
                "cors",
                before=None,
                after=[
                    {
                        "AllowedMethods": ["GET", "HEAD"],
                        "AllowedOrigins": ["https://shop.example.com"],
                        "MaxAgeSeconds": 3000,
                    }
                ],
            ),
            Action(
                "update-bucket-policy", "policy", before=None, after={"Sid": "FlaskS3PublicRead"}
            ),
            Action("upload", "new", "v2/static/css/app.css", 2048, MD5, CSS),
            Action(
                "upload",
                "new",
                "v2/static/css/app.3f0c9a1b2c4d.css",
                1900,
                MD5,
                CSS,
                logical="static/css/app.css",
            ),
            Action("update", "etag", "v2/static/js/app.js", 15_000, MD5, CSS),
            Action("update", "size", "v2/static/img/hero a|b.png", 1_500_000, MD5, CSS),
            Action(
                "update-headers",
                "headers",
                "v2/static/fonts/shop.woff2",
                392,
                MD5,
                {"Content-Type": "font/woff2", "Cache-Control": "max-age=31536000, immutable"},
                changed={
                    "Cache-Control": ("max-age=86400", "max-age=31536000, immutable"),
                    "Content-Type": (None, "font/woff2"),
                },
            ),
            Action("delete", "pruned", "v2/static/old <script>.js", 120),
        ),
        409,
        exists=False,
    )
    large = base(
        tuple(
            Action("upload", "new", f"v2/static/gen/file{i:05d}.js", 1000 + i, MD5, CSS)
            for i in range(2000)
        ),
        0,
    )
    changed_css = [f"v2/static/css/page{i:02d}.css" for i in range(18)]
    cdn = base(
        (
            *(Action("update", "etag", key, 2048, MD5, CSS) for key in changed_css),
            Action("upload", "new", "v2/static/img/new.png", 512, MD5, CSS),
            Action("delete", "pruned", "v2/static/js/old app.js", 120),
            Action(
                "invalidate-cdn",
                "changed",
                cdn={
                    "provider": "cloudfront",
                    "distribution_id": "E2QWRUHAPOMQZL",
                    "paths": sorted(
                        [*(f"/{k}" for k in changed_css), "/v2/static/js/old%20app.js"]
                    ),
                    "invalidate": ["/v2/static/css/*", "/v2/static/js/old%20app.js"],
                    "wait": True,
                },
            ),
        ),
        400,
    )
    for name, plan in (("nochange", nochange), ("mixed", mixed), ("large", large), ("cdn", cdn)):
        path = HERE / f"{name}.json"
        indent = None if name == "large" else 2
        path.write_text(json.dumps(plan.to_dict(), indent=indent, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
