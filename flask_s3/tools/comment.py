"""One plan comment per pull request (GitHub) or merge request (GitLab), updated in place.

The comment is found by the marker its body starts with (``render.MARKER``) *and* its author,
the token's own user: a comment with our marker written by anyone else is never edited. The
first one found is edited, otherwise a new one is posted. Only the standard library is used, so
the CI job needs nothing beyond flask-s3 itself. The token is sent only to the API host it
belongs to and never printed: no redirect is followed (urllib would resend the token to
wherever it points), and an answer that is not what the API documents is an error.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..deployer.render import MARKER
from ..errors import CommentError
from ..safe_output import term_safe

TIMEOUT = 30.0
PER_PAGE = 100
GITLAB_TOKEN_VARIABLE = "FLASK_S3_GITLAB_TOKEN"
AUTHOR_VARIABLE = "FLASK_S3_COMMENT_AUTHOR"
# The author of comments posted with a workflow's GITHUB_TOKEN, which may not read GET /user.
GITHUB_ACTIONS_BOT = "github-actions[bot]"


@dataclass(frozen=True)
class Target:
    """Where the comments of one pull/merge request live, and how to authenticate."""

    platform: str  # "github" | "gitlab"
    list_url: str  # GET (paginated) and POST
    item_url: str  # PATCH (GitHub) / PUT (GitLab); "{id}" is replaced by the comment id
    headers: Mapping[str, str]
    user_url: str = ""  # GET: the token's own user (the author of our comments)
    author: str = ""  # FLASK_S3_COMMENT_AUTHOR: who our comments are by, when /user is closed

    @property
    def name(self) -> str:
        return "GitHub" if self.platform == "github" else "GitLab"


@dataclass(frozen=True)
class Posted:
    action: str  # "created" | "updated"
    comment_id: str
    url: str  # the comment's page, when the API gives one


def detect_target(env: Mapping[str, str] | None = None) -> Target:
    """The pull/merge request this CI job runs for, from the variables the CI sets."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return github_target(env)
    if env.get("GITLAB_CI") == "true":
        return gitlab_target(env)
    raise CommentError(
        "not running in GitHub Actions or GitLab CI",
        "Post the plan comment from a pull request (GitHub) or merge request (GitLab) job.",
    )


def github_target(env: Mapping[str, str]) -> Target:
    token = env.get("GITHUB_TOKEN", "")
    repository = env.get("GITHUB_REPOSITORY", "")
    number = _github_pull_number(env.get("GITHUB_EVENT_PATH", ""))
    if number is None:
        raise CommentError(
            "this GitHub Actions run is not for a pull request",
            "Post the plan comment only on `pull_request` events.",
        )
    if not token:
        raise CommentError(
            "no GITHUB_TOKEN to post the plan comment",
            "Pass `GITHUB_TOKEN: ${{ github.token }}` in the step's env, and grant the job "
            "`pull-requests: write`.",
        )
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    base = f"{api}/repos/{repository}/issues"
    return Target(
        "github",
        list_url=f"{base}/{number}/comments",
        item_url=f"{base}/comments/{{id}}",
        user_url=f"{api}/user",
        author=env.get(AUTHOR_VARIABLE, ""),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


def _github_pull_number(event_path: str) -> int | None:
    try:
        with open(event_path, encoding="utf-8") as fh:
            event = json.load(fh)
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number")
    return number if isinstance(number, int) else None


def gitlab_target(env: Mapping[str, str]) -> Target:
    iid = env.get("CI_MERGE_REQUEST_IID", "")
    if not iid:
        raise CommentError(
            "this GitLab CI job is not for a merge request",
            'Run it with `rules: - if: $CI_PIPELINE_SOURCE == "merge_request_event"`.',
        )
    token = env.get(GITLAB_TOKEN_VARIABLE, "")
    if not token:
        raise CommentError(
            f"no {GITLAB_TOKEN_VARIABLE} to post the plan note",
            "Create a project access token with the `api` scope and the Reporter role, and "
            f"store it as the masked CI/CD variable {GITLAB_TOKEN_VARIABLE}.",
        )
    api = env.get("CI_API_V4_URL", "https://gitlab.com/api/v4").rstrip("/")
    base = f"{api}/projects/{env.get('CI_PROJECT_ID', '')}/merge_requests/{iid}/notes"
    return Target(
        "gitlab",
        list_url=base,
        item_url=f"{base}/{{id}}",
        user_url=f"{api}/user",
        author=env.get(AUTHOR_VARIABLE, ""),
        headers={"PRIVATE-TOKEN": token},
    )


def post_or_update(target: Target, body: str, marker: str = MARKER) -> Posted:
    """Edit our comment that starts with ``marker``, or post one; ``body`` gets the marker.

    "Ours" means written by the token's user as well: a comment someone else started with
    the marker is left alone, however it got there.
    """
    if not body.startswith(marker):
        body = f"{marker}\n{body}"
    me = token_user(target)
    mine = next(
        (
            c
            for c in comments(target)
            if str(c.get("body") or "").startswith(marker) and comment_author(target, c) == me
        ),
        None,
    )
    payload = {"body": body}
    if mine is None:
        made = _call(target, "POST", target.list_url, payload, "post the plan comment")
        return Posted("created", _answered_id(target, made, "post"), str(made.get("html_url", "")))
    method = "PATCH" if target.platform == "github" else "PUT"
    url = target.item_url.replace("{id}", str(mine["id"]))
    done = _call(target, method, url, payload, "update the plan comment")
    if _answered_id(target, done, "update") != str(mine["id"]):
        raise CommentError(
            f"{target.name} answered the update of comment {mine['id']} with another comment",
            "The comment may not have been updated; check the API URL the CI sets.",
        )
    return Posted("updated", str(mine["id"]), str(done.get("html_url", "")))


def token_user(target: Target) -> str:
    """The login (GitHub) or username (GitLab) the token acts as: the author of our comments.

    A workflow's GITHUB_TOKEN may not read ``GET /user`` (403); its comments are by
    ``github-actions[bot]``, or by the user named in FLASK_S3_COMMENT_AUTHOR (a GitHub App's
    ``<slug>[bot]``).
    """
    if target.author:
        return target.author.casefold()
    field_name = "login" if target.platform == "github" else "username"
    try:
        user = _call(target, "GET", target.user_url, None, "read the token's user")
    except CommentError as exc:
        if target.platform == "github" and "HTTP 403" in exc.summary:
            return GITHUB_ACTIONS_BOT
        raise
    name = user.get(field_name)
    if not isinstance(name, str) or not name:
        raise CommentError(
            f"{target.name} answered GET /user without a {field_name}",
            "Check the API URL the CI sets, or name the author of the plan comments in "
            f"{AUTHOR_VARIABLE}.",
        )
    return name.casefold()


def comment_author(target: Target, comment: Mapping[str, Any]) -> str | None:
    """Who wrote ``comment``, as :func:`token_user` names users; None when unknown."""
    if target.platform == "github":
        user, field_name = comment.get("user"), "login"
    else:
        user, field_name = comment.get("author"), "username"
    name = user.get(field_name) if isinstance(user, dict) else None
    return name.casefold() if isinstance(name, str) and name else None


def _answered_id(target: Target, answer: Mapping[str, Any], doing: str) -> str:
    """The comment id the API answered with; a missing one means nothing was done."""
    found = answer.get("id")
    if isinstance(found, bool) or not isinstance(found, (int, str)) or str(found) == "":
        raise CommentError(
            f"{target.name} did not answer the {doing} of the plan comment with its id",
            "The comment may not have been posted; check the API URL the CI sets "
            "(GITHUB_API_URL / CI_API_V4_URL).",
        )
    return str(found)


def comments(target: Target) -> Iterator[dict[str, Any]]:
    """Every comment of the request, page by page (``Link: <...>; rel="next"``)."""
    url: str | None = f"{target.list_url}?{urlencode({'per_page': PER_PAGE})}"
    while url:
        page, links = _call_with_links(target, "GET", url, None, "list the comments")
        if not isinstance(page, list):
            raise CommentError(f"{target.name} answered the comment list with {type(page)}")
        yield from (c for c in page if isinstance(c, dict))
        url = links.get("next")


def _call(
    target: Target, method: str, url: str, payload: dict[str, Any] | None, doing: str
) -> dict[str, Any]:
    data, _ = _call_with_links(target, method, url, payload, doing)
    return data if isinstance(data, dict) else {}


def _call_with_links(
    target: Target, method: str, url: str, payload: dict[str, Any] | None, doing: str
) -> tuple[Any, dict[str, str]]:
    if urlsplit(url).netloc != urlsplit(target.list_url).netloc:
        raise CommentError(
            f"{target.name} pointed to another host while trying to {doing}",
            "The token is only sent to the API host; check GITHUB_API_URL / CI_API_V4_URL.",
        )
    headers = {"User-Agent": "flask-s3", **target.headers}
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            status = response.status
            raw = response.read()
            links = parse_links(response.headers.get("Link", ""))
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise _redirect_error(target, exc, url, doing) from None
        raise _http_error(target, exc, doing) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommentError(
            f"cannot reach {target.name} to {doing}: {reason}",
            "Check the network and the API URL the CI sets.",
        ) from None
    if not 200 <= status < 300:
        raise CommentError(f"{target.name} answered HTTP {status} while trying to {doing}")
    try:
        return (json.loads(raw) if raw else {}), links
    except ValueError:
        raise CommentError(f"{target.name} answered with something that is not JSON") from None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would send the token along to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _redirect_error(
    target: Target, exc: urllib.error.HTTPError, url: str, doing: str
) -> CommentError:
    location = exc.headers.get("Location", "") if exc.headers else ""
    host = urlsplit(urllib.parse.urljoin(url, location)).netloc or "(no Location)"
    return CommentError(
        f"{target.name} redirected the request to {term_safe(host)} while trying to {doing} "
        f"(HTTP {exc.code}); not followed",
        f"The token is only sent to the API host {urlsplit(url).netloc}; set GITHUB_API_URL / "
        "CI_API_V4_URL to the API's own address (e.g. https://api.github.com).",
    )


_FIXES = {
    401: "The token is not valid (expired or revoked).",
    403: "The token may not comment here: grant the job `pull-requests: write` (GitHub), or "
    "give the project access token the `api` scope (GitLab).",
    404: "The repository or request was not found with this token.",
}


def _http_error(target: Target, exc: urllib.error.HTTPError, doing: str) -> CommentError:
    message = ""
    try:
        answer = json.loads(exc.read() or b"{}")
        message = str(answer.get("message") or answer.get("error") or "")
    except (ValueError, AttributeError, OSError):
        pass
    detail = _FIXES.get(exc.code, "")
    if message:
        detail = f"{target.name} said: {message}. {detail}".strip()
    return CommentError(f"{target.name} refused to {doing}: HTTP {exc.code}", detail)


def parse_links(header: str) -> dict[str, str]:
    """RFC 8288 ``Link`` header -> {rel: url}."""
    links = {}
    for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?', header):
        links[rel] = url
    return links
